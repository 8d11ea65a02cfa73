/* test_util.c — the small shared pieces: clock parsing, SQL text arrays,
 * the key map, what each identity holds (orgload), binary result decoding, statistics
 * arithmetic. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "cu_run.h"
#include "keymap.h"
#include "orgload.h"
#include "pupilcache.h"
#include "sqlcodes.h"
#include "statecache.h"
#include "utf8.h"
#include "stats.h"
#include "store.h"

static void test_iso_times_parse_to_unix_seconds(void)
{
	int64_t t;
	CU_ASSERT_TRUE(civil_parse_iso("1970-01-01T00:00:00Z", &t));
	CU_ASSERT_EQUAL(t, 0);
	CU_ASSERT_TRUE(civil_parse_iso("2030-09-01T00:00:00Z", &t));
	CU_ASSERT_EQUAL(t, 1914451200);
	CU_ASSERT_TRUE(civil_parse_iso("2030-09-01T02:00:00+02:00", &t));
	CU_ASSERT_EQUAL(t, 1914451200);
	CU_ASSERT_TRUE(civil_parse_iso("2030-09-01", &t));
	CU_ASSERT_EQUAL(t, 1914451200);
	CU_ASSERT_TRUE(civil_parse_iso("2024-02-29T12:00", &t)); /* leap day, no seconds */
	CU_ASSERT_EQUAL(t, 1709208000);
	CU_ASSERT_FALSE(civil_parse_iso("2023-02-29", &t));
	CU_ASSERT_FALSE(civil_parse_iso("2030-09-01T24:00:00Z", &t));
	CU_ASSERT_FALSE(civil_parse_iso("2030-9-1", &t));
	CU_ASSERT_FALSE(civil_parse_iso("2030-09-01Tnoon", &t));
	CU_ASSERT_FALSE(civil_parse_iso("2030-09-01T00:00:00Zjunk", &t));
	CU_ASSERT_FALSE(civil_parse_iso("", &t));
}

static void test_iso_format_round_trips(void)
{
	char buf[32];
	civil_format_iso(1914451200, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "2030-09-01T00:00:00Z");
}

static void test_manual_clock_moves_only_forward(void)
{
	clock_init(CLOCK_MANUAL, 1914451200);
	CU_ASSERT_EQUAL(clock_now(), 1914451200);
	CU_ASSERT_TRUE(clock_set(1914451200 + 60));
	CU_ASSERT_EQUAL(clock_now(), 1914451260);
	CU_ASSERT_FALSE(clock_set(1914451200));
	CU_ASSERT_EQUAL(clock_now(), 1914451260);
	clock_init(CLOCK_SYSTEM, 0);
	CU_ASSERT_FALSE(clock_set(4000000000));
}

static void test_text_arrays_quote_and_escape(void)
{
	struct pgarray a;
	pgarray_init(&a);
	CU_ASSERT_STRING_EQUAL(pgarray_literal(&a), "{}");
	pgarray_add_text(&a, "plain");
	pgarray_add_text(&a, "with \"quote\" and \\ backslash");
	pgarray_add_text(&a, "");
	pgarray_add_null(&a);
	pgarray_add_int(&a, -42);
	pgarray_add_bool(&a, true);
	CU_ASSERT_STRING_EQUAL(pgarray_literal(&a),
			       "{\"plain\",\"with \\\"quote\\\" and \\\\ backslash\",\"\",NULL,-42,t}");
	CU_ASSERT_EQUAL(a.count, 6);
	pgarray_reset(&a);
	pgarray_add_int(&a, 7);
	CU_ASSERT_STRING_EQUAL(pgarray_literal(&a), "{7}");
	pgarray_free(&a);
}

