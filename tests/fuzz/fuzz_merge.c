/* fuzz_merge.c — libFuzzer target, structure-aware: the merge of DESIGN §5.
 *
 * "State is a deterministic function of the set of events": the merge must be
 * commutative and idempotent. Random bytes rarely make valid protobuf updates
 * (fuzz_envelope), so here every 4 input bytes choose one event from small sets
 * that collide often — 14 kinds, 3 vo locations, 40 mbo institutions (more than
 * a state keeps), 16 days (many ties), 8 event ids (equal tiebreaks), a few
 * destinations, crebos and gemeenten. Each event is built as an update and
 * validated (overstap_validate_update, admin), so only events the daemon would
 * accept are merged. Then:
 *   - the events applied in input order, in reverse, and shuffled with every
 *     event twice give byte-identical states (overstap_state_encode);
 *   - in input order, each apply's "changed" is true exactly when the bytes
 *     changed, and status, rules_status_at and rules_evaluate (old → new) can
 *     be asked at every step;
 *   - every final state round-trips through encode/decode, with the same
 *     status for the three orders.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overstap.h"
#include "rules.h"

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_merge: invariant failed: %s (%s:%d)\n", #cond,   \
				__FILE__, __LINE__);                                        \
			abort();                                                            \
		}                                                                           \
	} while (0)

#define MAX_EVENTS 64
#define T0 1924992000 /* 2031-01-01T00:00:00Z */
#define DAY 86400

static const int KINDS[] = { 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17 };
static const char *const VO[] = { "25LX00", "25LX01", "20LO00" };
static const char *const GM[] = { "GM0935", "GM0268", "GM0106", "" };
static const char *const CREBO[] = { "25180", "25181", "" };

static size_t encode(const struct pupil_state *st, uint8_t *buf)
{
	size_t n = overstap_state_encode(st, buf, OVERSTAP_STATE_ENCODED_MAX);
	CHECK(n > 0);
	return n;
}

/* One event from four bytes; false when validation refuses it. */
static bool make_event(const uint8_t b[4], int64_t now, struct overstap_event *ev)
{
	int kind = KINDS[b[0] % (sizeof KINDS / sizeof KINDS[0])];
	char school[8], id[16], brin[5];
	bool vo = overstap_kind_is_vo(kind);
	if (vo) {
		snprintf(school, sizeof school, "%s", VO[b[1] % 3]);
	} else {
		unsigned i = b[1] % 40;
		snprintf(brin, sizeof brin, "%02u%c%c", 10 + i, 'A' + i % 26, 'Z' - i / 2 % 26);
		snprintf(school, sizeof school, "%s", brin);
	}
	snprintf(id, sizeof id, "e%u", b[3] & 7);
	struct overstap_update_in in = { 0 };
	in.event_id = id;
	in.pgn = "111222333";
	in.occurred_at = T0 + (int64_t)(b[2] & 15) * DAY + (b[2] >> 7);
	in.kind = kind;
	in.cohort = 2031;
	in.school = school;
	in.woongemeente = "";
	in.birth_date = "";
	in.name = "";
	in.crebo = "";
	in.mbo_instelling = "";
	in.reason = "";
	unsigned v = b[3] >> 3; /* 0..31: the payload */
	switch (kind) {
	case 1:
		in.woongemeente = GM[v % 3];
		in.vo_soort = 1 + (int)(v % 9);
		in.birth_date = "2015-03-04";
		in.name = (v & 16) ? "Sam" : "Ali";
		break;
	case 2:
		in.bestemming = 1 + (int)(v % 6);
		if (in.bestemming == 1) {
			in.crebo = CREBO[v / 6 % 3];
			in.mbo_instelling = (v & 16) ? "25LP" : "";
			in.niveau = v % 5;
		}
		break;
	case 3: case 4: case 5: case 6:
		break;
	default: /* mbo */
		in.crebo = CREBO[v % 3];
		if (kind == 10 || kind == 11 || kind == 12 || kind == 15)
			in.crebo = CREBO[v % 2];
		in.woongemeente = GM[v / 3 % 4];
		in.niveau = v % 5;
		in.leerweg = (int)(v / 5 % 3);
		break;
	}
	struct identity admin = { ROLE_ADMIN, "ops" };
	struct overstap_error err;
	return overstap_validate_update(&in, &admin, now, ev, &err);
}

