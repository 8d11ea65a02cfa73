/* test_overstap.c — the domain core: field checks, validation (DESIGN §4.4),
 * the state merge and status (§5), the storage encoding, and the property that
 * any order of any event set, with duplicates, gives the same bytes.
 *
 * Expected values are worked out by hand or taken from python-stdnum (nl.bsn,
 * nl.onderwijsnummer) and the generated protobuf header, never from the code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_run.h"
#include "overstap.h"
#include "overstap.pb-c.h"

#define NOW 1930132800 /* 2031-03-01T12:00:00Z */
#define COHORT 2031
#define T0 1920000000 /* 2030-11-03, a plausible moment in the school year */

static const struct identity VO = { ROLE_VO, "25LX00" };
static const struct identity MBO = { ROLE_MBO, "25LP" };
static const struct identity ADMIN = { ROLE_ADMIN, "beheer" };
static const struct identity RMC = { ROLE_RMC, "39" };
static const struct identity PT = { ROLE_PROJECTTEAM, "39" };

/* ---- helpers -------------------------------------------------------------- */

/* A valid update of this kind as the school of its role would send it. */
static struct overstap_update_in upd(int kind)
{
	struct overstap_update_in in = {
		.event_id = "e1", .pgn = "111222333", .occurred_at = NOW - 3600, .kind = kind, .cohort = COHORT,
		.school = overstap_kind_is_mbo(kind) ? "25LP" : "25LX00", .woongemeente = "", .vo_soort = 0,
		.birth_date = "", .name = "", .bestemming = 0, .crebo = "", .mbo_instelling = "", .niveau = 0,
		.leerweg = 0, .reason = "",
	};
	switch (kind) {
	case EVENT_OVERSTAPPER_GEREGISTREERD:
		in.name = "Sanne de Vries";
		in.birth_date = "2015-05-17";
		in.woongemeente = "GM0268";
		in.vo_soort = VO_SOORT_VMBO_KB;
		break;
	case EVENT_KEUZE_GEREGISTREERD:
		in.bestemming = BESTEMMING_MBO;
		break;
	case EVENT_AANMELDING_ONTVANGEN:
	case EVENT_AANGEMELD:
	case EVENT_OVEREENKOMST_AANGEBODEN:
	case EVENT_INGESCHREVEN:
		in.crebo = "25168";
		break;
	default:
		break;
	}
	return in;
}

/* The error code of validating `in` for `who` at NOW; NULL when accepted. */
static const char *code_of(const struct overstap_update_in *in, const struct identity *who)
{
	static struct overstap_event ev;
	static struct overstap_error err;
	if (overstap_validate_update(in, who, NOW, &ev, &err))
		return NULL;
	return err.code ? err.code : "(no code)";
}

#define ASSERT_ACCEPTED(in, who) CU_ASSERT_PTR_NULL(code_of(&(in), (who)))
#define ASSERT_CODE(in, who, code)                             \
	do {                                                   \
		const char *c_ = code_of(&(in), (who));        \
		CU_ASSERT_PTR_NOT_NULL_FATAL(c_);              \
		CU_ASSERT_STRING_EQUAL(c_, (code));            \
	} while (0)

/* A validated event built directly (for merge tests). */
static struct overstap_event ev_make(int kind, const char *school, const char *id, int64_t at)
{
	struct overstap_event e;
	memset(&e, 0, sizeof e);
	snprintf(e.event_id, sizeof e.event_id, "%s", id);
	snprintf(e.pgn, sizeof e.pgn, "111222333");
	e.occurred_at = at;
	e.kind = (enum event_kind)kind;
	e.cohort = COHORT;
	snprintf(e.school, sizeof e.school, "%s", school);
	return e;
}

static struct overstap_event ev_vo(int kind, const char *id, int64_t at)
{
	struct overstap_event e = ev_make(kind, "25LX00", id, at);
	if (kind == EVENT_OVERSTAPPER_GEREGISTREERD) {
		snprintf(e.woongemeente, sizeof e.woongemeente, "GM0268");
		e.vo_soort = VO_SOORT_VMBO_KB;
		snprintf(e.name, sizeof e.name, "Sanne de Vries");
		snprintf(e.birth_date, sizeof e.birth_date, "2015-05-17");
	}
	if (kind == EVENT_KEUZE_GEREGISTREERD)
		e.bestemming = BESTEMMING_MBO;
	return e;
}

static struct overstap_event ev_keuze(enum bestemming b, const char *id, int64_t at)
{
	struct overstap_event e = ev_vo(EVENT_KEUZE_GEREGISTREERD, id, at);
	e.bestemming = b;
	return e;
}

static struct overstap_event ev_mbo(int kind, const char *brin, const char *id, int64_t at)
{
	struct overstap_event e = ev_make(kind, brin, id, at);
	snprintf(e.crebo, sizeof e.crebo, "25168");
	return e;
}

static void apply(struct pupil_state *st, struct overstap_event e)
{
	overstap_state_apply(st, &e);
}

static enum status status_of(const struct pupil_state *st)
{
	return overstap_status(st, false);
}

static size_t encode(const struct pupil_state *st, uint8_t *buf)
{
	size_t n = overstap_state_encode(st, buf, OVERSTAP_STATE_ENCODED_MAX);
	CU_ASSERT_FATAL(n > 0);
	return n;
}

/* ---- PGN ------------------------------------------------------------------ */

static void test_bsn_passes_eleven_test(void)
{
	CU_ASSERT_TRUE(overstap_bsn_is_valid("111222333"));
	CU_ASSERT_TRUE(overstap_bsn_is_valid("123456782"));
	CU_ASSERT_TRUE(overstap_bsn_is_valid("999999990"));
}

static void test_bsn_with_wrong_check_digit_is_invalid(void)
{
	CU_ASSERT_FALSE(overstap_bsn_is_valid("111252333"));
	CU_ASSERT_FALSE(overstap_bsn_is_valid("123456789"));
	CU_ASSERT_FALSE(overstap_bsn_is_valid("101222331")); /* an onderwijsnummer */
}

static void test_bsn_may_start_with_10(void)
{
	/* python-stdnum nl.bsn accepts these; nl.onderwijsnummer does not */
	CU_ASSERT_TRUE(overstap_bsn_is_valid("100252333"));
	CU_ASSERT_TRUE(overstap_bsn_is_valid("100000010"));
	CU_ASSERT_FALSE(overstap_onderwijsnummer_is_valid("100252333"));
}

