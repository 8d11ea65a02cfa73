/* test_log.c — the log layer's records: logfmt, one line each, whatever the
 * values hold (a libpq error carries newlines), and the quoting of values. */
#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <string.h>

#include "cu_run.h"
#include "log.h"

/* 2030-09-01T00:00:00.250Z */
#define WALL_MS (1914451200LL * 1000 + 250)

static char rec[4096];

__attribute__((format(printf, 2, 3))) static const char *fmt(enum log_level level, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	log_format(rec, sizeof rec, WALL_MS, level, "store", f, ap);
	va_end(ap);
	return rec;
}

static void test_plain_fields_stay_bare(void)
{
	CU_ASSERT_STRING_EQUAL(fmt(LOG_INFO, "sweep=%s cohort=%u alerts=%d ms=%.1f", "zomer", 2031u, 37, 12.5),
			       "ts=2030-09-01T00:00:00.250Z level=info module=store sweep=zomer cohort=2031 alerts=37 "
			       "ms=12.5");
}

static void test_a_multi_line_database_error_is_one_quoted_value(void)
{
	const char *pqerr = "server closed the connection unexpectedly\n"
			    "\tThis probably means the server terminated abnormally\n"
			    "\tbefore or while processing the request.\n";
	const char *r = fmt(LOG_WARN, "lane=%s connection lost: %s", "ingest/0", pqerr);
	CU_ASSERT_PTR_NULL(strchr(r, '\n'));
	CU_ASSERT_STRING_EQUAL(r, "ts=2030-09-01T00:00:00.250Z level=warn module=store lane=ingest/0 "
				  "msg=\"connection lost: server closed the connection unexpectedly\\n\\tThis probably "
				  "means the server terminated abnormally\\n\\tbefore or while processing the request.\"");
}

static void test_a_value_with_spaces_and_quotes_is_quoted(void)
{
	CU_ASSERT_STRING_EQUAL(fmt(LOG_ERROR, "job=%s failed", "ERROR:  relation \"x\" does not exist"),
			       "ts=2030-09-01T00:00:00.250Z level=error module=store "
			       "job=\"ERROR:  relation \\\"x\\\" does not exist\" msg=failed");
}

static void test_an_empty_value_is_two_quotes(void)
{
	CU_ASSERT_STRING_EQUAL(fmt(LOG_INFO, "org=%s", ""),
			       "ts=2030-09-01T00:00:00.250Z level=info module=store org=\"\"");
}

static void test_free_text_gathers_into_one_msg_in_place(void)
{
	CU_ASSERT_STRING_EQUAL(fmt(LOG_INFO, "released=%s leases of a previous run", "3"),
			       "ts=2030-09-01T00:00:00.250Z level=info module=store released=3 "
			       "msg=\"leases of a previous run\"");
	CU_ASSERT_STRING_EQUAL(fmt(LOG_WARN, "waiting for the database (retry in %ld ms): %s", 250L, "x"),
			       "ts=2030-09-01T00:00:00.250Z level=warn module=store "
			       "msg=\"waiting for the database (retry in 250 ms): x\"");
	CU_ASSERT_STRING_EQUAL(fmt(LOG_INFO, "stopped"), "ts=2030-09-01T00:00:00.250Z level=info module=store msg=stopped");
}

static void test_every_printf_conversion_keeps_its_argument(void)
{
	unsigned long long big = 18446744073709551615ULL;
	CU_ASSERT_STRING_EQUAL(fmt(LOG_DEBUG, "a=%llu b=%zu c=%lld d=%5.2f e=%c f=%% g=%x h=%.*s i=%-3d|",
				   big, (size_t)7, -5LL, 3.14159, 'Q', 255u, 3, "abcdef", 4),
			       "ts=2030-09-01T00:00:00.250Z level=debug module=store a=18446744073709551615 b=7 "
			       "c=-5 d=\" 3.14\" e=Q f=% g=ff h=abc i=\"4  |\"");
}

static void test_control_characters_and_bad_utf8_are_escaped(void)
{
	CU_ASSERT_STRING_EQUAL(fmt(LOG_INFO, "v=%s w=%s", "a\x01" "b\\c", "caf\xc3\xa9 \xff"),
			       "ts=2030-09-01T00:00:00.250Z level=info module=store v=\"a\\u0001b\\\\c\" "
			       "w=\"caf\xc3\xa9 \\xff\"");
}

static void test_a_record_too_long_is_cut_and_says_so(void)
{
	static char big[8000];
	memset(big, 'x', sizeof big - 1);
	char small[200];
	const char *r = fmt(LOG_INFO, "v=%s tail=1", big);
	CU_ASSERT_PTR_NULL(strchr(r, '\n'));
	size_t n = strlen(r);
	CU_ASSERT(n < sizeof rec);
	CU_ASSERT(n > 15 && strcmp(r + n - 15, " truncated=true") == 0);
	/* a short buffer: still a whole record (quotes closed) */
	CU_ASSERT_EQUAL(log_quote(small, sizeof small, "a b"), 5);
	CU_ASSERT_STRING_EQUAL(small, "\"a b\"");
	CU_ASSERT_EQUAL(log_quote(small, 6, "a b c d"), 9);
	CU_ASSERT_STRING_EQUAL(small, "\"a b\"");
}

static void test_log_quote_leaves_safe_values_alone(void)
{
	char out[64];
	CU_ASSERT_EQUAL(log_quote(out, sizeof out, "ingest/0"), 8);
	CU_ASSERT_STRING_EQUAL(out, "ingest/0");
	log_quote(out, sizeof out, "k=v");
	CU_ASSERT_STRING_EQUAL(out, "\"k=v\"");
	log_quote(out, sizeof out, "line\r\nnext");
	CU_ASSERT_STRING_EQUAL(out, "\"line\\r\\nnext\"");
}

static void test_targets_parse(void)
{
	enum log_target t;
	CU_ASSERT_TRUE(log_target_parse("journal", &t));
	CU_ASSERT_EQUAL(t, LOG_TARGET_JOURNAL);
	CU_ASSERT_TRUE(log_target_parse("stderr", &t));
	CU_ASSERT_EQUAL(t, LOG_TARGET_STDERR);
	CU_ASSERT_TRUE(log_target_parse("auto", &t));
	CU_ASSERT_EQUAL(t, LOG_TARGET_AUTO);
	CU_ASSERT_FALSE(log_target_parse("syslog", &t));
}

static const struct cu_test log_tests[] = {
	T(test_plain_fields_stay_bare),
	T(test_a_multi_line_database_error_is_one_quoted_value),
	T(test_a_value_with_spaces_and_quotes_is_quoted),
	T(test_an_empty_value_is_two_quotes),
	T(test_free_text_gathers_into_one_msg_in_place),
	T(test_every_printf_conversion_keeps_its_argument),
	T(test_control_characters_and_bad_utf8_are_escaped),
	T(test_a_record_too_long_is_cut_and_says_so),
	T(test_log_quote_leaves_safe_values_alone),
	T(test_targets_parse),
};

static void register_suites(void)
{
	ADD_TESTS("log", NULL, log_tests);
}

int main(void)
{
	return cu_run(register_suites);
}
