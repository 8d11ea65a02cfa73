/* test_fuzz_findings.c — one test per bug the fuzz targets of tests/fuzz found,
 * each worked out by hand from the crashing input (kept in the target's corpus
 * too, tests/fuzz/corpus/TARGET/found-*). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "cu_run.h"
#include "refdata.h"
#include "text.h"
#include "updcsv.h"

/* fuzz_updcsv: rows ended by a lone CR (old Mac "CSV") were all counted on
 * line 1, and a `;` header with a `,` further on made the file `,`-separated. */
static void test_csv_lone_cr_ends_a_line(void)
{
	const char text[] = "event_id;pgn;occurred_at;kind;cohort;name\r"
			    "e1;111222333;2031-01-01;1;2031;Vries, Sam\r"
			    "e2;111222333;2031-01-01;BOGUS;2031;Jansen, Ali\r";
	struct updcsv u;
	updcsv_init(&u);
	CU_ASSERT_FALSE(updcsv_parse(&u, text, sizeof text - 1));
	CU_ASSERT_EQUAL(u.delimiter, ';');
	CU_ASSERT_EQUAL_FATAL(u.n, 1);
	CU_ASSERT_STRING_EQUAL(u.updates[0]->name, "Vries, Sam");
	CU_ASSERT_EQUAL(u.lines[0], 2);
	CU_ASSERT_EQUAL_FATAL(u.n_errors, 1);
	CU_ASSERT_EQUAL(u.errors[0].line, 3);
	updcsv_free(&u);
}

static void test_csv_crlf_still_one_line_end(void)
{
	const char text[] = "event_id,pgn,occurred_at,kind,cohort\r\n\r\ne1,111222333,2031-01-01,BOGUS,2031\r\n";
	struct updcsv u;
	updcsv_init(&u);
	CU_ASSERT_FALSE(updcsv_parse(&u, text, sizeof text - 1));
	CU_ASSERT_EQUAL_FATAL(u.n_errors, 1);
	CU_ASSERT_EQUAL(u.errors[0].line, 3);
	updcsv_free(&u);
}

/* The same line counting in the reference data files. */
static void test_regions_lone_cr_ends_a_line(void)
{
	const char text[] = "code;naam\r01;Oost-Groningen\r1x;Nergens\r";
	struct refdata r;
	refdata_init(&r);
	CU_ASSERT_FALSE(refdata_parse_regions(&r, text, sizeof text - 1));
	CU_ASSERT_EQUAL(r.n_regions, 1);
	CU_ASSERT_EQUAL_FATAL(r.n_errors, 1);
	CU_ASSERT_EQUAL(r.errors[0].line, 3);
	refdata_free(&r);
}

static void test_line_length_lf_crlf_cr_and_none(void)
{
	CU_ASSERT_EQUAL(text_line_length("ab\ncd", 5), 3);
	CU_ASSERT_EQUAL(text_line_length("ab\r\ncd", 6), 4);
	CU_ASSERT_EQUAL(text_line_length("ab\rcd", 5), 3);
	CU_ASSERT_EQUAL(text_line_length("ab\r", 3), 3);
	CU_ASSERT_EQUAL(text_line_length("abcd", 4), 4);
	CU_ASSERT_EQUAL(text_line_length("\n", 1), 1);
	CU_ASSERT_EQUAL(text_line_length("", 0), 0);
}

static void register_suites(void)
{
	static const struct cu_test tests[] = {
		T(test_csv_lone_cr_ends_a_line),
		T(test_csv_crlf_still_one_line_end),
		T(test_regions_lone_cr_ends_a_line),
		T(test_line_length_lf_crlf_cr_and_none),
	};
	ADD_TESTS("fuzz_findings", NULL, tests);
}

int main(void)
{
	return cu_run(register_suites);
}