static void test_bsn_all_zero_is_invalid(void)
{
	CU_ASSERT_FALSE(overstap_bsn_is_valid("000000000"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("000000000"));
}

static void test_pgn_needs_exactly_nine_digits(void)
{
	CU_ASSERT_FALSE(overstap_pgn_is_valid("11122233"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("1112223330"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("11122233a"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid(" 11222333"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("111.222.333"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid(""));
	CU_ASSERT_FALSE(overstap_pgn_is_valid(NULL));
}

static void test_onderwijsnummer_valid_numbers(void)
{
	CU_ASSERT_TRUE(overstap_onderwijsnummer_is_valid("101222331"));
	CU_ASSERT_TRUE(overstap_onderwijsnummer_is_valid("100000004"));
	CU_ASSERT_TRUE(overstap_onderwijsnummer_is_valid("100000016"));
	CU_ASSERT_FALSE(overstap_bsn_is_valid("100000004"));
}

static void test_onderwijsnummer_must_start_with_10(void)
{
	/* weighted sum ≡ 5 (mod 11), but starts with 21 */
	CU_ASSERT_FALSE(overstap_onderwijsnummer_is_valid("211222337"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("211222337"));
}

static void test_onderwijsnummer_wrong_checksum_is_invalid(void)
{
	CU_ASSERT_FALSE(overstap_onderwijsnummer_is_valid("101222330"));
	CU_ASSERT_FALSE(overstap_onderwijsnummer_is_valid("100000011"));
	CU_ASSERT_FALSE(overstap_onderwijsnummer_is_valid("1012223310"));
}

static void test_pgn_accepts_bsn_and_onderwijsnummer(void)
{
	CU_ASSERT_TRUE(overstap_pgn_is_valid("111222333"));
	CU_ASSERT_TRUE(overstap_pgn_is_valid("101222331"));
	CU_ASSERT_FALSE(overstap_pgn_is_valid("101222330"));
}

/* ---- other fields --------------------------------------------------------- */

static void test_brin_is_two_digits_two_capitals(void)
{
	CU_ASSERT_TRUE(overstap_brin_is_valid("25LX"));
	CU_ASSERT_TRUE(overstap_brin_is_valid("00AA"));
	CU_ASSERT_FALSE(overstap_brin_is_valid("25lx"));
	CU_ASSERT_FALSE(overstap_brin_is_valid("2LXX"));
	CU_ASSERT_FALSE(overstap_brin_is_valid("25L"));
	CU_ASSERT_FALSE(overstap_brin_is_valid("25LX0"));
	CU_ASSERT_FALSE(overstap_brin_is_valid(""));
	CU_ASSERT_FALSE(overstap_brin_is_valid(NULL));
}

static void test_vestiging_is_brin_and_two_digits(void)
{
	CU_ASSERT_TRUE(overstap_vestiging_is_valid("25LX00"));
	CU_ASSERT_TRUE(overstap_vestiging_is_valid("25LX07"));
	CU_ASSERT_FALSE(overstap_vestiging_is_valid("25LX0A"));
	CU_ASSERT_FALSE(overstap_vestiging_is_valid("25LX"));
	CU_ASSERT_FALSE(overstap_vestiging_is_valid("25LX000"));
	CU_ASSERT_FALSE(overstap_vestiging_is_valid("25lx00"));
	CU_ASSERT_FALSE(overstap_vestiging_is_valid(NULL));
}

static void test_gemeente_is_gm_and_four_digits(void)
{
	CU_ASSERT_TRUE(overstap_gemeente_is_valid("GM0268"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid("gm0268"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid("GM268"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid("GM02689"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid("MC0268"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid("GM02a8"));
	CU_ASSERT_FALSE(overstap_gemeente_is_valid(""));
}

static void test_crebo_is_five_digits(void)
{
	CU_ASSERT_TRUE(overstap_crebo_is_valid("25168"));
	CU_ASSERT_FALSE(overstap_crebo_is_valid("2516"));
	CU_ASSERT_FALSE(overstap_crebo_is_valid("251680"));
	CU_ASSERT_FALSE(overstap_crebo_is_valid("2516a"));
	CU_ASSERT_FALSE(overstap_crebo_is_valid(""));
}

static void test_date_parse_returns_parts(void)
{
	int y = 0, m = 0, d = 0;
	CU_ASSERT_TRUE_FATAL(overstap_date_parse("2014-02-28", &y, &m, &d));
	CU_ASSERT_EQUAL(y, 2014);
	CU_ASSERT_EQUAL(m, 2);
	CU_ASSERT_EQUAL(d, 28);
}

static void test_date_parse_knows_leap_years(void)
{
	CU_ASSERT_TRUE(overstap_date_parse("2016-02-29", NULL, NULL, NULL));
	CU_ASSERT_TRUE(overstap_date_parse("2000-02-29", NULL, NULL, NULL));
	CU_ASSERT_FALSE(overstap_date_parse("2015-02-29", NULL, NULL, NULL));
	CU_ASSERT_FALSE(overstap_date_parse("1900-02-29", NULL, NULL, NULL));
}

static void test_date_parse_rejects_malformed(void)
{
	const char *bad[] = { "2014-13-01", "2014-00-10", "2014-04-31", "2014-04-00", "2014-4-01",
			      "2014/04/01", "2014-04-011", "14-04-01",   "",	   "2014-04-0a" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_FALSE(overstap_date_parse(bad[i], NULL, NULL, NULL));
}

static void test_kind_ranges(void)
{
	CU_ASSERT_FALSE(overstap_kind_is_vo(0));
	CU_ASSERT_TRUE(overstap_kind_is_vo(1));
	CU_ASSERT_TRUE(overstap_kind_is_vo(6));
	CU_ASSERT_FALSE(overstap_kind_is_vo(7));
	CU_ASSERT_FALSE(overstap_kind_is_vo(10));
	CU_ASSERT_FALSE(overstap_kind_is_mbo(9));
	CU_ASSERT_TRUE(overstap_kind_is_mbo(10));
	CU_ASSERT_TRUE(overstap_kind_is_mbo(17));
	CU_ASSERT_FALSE(overstap_kind_is_mbo(18));
	CU_ASSERT_FALSE(overstap_kind_is_mbo(6));
}

static void test_role_parse_and_name(void)
{
	CU_ASSERT_EQUAL(overstap_role_parse("vo"), ROLE_VO);
	CU_ASSERT_EQUAL(overstap_role_parse("mbo"), ROLE_MBO);
	CU_ASSERT_EQUAL(overstap_role_parse("rmc"), ROLE_RMC);
	CU_ASSERT_EQUAL(overstap_role_parse("projectteam"), ROLE_PROJECTTEAM);
	CU_ASSERT_EQUAL(overstap_role_parse("admin"), ROLE_ADMIN);
	CU_ASSERT_EQUAL(overstap_role_parse("VO"), ROLE_NONE);
	CU_ASSERT_EQUAL(overstap_role_parse("school"), ROLE_NONE);
	CU_ASSERT_EQUAL(overstap_role_parse(""), ROLE_NONE);
	CU_ASSERT_STRING_EQUAL(overstap_role_name(ROLE_VO), "vo");
	CU_ASSERT_STRING_EQUAL(overstap_role_name(ROLE_PROJECTTEAM), "projectteam");
	CU_ASSERT_STRING_EQUAL(overstap_role_name(ROLE_ADMIN), "admin");
}

static void test_status_and_kind_names(void)
{
	CU_ASSERT_STRING_EQUAL(overstap_status_name(STATUS_AANGEMELD), "AANGEMELD");
	CU_ASSERT_STRING_EQUAL(overstap_status_name(STATUS_ZONDER_PLEK), "ZONDER_PLEK");
	CU_ASSERT_STRING_EQUAL(overstap_status_name(STATUS_BLIJFT_IN_VO), "BLIJFT_IN_VO");
	CU_ASSERT_STRING_EQUAL(overstap_status_name((enum status)42), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(overstap_kind_name(EVENT_AANGEMELD), "AANGEMELD");
	CU_ASSERT_STRING_EQUAL(overstap_kind_name(EVENT_OVERSTAPPER_GEREGISTREERD), "OVERSTAPPER_GEREGISTREERD");
	CU_ASSERT_STRING_EQUAL(overstap_kind_name(EVENT_MBO_UITGESCHREVEN), "MBO_UITGESCHREVEN");
}

/* ---- enum numbers equal the wire ------------------------------------------ */

static void test_event_kind_numbers_equal_proto(void)
{
	CU_ASSERT_EQUAL(EVENT_KIND_UNSPECIFIED, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED);
	CU_ASSERT_EQUAL(EVENT_OVERSTAPPER_GEREGISTREERD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_OVERSTAPPER_GEREGISTREERD);
	CU_ASSERT_EQUAL(EVENT_KEUZE_GEREGISTREERD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_KEUZE_GEREGISTREERD);
	CU_ASSERT_EQUAL(EVENT_DDD_AANGELEVERD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_DDD_AANGELEVERD);
	CU_ASSERT_EQUAL(EVENT_DIPLOMA_BEHAALD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_DIPLOMA_BEHAALD);
	CU_ASSERT_EQUAL(EVENT_NIET_GESLAAGD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_NIET_GESLAAGD);
	CU_ASSERT_EQUAL(EVENT_VO_UITGESCHREVEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_VO_UITGESCHREVEN);
	CU_ASSERT_EQUAL(EVENT_AANMELDING_ONTVANGEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_AANMELDING_ONTVANGEN);
	CU_ASSERT_EQUAL(EVENT_AANGEMELD, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_AANGEMELD);
	CU_ASSERT_EQUAL(EVENT_OVEREENKOMST_AANGEBODEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_OVEREENKOMST_AANGEBODEN);
	CU_ASSERT_EQUAL(EVENT_LEIDT_NIET_TOT_INSCHRIJVING,
			OVERSTAP__V1__EVENT_KIND__EVENT_KIND_LEIDT_NIET_TOT_INSCHRIJVING);
	CU_ASSERT_EQUAL(EVENT_INGETROKKEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_INGETROKKEN);
	CU_ASSERT_EQUAL(EVENT_INGESCHREVEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_INGESCHREVEN);
	CU_ASSERT_EQUAL(EVENT_NIET_GESTART, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_NIET_GESTART);
	CU_ASSERT_EQUAL(EVENT_MBO_UITGESCHREVEN, OVERSTAP__V1__EVENT_KIND__EVENT_KIND_MBO_UITGESCHREVEN);
}

static void test_status_numbers_equal_proto(void)
{
	CU_ASSERT_EQUAL(STATUS_UNSPECIFIED, OVERSTAP__V1__STATUS__STATUS_UNSPECIFIED);
	CU_ASSERT_EQUAL(STATUS_GEEN_KEUZE, OVERSTAP__V1__STATUS__STATUS_GEEN_KEUZE);
	CU_ASSERT_EQUAL(STATUS_KEUZE, OVERSTAP__V1__STATUS__STATUS_KEUZE);
	CU_ASSERT_EQUAL(STATUS_AANGEMELD, OVERSTAP__V1__STATUS__STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(STATUS_GEPLAATST, OVERSTAP__V1__STATUS__STATUS_GEPLAATST);
	CU_ASSERT_EQUAL(STATUS_INGESCHREVEN, OVERSTAP__V1__STATUS__STATUS_INGESCHREVEN);
	CU_ASSERT_EQUAL(STATUS_ANDERE_BESTEMMING, OVERSTAP__V1__STATUS__STATUS_ANDERE_BESTEMMING);
	CU_ASSERT_EQUAL(STATUS_ZONDER_PLEK, OVERSTAP__V1__STATUS__STATUS_ZONDER_PLEK);
	CU_ASSERT_EQUAL(STATUS_NIET_GESTART, OVERSTAP__V1__STATUS__STATUS_NIET_GESTART);
	CU_ASSERT_EQUAL(STATUS_BLIJFT_IN_VO, OVERSTAP__V1__STATUS__STATUS_BLIJFT_IN_VO);
	CU_ASSERT_EQUAL(STATUS_COUNT, OVERSTAP__V1__STATUS__STATUS_BLIJFT_IN_VO + 1);
}

static void test_bestemming_vo_soort_leerweg_numbers_equal_proto(void)
{
	CU_ASSERT_EQUAL(BESTEMMING_MBO, OVERSTAP__V1__BESTEMMING__BESTEMMING_MBO);
	CU_ASSERT_EQUAL(BESTEMMING_HAVO, OVERSTAP__V1__BESTEMMING__BESTEMMING_HAVO);
	CU_ASSERT_EQUAL(BESTEMMING_VWO, OVERSTAP__V1__BESTEMMING__BESTEMMING_VWO);
	CU_ASSERT_EQUAL(BESTEMMING_WERK, OVERSTAP__V1__BESTEMMING__BESTEMMING_WERK);
	CU_ASSERT_EQUAL(BESTEMMING_BUITENLAND, OVERSTAP__V1__BESTEMMING__BESTEMMING_BUITENLAND);
	CU_ASSERT_EQUAL(BESTEMMING_ANDERS, OVERSTAP__V1__BESTEMMING__BESTEMMING_ANDERS);
	CU_ASSERT_EQUAL(VO_SOORT_VMBO_BB, OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_BB);
	CU_ASSERT_EQUAL(VO_SOORT_VMBO_KB, OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_KB);
	CU_ASSERT_EQUAL(VO_SOORT_VMBO_GL, OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_GL);
	CU_ASSERT_EQUAL(VO_SOORT_VMBO_TL, OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_TL);
	CU_ASSERT_EQUAL(VO_SOORT_HAVO, OVERSTAP__V1__VO_SOORT__VO_SOORT_HAVO);
	CU_ASSERT_EQUAL(VO_SOORT_VWO, OVERSTAP__V1__VO_SOORT__VO_SOORT_VWO);
	CU_ASSERT_EQUAL(VO_SOORT_VSO, OVERSTAP__V1__VO_SOORT__VO_SOORT_VSO);
	CU_ASSERT_EQUAL(VO_SOORT_PRO, OVERSTAP__V1__VO_SOORT__VO_SOORT_PRO);
	CU_ASSERT_EQUAL(VO_SOORT_ISK, OVERSTAP__V1__VO_SOORT__VO_SOORT_ISK);
	CU_ASSERT_EQUAL(LEERWEG_BOL, OVERSTAP__V1__LEERWEG__LEERWEG_BOL);
	CU_ASSERT_EQUAL(LEERWEG_BBL, OVERSTAP__V1__LEERWEG__LEERWEG_BBL);
}

/* ---- validation: accepted updates ----------------------------------------- */

static void test_valid_registration_is_copied(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.reason = "examenjaar";
	struct overstap_event ev;
	struct overstap_error err;
	CU_ASSERT_TRUE_FATAL(overstap_validate_update(&in, &VO, NOW, &ev, &err));
	CU_ASSERT_STRING_EQUAL(ev.event_id, "e1");
	CU_ASSERT_STRING_EQUAL(ev.pgn, "111222333");
	CU_ASSERT_EQUAL(ev.occurred_at, NOW - 3600);
	CU_ASSERT_EQUAL(ev.kind, EVENT_OVERSTAPPER_GEREGISTREERD);
	CU_ASSERT_EQUAL(ev.cohort, COHORT);
	CU_ASSERT_STRING_EQUAL(ev.school, "25LX00");
	CU_ASSERT_STRING_EQUAL(ev.woongemeente, "GM0268");
	CU_ASSERT_EQUAL(ev.vo_soort, VO_SOORT_VMBO_KB);
	CU_ASSERT_STRING_EQUAL(ev.birth_date, "2015-05-17");
	CU_ASSERT_STRING_EQUAL(ev.name, "Sanne de Vries");
	CU_ASSERT_STRING_EQUAL(ev.reason, "examenjaar");
	CU_ASSERT_STRING_EQUAL(ev.crebo, "");
	CU_ASSERT_EQUAL(ev.bestemming, BESTEMMING_UNSPECIFIED);
}

static void test_valid_keuze_mbo_with_all_details(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.crebo = "25168";
	in.mbo_instelling = "25LP";
	in.niveau = 4;
	in.leerweg = LEERWEG_BBL;
	struct overstap_event ev;
	struct overstap_error err;
	CU_ASSERT_TRUE_FATAL(overstap_validate_update(&in, &VO, NOW, &ev, &err));
	CU_ASSERT_EQUAL(ev.bestemming, BESTEMMING_MBO);
	CU_ASSERT_STRING_EQUAL(ev.crebo, "25168");
	CU_ASSERT_STRING_EQUAL(ev.mbo_instelling, "25LP");
	CU_ASSERT_EQUAL(ev.niveau, 4);
	CU_ASSERT_EQUAL(ev.leerweg, LEERWEG_BBL);
}

static void test_valid_keuze_mbo_without_details(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	ASSERT_ACCEPTED(in, &VO);
}

static void test_valid_keuze_other_destinations(void)
{
	for (int b = BESTEMMING_HAVO; b <= BESTEMMING_ANDERS; b++) {
		struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
		in.bestemming = b;
		ASSERT_ACCEPTED(in, &VO);
	}
}

static void test_valid_vo_kinds_without_fields(void)
{
	for (int k = EVENT_DDD_AANGELEVERD; k <= EVENT_VO_UITGESCHREVEN; k++) {
		struct overstap_update_in in = upd(k);
		ASSERT_ACCEPTED(in, &VO);
	}
}

static void test_valid_mbo_kinds(void)
{
	for (int k = EVENT_AANMELDING_ONTVANGEN; k <= EVENT_MBO_UITGESCHREVEN; k++) {
		struct overstap_update_in in = upd(k);
		ASSERT_ACCEPTED(in, &MBO);
	}
}

static void test_mbo_may_carry_personal_data_and_details(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.name = "Sanne de Vries";
	in.birth_date = "2015-05-17";
	in.woongemeente = "GM0268";
	in.niveau = 2;
	in.leerweg = LEERWEG_BOL;
	struct overstap_event ev;
	struct overstap_error err;
	CU_ASSERT_TRUE_FATAL(overstap_validate_update(&in, &MBO, NOW, &ev, &err));
	CU_ASSERT_STRING_EQUAL(ev.woongemeente, "GM0268");
	CU_ASSERT_STRING_EQUAL(ev.name, "Sanne de Vries");
	CU_ASSERT_EQUAL(ev.niveau, 2);
}

static void test_withdrawal_needs_no_crebo(void)
{
	int kinds[] = { EVENT_LEIDT_NIET_TOT_INSCHRIJVING, EVENT_INGETROKKEN, EVENT_NIET_GESTART,
			EVENT_MBO_UITGESCHREVEN };
	for (size_t i = 0; i < 4; i++) {
		struct overstap_update_in in = upd(kinds[i]);
		CU_ASSERT_STRING_EQUAL(in.crebo, "");
		ASSERT_ACCEPTED(in, &MBO);
	}
}

static void test_onderwijsnummer_is_accepted_as_pgn(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.pgn = "101222331";
	ASSERT_ACCEPTED(in, &VO);
}

static void test_admin_may_send_for_any_school(void)
{
	struct overstap_update_in vo = upd(EVENT_DIPLOMA_BEHAALD);
	vo.school = "30RF01";
	ASSERT_ACCEPTED(vo, &ADMIN);
	struct overstap_update_in mbo = upd(EVENT_AANGEMELD);
	mbo.school = "30RF";
	ASSERT_ACCEPTED(mbo, &ADMIN);
}

static void test_admin_still_needs_a_well_formed_school(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.school = "30RF01"; /* a vestiging, but mbo kinds name the BRIN */
	ASSERT_CODE(in, &ADMIN, ERR_BAD_SCHOOL);
}

/* ---- validation: event_id ------------------------------------------------- */

static void test_empty_event_id_is_bad_event_id(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.event_id = "";
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
}

static void test_event_id_of_64_bytes_is_accepted(void)
{
	char id[65];
	memset(id, 'a', 64);
	id[64] = '\0';
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.event_id = id;
	ASSERT_ACCEPTED(in, &VO);
}

static void test_event_id_of_65_bytes_is_bad_event_id(void)
{
	char id[66];
	memset(id, 'a', 65);
	id[65] = '\0';
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.event_id = id;
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
}

static void test_event_id_with_control_or_bad_utf8_is_bad_event_id(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.event_id = "e\n1";
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
	in.event_id = "e\xff";
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
	in.event_id = "\xc0\xaf"; /* overlong '/' */
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
	in.event_id = "caf\xc3\xa9-1"; /* café-1 */
	ASSERT_ACCEPTED(in, &VO);
}

/* ---- validation: kind and permission -------------------------------------- */

static void test_unknown_kind_is_bad_kind(void)
{
	int kinds[] = { 0, 7, 9, 18, -1, 1000 };
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
		in.kind = kinds[i];
		ASSERT_CODE(in, &VO, ERR_BAD_KIND);
	}
}

static void test_vo_may_not_send_mbo_kinds(void)
{
	for (int k = EVENT_AANMELDING_ONTVANGEN; k <= EVENT_MBO_UITGESCHREVEN; k++) {
		struct overstap_update_in in = upd(k);
		in.school = "25LX00";
		ASSERT_CODE(in, &VO, ERR_PERMISSION_DENIED);
	}
}

static void test_mbo_may_not_send_vo_kinds(void)
{
	for (int k = EVENT_OVERSTAPPER_GEREGISTREERD; k <= EVENT_VO_UITGESCHREVEN; k++) {
		struct overstap_update_in in = upd(k);
		in.school = "25LP";
		ASSERT_CODE(in, &MBO, ERR_PERMISSION_DENIED);
	}
}

static void test_rmc_and_projectteam_may_send_nothing(void)
{
	struct overstap_update_in vo = upd(EVENT_DIPLOMA_BEHAALD);
	struct overstap_update_in mbo = upd(EVENT_AANGEMELD);
	ASSERT_CODE(vo, &RMC, ERR_PERMISSION_DENIED);
	ASSERT_CODE(mbo, &RMC, ERR_PERMISSION_DENIED);
	ASSERT_CODE(vo, &PT, ERR_PERMISSION_DENIED);
	ASSERT_CODE(mbo, &PT, ERR_PERMISSION_DENIED);
	struct identity none = { ROLE_NONE, "" };
	ASSERT_CODE(vo, &none, ERR_PERMISSION_DENIED);
}

static void test_vo_school_must_equal_certificate(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.school = "25LX01"; /* another vestiging of the same BRIN */
	ASSERT_CODE(in, &VO, ERR_PERMISSION_DENIED);
	in.school = "30RF00";
	ASSERT_CODE(in, &VO, ERR_PERMISSION_DENIED);
}

static void test_mbo_school_must_equal_certificate(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.school = "30RF";
	ASSERT_CODE(in, &MBO, ERR_PERMISSION_DENIED);
}

static void test_empty_school_is_bad_school(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.school = "";
	ASSERT_CODE(in, &VO, ERR_BAD_SCHOOL);
	struct overstap_update_in m = upd(EVENT_AANGEMELD);
	m.school = "";
	ASSERT_CODE(m, &MBO, ERR_BAD_SCHOOL);
}

static void test_vo_school_must_be_a_vestiging(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.school = "25LX";
	ASSERT_CODE(in, &VO, ERR_BAD_SCHOOL);
}

static void test_mbo_school_must_be_a_brin(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.school = "25LP00";
	ASSERT_CODE(in, &MBO, ERR_BAD_SCHOOL);
}

/* ---- validation: pgn, cohort, occurred_at ---------------------------------- */

static void test_empty_pgn_is_bad_pgn(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.pgn = "";
	ASSERT_CODE(in, &VO, ERR_BAD_PGN);
}

static void test_pgn_failing_eleven_test_is_bad_pgn(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.pgn = "111252333";
	ASSERT_CODE(in, &VO, ERR_BAD_PGN);
	in.pgn = "11122233";
	ASSERT_CODE(in, &VO, ERR_BAD_PGN);
}

static void test_missing_cohort_is_bad_cohort(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.cohort = 0;
	ASSERT_CODE(in, &VO, ERR_BAD_COHORT);
}

static void test_cohort_within_five_years_of_now(void)
{
	/* NOW is in 2031 */
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.cohort = 2036;
	ASSERT_ACCEPTED(in, &VO);
	in.cohort = 2026;
	ASSERT_ACCEPTED(in, &VO);
}

static void test_cohort_six_years_off_is_bad_cohort(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.cohort = 2037;
	ASSERT_CODE(in, &VO, ERR_BAD_COHORT);
	in.cohort = 2025;
	ASSERT_CODE(in, &VO, ERR_BAD_COHORT);
	in.cohort = 4000000000u;
	ASSERT_CODE(in, &VO, ERR_BAD_COHORT);
}

static void test_cohort_year_follows_utc_new_year(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.cohort = 2037;
	in.occurred_at = 1956527000;
	struct overstap_event ev;
	struct overstap_error err;
	/* 2031-12-31T23:59:59Z: still 2031, 2037 is six years off */
	CU_ASSERT_FALSE(overstap_validate_update(&in, &VO, 1956527999, &ev, &err));
	/* 2032-01-01T00:00:00Z: 2037 is five years off */
	CU_ASSERT_TRUE(overstap_validate_update(&in, &VO, 1956528000, &ev, &err));
}

static void test_missing_occurred_at_is_bad_date(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.occurred_at = 0;
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
	in.occurred_at = -5;
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
}

static void test_occurred_at_one_day_ahead_is_accepted(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.occurred_at = NOW + 86400;
	ASSERT_ACCEPTED(in, &VO);
}

static void test_occurred_at_more_than_a_day_ahead_is_bad_date(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.occurred_at = NOW + 86401;
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
	in.occurred_at = INT64_MAX;
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
}

/* ---- validation: the registration ----------------------------------------- */

static void test_registration_without_name_is_bad_name(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.name = "";
	ASSERT_CODE(in, &VO, ERR_BAD_NAME);
}

static void test_registration_without_birth_date_is_bad_date(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.birth_date = "";
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
}

static void test_registration_without_woongemeente_is_bad_gemeente(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.woongemeente = "";
	ASSERT_CODE(in, &VO, ERR_BAD_GEMEENTE);
}

static void test_registration_without_vo_soort_is_missing_field(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.vo_soort = 0;
	ASSERT_CODE(in, &VO, ERR_MISSING_FIELD);
}

static void test_registration_bad_woongemeente_is_bad_gemeente(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.woongemeente = "GM268";
	ASSERT_CODE(in, &VO, ERR_BAD_GEMEENTE);
	in.woongemeente = "0268";
	ASSERT_CODE(in, &VO, ERR_BAD_GEMEENTE);
}

static void test_registration_unknown_vo_soort_is_bad_value(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.vo_soort = 10;
	ASSERT_CODE(in, &VO, ERR_BAD_VALUE);
	in.vo_soort = -2;
	ASSERT_CODE(in, &VO, ERR_BAD_VALUE);
	in.vo_soort = VO_SOORT_ISK;
	ASSERT_ACCEPTED(in, &VO);
}

static void test_registration_malformed_birth_date_is_bad_date(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.birth_date = "17-05-2015";
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
	in.birth_date = "2015-02-30";
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
}

static void test_birth_date_age_ten_to_thirty_at_cohort(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.birth_date = "2021-12-31"; /* 10 in 2031 */
	ASSERT_ACCEPTED(in, &VO);
	in.birth_date = "2001-01-01"; /* 30 in 2031 */
	ASSERT_ACCEPTED(in, &VO);
}

static void test_birth_date_too_young_or_old_is_bad_date(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.birth_date = "2022-01-01"; /* 9 in 2031 */
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
	in.birth_date = "2000-12-31"; /* 31 in 2031 */
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
	in.birth_date = "2040-01-01";
	ASSERT_CODE(in, &VO, ERR_BAD_DATE);
}

static void test_name_limits(void)
{
	char name[OVERSTAP_NAME_MAX + 2];
	memset(name, 'x', sizeof name - 1);
	name[OVERSTAP_NAME_MAX + 1] = '\0';
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.name = name;
	ASSERT_CODE(in, &VO, ERR_BAD_NAME); /* 201 bytes */
	name[OVERSTAP_NAME_MAX] = '\0';
	ASSERT_ACCEPTED(in, &VO); /* 200 bytes */
}

static void test_name_must_be_text(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.name = "Sanne\tde Vries";
	ASSERT_CODE(in, &VO, ERR_BAD_NAME);
	in.name = "Sanne \xe9"; /* Latin-1, not UTF-8 */
	ASSERT_CODE(in, &VO, ERR_BAD_NAME);
	in.name = "   ";
	ASSERT_CODE(in, &VO, ERR_BAD_NAME);
	in.name = "Zo\xc3\xab \xc3\x87" "elik"; /* Zoë Çelik */
	ASSERT_ACCEPTED(in, &VO);
}

static void test_registration_carries_no_keuze_fields(void)
{
	struct overstap_update_in in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.bestemming = BESTEMMING_MBO;
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.crebo = "25168";
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_OVERSTAPPER_GEREGISTREERD);
	in.niveau = 2;
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
}

/* ---- validation: the keuze ------------------------------------------------- */

static void test_keuze_without_bestemming_is_missing_field(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.bestemming = 0;
	ASSERT_CODE(in, &VO, ERR_MISSING_FIELD);
}

static void test_keuze_unknown_bestemming_is_bad_value(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.bestemming = 7;
	ASSERT_CODE(in, &VO, ERR_BAD_VALUE);
}

static void test_keuze_havo_carries_no_mbo_details(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.bestemming = BESTEMMING_HAVO;
	in.crebo = "25168";
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in.crebo = "";
	in.mbo_instelling = "25LP";
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in.mbo_instelling = "";
	in.niveau = 2;
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in.niveau = 0;
	in.leerweg = LEERWEG_BOL;
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
}

static void test_keuze_mbo_bad_crebo_is_bad_crebo(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.crebo = "2516";
	ASSERT_CODE(in, &VO, ERR_BAD_CREBO);
}

static void test_keuze_mbo_niveau_one_to_four(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.niveau = 1;
	ASSERT_ACCEPTED(in, &VO);
	in.niveau = 4;
	ASSERT_ACCEPTED(in, &VO);
	in.niveau = 5;
	ASSERT_CODE(in, &VO, ERR_BAD_VALUE);
}

static void test_keuze_mbo_bad_leerweg_is_bad_value(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.leerweg = 3;
	ASSERT_CODE(in, &VO, ERR_BAD_VALUE);
}

static void test_keuze_mbo_bad_instelling_is_bad_school(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.mbo_instelling = "25LP00";
	ASSERT_CODE(in, &VO, ERR_BAD_SCHOOL);
}

static void test_keuze_carries_no_personal_data(void)
{
	struct overstap_update_in in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.name = "Sanne";
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.woongemeente = "GM0268";
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_KEUZE_GEREGISTREERD);
	in.vo_soort = VO_SOORT_PRO;
	ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
}

static void test_other_vo_kinds_carry_no_fields(void)
{
	for (int k = EVENT_DDD_AANGELEVERD; k <= EVENT_VO_UITGESCHREVEN; k++) {
		struct overstap_update_in in = upd(k);
		in.woongemeente = "GM0268";
		ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
		in = upd(k);
		in.crebo = "25168";
		ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
		in = upd(k);
		in.bestemming = BESTEMMING_MBO;
		ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
		in = upd(k);
		in.birth_date = "2015-05-17";
		ASSERT_CODE(in, &VO, ERR_UNEXPECTED_FIELD);
	}
}

/* ---- validation: mbo kinds ------------------------------------------------ */

static void test_application_kinds_need_crebo(void)
{
	int kinds[] = { EVENT_AANMELDING_ONTVANGEN, EVENT_AANGEMELD, EVENT_OVEREENKOMST_AANGEBODEN,
			EVENT_INGESCHREVEN };
	for (size_t i = 0; i < 4; i++) {
		struct overstap_update_in in = upd(kinds[i]);
		in.crebo = "";
		ASSERT_CODE(in, &MBO, ERR_BAD_CREBO);
	}
}

static void test_mbo_bad_crebo_is_bad_crebo(void)
{
	struct overstap_update_in in = upd(EVENT_INGETROKKEN);
	in.crebo = "ABCDE";
	ASSERT_CODE(in, &MBO, ERR_BAD_CREBO);
}

static void test_mbo_carries_no_vo_fields(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.vo_soort = VO_SOORT_VMBO_BB;
	ASSERT_CODE(in, &MBO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_AANGEMELD);
	in.bestemming = BESTEMMING_MBO;
	ASSERT_CODE(in, &MBO, ERR_UNEXPECTED_FIELD);
	in = upd(EVENT_AANGEMELD);
	in.mbo_instelling = "25LP";
	ASSERT_CODE(in, &MBO, ERR_UNEXPECTED_FIELD);
}

static void test_mbo_bad_personal_data_is_rejected(void)
{
	struct overstap_update_in in = upd(EVENT_AANGEMELD);
	in.woongemeente = "GM02";
	ASSERT_CODE(in, &MBO, ERR_BAD_GEMEENTE);
	in = upd(EVENT_AANGEMELD);
	in.birth_date = "1990-01-01";
	ASSERT_CODE(in, &MBO, ERR_BAD_DATE);
	in = upd(EVENT_AANGEMELD);
	in.niveau = 9;
	ASSERT_CODE(in, &MBO, ERR_BAD_VALUE);
}

/* ---- validation: reason and messages --------------------------------------- */

static void test_reason_limits(void)
{
	char reason[OVERSTAP_REASON_MAX + 2];
	memset(reason, 'r', sizeof reason - 1);
	reason[OVERSTAP_REASON_MAX + 1] = '\0';
	struct overstap_update_in in = upd(EVENT_INGETROKKEN);
	in.reason = reason;
	ASSERT_CODE(in, &MBO, ERR_BAD_VALUE);
	reason[OVERSTAP_REASON_MAX] = '\0';
	ASSERT_ACCEPTED(in, &MBO);
	in.reason = "verhuisd\x01";
	ASSERT_CODE(in, &MBO, ERR_BAD_VALUE);
}

static void test_rejection_has_a_message(void)
{
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.pgn = "123";
	struct overstap_event ev;
	struct overstap_error err;
	CU_ASSERT_FALSE(overstap_validate_update(&in, &VO, NOW, &ev, &err));
	CU_ASSERT_TRUE(strlen(err.message) > 10);
	CU_ASSERT_PTR_NULL(strstr(err.message, "123")); /* no personal data echoed */
}

static void test_first_failing_rule_decides_the_code(void)
{
	/* event_id is checked before the pgn */
	struct overstap_update_in in = upd(EVENT_DIPLOMA_BEHAALD);
	in.event_id = "";
	in.pgn = "";
	ASSERT_CODE(in, &VO, ERR_BAD_EVENT_ID);
	/* permission before field contents */
	in = upd(EVENT_AANGEMELD);
	in.crebo = "";
	ASSERT_CODE(in, &VO, ERR_PERMISSION_DENIED);
}

/* ---- the merge ------------------------------------------------------------ */

static void test_init_state_is_empty(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	CU_ASSERT_EQUAL(st.cohort, COHORT);
	CU_ASSERT_EQUAL(st.n_mbo, 0);
	CU_ASSERT_FALSE(overstap_is_registered(&st));
	CU_ASSERT_FALSE(overstap_has_left_vo(&st));
	CU_ASSERT_FALSE(overstap_has_ddd(&st));
	CU_ASSERT_FALSE(overstap_has_open_application(&st));
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "");
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "");
	CU_ASSERT_EQUAL(status_of(&st), STATUS_GEEN_KEUZE);
}

static void test_registration_sets_vo_facts(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event e = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0);
	CU_ASSERT_TRUE(overstap_state_apply(&st, &e));
	CU_ASSERT_TRUE(overstap_is_registered(&st));
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00");
	CU_ASSERT_STRING_EQUAL(st.woongemeente, "GM0268");
	CU_ASSERT_EQUAL(st.vo_soort, VO_SOORT_VMBO_KB);
	CU_ASSERT_EQUAL(st.registered.occurred_at, T0);
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "GM0268");
}

static void test_duplicate_event_changes_nothing(void)
{
	struct pupil_state st, before;
	overstap_state_init(&st, COHORT);
	struct overstap_event e = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0);
	CU_ASSERT_TRUE(overstap_state_apply(&st, &e));
	before = st;
	CU_ASSERT_FALSE(overstap_state_apply(&st, &e));
	CU_ASSERT_EQUAL(memcmp(&st, &before, sizeof st), 0);
}

static void test_older_registration_does_not_overwrite(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event newer = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r2", T0 + 100);
	struct overstap_event older = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0);
	snprintf(older.woongemeente, sizeof older.woongemeente, "GM0363");
	overstap_state_apply(&st, &newer);
	overstap_state_apply(&st, &older); /* kept (when the claim began), its data not */
	CU_ASSERT_STRING_EQUAL(st.woongemeente, "GM0268");
	CU_ASSERT_EQUAL(st.registered.occurred_at, T0 + 100);
}

static void test_newer_registration_of_the_same_school_overwrites(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event older = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0);
	struct overstap_event newer = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r2", T0 + 100);
	snprintf(newer.woongemeente, sizeof newer.woongemeente, "GM0363");
	newer.vo_soort = VO_SOORT_PRO;
	overstap_state_apply(&st, &older);
	CU_ASSERT_TRUE(overstap_state_apply(&st, &newer));
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00");
	CU_ASSERT_STRING_EQUAL(st.woongemeente, "GM0363");
	CU_ASSERT_EQUAL(st.vo_soort, VO_SOORT_PRO);
}

static void test_event_of_other_cohort_is_ignored(void)
{
	struct pupil_state st, before;
	overstap_state_init(&st, COHORT);
	before = st;
	struct overstap_event e = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0);
	e.cohort = COHORT + 1;
	CU_ASSERT_FALSE(overstap_state_apply(&st, &e));
	CU_ASSERT_EQUAL(memcmp(&st, &before, sizeof st), 0);
}

static void test_latest_keuze_wins(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event havo = ev_keuze(BESTEMMING_HAVO, "k2", T0 + 50);
	struct overstap_event mbo = ev_keuze(BESTEMMING_MBO, "k1", T0);
	snprintf(mbo.crebo, sizeof mbo.crebo, "25168");
	overstap_state_apply(&st, &havo);
	CU_ASSERT_FALSE(overstap_state_apply(&st, &mbo));
	CU_ASSERT_EQUAL(st.bestemming, BESTEMMING_HAVO);
	CU_ASSERT_STRING_EQUAL(st.keuze_crebo, "");
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ANDERE_BESTEMMING);
}

static void test_keuze_details_are_kept(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event k = ev_keuze(BESTEMMING_MBO, "k1", T0);
	snprintf(k.crebo, sizeof k.crebo, "25168");
	snprintf(k.mbo_instelling, sizeof k.mbo_instelling, "25LP");
	k.niveau = 3;
	k.leerweg = LEERWEG_BOL;
	overstap_state_apply(&st, &k);
	CU_ASSERT_STRING_EQUAL(st.keuze_crebo, "25168");
	CU_ASSERT_STRING_EQUAL(st.keuze_instelling, "25LP");
	CU_ASSERT_EQUAL(st.keuze_niveau, 3);
	CU_ASSERT_EQUAL(st.keuze_leerweg, LEERWEG_BOL);
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "25LP");
}

static void test_same_second_higher_kind_wins_in_either_order(void)
{
	struct overstap_event a = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0);
	struct overstap_event w = ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0);
	struct pupil_state x, y;
	overstap_state_init(&x, COHORT);
	overstap_state_init(&y, COHORT);
	overstap_state_apply(&x, &a);
	overstap_state_apply(&x, &w);
	overstap_state_apply(&y, &w);
	overstap_state_apply(&y, &a);
	CU_ASSERT_EQUAL(x.mbo[0].order.kind, EVENT_INGETROKKEN);
	CU_ASSERT_EQUAL(y.mbo[0].order.kind, EVENT_INGETROKKEN);
}

