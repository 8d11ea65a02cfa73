/* test_rules.c — the deadline calendar and the alert rules (DESIGN §5.1).
 *
 * Deadline instants are worked out independently (GNU date with
 * TZ=Europe/Amsterdam), every rule is tested a minute before and after its
 * date, and the sweeps are checked as data against the table of §5.1.
 */
#include <stdio.h>
#include <string.h>

#include "cu_run.h"
#include "overstap.pb-c.h"
#include "rules.h"

#define COHORT 2031
#define MINUTE 60
/* 00:00 Europe/Amsterdam, from `TZ=Europe/Amsterdam date -d "YYYY-MM-DD 00:00" +%s` */
#define AANMELDDATUM_2031 1932760800 /* 2031-03-31T22:00:00Z (CEST) */
#define ZOMER_2031 1943301600        /* 2031-07-31T22:00:00Z */
#define TELDATUM_2031 1948572000     /* 2031-09-30T22:00:00Z */
#define FEB_2031 1927713600          /* 2031-02-01T12:00:00Z */
#define MAY_2031 1935403200          /* 2031-05-01T12:00:00Z */
#define JULY_2031 1941364800         /* 2031-07-09T12:00:00Z */
#define SEPT_2031 1946736000         /* 2031-09-09T16:00:00Z */
#define NOV_2031 1952164800          /* 2031-11-11T12:00:00Z */
#define T0 1920000000                /* 2030-11-03: the pupil's first facts */

static struct rules_calendar cal;

static int setup(void)
{
	rules_calendar_default(&cal);
	return 0;
}

/* ---- state builders ------------------------------------------------------- */

static int seq;

static struct overstap_event ev(int kind, const char *school, int64_t at)
{
	struct overstap_event e;
	memset(&e, 0, sizeof e);
	snprintf(e.event_id, sizeof e.event_id, "e%d", ++seq);
	snprintf(e.pgn, sizeof e.pgn, "111222333");
	e.occurred_at = at;
	e.kind = (enum event_kind)kind;
	e.cohort = COHORT;
	snprintf(e.school, sizeof e.school, "%s", school);
	if (overstap_kind_is_mbo(kind))
		snprintf(e.crebo, sizeof e.crebo, "25168");
	if (kind == EVENT_OVERSTAPPER_GEREGISTREERD) {
		snprintf(e.woongemeente, sizeof e.woongemeente, "GM0268");
		e.vo_soort = VO_SOORT_VMBO_KB;
	}
	return e;
}

static void add(struct pupil_state *st, int kind, int64_t at)
{
	struct overstap_event e = ev(kind, overstap_kind_is_mbo(kind) ? "25LP" : "25LX00", at);
	if (kind == EVENT_KEUZE_GEREGISTREERD)
		e.bestemming = BESTEMMING_MBO;
	overstap_state_apply(st, &e);
}

static void add_keuze(struct pupil_state *st, enum bestemming b, int64_t at)
{
	struct overstap_event e = ev(EVENT_KEUZE_GEREGISTREERD, "25LX00", at);
	e.bestemming = b;
	overstap_state_apply(st, &e);
}

static void add_mbo(struct pupil_state *st, int kind, const char *brin, int64_t at)
{
	struct overstap_event e = ev(kind, brin, at);
	overstap_state_apply(st, &e);
}

/* A registered pupil with a keuze for mbo, nothing else. */
static void registered_with_keuze(struct pupil_state *st)
{
	overstap_state_init(st, COHORT);
	add(st, EVENT_OVERSTAPPER_GEREGISTREERD, T0);
	add(st, EVENT_KEUZE_GEREGISTREERD, T0 + 10);
}

/* Recipients of the alert of this kind in the outcome; 0 when not raised. */
static unsigned raised(const struct rules_outcome *out, enum alert_kind kind)
{
	for (size_t i = 0; i < out->n_alerts; i++)
		if (out->alerts[i].kind == kind)
			return out->alerts[i].recipients;
	return 0;
}

/* Evaluates old → new at now, where new = old plus one event at now. */
static struct rules_outcome after(const struct pupil_state *old, int kind, const char *brin, int64_t now,
				  struct pupil_state *new_out)
{
	struct pupil_state cur = *old;
	struct overstap_event e = ev(kind, brin, now);
	if (kind == EVENT_KEUZE_GEREGISTREERD)
		e.bestemming = BESTEMMING_MBO;
	overstap_state_apply(&cur, &e);
	struct rules_outcome out;
	rules_evaluate(&cal, old, &cur, now, &out);
	if (new_out)
		*new_out = cur;
	return out;
}