/* A small deterministic PRNG for the shuffle (xorshift64*). */
static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Applies evs in this order; with `steps`, checks every step (the forward
 * order only: the checks cost more than the merge). */
static void apply_all(struct pupil_state *st, const struct overstap_event *evs, const size_t *order, size_t n,
		      const struct rules_calendar *cal, int64_t now, bool steps)
{
	overstap_state_init(st, 2031);
	for (size_t i = 0; i < n; i++) {
		if (!steps) {
			overstap_state_apply(st, &evs[order[i]]);
			continue;
		}
		struct pupil_state old = *st;
		uint8_t a[OVERSTAP_STATE_ENCODED_MAX], b[OVERSTAP_STATE_ENCODED_MAX];
		size_t na = encode(st, a);
		bool changed = overstap_state_apply(st, &evs[order[i]]);
		size_t nb = encode(st, b);
		CHECK(changed == !(na == nb && memcmp(a, b, na) == 0));
		struct rules_outcome out;
		rules_evaluate(cal, &old, st, now, &out);
		enum status s = rules_status_at(cal, st, now);
		CHECK(s > STATUS_UNSPECIFIED && s < STATUS_COUNT);
	}
	uint8_t a[OVERSTAP_STATE_ENCODED_MAX], b[OVERSTAP_STATE_ENCODED_MAX];
	size_t na = encode(st, a);
	struct pupil_state back;
	CHECK(overstap_state_decode(&back, a, na));
	size_t nb = encode(&back, b);
	CHECK(na == nb && memcmp(a, b, na) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* the first byte: when "now" is (all events lie in the first 16 days of 2031,
	 * so "now" moves the deadlines, not the validation) */
	static const int64_t nows[] = { T0 + 20 * DAY, T0 + 90 * DAY, T0 + 212 * DAY, T0 + 273 * DAY };
	int64_t now = nows[data[0] & 3];
	data++;
	size--;
	struct overstap_event evs[MAX_EVENTS];
	size_t n = 0;
	for (size_t at = 0; at + 4 <= size && n < MAX_EVENTS; at += 4)
		if (make_event(data + at, now, &evs[n]))
			n++;
	if (n == 0)
		return 0;
	struct rules_calendar cal;
	rules_calendar_default(&cal);

	size_t fwd[MAX_EVENTS], rev[MAX_EVENTS], mix[2 * MAX_EVENTS];
	for (size_t i = 0; i < n; i++) {
		fwd[i] = i;
		rev[i] = n - 1 - i;
		mix[2 * i] = mix[2 * i + 1] = i;
	}
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 1099511628211ull;
	if (!seed)
		seed = 1;
	for (size_t i = 2 * n - 1; i > 0; i--) {
		size_t j = (size_t)(next(&seed) % (i + 1));
		size_t t = mix[i];
		mix[i] = mix[j];
		mix[j] = t;
	}

	struct pupil_state a, b, c;
	apply_all(&a, evs, fwd, n, &cal, now, true);
	apply_all(&b, evs, rev, n, &cal, now, false);
	apply_all(&c, evs, mix, 2 * n, &cal, now, false);
	uint8_t ea[OVERSTAP_STATE_ENCODED_MAX], eb[OVERSTAP_STATE_ENCODED_MAX], ec[OVERSTAP_STATE_ENCODED_MAX];
	size_t na = encode(&a, ea), nb = encode(&b, eb), nc = encode(&c, ec);
	CHECK(na == nb && memcmp(ea, eb, na) == 0);
	CHECK(na == nc && memcmp(ea, ec, na) == 0);
	CHECK(rules_status_at(&cal, &a, now) == rules_status_at(&cal, &b, now));
	CHECK(rules_status_at(&cal, &a, now) == rules_status_at(&cal, &c, now));
	return 0;
}