static void test_same_second_same_kind_tiebreak_is_order_free(void)
{
	struct overstap_event a = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0);
	struct overstap_event b = ev_mbo(EVENT_AANGEMELD, "25LP", "a2", T0);
	snprintf(b.crebo, sizeof b.crebo, "90000");
	struct pupil_state x, y;
	overstap_state_init(&x, COHORT);
	overstap_state_init(&y, COHORT);
	overstap_state_apply(&x, &a);
	overstap_state_apply(&x, &b);
	overstap_state_apply(&y, &b);
	overstap_state_apply(&y, &a);
	CU_ASSERT_EQUAL(memcmp(&x, &y, sizeof x), 0);
	/* the larger hash wins */
	uint64_t ha = overstap_event_tiebreak(&a), hb = overstap_event_tiebreak(&b);
	CU_ASSERT_STRING_EQUAL(x.mbo[0].crebo, ha > hb ? "25168" : "90000");
}

static void test_tiebreak_is_fnv1a_of_school_and_event_id(void)
{
	struct overstap_event e = ev_mbo(EVENT_AANGEMELD, "25LP", "e1", T0);
	/* FNV-1a 64 of "25LP\0e1", computed independently */
	CU_ASSERT_EQUAL(overstap_event_tiebreak(&e), 0x955abd82d8740e96ull);
	struct overstap_event empty;
	memset(&empty, 0, sizeof empty);
	CU_ASSERT_EQUAL(overstap_event_tiebreak(&empty), 0xaf63bd4c8601b7dfull);
}