/* ---- calendar ------------------------------------------------------------- */

static void test_default_calendar(void)
{
	struct rules_calendar c;
	memset(&c, 0x55, sizeof c);
	rules_calendar_default(&c);
	CU_ASSERT_EQUAL(c.month[DEADLINE_AANMELDDATUM], 4);
	CU_ASSERT_EQUAL(c.day[DEADLINE_AANMELDDATUM], 1);
	CU_ASSERT_EQUAL(c.month[DEADLINE_ZOMER], 8);
	CU_ASSERT_EQUAL(c.day[DEADLINE_ZOMER], 1);
	CU_ASSERT_EQUAL(c.month[DEADLINE_TELDATUM], 10);
	CU_ASSERT_EQUAL(c.day[DEADLINE_TELDATUM], 1);
	CU_ASSERT_EQUAL(c.escalate_after, 7 * 86400);
}

static void test_deadlines_of_2031_are_midnight_summer_time(void)
{
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2031, DEADLINE_AANMELDDATUM), AANMELDDATUM_2031);
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2031, DEADLINE_ZOMER), ZOMER_2031);
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2031, DEADLINE_TELDATUM), TELDATUM_2031);
}

static void test_deadlines_of_other_cohorts(void)
{
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2030, DEADLINE_AANMELDDATUM), 1901224800);
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2030, DEADLINE_ZOMER), 1911765600);
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2030, DEADLINE_TELDATUM), 1917036000);
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2032, DEADLINE_AANMELDDATUM), 1964383200); /* leap year */
	CU_ASSERT_EQUAL(rules_deadline_at(&cal, 2032, DEADLINE_TELDATUM), 1980194400);
}

static void test_winter_deadline_is_23_utc_the_day_before(void)
{
	struct rules_calendar c = cal;
	c.month[DEADLINE_AANMELDDATUM] = 1;
	c.day[DEADLINE_AANMELDDATUM] = 15;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2031, DEADLINE_AANMELDDATUM), 1926198000); /* 2031-01-14T23:00Z */
}

static void test_deadline_on_the_day_summer_time_starts(void)
{
	/* last Sunday of March: midnight is still CET, the next midnight CEST */
	struct rules_calendar c = cal;
	c.month[DEADLINE_AANMELDDATUM] = 3;
	c.day[DEADLINE_AANMELDDATUM] = 30;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2031, DEADLINE_AANMELDDATUM), 1932591600); /* 03-29T23:00Z */
	c.day[DEADLINE_AANMELDDATUM] = 31;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2031, DEADLINE_AANMELDDATUM), 1932674400); /* 03-30T22:00Z */
	c.day[DEADLINE_AANMELDDATUM] = 31;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2030, DEADLINE_AANMELDDATUM), 1901142000); /* Sunday 2030-03-31 */
}

static void test_deadline_on_the_day_summer_time_ends(void)
{
	/* last Sunday of October: midnight is still CEST, the next midnight CET */
	struct rules_calendar c = cal;
	c.month[DEADLINE_TELDATUM] = 10;
	c.day[DEADLINE_TELDATUM] = 26;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2031, DEADLINE_TELDATUM), 1950732000); /* 10-25T22:00Z */
	c.day[DEADLINE_TELDATUM] = 27;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2031, DEADLINE_TELDATUM), 1950822000); /* 10-26T23:00Z */
	c.day[DEADLINE_TELDATUM] = 27;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2030, DEADLINE_TELDATUM), 1919282400); /* Sunday 2030-10-27 */
	c.day[DEADLINE_TELDATUM] = 28;
	CU_ASSERT_EQUAL(rules_deadline_at(&c, 2030, DEADLINE_TELDATUM), 1919372400);
}

static void test_names(void)
{
	CU_ASSERT_STRING_EQUAL(rules_deadline_name(DEADLINE_AANMELDDATUM), "aanmelddatum");
	CU_ASSERT_STRING_EQUAL(rules_deadline_name(DEADLINE_ZOMER), "zomer");
	CU_ASSERT_STRING_EQUAL(rules_deadline_name(DEADLINE_TELDATUM), "teldatum");
	CU_ASSERT_STRING_EQUAL(rules_alert_kind_name(ALERT_ZOMERLEK), "ZOMERLEK");
	CU_ASSERT_STRING_EQUAL(rules_alert_kind_name(ALERT_NIET_GESTART), "NIET_GESTART");
	CU_ASSERT_STRING_EQUAL(rules_alert_kind_name(ALERT_GEEN_AANMELDING), "GEEN_AANMELDING");
	CU_ASSERT_STRING_EQUAL(rules_alert_kind_name(ALERT_ESCALATIE), "ESCALATIE");
	CU_ASSERT_STRING_EQUAL(rules_alert_kind_name(ALERT_OPGELOST), "OPGELOST");
}