static void test_keymap_finds_what_was_put(void)
{
	struct keymap m;
	keymap_init(&m);
	char keys[1000][16];
	bool existed;
	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		CU_ASSERT_EQUAL(keymap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i, &existed), (uint32_t)i);
		CU_ASSERT_FALSE(existed);
	}
	CU_ASSERT_EQUAL(keymap_put(&m, "k7", 2, 99, &existed), 7);
	CU_ASSERT_TRUE(existed);
	uint32_t v;
	CU_ASSERT_TRUE(keymap_get(&m, "k999", 4, &v));
	CU_ASSERT_EQUAL(v, 999);
	CU_ASSERT_FALSE(keymap_get(&m, "k1000", 5, &v));
	keymap_clear(&m);
	CU_ASSERT_FALSE(keymap_get(&m, "k1", 2, &v));
	/* a few keys in a map grown for a thousand: the next clear gives its slots back */
	size_t grown = m.cap;
	CU_ASSERT(grown >= 2048);
	for (int i = 0; i < 10; i++)
		keymap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i, NULL);
	CU_ASSERT_EQUAL(m.cap, grown);
	keymap_clear(&m);
	CU_ASSERT_EQUAL(m.cap, 0);
	CU_ASSERT_FALSE(keymap_get(&m, "k3", 2, &v));
	CU_ASSERT_EQUAL(keymap_put(&m, "k3", 2, 3, &existed), 3);
	CU_ASSERT_FALSE(existed);
	CU_ASSERT_TRUE(keymap_get(&m, "k3", 2, &v));
	CU_ASSERT_EQUAL(v, 3);
	keymap_free(&m);
}

static void test_orgload_keeps_one_entry_per_identity(void)
{
	struct orgload *l = orgload_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	struct identity vo = { ROLE_VO, "25LX00" }, rmc = { ROLE_RMC, "39" }, pt = { ROLE_PROJECTTEAM, "39" };
	struct orgload_entry *a = orgload_entry(l, &vo);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->queued, 0);
	CU_ASSERT_EQUAL(a->connections, 0);
	CU_ASSERT_EQUAL(a->who.role, ROLE_VO);
	CU_ASSERT_STRING_EQUAL(a->who.org, "25LX00");
	a->queued = 500;
	a->connections = 2;
	/* the same organisation in another role is another identity */
	struct orgload_entry *r = orgload_entry(l, &rmc), *p = orgload_entry(l, &pt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_EQUAL(r, p);
	/* many more: the table grows, the first entry stays where it was */
	for (int i = 0; i < 300; i++) {
		struct identity x = { ROLE_MBO, "" };
		snprintf(x.org, sizeof x.org, "%04d", i);
		CU_ASSERT_PTR_NOT_NULL(orgload_entry(l, &x));
	}
	CU_ASSERT_PTR_EQUAL(orgload_entry(l, &vo), a);
	CU_ASSERT_EQUAL(orgload_entry(l, &vo)->queued, 500);
	CU_ASSERT_EQUAL(orgload_entry(l, &vo)->connections, 2);
	CU_ASSERT_EQUAL(orgload_entry(l, &rmc)->queued, 0);
	orgload_free(l);
}

static Overstap__V1__StatsRow row_of(uint32_t n, uint32_t keuze, uint32_t ingeschreven, uint32_t andere, uint32_t ddd)
{
	Overstap__V1__StatsRow r = OVERSTAP__V1__STATS_ROW__INIT;
	r.overstappers = n;
	r.met_keuze = keuze;
	r.ingeschreven = ingeschreven;
	r.andere_bestemming = andere;
	r.ddd = ddd;
	return r;
}