static void test_mbo_facts_sorted_by_instelling(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "01AB", "a2", T0));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a3", T0));
	CU_ASSERT_EQUAL_FATAL(st.n_mbo, 3);
	CU_ASSERT_STRING_EQUAL(st.mbo[0].instelling, "01AB");
	CU_ASSERT_STRING_EQUAL(st.mbo[1].instelling, "25LP");
	CU_ASSERT_STRING_EQUAL(st.mbo[2].instelling, "30RF");
}

static void brin_of(int i, char out[5])
{
	snprintf(out, 5, "%02d%c%c", i % 100, 'A' + (i / 26) % 26, 'A' + i % 26);
}

static void test_more_than_cap_instellingen_keeps_lowest(void)
{
	int n = OVERSTAP_MAX_INSTELLINGEN + 8;
	struct pupil_state up, down;
	overstap_state_init(&up, COHORT);
	overstap_state_init(&down, COHORT);
	for (int i = 0; i < n; i++) {
		char b[5], id[8];
		brin_of(i, b);
		snprintf(id, sizeof id, "a%d", i);
		apply(&up, ev_mbo(EVENT_AANGEMELD, b, id, T0 + i));
		brin_of(n - 1 - i, b);
		snprintf(id, sizeof id, "a%d", n - 1 - i);
		apply(&down, ev_mbo(EVENT_AANGEMELD, b, id, T0 + n - 1 - i));
	}
	CU_ASSERT_EQUAL(up.n_mbo, OVERSTAP_MAX_INSTELLINGEN);
	CU_ASSERT_EQUAL(memcmp(&up, &down, sizeof up), 0);
	/* brin_of(i) for i < 40 is "iiXY" with distinct leading digits: lowest = smallest i */
	char last[5];
	brin_of(OVERSTAP_MAX_INSTELLINGEN - 1, last);
	CU_ASSERT_STRING_EQUAL(up.mbo[OVERSTAP_MAX_INSTELLINGEN - 1].instelling, last);
}