static void test_alert_kind_numbers_equal_proto(void)
{
	CU_ASSERT_EQUAL(ALERT_KIND_UNSPECIFIED, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_UNSPECIFIED);
	CU_ASSERT_EQUAL(ALERT_ZOMERLEK, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_ZOMERLEK);
	CU_ASSERT_EQUAL(ALERT_NIET_GESTART, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_NIET_GESTART);
	CU_ASSERT_EQUAL(ALERT_GEEN_AANMELDING, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_GEEN_AANMELDING);
	CU_ASSERT_EQUAL(ALERT_ESCALATIE, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_ESCALATIE);
	CU_ASSERT_EQUAL(ALERT_OPGELOST, OVERSTAP__V1__ALERT_KIND__ALERT_KIND_OPGELOST);
}

/* ---- status at a moment ---------------------------------------------------- */

static void test_status_at_teldatum_boundary(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_AANGEMELD, T0);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &st, TELDATUM_2031 - MINUTE), STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &st, TELDATUM_2031 - 1), STATUS_AANGEMELD);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &st, TELDATUM_2031), STATUS_NIET_GESTART);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &st, TELDATUM_2031 + MINUTE), STATUS_NIET_GESTART);
}

static void test_status_at_follows_a_custom_teldatum(void)
{
	struct rules_calendar c = cal;
	c.month[DEADLINE_TELDATUM] = 9;
	c.day[DEADLINE_TELDATUM] = 15;
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_OVEREENKOMST_AANGEBODEN, T0);
	int64_t sept15 = 1947189600; /* 2031-09-15 00:00 CEST */
	CU_ASSERT_EQUAL(rules_status_at(&c, &st, sept15 - MINUTE), STATUS_GEPLAATST);
	CU_ASSERT_EQUAL(rules_status_at(&c, &st, sept15), STATUS_NIET_GESTART);
}

/* ---- sweeps as data ------------------------------------------------------- */

static void test_aanmelddatum_sweep(void)
{
	const struct rules_sweep *s = rules_sweep_for(DEADLINE_AANMELDDATUM);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->deadline, DEADLINE_AANMELDDATUM);
	CU_ASSERT_EQUAL(s->kind, ALERT_GEEN_AANMELDING);
	CU_ASSERT_EQUAL(s->status_mask, (1u << 1) | (1u << 2)); /* GEEN_KEUZE, KEUZE */
	CU_ASSERT_FALSE(s->requires_left_vo);
	CU_ASSERT_TRUE(s->requires_registered);
	CU_ASSERT_EQUAL(s->recipients, RECIPIENT_VO);
	CU_ASSERT_FALSE(s->sets_status);
}

static void test_zomer_sweep(void)
{
	const struct rules_sweep *s = rules_sweep_for(DEADLINE_ZOMER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->deadline, DEADLINE_ZOMER);
	CU_ASSERT_EQUAL(s->kind, ALERT_ZOMERLEK);
	CU_ASSERT_EQUAL(s->status_mask, (1u << 1) | (1u << 2) | (1u << 7)); /* GEEN_KEUZE, KEUZE, ZONDER_PLEK */
	CU_ASSERT_TRUE(s->requires_left_vo);
	CU_ASSERT_EQUAL(s->recipients, RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_FALSE(s->sets_status);
}

static void test_teldatum_sweep(void)
{
	const struct rules_sweep *s = rules_sweep_for(DEADLINE_TELDATUM);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->deadline, DEADLINE_TELDATUM);
	CU_ASSERT_EQUAL(s->kind, ALERT_NIET_GESTART);
	CU_ASSERT_EQUAL(s->status_mask, (1u << 3) | (1u << 4)); /* AANGEMELD, GEPLAATST */
	CU_ASSERT_FALSE(s->requires_left_vo);
	CU_ASSERT_FALSE(s->requires_registered);
	CU_ASSERT_EQUAL(s->recipients, RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_TRUE(s->sets_status);
	CU_ASSERT_EQUAL(s->new_status, STATUS_NIET_GESTART);
}

static void test_no_sweep_matches_andere_bestemming_or_ingeschreven(void)
{
	unsigned never = (1u << STATUS_ANDERE_BESTEMMING) | (1u << STATUS_INGESCHREVEN) | (1u << STATUS_BLIJFT_IN_VO) |
			 (1u << STATUS_UNSPECIFIED);
	for (int d = 0; d < DEADLINE_COUNT; d++)
		CU_ASSERT_EQUAL(rules_sweep_for((enum deadline)d)->status_mask & never, 0);
}

static void test_sweep_for_unknown_deadline_is_null(void)
{
	CU_ASSERT_PTR_NULL(rules_sweep_for(DEADLINE_COUNT));
}

/* ---- GEEN_AANMELDING ------------------------------------------------------ */

static void test_geen_aanmelding_a_minute_before_aanmelddatum(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", AANMELDDATUM_2031 - MINUTE, NULL);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
}

static void test_geen_aanmelding_a_minute_after_aanmelddatum_goes_to_vo(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", AANMELDDATUM_2031 + MINUTE, NULL);
	CU_ASSERT_EQUAL(out.n_alerts, 1);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), RECIPIENT_VO);
	CU_ASSERT_FALSE(out.resolves_open);
}

