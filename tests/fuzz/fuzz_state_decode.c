/* fuzz_state_decode.c — libFuzzer target: the stored state encoding.
 *
 * The bytes of a state come back from PostgreSQL, so they are input too
 * (overstap.h). Arbitrary bytes go into overstap_state_decode; when it accepts
 * them:
 *   - encoding the decoded state gives the input back byte for byte (the
 *     encoding is canonical, so a stored state never changes by being read);
 *     a version-1 state (before "Whose pupil") encodes as version 2, which
 *     decodes to the very same state;
 *   - the status and the rules can be asked of it;
 *   - an event of every kind, at and just after the state's own times and for
 *     its own schools, can be applied, twice (the second changes nothing), and
 *     the result encodes, decodes and encodes again to the same bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overstap.h"
#include "rules.h"

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz_state_decode: invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                             \
			abort();                                                                 \
		}                                                                                \
	} while (0)

static const enum event_kind KINDS[] = {
	EVENT_OVERSTAPPER_GEREGISTREERD, EVENT_KEUZE_GEREGISTREERD,	    EVENT_DDD_AANGELEVERD,
	EVENT_DIPLOMA_BEHAALD,		 EVENT_NIET_GESLAAGD,		    EVENT_VO_UITGESCHREVEN,
	EVENT_AANMELDING_ONTVANGEN,	 EVENT_AANGEMELD,		    EVENT_OVEREENKOMST_AANGEBODEN,
	EVENT_LEIDT_NIET_TOT_INSCHRIJVING, EVENT_INGETROKKEN,		    EVENT_INGESCHREVEN,
	EVENT_NIET_GESTART,		 EVENT_MBO_UITGESCHREVEN,
};

static size_t encode(const struct pupil_state *st, uint8_t *buf)
{
	size_t n = overstap_state_encode(st, buf, OVERSTAP_STATE_ENCODED_MAX);
	CHECK(n > 0);
	return n;
}

static void check_roundtrip(const struct pupil_state *st)
{
	uint8_t a[OVERSTAP_STATE_ENCODED_MAX], b[OVERSTAP_STATE_ENCODED_MAX];
	size_t na = encode(st, a);
	struct pupil_state back;
	CHECK(overstap_state_decode(&back, a, na));
	size_t nb = encode(&back, b);
	CHECK(na == nb && memcmp(a, b, na) == 0);
}

/* The time a state already holds for the register an event of this kind
 * writes: so the fuzzer's states meet events that tie with them. */
static int64_t time_of(const struct pupil_state *st, enum event_kind k)
{
	switch (k) {
	case EVENT_OVERSTAPPER_GEREGISTREERD: return st->registered.occurred_at;
	case EVENT_KEUZE_GEREGISTREERD: return st->keuze.occurred_at;
	case EVENT_DDD_AANGELEVERD: return st->ddd.occurred_at;
	case EVENT_DIPLOMA_BEHAALD: return st->diploma.occurred_at;
	case EVENT_NIET_GESLAAGD: return st->niet_geslaagd.occurred_at;
	case EVENT_VO_UITGESCHREVEN: return st->vo_uitgeschreven.occurred_at;
	default: return st->n_mbo ? st->mbo[0].order.occurred_at : st->mbo_gemeente_order.occurred_at;
	}
}

static void make_event(const struct pupil_state *st, enum event_kind k, int64_t t, struct overstap_event *ev)
{
	memset(ev, 0, sizeof *ev);
	snprintf(ev->event_id, sizeof ev->event_id, "fz-%d-%lld", (int)k, (long long)t);
	snprintf(ev->pgn, sizeof ev->pgn, "%s", "111222333");
	ev->occurred_at = t;
	ev->kind = k;
	ev->cohort = st->cohort;
	if (overstap_kind_is_vo(k)) {
		snprintf(ev->school, sizeof ev->school, "%s", st->vo_school[0] ? st->vo_school : "25LX00");
	} else {
		const char *inst = st->n_mbo ? st->mbo[st->n_mbo - 1].instelling : "25LP";
		snprintf(ev->school, sizeof ev->school, "%s", inst[0] ? inst : "25LP");
	}
	switch (k) {
	case EVENT_OVERSTAPPER_GEREGISTREERD:
		snprintf(ev->woongemeente, sizeof ev->woongemeente, "%s", "GM0935");
		ev->vo_soort = VO_SOORT_VMBO_KB;
		snprintf(ev->birth_date, sizeof ev->birth_date, "%s", "2011-03-04");
		snprintf(ev->name, sizeof ev->name, "%s", "Sam de Vries");
		break;
	case EVENT_KEUZE_GEREGISTREERD:
		ev->bestemming = (t & 1) ? BESTEMMING_HAVO : BESTEMMING_MBO;
		if (ev->bestemming == BESTEMMING_MBO) {
			snprintf(ev->crebo, sizeof ev->crebo, "%s", "25180");
			snprintf(ev->mbo_instelling, sizeof ev->mbo_instelling, "%s", "25LP");
		}
		break;
	default:
		if (overstap_kind_is_mbo(k)) {
			snprintf(ev->crebo, sizeof ev->crebo, "%s", "25180");
			ev->niveau = 2;
			ev->leerweg = LEERWEG_BOL;
			snprintf(ev->woongemeente, sizeof ev->woongemeente, "%s", "GM0268");
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pupil_state st;
	if (!overstap_state_decode(&st, data, size))
		return 0;
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&st, buf);
	if (data[0] == 1) {
		struct pupil_state again;
		CHECK(buf[0] == 2 && overstap_state_decode(&again, buf, n) && memcmp(&again, &st, sizeof st) == 0);
	} else {
		CHECK(n == size && memcmp(buf, data, size) == 0);
	}

	struct rules_calendar cal;
	rules_calendar_default(&cal);
	int64_t tel = rules_deadline_at(&cal, st.cohort, DEADLINE_TELDATUM);
	int64_t nows[] = { tel - 1, tel, rules_deadline_at(&cal, st.cohort, DEADLINE_AANMELDDATUM) };
	for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++) {
		enum status s = rules_status_at(&cal, &st, nows[i]);
		CHECK(s > STATUS_UNSPECIFIED && s < STATUS_COUNT);
	}
	(void)overstap_woongemeente(&st);
	(void)overstap_mbo_instelling(&st);

	for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
		int64_t base = time_of(&st, KINDS[k]);
		int64_t times[] = { base > 0 ? base : 1, base > 0 && base < INT64_MAX ? base + 1 : 2 };
		for (size_t j = 0; j < 2; j++) {
			struct overstap_event ev;
			make_event(&st, KINDS[k], times[j], &ev);
			struct pupil_state after = st;
			overstap_state_apply(&after, &ev);
			uint8_t a[OVERSTAP_STATE_ENCODED_MAX], b[OVERSTAP_STATE_ENCODED_MAX];
			size_t na = encode(&after, a);
			CHECK(!overstap_state_apply(&after, &ev));
			size_t nb = encode(&after, b);
			CHECK(na == nb && memcmp(a, b, na) == 0);
			check_roundtrip(&after);
			struct rules_outcome out;
			for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++)
				rules_evaluate(&cal, &st, &after, nows[i], &out);
		}
	}
	return 0;
}