static void test_first_aangemeld_is_the_earliest_aangemeld(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANMELDING_ONTVANGEN, "25LP", "o1", T0 - 500));
	CU_ASSERT_EQUAL(st.first_aangemeld_at, 0);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a2", T0 + 10));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "30RF", "w1", T0 + 20));
	CU_ASSERT_EQUAL(st.first_aangemeld_at, T0);
}

static void test_mbo_woongemeente_when_not_registered(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event a = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0);
	snprintf(a.woongemeente, sizeof a.woongemeente, "GM0363");
	overstap_state_apply(&st, &a);
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "GM0363");
	apply(&st, ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0 - 1000));
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "GM0268"); /* the registration's wins */
}

static void test_left_vo_by_diploma_or_uitschrijving(void)
{
	struct pupil_state a, b, c;
	overstap_state_init(&a, COHORT);
	overstap_state_init(&b, COHORT);
	overstap_state_init(&c, COHORT);
	apply(&a, ev_vo(EVENT_DIPLOMA_BEHAALD, "d1", T0));
	apply(&b, ev_vo(EVENT_VO_UITGESCHREVEN, "u1", T0));
	apply(&c, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0));
	CU_ASSERT_TRUE(overstap_has_left_vo(&a));
	CU_ASSERT_TRUE(overstap_has_left_vo(&b));
	CU_ASSERT_FALSE(overstap_has_left_vo(&c));
}

static void test_ddd_is_recorded(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	CU_ASSERT_FALSE(overstap_has_ddd(&st));
	apply(&st, ev_vo(EVENT_DDD_AANGELEVERD, "x1", T0));
	CU_ASSERT_TRUE(overstap_has_ddd(&st));
}

static void test_open_application_is_10_to_12(void)
{
	int open[] = { EVENT_AANMELDING_ONTVANGEN, EVENT_AANGEMELD, EVENT_OVEREENKOMST_AANGEBODEN };
	int closed[] = { EVENT_LEIDT_NIET_TOT_INSCHRIJVING, EVENT_INGETROKKEN, EVENT_INGESCHREVEN,
			 EVENT_NIET_GESTART, EVENT_MBO_UITGESCHREVEN };
	for (size_t i = 0; i < 3; i++) {
		struct pupil_state st;
		overstap_state_init(&st, COHORT);
		apply(&st, ev_mbo(open[i], "25LP", "x", T0));
		CU_ASSERT_TRUE(overstap_has_open_application(&st));
	}
	for (size_t i = 0; i < 5; i++) {
		struct pupil_state st;
		overstap_state_init(&st, COHORT);
		apply(&st, ev_mbo(closed[i], "25LP", "x", T0));
		CU_ASSERT_FALSE(overstap_has_open_application(&st));
	}
}

static void test_mbo_instelling_is_the_most_advanced(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "01AB", "a1", T0));
	apply(&st, ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, "30RF", "o1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "00AA", "w1", T0));
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "30RF");
	apply(&st, ev_mbo(EVENT_INGESCHREVEN, "40ZZ", "i1", T0));
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "40ZZ");
}

static void test_mbo_instelling_ties_by_lowest_brin(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a2", T0 + 5));
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "25LP");
}

/* ---- the status, rule by rule --------------------------------------------- */

static void test_status_geen_keuze_when_registered_only(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0));
	apply(&st, ev_vo(EVENT_DDD_AANGELEVERD, "d1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_GEEN_KEUZE);
}

static void test_status_keuze_for_mbo_keuze(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_keuze(BESTEMMING_MBO, "k1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_KEUZE);
}

static void test_status_andere_bestemming_for_each_destination(void)
{
	for (int b = BESTEMMING_HAVO; b <= BESTEMMING_ANDERS; b++) {
		struct pupil_state st;
		overstap_state_init(&st, COHORT);
		apply(&st, ev_keuze((enum bestemming)b, "k1", T0));
		CU_ASSERT_EQUAL(status_of(&st), STATUS_ANDERE_BESTEMMING);
	}
}

static void test_status_blijft_in_vo_after_niet_geslaagd(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_keuze(BESTEMMING_MBO, "k1", T0));
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_BLIJFT_IN_VO);
}

static void test_status_later_diploma_ends_blijft_in_vo(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_keuze(BESTEMMING_MBO, "k1", T0));
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 10));
	apply(&st, ev_vo(EVENT_DIPLOMA_BEHAALD, "d1", T0 + 20)); /* herexamen */
	CU_ASSERT_EQUAL(status_of(&st), STATUS_KEUZE);
}

static void test_status_later_uitschrijving_ends_blijft_in_vo(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 10));
	apply(&st, ev_vo(EVENT_VO_UITGESCHREVEN, "u1", T0 + 20));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_GEEN_KEUZE);
}

static void test_status_earlier_diploma_does_not_end_blijft_in_vo(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_DIPLOMA_BEHAALD, "d1", T0));
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_BLIJFT_IN_VO);
}

static void test_status_niet_geslaagd_and_diploma_same_second_stays_in_vo(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_DIPLOMA_BEHAALD, "d1", T0));
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_BLIJFT_IN_VO);
}

static void test_status_blijft_in_vo_before_andere_bestemming(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_keuze(BESTEMMING_WERK, "k1", T0));
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_BLIJFT_IN_VO);
}

static void test_status_zonder_plek_when_all_withdrawn(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_zonder_plek_mixed_endings(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0 - 10));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a2", T0 - 10));
	apply(&st, ev_mbo(EVENT_INGESCHREVEN, "01AB", "a3", T0 - 10));
	apply(&st, ev_mbo(EVENT_LEIDT_NIET_TOT_INSCHRIJVING, "25LP", "l1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "30RF", "w1", T0));
	apply(&st, ev_mbo(EVENT_MBO_UITGESCHREVEN, "01AB", "u1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_mbo_uitgeschreven_is_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_INGESCHREVEN, "25LP", "i1", T0));
	apply(&st, ev_mbo(EVENT_MBO_UITGESCHREVEN, "25LP", "u1", T0 + 86400));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_zonder_plek_before_blijft_in_vo(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0));
	apply(&st, ev_mbo(EVENT_AANMELDING_ONTVANGEN, "25LP", "a1", T0 + 5));
	apply(&st, ev_mbo(EVENT_LEIDT_NIET_TOT_INSCHRIJVING, "25LP", "l1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_later_andere_keuze_beats_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0 + 10));
	apply(&st, ev_keuze(BESTEMMING_HAVO, "k1", T0 + 20));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ANDERE_BESTEMMING);
}

static void test_status_earlier_andere_keuze_stays_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_keuze(BESTEMMING_WERK, "k1", T0));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0 + 10));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0 + 20));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_andere_keuze_same_second_stays_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0 + 20));
	apply(&st, ev_keuze(BESTEMMING_WERK, "k1", T0 + 20));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_later_mbo_keuze_stays_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0 - 20));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0));
	apply(&st, ev_keuze(BESTEMMING_MBO, "k1", T0 + 20));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
}

static void test_status_aangemeld_for_ontvangen_and_aangemeld(void)
{
	struct pupil_state a, b;
	overstap_state_init(&a, COHORT);
	overstap_state_init(&b, COHORT);
	apply(&a, ev_mbo(EVENT_AANMELDING_ONTVANGEN, "25LP", "o1", T0));
	apply(&b, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	CU_ASSERT_EQUAL(status_of(&a), STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(status_of(&b), STATUS_AANGEMELD);
}

static void test_status_one_open_application_beats_zonder_plek(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_AANGEMELD);
}

static void test_status_aangemeld_beats_andere_keuze(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	apply(&st, ev_keuze(BESTEMMING_HAVO, "k1", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_AANGEMELD);
}

static void test_status_geplaatst_beats_aangemeld(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&st, ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, "30RF", "o1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_GEPLAATST);
}

static void test_status_niet_gestart_report_beats_geplaatst(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, "30RF", "o1", T0));
	apply(&st, ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, "25LP", "o2", T0 - 10));
	apply(&st, ev_mbo(EVENT_NIET_GESTART, "25LP", "n1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_NIET_GESTART);
}

static void test_status_ingeschreven_beats_niet_gestart_elsewhere(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_NIET_GESTART, "25LP", "n1", T0));
	apply(&st, ev_mbo(EVENT_INGESCHREVEN, "30RF", "i1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_INGESCHREVEN);
	CU_ASSERT_EQUAL(overstap_status(&st, true), STATUS_INGESCHREVEN);
}

static void test_status_ingeschreven_beats_everything(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0));
	apply(&st, ev_keuze(BESTEMMING_HAVO, "k1", T0 + 100));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGESCHREVEN, "25LP", "i1", T0));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_INGESCHREVEN);
}

static void test_status_teldatum_turns_open_application_into_niet_gestart(void)
{
	struct pupil_state a, p;
	overstap_state_init(&a, COHORT);
	overstap_state_init(&p, COHORT);
	apply(&a, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&p, ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, "25LP", "o1", T0));
	CU_ASSERT_EQUAL(overstap_status(&a, true), STATUS_NIET_GESTART);
	CU_ASSERT_EQUAL(overstap_status(&p, true), STATUS_NIET_GESTART);
	CU_ASSERT_EQUAL(overstap_status(&a, false), STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(overstap_status(&p, false), STATUS_GEPLAATST);
}

static void test_status_teldatum_leaves_others_alone(void)
{
	struct pupil_state z, k, e;
	overstap_state_init(&z, COHORT);
	overstap_state_init(&k, COHORT);
	overstap_state_init(&e, COHORT);
	apply(&z, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0 - 10));
	apply(&z, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0));
	apply(&k, ev_keuze(BESTEMMING_MBO, "k1", T0));
	apply(&e, ev_mbo(EVENT_INGESCHREVEN, "25LP", "i1", T0));
	CU_ASSERT_EQUAL(overstap_status(&z, true), STATUS_ZONDER_PLEK);
	CU_ASSERT_EQUAL(overstap_status(&k, true), STATUS_KEUZE);
	CU_ASSERT_EQUAL(overstap_status(&e, true), STATUS_INGESCHREVEN);
}

static void test_status_later_fact_of_same_instelling_replaces(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "25LP", "w1", T0 + 10));
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a2", T0 + 20)); /* applies again */
	CU_ASSERT_EQUAL(status_of(&st), STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(st.n_mbo, 1);
}

/* ---- encoding ------------------------------------------------------------- */

static void rich_state(struct pupil_state *st)
{
	overstap_state_init(st, COHORT);
	apply(st, ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", T0));
	struct overstap_event k = ev_keuze(BESTEMMING_MBO, "k1", T0 + 1);
	snprintf(k.crebo, sizeof k.crebo, "25168");
	snprintf(k.mbo_instelling, sizeof k.mbo_instelling, "25LP");
	k.niveau = 2;
	k.leerweg = LEERWEG_BBL;
	overstap_state_apply(st, &k);
	apply(st, ev_vo(EVENT_DDD_AANGELEVERD, "d1", T0 + 2));
	apply(st, ev_vo(EVENT_DIPLOMA_BEHAALD, "d2", T0 + 3));
	apply(st, ev_vo(EVENT_NIET_GESLAAGD, "n1", T0 + 1));
	apply(st, ev_vo(EVENT_VO_UITGESCHREVEN, "u1", T0 + 4));
	struct overstap_event a = ev_mbo(EVENT_AANGEMELD, "25LP", "a1", T0 + 5);
	snprintf(a.woongemeente, sizeof a.woongemeente, "GM0363");
	a.niveau = 2;
	a.leerweg = LEERWEG_BOL;
	overstap_state_apply(st, &a);
	apply(st, ev_mbo(EVENT_INGETROKKEN, "30RF", "w1", T0 + 6));
}

static void test_encode_decode_round_trip(void)
{
	struct pupil_state st, back;
	rich_state(&st);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX], again[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&st, buf);
	CU_ASSERT_TRUE_FATAL(overstap_state_decode(&back, buf, n));
	CU_ASSERT_EQUAL(memcmp(&st, &back, sizeof st), 0);
	CU_ASSERT_EQUAL(encode(&back, again), n);
	CU_ASSERT_EQUAL(memcmp(buf, again, n), 0);
	CU_ASSERT_EQUAL(status_of(&back), status_of(&st));
}