static void test_geen_aanmelding_also_without_keuze(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, T0);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", MAY_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), RECIPIENT_VO);
}

static void test_no_geen_aanmelding_with_an_application(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	add(&st, EVENT_AANGEMELD, T0 + 100);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", MAY_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), 0);
}

static void test_no_geen_aanmelding_for_andere_bestemming(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, T0);
	add_keuze(&st, BESTEMMING_HAVO, T0 + 10);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", MAY_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), 0);
}

static void test_no_geen_aanmelding_for_unregistered_pupil(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_KEUZE_GEREGISTREERD, T0);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", MAY_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), 0);
}

static void test_geen_aanmelding_for_pupil_first_seen_after_aanmelddatum(void)
{
	struct pupil_state empty, st;
	overstap_state_init(&empty, COHORT);
	st = empty;
	add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, MAY_2031);
	add(&st, EVENT_KEUZE_GEREGISTREERD, MAY_2031);
	struct rules_outcome out;
	rules_evaluate(&cal, &empty, &st, MAY_2031, &out);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), RECIPIENT_VO);
}

static void test_geen_aanmelding_window_closes_at_zomer_for_known_pupils(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	/* known since November, not left vo: the aanmelddatum sweep judged it */
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", SEPT_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), 0);
}

/* ---- ZOMERLEK ------------------------------------------------------------- */

/* The diploma arrives first, the registration only in September: the pupil
 * enters GEEN_AANMELDING's population late, and still gets it (DESIGN §5.1:
 * the outcome does not depend on the order the facts arrive in). */
static void test_geen_aanmelding_for_pupil_registered_after_zomer_when_diploma_came_first(void)
{
	struct pupil_state st;
	overstap_state_init(&st, COHORT);
	add(&st, EVENT_DIPLOMA_BEHAALD, JULY_2031);
	struct rules_outcome out = after(&st, EVENT_OVERSTAPPER_GEREGISTREERD, "25LX00", SEPT_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_GEEN_AANMELDING), RECIPIENT_VO);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
}

/* A diploma reported only in November for a pupil without application: they
 * left vo over the summer without a place, reported late — still zomerlek. */
static void test_late_reported_diploma_in_november_raises_zomerlek(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out = after(&st, EVENT_DIPLOMA_BEHAALD, "25LX00", NOV_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
}

static void left_vo_with_application(struct pupil_state *st)
{
	registered_with_keuze(st);
	add(st, EVENT_AANGEMELD, T0 + 100);
	add(st, EVENT_DIPLOMA_BEHAALD, JULY_2031 - 86400);
}

static void test_withdrawal_in_july_after_diploma_raises_zomerlek(void)
{
	struct pupil_state st, cur;
	left_vo_with_application(&st);
	struct rules_outcome out = after(&st, EVENT_INGETROKKEN, "25LP", JULY_2031, &cur);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &cur, JULY_2031), STATUS_ZONDER_PLEK);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_EQUAL(out.n_alerts, 1);
}

static void test_rejection_after_uitschrijving_raises_zomerlek(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	add(&st, EVENT_AANGEMELD, T0 + 100);
	add(&st, EVENT_VO_UITGESCHREVEN, T0 + 200);
	struct rules_outcome out = after(&st, EVENT_LEIDT_NIET_TOT_INSCHRIJVING, "25LP", JULY_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
}

static void test_withdrawal_while_still_in_vo_is_no_zomerlek(void)
{
	struct pupil_state st, cur;
	registered_with_keuze(&st);
	add(&st, EVENT_AANGEMELD, T0 + 100);
	struct rules_outcome out = after(&st, EVENT_INGETROKKEN, "25LP", FEB_2031, &cur);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &cur, FEB_2031), STATUS_ZONDER_PLEK);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
}