static void test_percentages_of_overstappers(void)
{
	/* 3100 pupils, 3038 with keuze = 98.0%; 2950 + 60 = 3010 definitief = 97.0967...% */
	Overstap__V1__StatsRow r = row_of(3100, 3038, 2950, 60, 3007);
	stats_row_finish(&r, false, false);
	CU_ASSERT_DOUBLE_EQUAL(r.in_beeld_pct, 98.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(r.definitief_pct, 100.0 * 3010 / 3100, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(r.definitief_pct, 97.09677419354838, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(r.ddd_pct, 97.0, 1e-9);
	CU_ASSERT_FALSE(r.suppressed);
}

static void test_empty_group_has_zero_percentages(void)
{
	Overstap__V1__StatsRow r = row_of(0, 0, 0, 0, 0);
	stats_row_finish(&r, false, true);
	CU_ASSERT_DOUBLE_EQUAL(r.in_beeld_pct, 0.0, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(r.definitief_pct, 0.0, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(r.ddd_pct, 0.0, 1e-12);
}

static void test_percentages_are_not_rounded(void)
{
	Overstap__V1__StatsRow r = row_of(3, 1, 2, 0, 0);
	stats_row_finish(&r, false, false);
	CU_ASSERT_DOUBLE_EQUAL(r.in_beeld_pct, 33.333333333333336, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(r.definitief_pct, 66.66666666666667, 1e-12);
}

static void test_small_cells_below_region_are_suppressed_for_non_admin(void)
{
	Overstap__V1__StatsRow r = row_of(4, 4, 3, 0, 2);
	r.zomerlek = 1;
	stats_row_finish(&r, true, false);
	CU_ASSERT_TRUE(r.suppressed);
	CU_ASSERT_EQUAL(r.overstappers, 0);
	CU_ASSERT_EQUAL(r.met_keuze, 0);
	CU_ASSERT_EQUAL(r.ingeschreven, 0);
	CU_ASSERT_EQUAL(r.zomerlek, 0);
	CU_ASSERT_DOUBLE_EQUAL(r.in_beeld_pct, 0.0, 1e-12);
}

static void test_five_is_not_a_small_cell(void)
{
	Overstap__V1__StatsRow r = row_of(5, 5, 5, 0, 5);
	stats_row_finish(&r, true, false);
	CU_ASSERT_FALSE(r.suppressed);
	CU_ASSERT_EQUAL(r.overstappers, 5);
	CU_ASSERT_DOUBLE_EQUAL(r.definitief_pct, 100.0, 1e-12);
}

static void test_admin_and_region_rows_are_never_suppressed(void)
{
	Overstap__V1__StatsRow a = row_of(2, 1, 1, 0, 0), b = row_of(2, 1, 1, 0, 0);
	stats_row_finish(&a, true, true);
	stats_row_finish(&b, false, false);
	CU_ASSERT_FALSE(a.suppressed);
	CU_ASSERT_EQUAL(a.overstappers, 2);
	CU_ASSERT_FALSE(b.suppressed);
	CU_ASSERT_DOUBLE_EQUAL(b.in_beeld_pct, 50.0, 1e-12);
}

/* Which keys of rows come out suppressed. */
static void suppressed_keys(struct stats_supp *rows, size_t n, char *out, size_t cap)
{
	stats_suppress(rows, n);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (rows[i].suppressed)
			snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "," : "", rows[i].key);
}

static void test_secondary_suppression_leaves_nothing_to_subtract(void)
{
	char got[64];
	/* one small school: the next smallest goes with it */
	struct stats_supp a[] = { { 3, "A", "39", 0 }, { 10, "B", "39", 0 }, { 20, "C", "39", 0 } };
	suppressed_keys(a, 3, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,B");
	/* two small ones holding 3: one more, so that they hold at least 5 */
	struct stats_supp b[] = { { 1, "A", "39", 0 }, { 2, "B", "39", 0 }, { 8, "C", "39", 0 }, { 9, "D", "39", 0 } };
	suppressed_keys(b, 4, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,B,C");
	/* two small ones holding 5 already: nothing more */
	struct stats_supp c[] = { { 2, "A", "39", 0 }, { 3, "B", "39", 0 }, { 8, "C", "39", 0 } };
	suppressed_keys(c, 3, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,B");
	/* ties go by key; a row without a key takes part like any other */
	struct stats_supp d[] = { { 3, "A", "39", 0 }, { 7, "C", "39", 0 }, { 7, "", "39", 0 } };
	suppressed_keys(d, 3, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,");
	/* every row, when there is nothing else */
	struct stats_supp e[] = { { 2, "A", "39", 0 }, { 30, "B", "39", 0 } };
	suppressed_keys(e, 2, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,B");
	/* each region on its own; nothing small, nothing suppressed */
	struct stats_supp f[] = { { 3, "A", "39", 0 }, { 12, "C", "13", 0 }, { 6, "B", "39", 0 }, { 10, "D", "13", 0 } };
	suppressed_keys(f, 4, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "A,B");
	/* the five-row region of the issue: its total minus the visible rows
	 * must not give any one suppressed school */
	struct stats_supp g[] = { { 4, "S1", "39", 0 }, { 40, "S2", "39", 0 }, { 5, "S3", "39", 0 },
				  { 6, "S4", "39", 0 }, { 90, "S5", "39", 0 } };
	suppressed_keys(g, 5, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, "S1,S3");
}

static void test_statecache_put_get_replace(void)
{
	struct statecache c;
	statecache_init(&c, 100000);
	CU_ASSERT_PTR_NULL(statecache_get(&c, 1, 2031));
	for (int64_t id = 1; id <= 20000; id++) {
		uint8_t facts[3] = { (uint8_t)id, 7, 9 };
		statecache_put(&c, id, 2031, id * 10, id % 2 == 0, false, facts, sizeof facts);
	}
	CU_ASSERT_EQUAL(c.count, 20000);
	const struct statecache_entry *e = statecache_get(&c, 12345, 2031);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->version, 123450);
	CU_ASSERT_EQUAL(e->facts_len, 3);
	CU_ASSERT_EQUAL(e->facts[0], (uint8_t)12345);
	CU_ASSERT_FALSE(e->had_zomerlek);
	CU_ASSERT_PTR_NULL(statecache_get(&c, 12345, 2032)); /* another cohort */
	uint8_t longer[5] = { 1, 2, 3, 4, 5 };
	statecache_put(&c, 12345, 2031, 123451, true, true, longer, sizeof longer);
	e = statecache_get(&c, 12345, 2031);
	CU_ASSERT_EQUAL(c.count, 20000);
	CU_ASSERT_EQUAL(e->version, 123451);
	CU_ASSERT_EQUAL(e->facts_len, 5);
	CU_ASSERT_EQUAL(memcmp(e->facts, longer, 5), 0);
	CU_ASSERT_TRUE(e->had_zomerlek && e->had_niet_gestart);
	statecache_free(&c);
}

static void test_statecache_forgets_a_cohort_and_starts_again_when_full(void)
{
	struct statecache c;
	statecache_init(&c, 1000);
	uint8_t f = 1;
	for (int64_t id = 1; id <= 600; id++)
		statecache_put(&c, id, id % 2 ? 2031 : 2032, 1, false, false, &f, 1);
	statecache_forget_cohort(&c, 2031);
	CU_ASSERT_EQUAL(c.count, 300);
	CU_ASSERT_PTR_NULL(statecache_get(&c, 1, 2031));
	CU_ASSERT_PTR_NOT_NULL(statecache_get(&c, 2, 2032));
	for (int64_t id = 1000; id < 1800; id++)
		statecache_put(&c, id, 2033, 1, false, false, &f, 1);
	CU_ASSERT(c.count <= 1000); /* full: started again */
	CU_ASSERT_PTR_NOT_NULL(statecache_get(&c, 1799, 2033));
	statecache_clear(&c);
	CU_ASSERT_EQUAL(c.count, 0);
	CU_ASSERT_PTR_NULL(statecache_get(&c, 1799, 2033));
	statecache_put(&c, 0, 2031, 1, false, false, &f, 1); /* no pupil: ignored */
	CU_ASSERT_EQUAL(c.count, 0);
	statecache_free(&c);
}

static void test_civil_days_and_dates_round_trip(void)
{
	/* 1900-01-01 .. 2200-12-31, every day: the two directions agree and
	 * consecutive days are consecutive dates */
	int64_t first = civil_days_from_date(1900, 1, 1), last = civil_days_from_date(2200, 12, 31);
	CU_ASSERT_EQUAL(first, -25567); /* worked out: 70 years, 17 leap days */
	CU_ASSERT_EQUAL(civil_days_from_date(1970, 1, 1), 0);
	CU_ASSERT_EQUAL(civil_days_from_date(2000, 3, 1), 11017);
	int bad = 0;
	for (int64_t z = first; z <= last; z++) {
		int64_t y;
		int m, d;
		civil_date_from_days(z, &y, &m, &d);
		if (!civil_date_is_valid(y, m, d) || civil_days_from_date(y, m, d) != z)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_FALSE(civil_date_is_valid(2100, 2, 29)); /* not a leap year */
	CU_ASSERT_TRUE(civil_date_is_valid(2000, 2, 29));
}

static void test_civil_year_of_unix_times(void)
{
	CU_ASSERT_EQUAL(civil_year_of(0), 1970);
	CU_ASSERT_EQUAL(civil_year_of(-1), 1969); /* 1969-12-31T23:59:59Z */
	CU_ASSERT_EQUAL(civil_year_of(1914451200), 2030);
	CU_ASSERT_EQUAL(civil_year_of(1924991999), 2030); /* 2030-12-31T23:59:59Z */
	CU_ASSERT_EQUAL(civil_year_of(1924992000), 2031);
	char buf[32];
	civil_format_iso(-1, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "1969-12-31T23:59:59Z");
}

static void test_utf8_valid_and_text(void)
{
	size_t bad = 99;
	CU_ASSERT_TRUE(utf8_valid("Zo\xc3\xab", 4, NULL)); /* Zoë */
	CU_ASSERT_FALSE(utf8_valid("ab\xc0\xaf", 4, &bad)); /* overlong '/' */
	CU_ASSERT_EQUAL(bad, 2);
	CU_ASSERT_FALSE(utf8_valid("\xed\xa0\x80", 3, NULL)); /* a surrogate */
	CU_ASSERT_FALSE(utf8_valid("\xf4\x90\x80\x80", 4, NULL)); /* above U+10FFFF */
	CU_ASSERT_TRUE(utf8_valid("a\0b", 3, NULL));  /* NUL is UTF-8 ... */
	CU_ASSERT_FALSE(utf8_is_text("a\0b", 3));     /* ... but not text */
	CU_ASSERT_FALSE(utf8_is_text("a\nb", 3));
	CU_ASSERT_FALSE(utf8_is_text("a\xc2\x85", 3)); /* C1 NEL */
	CU_ASSERT_TRUE(utf8_is_text("J\xc3\xb6rg \xe2\x82\xac", 9));
}

static void test_pupilcache_knows_what_was_put_and_starts_again_when_full(void)
{
	struct pupilcache c;
	pupilcache_init(&c, 1000);
	CU_ASSERT_EQUAL(pupilcache_key("123456782"), 123456782u);
	CU_ASSERT_EQUAL(pupilcache_key("12345678"), 0u);  /* too short */
	CU_ASSERT_EQUAL(pupilcache_key("1234567890"), 0u); /* too long */
	CU_ASSERT_EQUAL(pupilcache_key("12345678x"), 0u);
	CU_ASSERT_EQUAL(pupilcache_get(&c, 123456782u), 0);
	pupilcache_put(&c, 123456782u, 42);
	pupilcache_put(&c, 123456782u, 43); /* ids never change: the first stays */
	CU_ASSERT_EQUAL(pupilcache_get(&c, 123456782u), 42);
	pupilcache_put(&c, 0, 7);  /* no key */
	pupilcache_put(&c, 5, 0);  /* no id */
	CU_ASSERT_EQUAL(pupilcache_get(&c, 5), 0);
	for (uint32_t k = 1; k <= 100000; k++)
		pupilcache_put(&c, k, (int64_t)k + 1);
	CU_ASSERT(c.count <= 1000 + 1); /* bounded */
	CU_ASSERT_EQUAL(pupilcache_get(&c, 100000), 100001); /* the latest survive */
	pupilcache_free(&c);
}

static void test_sql_codes_expand_from_the_enums(void)
{
	char bad[64] = "";
	char *out = sqlcodes_expand("kind IN (@ALERT_ZOMERLEK@, @ALERT_OPGELOST@) AND status = @STATUS_BLIJFT_IN_VO@",
				    bad, sizeof bad);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, "kind IN (1, 5) AND status = 9"); /* DESIGN §4.2's numbers */
	free(out);
	out = sqlcodes_expand("e.kind = @EVENT_OVERSTAPPER_GEREGISTREERD@ AND x & @RECIPIENT_VO@", bad, sizeof bad);
	CU_ASSERT_STRING_EQUAL(out, "e.kind = 1 AND x & 2");
	free(out);
	/* at-signs that are no code stay as they are */
	out = sqlcodes_expand("a @> b, '@', 'x@y', @lower@", bad, sizeof bad);
	CU_ASSERT_STRING_EQUAL(out, "a @> b, '@', 'x@y', @lower@");
	free(out);
	CU_ASSERT_PTR_NULL(sqlcodes_expand("kind = @ALERT_ZOMERLEKK@", bad, sizeof bad));
	CU_ASSERT_STRING_EQUAL(bad, "@ALERT_ZOMERLEKK@");
	size_t n;
	const struct sql_code *all = sqlcodes_all(&n);
	CU_ASSERT(n >= 30);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(all[i].value > 0);
}

static void test_host_lists_turn_one_place_a_timeout(void)
{
	char out[64];
	CU_ASSERT_TRUE(store_turn_list("a,b,c", 0, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "a,b,c");
	CU_ASSERT_TRUE(store_turn_list("a,b,c", 1, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "b,c,a");
	CU_ASSERT_TRUE(store_turn_list("a,b,c", 2, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "c,a,b");
	CU_ASSERT_TRUE(store_turn_list("a,b,c", 3, out, sizeof out)); /* round again */
	CU_ASSERT_STRING_EQUAL(out, "a,b,c");
	CU_ASSERT_TRUE(store_turn_list("10.0.0.11,/var/run/postgresql", 1, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "/var/run/postgresql,10.0.0.11");
	CU_ASSERT_TRUE(store_turn_list("5432,,5433", 1, out, sizeof out)); /* an empty entry: libpq's default */
	CU_ASSERT_STRING_EQUAL(out, ",5433,5432");
	CU_ASSERT_TRUE(store_turn_list("only", 5, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "only");
	CU_ASSERT_TRUE(store_turn_list("", 1, out, sizeof out));
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_FALSE(store_turn_list("a,b,c", 1, out, 5)); /* does not fit */
}

static void register_suites(void)
{
	CU_pSuite s = CU_add_suite("clock", NULL, NULL);
	CU_add_test(s, "ISO times parse to unix seconds", test_iso_times_parse_to_unix_seconds);
	CU_add_test(s, "ISO format round-trips", test_iso_format_round_trips);
	CU_add_test(s, "manual clock moves only forward", test_manual_clock_moves_only_forward);
	CU_add_test(s, "civil days and dates round-trip", test_civil_days_and_dates_round_trip);
	CU_add_test(s, "civil year of unix times", test_civil_year_of_unix_times);
	CU_add_test(s, "UTF-8 valid and text", test_utf8_valid_and_text);
	s = CU_add_suite("store helpers", NULL, NULL);
	CU_add_test(s, "text arrays quote and escape", test_text_arrays_quote_and_escape);
	CU_add_test(s, "keymap finds what was put", test_keymap_finds_what_was_put);
	CU_add_test(s, "orgload keeps one entry per identity", test_orgload_keeps_one_entry_per_identity);
	CU_add_test(s, "SQL codes expand from the enums", test_sql_codes_expand_from_the_enums);
	CU_add_test(s, "host lists turn one place a connect timeout", test_host_lists_turn_one_place_a_timeout);
	CU_add_test(s, "pupil cache: put, get, bounded", test_pupilcache_knows_what_was_put_and_starts_again_when_full);
	CU_add_test(s, "state cache: put, get, replace", test_statecache_put_get_replace);
	CU_add_test(s, "state cache: forget a cohort, start again when full",
		    test_statecache_forgets_a_cohort_and_starts_again_when_full);
	s = CU_add_suite("stats arithmetic", NULL, NULL);
	CU_add_test(s, "percentages of overstappers", test_percentages_of_overstappers);
	CU_add_test(s, "empty group has zero percentages", test_empty_group_has_zero_percentages);
	CU_add_test(s, "percentages are not rounded", test_percentages_are_not_rounded);
	CU_add_test(s, "small cells below region are suppressed for non-admin",
		    test_small_cells_below_region_are_suppressed_for_non_admin);
	CU_add_test(s, "five is not a small cell", test_five_is_not_a_small_cell);
	CU_add_test(s, "admin and region rows are never suppressed", test_admin_and_region_rows_are_never_suppressed);
	CU_add_test(s, "secondary suppression leaves nothing to subtract", test_secondary_suppression_leaves_nothing_to_subtract);
}

int main(void)
{
	return cu_run(register_suites);
}