static void test_encode_decode_empty_state(void)
{
	struct pupil_state st, back;
	overstap_state_init(&st, COHORT);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&st, buf);
	CU_ASSERT_TRUE_FATAL(overstap_state_decode(&back, buf, n));
	CU_ASSERT_EQUAL(memcmp(&st, &back, sizeof st), 0);
	CU_ASSERT_EQUAL(buf[0], 2); /* version */
}

static void test_encode_full_state_fits(void)
{
	struct pupil_state st, back;
	rich_state(&st);
	for (int i = 0; i < OVERSTAP_MAX_INSTELLINGEN + 3; i++) {
		char b[5], id[8];
		brin_of(i, b);
		snprintf(id, sizeof id, "f%d", i);
		struct overstap_event e = ev_mbo(EVENT_OVEREENKOMST_AANGEBODEN, b, id, T0 + 100 + i);
		e.niveau = 4;
		e.leerweg = LEERWEG_BBL;
		snprintf(e.woongemeente, sizeof e.woongemeente, "GM0363");
		overstap_state_apply(&st, &e);
	}
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&st, buf);
	CU_ASSERT_TRUE(n <= OVERSTAP_STATE_ENCODED_MAX);
	CU_ASSERT_TRUE(overstap_state_decode(&back, buf, n));
	CU_ASSERT_EQUAL(back.n_mbo, OVERSTAP_MAX_INSTELLINGEN);
}

static void test_encode_into_too_small_buffer_returns_zero(void)
{
	struct pupil_state st;
	rich_state(&st);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&st, buf);
	uint8_t small[OVERSTAP_STATE_ENCODED_MAX];
	CU_ASSERT_EQUAL(overstap_state_encode(&st, small, n - 1), 0);
	CU_ASSERT_EQUAL(overstap_state_encode(&st, small, 0), 0);
	CU_ASSERT_EQUAL(overstap_state_encode(&st, small, n), n);
}

static void test_decode_rejects_empty_and_wrong_version(void)
{
	struct pupil_state st;
	uint8_t one = 1;
	CU_ASSERT_FALSE(overstap_state_decode(&st, &one, 0));
	CU_ASSERT_FALSE(overstap_state_decode(&st, NULL, 0));
	struct pupil_state good;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	buf[0] = 3;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
	buf[0] = 0;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_rejects_every_truncation(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	int accepted = 0;
	for (size_t len = 0; len < n; len++)
		accepted += overstap_state_decode(&st, buf, len);
	CU_ASSERT_EQUAL(accepted, 0);
}

static void test_decode_rejects_trailing_bytes(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX + 1];
	size_t n = encode(&good, buf);
	buf[n] = 0;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n + 1));
}

/* Offsets in the version-2 layout (see overstap.c). */
#define ORDER_BYTES 17
#define FIRST_SCHOOL_AT (1 + 4 + 1) /* version, cohort, n_vo: the length byte of vo[0].school */
static size_t offset_of_n_mbo(const struct pupil_state *st)
{
	size_t off = FIRST_SCHOOL_AT;
	for (int i = 0; i < st->n_vo; i++) {
		const struct vo_record *r = &st->vo[i];
		off += 1 + strlen(r->school) + 1 + (size_t)r->n_regs * ORDER_BYTES + 1 + strlen(r->woongemeente) + 1;
		off += ORDER_BYTES + ORDER_BYTES + 1 + 1 + strlen(r->keuze_crebo) + 1 + strlen(r->keuze_instelling) + 1 + 1;
		off += 3 * ORDER_BYTES;
	}
	return off + ORDER_BYTES + 1 + strlen(st->mbo_woongemeente) + 8;
}

static void test_decode_rejects_too_many_instellingen(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	size_t at = offset_of_n_mbo(&good);
	CU_ASSERT_EQUAL_FATAL(buf[at], good.n_mbo);
	buf[at] = OVERSTAP_MAX_INSTELLINGEN + 1;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
	buf[at] = 255;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_rejects_overlong_string(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	size_t at = FIRST_SCHOOL_AT; /* length of vo[0].school */
	CU_ASSERT_EQUAL_FATAL(buf[at], 6);
	buf[at] = 7;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
	buf[at] = 255;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_rejects_nul_inside_string(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	buf[FIRST_SCHOOL_AT + 1 + 2] = 0; /* third byte of vo[0].school */
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_rejects_unsorted_instellingen(void)
{
	struct pupil_state good, st;
	rich_state(&good); /* 25LP, 30RF */
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	size_t first = offset_of_n_mbo(&good) + 1;
	CU_ASSERT_EQUAL_FATAL(memcmp(buf + first + 1, "25LP", 4), 0);
	memcpy(buf + first + 1, "31AA", 4);
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
	memcpy(buf + first + 1, "30RF", 4); /* a duplicate */
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_rejects_non_mbo_kind_in_mbo_fact(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	size_t kind_at = offset_of_n_mbo(&good) + 1 + 5 + 8;
	CU_ASSERT_EQUAL_FATAL(buf[kind_at], EVENT_AANGEMELD);
	buf[kind_at] = EVENT_DIPLOMA_BEHAALD;
	CU_ASSERT_FALSE(overstap_state_decode(&st, buf, n));
}

static void test_decode_failure_leaves_state_untouched(void)
{
	struct pupil_state st, before;
	rich_state(&st);
	before = st;
	uint8_t junk[3] = { 1, 2, 3 };
	CU_ASSERT_FALSE(overstap_state_decode(&st, junk, sizeof junk));
	CU_ASSERT_EQUAL(memcmp(&st, &before, sizeof st), 0);
}

/* xorshift64*: a fixed-seed generator, so every run tests the same cases */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void test_decode_of_mutated_bytes_never_crashes(void)
{
	struct pupil_state good, st;
	rich_state(&good);
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX], again[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = encode(&good, buf);
	rng_state = 0x5eed0001;
	int bad_round_trips = 0;
	for (int i = 0; i < 20000; i++) {
		uint8_t m[OVERSTAP_STATE_ENCODED_MAX];
		memcpy(m, buf, n);
		int flips = 1 + (int)(rnd() % 4);
		for (int f = 0; f < flips; f++)
			m[rnd() % n] = (uint8_t)rnd();
		size_t len = (rnd() % 8 == 0) ? (size_t)(rnd() % n) : n;
		if (overstap_state_decode(&st, m, len)) {
			/* whatever decodes is canonical: it encodes to the same bytes */
			size_t k = overstap_state_encode(&st, again, sizeof again);
			if (k != len || memcmp(again, m, len) != 0)
				bad_round_trips++;
			(void)overstap_status(&st, true);
			(void)overstap_mbo_instelling(&st);
		}
	}
	CU_ASSERT_EQUAL(bad_round_trips, 0);
}

static void test_decode_of_random_bytes_never_crashes(void)
{
	struct pupil_state st;
	rng_state = 0x5eed0002;
	int accepted = 0;
	for (int i = 0; i < 20000; i++) {
		uint8_t m[512];
		size_t len = (size_t)(rnd() % sizeof m);
		for (size_t k = 0; k < len; k++)
			m[k] = (uint8_t)rnd();
		accepted += overstap_state_decode(&st, m, len);
	}
	CU_ASSERT_EQUAL(accepted, 0);
}

/* ---- property: any order, any duplicates, same bytes ---------------------- */

#define MAX_EVENTS 24

static struct overstap_event random_event(int i)
{
	static const char *const instellingen[] = { "25LP", "30RF", "01AB", "25LX" };
	static const int mbo_kinds[] = { 10, 11, 12, 13, 14, 15, 16, 17 };
	/* few distinct times, so equal occurred_at is common */
	int64_t at = T0 + (int64_t)(rnd() % 6) * 3600;
	char id[16];
	snprintf(id, sizeof id, "ev%d", i);
	struct overstap_event e;
	static const char *const schools[] = { "25LX00", "25LY00", "30RF00" };
	if (rnd() % 2 == 0) {
		int kind = 1 + (int)(rnd() % 6);
		e = ev_vo(kind, id, at);
		/* registrations, transfers and competing claims: three schools */
		snprintf(e.school, sizeof e.school, "%s", schools[rnd() % 3]);
		if (kind == EVENT_OVERSTAPPER_GEREGISTREERD)
			e.vo_soort = (enum vo_soort)(1 + rnd() % 9);
		if (kind == EVENT_KEUZE_GEREGISTREERD) {
			e.bestemming = (enum bestemming)(1 + rnd() % 6);
			if (e.bestemming == BESTEMMING_MBO && rnd() % 2)
				snprintf(e.crebo, sizeof e.crebo, "%05d", (int)(rnd() % 100000));
		}
		if (kind == EVENT_OVERSTAPPER_GEREGISTREERD && rnd() % 2)
			snprintf(e.woongemeente, sizeof e.woongemeente, "GM%04d", (int)(rnd() % 10000));
	} else {
		e = ev_mbo(mbo_kinds[rnd() % 8], instellingen[rnd() % 4], id, at);
		if (rnd() % 3 == 0)
			e.crebo[0] = '\0';
		if (rnd() % 3 == 0)
			snprintf(e.woongemeente, sizeof e.woongemeente, "GM%04d", (int)(rnd() % 10000));
		e.niveau = (uint8_t)(rnd() % 5);
	}
	return e;
}

static void test_every_permutation_with_duplicates_gives_same_bytes(void)
{
	rng_state = 0x0be7a5eedull;
	int mismatches = 0, change_lies = 0;
	for (int set = 0; set < 300; set++) {
		int n = 1 + (int)(rnd() % MAX_EVENTS);
		struct overstap_event evs[MAX_EVENTS];
		for (int i = 0; i < n; i++)
			evs[i] = random_event(i);
		uint8_t ref[OVERSTAP_STATE_ENCODED_MAX];
		size_t ref_len = 0;
		enum status ref_status = STATUS_UNSPECIFIED;
		for (int perm = 0; perm < 20; perm++) {
			/* a shuffled sequence with every event at least once and some twice */
			int seq[MAX_EVENTS * 2], m = 0;
			for (int i = 0; i < n; i++)
				seq[m++] = i;
			int dups = (int)(rnd() % (unsigned)(n + 1));
			for (int d = 0; d < dups; d++)
				seq[m++] = (int)(rnd() % (unsigned)n);
			for (int i = m - 1; i > 0; i--) {
				int j = (int)(rnd() % (unsigned)(i + 1));
				int t = seq[i];
				seq[i] = seq[j];
				seq[j] = t;
			}
			struct pupil_state st;
			overstap_state_init(&st, COHORT);
			uint8_t prev[OVERSTAP_STATE_ENCODED_MAX];
			size_t prev_len = overstap_state_encode(&st, prev, sizeof prev);
			for (int i = 0; i < m; i++) {
				bool changed = overstap_state_apply(&st, &evs[seq[i]]);
				uint8_t cur[OVERSTAP_STATE_ENCODED_MAX];
				size_t cur_len = overstap_state_encode(&st, cur, sizeof cur);
				bool differs = cur_len != prev_len || memcmp(cur, prev, cur_len) != 0;
				if (changed != differs)
					change_lies++;
				memcpy(prev, cur, cur_len);
				prev_len = cur_len;
			}
			if (perm == 0) {
				memcpy(ref, prev, prev_len);
				ref_len = prev_len;
				ref_status = overstap_status(&st, false);
			} else if (prev_len != ref_len || memcmp(prev, ref, ref_len) != 0 ||
				   overstap_status(&st, false) != ref_status) {
				mismatches++;
			}
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT_EQUAL(change_lies, 0);
}

static void test_rebuild_from_decoded_state_equals_live_state(void)
{
	/* half the events live, then stored and reloaded, then the rest: equals all at once */
	rng_state = 0xdecade;
	int mismatches = 0;
	for (int set = 0; set < 200; set++) {
		int n = 2 + (int)(rnd() % (MAX_EVENTS - 1));
		struct overstap_event evs[MAX_EVENTS];
		for (int i = 0; i < n; i++)
			evs[i] = random_event(i);
		struct pupil_state all, part, back;
		overstap_state_init(&all, COHORT);
		overstap_state_init(&part, COHORT);
		for (int i = 0; i < n; i++)
			overstap_state_apply(&all, &evs[i]);
		for (int i = 0; i < n / 2; i++)
			overstap_state_apply(&part, &evs[i]);
		uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
		size_t len = overstap_state_encode(&part, buf, sizeof buf);
		if (!overstap_state_decode(&back, buf, len)) {
			mismatches++;
			continue;
		}
		for (int i = n - 1; i >= n / 2; i--)
			overstap_state_apply(&back, &evs[i]);
		if (memcmp(&back, &all, sizeof all) != 0)
			mismatches++;
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

/* ---- registration --------------------------------------------------------- */

/* ---- whose pupil (DESIGN §5) ----------------------------------------------- */

static struct overstap_event reg_at(const char *school, const char *id, int64_t at, const char *gemeente)
{
	struct overstap_event e = ev_make(EVENT_OVERSTAPPER_GEREGISTREERD, school, id, at);
	snprintf(e.woongemeente, sizeof e.woongemeente, "%s", gemeente);
	e.vo_soort = VO_SOORT_VMBO_KB;
	snprintf(e.name, sizeof e.name, "Sanne de Vries");
	snprintf(e.birth_date, sizeof e.birth_date, "2015-05-17");
	return e;
}

static struct overstap_event vo_at(int kind, const char *school, const char *id, int64_t at)
{
	struct overstap_event e = ev_make(kind, school, id, at);
	if (kind == EVENT_KEUZE_GEREGISTREERD)
		e.bestemming = BESTEMMING_MBO;
	return e;
}

/* Every order of the events gives the same bytes; returns the state. */
static struct pupil_state state_in_every_order(const struct overstap_event *evs, int n)
{
	int idx[8];
	for (int i = 0; i < n; i++)
		idx[i] = i;
	struct pupil_state first;
	overstap_state_init(&first, COHORT);
	for (int i = 0; i < n; i++)
		overstap_state_apply(&first, &evs[i]);
	uint8_t ref[OVERSTAP_STATE_ENCODED_MAX], cur[OVERSTAP_STATE_ENCODED_MAX];
	size_t ref_len = encode(&first, ref);
	/* Heap's algorithm: all n! orders */
	int c[8] = { 0 };
	int i = 0, bad = 0;
	while (i < n) {
		if (c[i] < i) {
			int j = i % 2 == 0 ? 0 : c[i];
			int t = idx[j];
			idx[j] = idx[i];
			idx[i] = t;
			struct pupil_state st;
			overstap_state_init(&st, COHORT);
			for (int k = 0; k < n; k++)
				overstap_state_apply(&st, &evs[idx[k]]);
			size_t len = encode(&st, cur);
			if (len != ref_len || memcmp(cur, ref, len) != 0 || memcmp(&st, &first, sizeof st) != 0)
				bad++;
			c[i]++;
			i = 0;
		} else {
			c[i] = 0;
			i++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	return first;
}

static void test_a_competing_registration_changes_nothing_derived(void)
{
	/* the takeover: another school registers the pupil later, with another gemeente */
	struct overstap_event evs[] = {
		reg_at("25LX00", "own", T0, "GM0268"),
		reg_at("30RF00", "hostile", T0 + 100, "GM0363"),
	};
	struct pupil_state st = state_in_every_order(evs, 2);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00");
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "GM0268");
	CU_ASSERT_EQUAL(st.n_claims, 2);
	char competing[64];
	overstap_competing_claims(&st, competing, sizeof competing);
	CU_ASSERT_STRING_EQUAL(competing, "30RF00");
	CU_ASSERT_FALSE(overstap_has_left_vo(&st));
}

static void test_a_transfer_moves_the_pupil_in_either_order(void)
{
	/* the old school's uitschrijving and the new school's registration */
	struct overstap_event evs[] = {
		reg_at("25LX00", "old", T0, "GM0268"),
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "out", T0 + 50),
		reg_at("30RF00", "new", T0 + 100, "GM0363"),
	};
	struct pupil_state st = state_in_every_order(evs, 3);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "30RF00");
	CU_ASSERT_STRING_EQUAL(overstap_woongemeente(&st), "GM0363");
	CU_ASSERT_EQUAL(st.n_claims, 1);
	CU_ASSERT_FALSE(overstap_has_left_vo(&st)); /* transferred, not out of vo: no zomerlek */
	/* the new registration before the old school's uitschrijving: competing until it comes */
	struct overstap_event early[] = {
		reg_at("25LX00", "old", T0, "GM0268"),
		reg_at("30RF00", "new", T0 + 50, "GM0363"),
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "out", T0 + 100),
	};
	struct pupil_state mid;
	overstap_state_init(&mid, COHORT);
	overstap_state_apply(&mid, &early[0]);
	overstap_state_apply(&mid, &early[1]);
	CU_ASSERT_STRING_EQUAL(mid.vo_school, "25LX00");
	CU_ASSERT_EQUAL(mid.n_claims, 2);
	st = state_in_every_order(early, 3);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "30RF00");
	CU_ASSERT_EQUAL(st.n_claims, 1);
	CU_ASSERT_FALSE(overstap_has_left_vo(&st));
}

static void test_only_the_vo_schools_own_events_count(void)
{
	/* another school's keuze and diploma are kept, and count once it is the vo school */
	struct overstap_event evs[] = {
		reg_at("25LX00", "own", T0, "GM0268"),
		vo_at(EVENT_KEUZE_GEREGISTREERD, "30RF00", "k", T0 + 10),
		vo_at(EVENT_DIPLOMA_BEHAALD, "30RF00", "d", T0 + 20),
	};
	struct pupil_state st = state_in_every_order(evs, 3);
	CU_ASSERT_EQUAL(status_of(&st), STATUS_GEEN_KEUZE);
	CU_ASSERT_FALSE(overstap_has_left_vo(&st));
	struct overstap_event moved[] = {
		evs[0], evs[1], evs[2],
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "out", T0 + 30),
		reg_at("30RF00", "reg", T0 + 40, "GM0363"),
	};
	st = state_in_every_order(moved, 5);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "30RF00");
	CU_ASSERT_EQUAL(status_of(&st), STATUS_KEUZE);
	CU_ASSERT_TRUE(overstap_has_left_vo(&st)); /* the diploma of its vo school */
}

static void test_left_vo_by_uitschrijving_only_while_no_claim_holds(void)
{
	struct overstap_event out[] = {
		reg_at("25LX00", "r", T0, "GM0268"),
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "u", T0 + 10),
	};
	struct pupil_state st = state_in_every_order(out, 2);
	CU_ASSERT_TRUE(overstap_has_left_vo(&st));
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00"); /* the latest registration's, no claim holding */
	CU_ASSERT_EQUAL(st.n_claims, 0);
	/* at the same second the uitschrijving is the later */
	struct overstap_event same[] = {
		reg_at("25LX00", "r", T0, "GM0268"),
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "u", T0),
	};
	st = state_in_every_order(same, 2);
	CU_ASSERT_TRUE(overstap_has_left_vo(&st));
	/* registered again after its own uitschrijving: a new claim */
	struct overstap_event back[] = {
		reg_at("25LX00", "r", T0, "GM0268"),
		vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "u", T0 + 10),
		reg_at("25LX00", "r2", T0 + 20, "GM0268"),
	};
	st = state_in_every_order(back, 3);
	CU_ASSERT_FALSE(overstap_has_left_vo(&st));
	CU_ASSERT_EQUAL(st.n_claims, 1);
}