static void test_withdrawal_in_november_is_no_zomerlek(void)
{
	struct pupil_state st, cur;
	left_vo_with_application(&st);
	struct rules_outcome out = after(&st, EVENT_INGETROKKEN, "25LP", NOV_2031, &cur);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &cur, NOV_2031), STATUS_ZONDER_PLEK);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
}

static void test_withdrawal_a_minute_before_and_after_teldatum(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	struct rules_outcome before = after(&st, EVENT_INGETROKKEN, "25LP", TELDATUM_2031 - MINUTE, NULL);
	struct rules_outcome past = after(&st, EVENT_INGETROKKEN, "25LP", TELDATUM_2031 + MINUTE, NULL);
	CU_ASSERT_EQUAL(raised(&before, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_EQUAL(raised(&past, ALERT_ZOMERLEK), 0);
}

static void left_vo_without_application(struct pupil_state *st)
{
	registered_with_keuze(st);
	add(st, EVENT_DIPLOMA_BEHAALD, T0 + 100);
}

static void test_zomer_deadline_a_minute_before_and_after(void)
{
	struct pupil_state st;
	left_vo_without_application(&st);
	struct rules_outcome before = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", ZOMER_2031 - MINUTE, NULL);
	struct rules_outcome past = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", ZOMER_2031 + MINUTE, NULL);
	CU_ASSERT_EQUAL(raised(&before, ALERT_ZOMERLEK), 0);
	CU_ASSERT_EQUAL(raised(&past, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
}

static void test_zomer_deadline_needs_left_vo(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", ZOMER_2031 + MINUTE, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
}

static void test_andere_bestemming_never_gets_zomerlek(void)
{
	int64_t moments[] = { JULY_2031, ZOMER_2031 + MINUTE, SEPT_2031, NOV_2031 };
	for (int b = BESTEMMING_HAVO; b <= BESTEMMING_ANDERS; b++) {
		for (size_t m = 0; m < sizeof moments / sizeof moments[0]; m++) {
			struct pupil_state empty, st;
			overstap_state_init(&empty, COHORT);
			st = empty;
			add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, T0);
			add_keuze(&st, (enum bestemming)b, T0 + 10);
			add(&st, EVENT_DIPLOMA_BEHAALD, T0 + 20);
			struct rules_outcome out;
			rules_evaluate(&cal, &empty, &st, moments[m], &out); /* even when first seen */
			CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
			CU_ASSERT_EQUAL(out.n_alerts, 0);
			CU_ASSERT_TRUE(out.resolves_open);
		}
	}
}

static void test_later_andere_keuze_after_withdrawal_is_no_zomerlek(void)
{
	struct pupil_state st, cur;
	left_vo_with_application(&st);
	add(&st, EVENT_INGETROKKEN, JULY_2031);
	struct pupil_state old = st;
	cur = st;
	add_keuze(&cur, BESTEMMING_WERK, JULY_2031 + 3600);
	struct rules_outcome out;
	rules_evaluate(&cal, &old, &cur, JULY_2031 + 3600, &out);
	CU_ASSERT_EQUAL(rules_status_at(&cal, &cur, JULY_2031 + 3600), STATUS_ANDERE_BESTEMMING);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
	CU_ASSERT_TRUE(out.resolves_open);
}

static void test_zomerlek_for_pupil_first_seen_after_teldatum(void)
{
	struct pupil_state empty, st;
	overstap_state_init(&empty, COHORT);
	st = empty;
	add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, NOV_2031);
	add(&st, EVENT_VO_UITGESCHREVEN, NOV_2031);
	struct rules_outcome out;
	rules_evaluate(&cal, &empty, &st, NOV_2031, &out);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), RECIPIENT_RMC | RECIPIENT_VO);
}

static void test_known_pupil_after_teldatum_gets_no_new_zomerlek(void)
{
	struct pupil_state st;
	left_vo_without_application(&st);
	struct rules_outcome out = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", NOV_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_ZOMERLEK), 0);
}