static void test_a_pupil_nobody_registered_gets_the_school_of_its_latest_vo_event(void)
{
	struct overstap_event evs[] = {
		vo_at(EVENT_KEUZE_GEREGISTREERD, "30RF00", "k", T0),
		vo_at(EVENT_DIPLOMA_BEHAALD, "25LX00", "d", T0 + 10),
	};
	struct pupil_state st = state_in_every_order(evs, 2);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00");
	CU_ASSERT_FALSE(overstap_is_registered(&st));
	CU_ASSERT_TRUE(overstap_has_left_vo(&st));
	/* only an uitschrijving: left vo too, with that school */
	struct overstap_event out[] = { vo_at(EVENT_VO_UITGESCHREVEN, "25LX00", "u", T0) };
	st = state_in_every_order(out, 1);
	CU_ASSERT_STRING_EQUAL(st.vo_school, "25LX00");
	CU_ASSERT_TRUE(overstap_has_left_vo(&st));
}

static void test_an_institution_without_an_application_takes_no_part(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	apply(&st, ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r", T0));
	apply(&st, ev_keuze(BESTEMMING_MBO, "k", T0 + 1));
	apply(&st, ev_mbo(EVENT_INGETROKKEN, "30RF", "w", T0 + 10)); /* never applied there */
	apply(&st, ev_mbo(EVENT_NIET_GESTART, "01AB", "n", T0 + 10));
	CU_ASSERT_EQUAL(status_of(&st), STATUS_KEUZE);
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "");
	apply(&st, ev_mbo(EVENT_AANGEMELD, "30RF", "a", T0 + 5)); /* now it did, before the withdrawal */
	CU_ASSERT_EQUAL(status_of(&st), STATUS_ZONDER_PLEK);
	CU_ASSERT_STRING_EQUAL(overstap_mbo_instelling(&st), "30RF");
}

static void test_a_version_1_state_decodes_into_its_registering_schools_record(void)
{
	/* a state as the daemon stored it before "Whose pupil": registration,
	 * keuze and DDD of 25LX00, one application at 25LP */
	struct pupil_state v2;
	overstap_state_init(&v2, COHORT);
	struct overstap_event evs[] = {
		reg_at("25LX00", "r", T0, "GM0268"),
		vo_at(EVENT_KEUZE_GEREGISTREERD, "25LX00", "k", T0 + 1),
		vo_at(EVENT_DDD_AANGELEVERD, "25LX00", "d", T0 + 2),
		ev_mbo(EVENT_AANGEMELD, "25LP", "a", T0 + 3),
	};
	for (int i = 0; i < 4; i++)
		overstap_state_apply(&v2, &evs[i]);
	uint8_t v1[512];
	size_t n = 0;
#define PUT(b) (v1[n++] = (uint8_t)(b))
#define PUT_U(v, w) do { for (int k_ = (w) - 1; k_ >= 0; k_--) PUT((uint64_t)(v) >> (8 * k_)); } while (0)
#define PUT_S(s) do { PUT(strlen(s)); memcpy(v1 + n, (s), strlen(s)); n += strlen(s); } while (0)
#define PUT_O(o) do { PUT_U((o).occurred_at, 8); PUT((o).kind); PUT_U((o).tiebreak, 8); } while (0)
	PUT(1);
	PUT_U(COHORT, 4);
	PUT_O(v2.vo[0].regs[0]);
	PUT_S("25LX00");
	PUT_S("GM0268");
	PUT(VO_SOORT_VMBO_KB);
	PUT_O(v2.vo[0].keuze);
	PUT(BESTEMMING_MBO);
	PUT_S("");
	PUT_S("");
	PUT(0);
	PUT(0);
	PUT_O(v2.vo[0].ddd);
	struct fact_order none = { 0, 0, 0 };
	PUT_O(none); /* diploma */
	PUT_O(none); /* niet geslaagd */
	PUT_O(none); /* uitgeschreven */
	PUT_O(none); /* mbo gemeente */
	PUT_S("");
	PUT_U(T0 + 3, 8); /* first aangemeld */
	PUT(1);
	PUT_S("25LP");
	PUT_O(v2.mbo[0].order);
	PUT_S("25168");
	PUT(0);
	PUT(0);
#undef PUT
#undef PUT_U
#undef PUT_S
#undef PUT_O
	struct pupil_state back;
	CU_ASSERT_TRUE_FATAL(overstap_state_decode(&back, v1, n));
	CU_ASSERT_EQUAL(memcmp(&back, &v2, sizeof back), 0); /* exactly the state of those events */
}

static const struct cu_test FIELD_TESTS[] = {
	T(test_bsn_passes_eleven_test),
	T(test_bsn_with_wrong_check_digit_is_invalid),
	T(test_bsn_may_start_with_10),
	T(test_bsn_all_zero_is_invalid),
	T(test_pgn_needs_exactly_nine_digits),
	T(test_onderwijsnummer_valid_numbers),
	T(test_onderwijsnummer_must_start_with_10),
	T(test_onderwijsnummer_wrong_checksum_is_invalid),
	T(test_pgn_accepts_bsn_and_onderwijsnummer),
	T(test_brin_is_two_digits_two_capitals),
	T(test_vestiging_is_brin_and_two_digits),
	T(test_gemeente_is_gm_and_four_digits),
	T(test_crebo_is_five_digits),
	T(test_date_parse_returns_parts),
	T(test_date_parse_knows_leap_years),
	T(test_date_parse_rejects_malformed),
	T(test_kind_ranges),
	T(test_role_parse_and_name),
	T(test_status_and_kind_names),
	T(test_event_kind_numbers_equal_proto),
	T(test_status_numbers_equal_proto),
	T(test_bestemming_vo_soort_leerweg_numbers_equal_proto),
};

static const struct cu_test VALIDATION_TESTS[] = {
	T(test_valid_registration_is_copied),
	T(test_valid_keuze_mbo_with_all_details),
	T(test_valid_keuze_mbo_without_details),
	T(test_valid_keuze_other_destinations),
	T(test_valid_vo_kinds_without_fields),
	T(test_valid_mbo_kinds),
	T(test_mbo_may_carry_personal_data_and_details),
	T(test_withdrawal_needs_no_crebo),
	T(test_onderwijsnummer_is_accepted_as_pgn),
	T(test_admin_may_send_for_any_school),
	T(test_admin_still_needs_a_well_formed_school),
	T(test_empty_event_id_is_bad_event_id),
	T(test_event_id_of_64_bytes_is_accepted),
	T(test_event_id_of_65_bytes_is_bad_event_id),
	T(test_event_id_with_control_or_bad_utf8_is_bad_event_id),
	T(test_unknown_kind_is_bad_kind),
	T(test_vo_may_not_send_mbo_kinds),
	T(test_mbo_may_not_send_vo_kinds),
	T(test_rmc_and_projectteam_may_send_nothing),
	T(test_vo_school_must_equal_certificate),
	T(test_mbo_school_must_equal_certificate),
	T(test_empty_school_is_bad_school),
	T(test_vo_school_must_be_a_vestiging),
	T(test_mbo_school_must_be_a_brin),
	T(test_empty_pgn_is_bad_pgn),
	T(test_pgn_failing_eleven_test_is_bad_pgn),
	T(test_missing_cohort_is_bad_cohort),
	T(test_cohort_within_five_years_of_now),
	T(test_cohort_six_years_off_is_bad_cohort),
	T(test_cohort_year_follows_utc_new_year),
	T(test_missing_occurred_at_is_bad_date),
	T(test_occurred_at_one_day_ahead_is_accepted),
	T(test_occurred_at_more_than_a_day_ahead_is_bad_date),
	T(test_registration_without_name_is_bad_name),
	T(test_registration_without_birth_date_is_bad_date),
	T(test_registration_without_woongemeente_is_bad_gemeente),
	T(test_registration_without_vo_soort_is_missing_field),
	T(test_registration_bad_woongemeente_is_bad_gemeente),
	T(test_registration_unknown_vo_soort_is_bad_value),
	T(test_registration_malformed_birth_date_is_bad_date),
	T(test_birth_date_age_ten_to_thirty_at_cohort),
	T(test_birth_date_too_young_or_old_is_bad_date),
	T(test_name_limits),
	T(test_name_must_be_text),
	T(test_registration_carries_no_keuze_fields),
	T(test_keuze_without_bestemming_is_missing_field),
	T(test_keuze_unknown_bestemming_is_bad_value),
	T(test_keuze_havo_carries_no_mbo_details),
	T(test_keuze_mbo_bad_crebo_is_bad_crebo),
	T(test_keuze_mbo_niveau_one_to_four),
	T(test_keuze_mbo_bad_leerweg_is_bad_value),
	T(test_keuze_mbo_bad_instelling_is_bad_school),
	T(test_keuze_carries_no_personal_data),
	T(test_other_vo_kinds_carry_no_fields),
	T(test_application_kinds_need_crebo),
	T(test_mbo_bad_crebo_is_bad_crebo),
	T(test_mbo_carries_no_vo_fields),
	T(test_mbo_bad_personal_data_is_rejected),
	T(test_reason_limits),
	T(test_rejection_has_a_message),
	T(test_first_failing_rule_decides_the_code),
};

static void test_crebo_is_the_institutions_else_the_keuzes(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	struct overstap_event k = ev_keuze(BESTEMMING_MBO, "k", 100);
	snprintf(k.crebo, sizeof k.crebo, "11111");
	snprintf(k.mbo_instelling, sizeof k.mbo_instelling, "25LP");
	apply(&st, k);
	CU_ASSERT_STRING_EQUAL(overstap_crebo(&st, "25LP"), "11111"); /* no report yet: the keuze's */
	apply(&st, ev_mbo(EVENT_AANGEMELD, "25LP", "a", 200));        /* crebo 25168 */
	CU_ASSERT_STRING_EQUAL(overstap_crebo(&st, "25LP"), "25168");
	struct overstap_event w = ev_make(EVENT_INGETROKKEN, "30AB", "w", 300); /* no crebo */
	apply(&st, w);
	CU_ASSERT_STRING_EQUAL(overstap_crebo(&st, "30AB"), "11111");
	CU_ASSERT_STRING_EQUAL(overstap_crebo(&st, "99ZZ"), "11111"); /* unknown institution */
}

static void test_personal_data_of_one_source_is_its_latest(void)
{
	struct overstap_event reg_old = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r1", 100);
	struct overstap_event reg_new = ev_vo(EVENT_OVERSTAPPER_GEREGISTREERD, "r2", 200);
	struct overstap_event mbo_later = ev_mbo(EVENT_AANGEMELD, "25LP", "m1", 300);
	snprintf(mbo_later.name, sizeof mbo_later.name, "S. de Vries");
	struct overstap_event mbo_latest = mbo_later;
	mbo_latest.occurred_at = 400;
	struct overstap_event keuze = ev_keuze(BESTEMMING_MBO, "k", 500);
	CU_ASSERT_TRUE(overstap_event_has_personal(&reg_old));
	CU_ASSERT_TRUE(overstap_event_has_personal(&mbo_later));
	CU_ASSERT_FALSE(overstap_event_has_personal(&keuze));
	/* per source (the store keeps each school's and institution's own): the
	 * later wins, on a tie the larger name, so the order of arrival does not matter */
	CU_ASSERT_TRUE(overstap_personal_wins(&reg_new, &reg_old));
	CU_ASSERT_FALSE(overstap_personal_wins(&reg_old, &reg_new));
	CU_ASSERT_TRUE(overstap_personal_wins(&mbo_latest, &mbo_later));
	CU_ASSERT_FALSE(overstap_personal_wins(&mbo_later, &mbo_later));
	struct overstap_event same_time = reg_old;
	snprintf(same_time.name, sizeof same_time.name, "Sanne de Wit");
	CU_ASSERT_TRUE(overstap_personal_wins(&same_time, &reg_old)); /* "de Wit" > "de Vries" */
	CU_ASSERT_FALSE(overstap_personal_wins(&reg_old, &same_time));
}

static const struct cu_test MERGE_TESTS[] = {
	T(test_init_state_is_empty),
	T(test_registration_sets_vo_facts),
	T(test_duplicate_event_changes_nothing),
	T(test_older_registration_does_not_overwrite),
	T(test_newer_registration_of_the_same_school_overwrites),
	T(test_event_of_other_cohort_is_ignored),
	T(test_latest_keuze_wins),
	T(test_keuze_details_are_kept),
	T(test_same_second_higher_kind_wins_in_either_order),
	T(test_same_second_same_kind_tiebreak_is_order_free),
	T(test_tiebreak_is_fnv1a_of_school_and_event_id),
	T(test_mbo_facts_sorted_by_instelling),
	T(test_more_than_cap_instellingen_keeps_lowest),
	T(test_first_aangemeld_is_the_earliest_aangemeld),
	T(test_mbo_woongemeente_when_not_registered),
	T(test_left_vo_by_diploma_or_uitschrijving),
	T(test_ddd_is_recorded),
	T(test_open_application_is_10_to_12),
	T(test_mbo_instelling_is_the_most_advanced),
	T(test_mbo_instelling_ties_by_lowest_brin),
	T(test_crebo_is_the_institutions_else_the_keuzes),
	T(test_personal_data_of_one_source_is_its_latest),
};

static const struct cu_test CLAIM_TESTS[] = {
	T(test_a_competing_registration_changes_nothing_derived),
	T(test_a_transfer_moves_the_pupil_in_either_order),
	T(test_only_the_vo_schools_own_events_count),
	T(test_left_vo_by_uitschrijving_only_while_no_claim_holds),
	T(test_a_pupil_nobody_registered_gets_the_school_of_its_latest_vo_event),
	T(test_an_institution_without_an_application_takes_no_part),
	T(test_a_version_1_state_decodes_into_its_registering_schools_record),
};

static const struct cu_test STATUS_TESTS[] = {
	T(test_status_geen_keuze_when_registered_only),
	T(test_status_keuze_for_mbo_keuze),
	T(test_status_andere_bestemming_for_each_destination),
	T(test_status_blijft_in_vo_after_niet_geslaagd),
	T(test_status_later_diploma_ends_blijft_in_vo),
	T(test_status_later_uitschrijving_ends_blijft_in_vo),
	T(test_status_earlier_diploma_does_not_end_blijft_in_vo),
	T(test_status_niet_geslaagd_and_diploma_same_second_stays_in_vo),
	T(test_status_blijft_in_vo_before_andere_bestemming),
	T(test_status_zonder_plek_when_all_withdrawn),
	T(test_status_zonder_plek_mixed_endings),
	T(test_status_mbo_uitgeschreven_is_zonder_plek),
	T(test_status_zonder_plek_before_blijft_in_vo),
	T(test_status_later_andere_keuze_beats_zonder_plek),
	T(test_status_earlier_andere_keuze_stays_zonder_plek),
	T(test_status_andere_keuze_same_second_stays_zonder_plek),
	T(test_status_later_mbo_keuze_stays_zonder_plek),
	T(test_status_aangemeld_for_ontvangen_and_aangemeld),
	T(test_status_one_open_application_beats_zonder_plek),
	T(test_status_aangemeld_beats_andere_keuze),
	T(test_status_geplaatst_beats_aangemeld),
	T(test_status_niet_gestart_report_beats_geplaatst),
	T(test_status_ingeschreven_beats_niet_gestart_elsewhere),
	T(test_status_ingeschreven_beats_everything),
	T(test_status_teldatum_turns_open_application_into_niet_gestart),
	T(test_status_teldatum_leaves_others_alone),
	T(test_status_later_fact_of_same_instelling_replaces),
};

static const struct cu_test ENCODING_TESTS[] = {
	T(test_encode_decode_round_trip),
	T(test_encode_decode_empty_state),
	T(test_encode_full_state_fits),
	T(test_encode_into_too_small_buffer_returns_zero),
	T(test_decode_rejects_empty_and_wrong_version),
	T(test_decode_rejects_every_truncation),
	T(test_decode_rejects_trailing_bytes),
	T(test_decode_rejects_too_many_instellingen),
	T(test_decode_rejects_overlong_string),
	T(test_decode_rejects_nul_inside_string),
	T(test_decode_rejects_unsorted_instellingen),
	T(test_decode_rejects_non_mbo_kind_in_mbo_fact),
	T(test_decode_failure_leaves_state_untouched),
	T(test_decode_of_mutated_bytes_never_crashes),
	T(test_decode_of_random_bytes_never_crashes),
};

static const struct cu_test PROPERTY_TESTS[] = {
	T(test_every_permutation_with_duplicates_gives_same_bytes),
	T(test_rebuild_from_decoded_state_equals_live_state),
};

static void register_suites(void)
{
	ADD_TESTS("overstap fields", NULL, FIELD_TESTS);
	ADD_TESTS("overstap validation", NULL, VALIDATION_TESTS);
	ADD_TESTS("overstap merge", NULL, MERGE_TESTS);
	ADD_TESTS("overstap whose pupil", NULL, CLAIM_TESTS);
	ADD_TESTS("overstap status", NULL, STATUS_TESTS);
	ADD_TESTS("overstap encoding", NULL, ENCODING_TESTS);
	ADD_TESTS("overstap property", NULL, PROPERTY_TESTS);
}

int main(void)
{
	return cu_run(register_suites);
}