static void test_first_seen_in_september_gets_both_missed_deadlines(void)
{
	struct pupil_state empty, st;
	overstap_state_init(&empty, COHORT);
	st = empty;
	add(&st, EVENT_OVERSTAPPER_GEREGISTREERD, SEPT_2031);
	add(&st, EVENT_KEUZE_GEREGISTREERD, SEPT_2031);
	add(&st, EVENT_DIPLOMA_BEHAALD, SEPT_2031);
	struct rules_outcome out;
	rules_evaluate(&cal, &empty, &st, SEPT_2031, &out);
	CU_ASSERT_EQUAL_FATAL(out.n_alerts, 2);
	CU_ASSERT_EQUAL(out.alerts[0].kind, ALERT_ZOMERLEK); /* in kind order */
	CU_ASSERT_EQUAL(out.alerts[0].recipients, RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_EQUAL(out.alerts[1].kind, ALERT_GEEN_AANMELDING);
	CU_ASSERT_EQUAL(out.alerts[1].recipients, RECIPIENT_VO);
}

/* ---- NIET_GESTART --------------------------------------------------------- */

static void test_mbo_no_show_report_raises_niet_gestart(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	add(&st, EVENT_OVEREENKOMST_AANGEBODEN, JULY_2031);
	struct rules_outcome out = after(&st, EVENT_NIET_GESTART, "25LP", SEPT_2031, NULL);
	CU_ASSERT_EQUAL(raised(&out, ALERT_NIET_GESTART), RECIPIENT_RMC | RECIPIENT_VO);
	CU_ASSERT_EQUAL(out.n_alerts, 1);
}

static void test_no_show_while_enrolled_elsewhere_raises_nothing(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	add_mbo(&st, EVENT_INGESCHREVEN, "30RF", SEPT_2031 - 86400);
	struct rules_outcome out = after(&st, EVENT_NIET_GESTART, "25LP", SEPT_2031, NULL);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
	CU_ASSERT_TRUE(out.resolves_open);
}

static void test_open_application_a_minute_before_and_after_teldatum(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	struct rules_outcome before = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", TELDATUM_2031 - MINUTE, NULL);
	struct rules_outcome past = after(&st, EVENT_DDD_AANGELEVERD, "25LX00", TELDATUM_2031 + MINUTE, NULL);
	CU_ASSERT_EQUAL(raised(&before, ALERT_NIET_GESTART), 0);
	CU_ASSERT_EQUAL(raised(&past, ALERT_NIET_GESTART), RECIPIENT_RMC | RECIPIENT_VO);
}

static void test_niet_gestart_for_pupil_first_seen_after_teldatum(void)
{
	struct pupil_state empty, st;
	overstap_state_init(&empty, COHORT);
	st = empty;
	add_mbo(&st, EVENT_OVEREENKOMST_AANGEBODEN, "25LP", NOV_2031);
	struct rules_outcome out;
	rules_evaluate(&cal, &empty, &st, NOV_2031, &out);
	CU_ASSERT_EQUAL(raised(&out, ALERT_NIET_GESTART), RECIPIENT_RMC | RECIPIENT_VO);
}

/* ---- OPGELOST and quiet cases --------------------------------------------- */

static void test_enrolment_resolves_open_alerts(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	add(&st, EVENT_INGETROKKEN, JULY_2031); /* had a ZOMERLEK */
	struct rules_outcome out = after(&st, EVENT_INGESCHREVEN, "30RF", SEPT_2031, NULL);
	CU_ASSERT_TRUE(out.resolves_open);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
}

static void test_late_enrolment_after_teldatum_resolves(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	struct rules_outcome out = after(&st, EVENT_INGESCHREVEN, "25LP", NOV_2031, NULL);
	CU_ASSERT_TRUE(out.resolves_open);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
}

static void test_placement_alone_does_not_resolve(void)
{
	struct pupil_state st;
	left_vo_with_application(&st);
	add(&st, EVENT_INGETROKKEN, JULY_2031);
	struct rules_outcome out = after(&st, EVENT_OVEREENKOMST_AANGEBODEN, "30RF", SEPT_2031, NULL);
	CU_ASSERT_FALSE(out.resolves_open);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
}

static void test_application_in_february_is_quiet(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out = after(&st, EVENT_AANGEMELD, "25LP", FEB_2031, NULL);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
	CU_ASSERT_FALSE(out.resolves_open);
}

static void test_outcome_is_cleared(void)
{
	struct pupil_state st;
	registered_with_keuze(&st);
	struct rules_outcome out;
	memset(&out, 0x7f, sizeof out);
	rules_evaluate(&cal, &st, &st, FEB_2031, &out);
	CU_ASSERT_EQUAL(out.n_alerts, 0);
	CU_ASSERT_FALSE(out.resolves_open);
}

/* ---- registration --------------------------------------------------------- */

/* ---- time: the peildatum, SCHOOL_STIL's season, milestone figures ---------- */

static void test_moments_as_design_writes_them(void)
{
	int64_t t;
	CU_ASSERT_TRUE(rules_parse_moment("1935352800", &t));
	CU_ASSERT_EQUAL(t, 1935352800);
	CU_ASSERT_TRUE(rules_parse_moment("2031-05-01", &t)); /* a bare date: 00:00 Europe/Amsterdam */
	CU_ASSERT_EQUAL(t, 1935352800);
	CU_ASSERT_TRUE(rules_parse_moment("2031-05-01T00:00:00Z", &t));
	CU_ASSERT_EQUAL(t, 1935352800 + 7200);
	CU_ASSERT_FALSE(rules_parse_moment("gisteren", &t));
	CU_ASSERT_FALSE(rules_parse_moment("2031-02-30", &t));
	CU_ASSERT_FALSE(rules_parse_moment("", &t));
	char d[16];
	rules_local_date(1935352800, d, sizeof d); /* 22:00 UTC on 30 April is 1 May here */
	CU_ASSERT_STRING_EQUAL(d, "2031-05-01");
}

static void test_a_year_earlier_is_the_same_local_date_and_time(void)
{
	/* 30 March 2031 12:00 (summer time) → 30 March 2030 12:00 (still winter time) */
	CU_ASSERT_EQUAL(rules_year_earlier(1932631200), 1901098800);
	/* 29 February 2032 08:00 → 28 February 2031 08:00 */
	CU_ASSERT_EQUAL(rules_year_earlier(1961650800), 1930028400);
}

static void test_school_stil_season_runs_from_september_to_the_teldatum(void)
{
	uint32_t c[2];
	CU_ASSERT_FALSE(rules_school_stil_season(&cal, 2031, 1914444000 - 1)); /* 2030-08-31 23:59:59 */
	CU_ASSERT_TRUE(rules_school_stil_season(&cal, 2031, 1914444000));      /* 2030-09-01 00:00 */
	CU_ASSERT_TRUE(rules_school_stil_season(&cal, 2031, 1948572000 - 1));
	CU_ASSERT_FALSE(rules_school_stil_season(&cal, 2031, 1948572000)); /* the teldatum 2031-10-01 */
	/* September 2031: the season of 2031 and that of 2032 */
	CU_ASSERT_EQUAL(rules_school_stil_cohorts(&cal, 1948572000 - 86400, c), 2);
	CU_ASSERT_EQUAL(c[0], 2031);
	CU_ASSERT_EQUAL(c[1], 2032);
	CU_ASSERT_EQUAL(rules_school_stil_cohorts(&cal, 1948572000 + 86400, c), 1);
	CU_ASSERT_EQUAL(c[0], 2032);
}

static void test_milestone_figures_count_what_is_further_too(void)
{
	struct figure_counts fc = { .overstappers = 10, .met_keuze = 9, .aangemeld = 3, .geplaatst = 2,
				    .ingeschreven = 1, .andere_bestemming = 2, .ddd = 4 };
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_IN_BEELD, &fc), 90.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_AANGEMELD, &fc), 60.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_GEPLAATST, &fc), 30.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_DEFINITIEF, &fc), 30.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_DDD, &fc), 40.0, 1e-9);
	struct figure_counts none = { 0 };
	CU_ASSERT_DOUBLE_EQUAL(rules_figure_pct(FIGURE_AANGEMELD, &none), 0.0, 1e-9);
	enum figure f;
	CU_ASSERT_TRUE(rules_figure_parse("geplaatst_pct", 9, &f));
	CU_ASSERT_EQUAL(f, FIGURE_GEPLAATST);
	CU_ASSERT_FALSE(rules_figure_parse("geplaatst", 8, &f));
	CU_ASSERT_STRING_EQUAL(rules_figure_name(FIGURE_DDD), "ddd");
}

static const struct cu_test TIME_TESTS[] = {
	T(test_moments_as_design_writes_them),
	T(test_a_year_earlier_is_the_same_local_date_and_time),
	T(test_school_stil_season_runs_from_september_to_the_teldatum),
	T(test_milestone_figures_count_what_is_further_too),
};

static const struct cu_test CALENDAR_TESTS[] = {
	T(test_default_calendar),
	T(test_deadlines_of_2031_are_midnight_summer_time),
	T(test_deadlines_of_other_cohorts),
	T(test_winter_deadline_is_23_utc_the_day_before),
	T(test_deadline_on_the_day_summer_time_starts),
	T(test_deadline_on_the_day_summer_time_ends),
	T(test_names),
	T(test_alert_kind_numbers_equal_proto),
	T(test_status_at_teldatum_boundary),
	T(test_status_at_follows_a_custom_teldatum),
};

static void test_every_alert_has_its_reason(void)
{
	/* worked out from the texts of DESIGN §5.1, one per rule */
	CU_ASSERT_STRING_EQUAL(rules_alert_reason(ALERT_ZOMERLEK, STATUS_ZONDER_PLEK),
			       "vo verlaten, geen actieve aanmelding in het mbo meer");
	CU_ASSERT_STRING_EQUAL(rules_alert_reason(ALERT_ZOMERLEK, STATUS_KEUZE), "vo verlaten zonder aanmelding in het mbo");
	CU_ASSERT_STRING_EQUAL(rules_alert_reason(ALERT_NIET_GESTART, STATUS_NIET_GESTART),
			       "aangemeld of geplaatst, niet gestart");
	CU_ASSERT_STRING_EQUAL(rules_alert_reason(ALERT_OPGELOST, STATUS_INGESCHREVEN),
			       "alsnog geplaatst of andere bestemming");
	for (int d = 0; d < DEADLINE_COUNT; d++) {
		const struct rules_sweep *sw = rules_sweep_for((enum deadline)d);
		CU_ASSERT_PTR_NOT_NULL_FATAL(sw->reason);
		CU_ASSERT(strlen(sw->reason) > 10);
	}
	CU_ASSERT_STRING_EQUAL(rules_alert_reason(ALERT_GEEN_AANMELDING, STATUS_KEUZE),
			       rules_sweep_for(DEADLINE_AANMELDDATUM)->reason);
	CU_ASSERT_STRING_EQUAL(rules_escalation_reason(ALERT_ZOMERLEK), "zomerlek niet opgepakt binnen de termijn");
	CU_ASSERT_STRING_EQUAL(rules_escalation_reason(ALERT_NIET_GESTART),
			       "niet gestart niet opgepakt binnen de termijn");
}

static const struct cu_test SWEEP_TESTS[] = {
	T(test_every_alert_has_its_reason),
	T(test_aanmelddatum_sweep),
	T(test_zomer_sweep),
	T(test_teldatum_sweep),
	T(test_no_sweep_matches_andere_bestemming_or_ingeschreven),
	T(test_sweep_for_unknown_deadline_is_null),
};

static const struct cu_test EVALUATE_TESTS[] = {
	T(test_geen_aanmelding_for_pupil_registered_after_zomer_when_diploma_came_first),
	T(test_late_reported_diploma_in_november_raises_zomerlek),
	T(test_geen_aanmelding_a_minute_before_aanmelddatum),
	T(test_geen_aanmelding_a_minute_after_aanmelddatum_goes_to_vo),
	T(test_geen_aanmelding_also_without_keuze),
	T(test_no_geen_aanmelding_with_an_application),
	T(test_no_geen_aanmelding_for_andere_bestemming),
	T(test_no_geen_aanmelding_for_unregistered_pupil),
	T(test_geen_aanmelding_for_pupil_first_seen_after_aanmelddatum),
	T(test_geen_aanmelding_window_closes_at_zomer_for_known_pupils),
	T(test_withdrawal_in_july_after_diploma_raises_zomerlek),
	T(test_rejection_after_uitschrijving_raises_zomerlek),
	T(test_withdrawal_while_still_in_vo_is_no_zomerlek),
	T(test_withdrawal_in_november_is_no_zomerlek),
	T(test_withdrawal_a_minute_before_and_after_teldatum),
	T(test_zomer_deadline_a_minute_before_and_after),
	T(test_zomer_deadline_needs_left_vo),
	T(test_andere_bestemming_never_gets_zomerlek),
	T(test_later_andere_keuze_after_withdrawal_is_no_zomerlek),
	T(test_zomerlek_for_pupil_first_seen_after_teldatum),
	T(test_known_pupil_after_teldatum_gets_no_new_zomerlek),
	T(test_first_seen_in_september_gets_both_missed_deadlines),
	T(test_mbo_no_show_report_raises_niet_gestart),
	T(test_no_show_while_enrolled_elsewhere_raises_nothing),
	T(test_open_application_a_minute_before_and_after_teldatum),
	T(test_niet_gestart_for_pupil_first_seen_after_teldatum),
	T(test_enrolment_resolves_open_alerts),
	T(test_late_enrolment_after_teldatum_resolves),
	T(test_placement_alone_does_not_resolve),
	T(test_application_in_february_is_quiet),
	T(test_outcome_is_cleared),
};

static void register_suites(void)
{
	ADD_TESTS("rules calendar", setup, CALENDAR_TESTS);
	ADD_TESTS("rules time", setup, TIME_TESTS);
	ADD_TESTS("rules sweeps", setup, SWEEP_TESTS);
	ADD_TESTS("rules evaluate", setup, EVALUATE_TESTS);
}

int main(void)
{
	return cu_run(register_suites);
}
