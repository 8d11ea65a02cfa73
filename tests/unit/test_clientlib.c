/* test_clientlib.c — CUnit tests of clients/lib: the StatusUpdate CSV reader,
 * framing, wire names and times, UTF-8 and Windows-1252, tables, the
 * reference data files and the renderers. Expected values are worked out by
 * hand (times with an independent calendar computation), never taken from
 * the code under test.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "cu_run.h"
#include "frame.h"
#include "refdata.h"
#include "render.h"
#include "text.h"
#include "updcsv.h"
#include "wire.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct updcsv csv;

static bool parse(const char *text)
{
	updcsv_free(&csv);
	updcsv_init(&csv);
	return updcsv_parse(&csv, text, strlen(text));
}

/* Whether some error is on `line` and contains `needle`. */
static bool has_error(unsigned long line, const char *needle)
{
	for (size_t i = 0; i < csv.n_errors; i++)
		if (csv.errors[i].line == line && strstr(csv.errors[i].message, needle))
			return true;
	return false;
}

#define HEADER "event_id,pgn,occurred_at,kind,cohort,school\n"

/* ---- CSV: good rows ------------------------------------------------------------ */

static void test_csv_good_rows_fill_every_field(void)
{
	CU_ASSERT_TRUE(parse("event_id,pgn,occurred_at,kind,cohort,school,woongemeente,vo_soort,birth_date,name,"
			     "bestemming,crebo,mbo_instelling,niveau,leerweg,reason\n"
			     "e1,111222333,2031-04-01,OVERSTAPPER_GEREGISTREERD,2031,25LX00,GM0935,VMBO_KB,2014-03-04,"
			     "Sam de Vries,MBO,25180,25LP,2,BBL,omdat\n"));
	CU_ASSERT_EQUAL(csv.n, 1);
	CU_ASSERT_EQUAL(csv.total_errors, 0);
	Overstap__V1__StatusUpdate *u = csv.updates[0];
	CU_ASSERT_STRING_EQUAL(u->event_id, "e1");
	CU_ASSERT_STRING_EQUAL(u->pgn, "111222333");
	CU_ASSERT_EQUAL(u->occurred_at, 1932768000);
	CU_ASSERT_EQUAL(u->kind, 1);
	CU_ASSERT_EQUAL(u->cohort, 2031);
	CU_ASSERT_STRING_EQUAL(u->school, "25LX00");
	CU_ASSERT_STRING_EQUAL(u->woongemeente, "GM0935");
	CU_ASSERT_EQUAL(u->vo_soort, 2);
	CU_ASSERT_STRING_EQUAL(u->birth_date, "2014-03-04");
	CU_ASSERT_STRING_EQUAL(u->name, "Sam de Vries");
	CU_ASSERT_EQUAL(u->bestemming, 1);
	CU_ASSERT_STRING_EQUAL(u->crebo, "25180");
	CU_ASSERT_STRING_EQUAL(u->mbo_instelling, "25LP");
	CU_ASSERT_EQUAL(u->niveau, 2);
	CU_ASSERT_EQUAL(u->leerweg, 2);
	CU_ASSERT_STRING_EQUAL(u->reason, "omdat");
	CU_ASSERT_EQUAL(csv.lines[0], 2);
}

static void test_csv_columns_in_any_order_and_enums_by_any_name(void)
{
	CU_ASSERT_TRUE(parse("kind,cohort,event_id,occurred_at,pgn\n"
			     "AANGEMELD,2031,a,1931333400,111222333\n"
			     "event_kind_aangemeld,2031,b,2031-03-15T09:30:00Z,111222333\n"
			     "11,2031,c,2031-03-15T10:30:00+01:00,111222333\n"));
	CU_ASSERT_EQUAL(csv.n, 3);
	for (size_t i = 0; i < csv.n; i++) {
		CU_ASSERT_EQUAL(csv.updates[i]->kind, 11);
		CU_ASSERT_EQUAL(csv.updates[i]->occurred_at, 1931333400);
	}
}

static void test_csv_empty_optional_fields_are_defaults(void)
{
	CU_ASSERT_TRUE(parse(HEADER "e1,111222333,0,2,2031,\n"));
	CU_ASSERT_EQUAL(csv.n, 1);
	CU_ASSERT_STRING_EQUAL(csv.updates[0]->school, "");
	CU_ASSERT_EQUAL(csv.updates[0]->occurred_at, 0);
}

static void test_csv_quoting_keeps_commas_and_quotes(void)
{
	CU_ASSERT_TRUE(parse("event_id,pgn,occurred_at,kind,cohort,name\n"
			     "e1,111222333,2031-01-01,1,2031,\"Vries, Sam \"\"de\"\"\"\n"));
	CU_ASSERT_EQUAL(csv.n, 1);
	CU_ASSERT_STRING_EQUAL(csv.updates[0]->name, "Vries, Sam \"de\"");
}

static void test_csv_bom_and_crlf_are_accepted(void)
{
	CU_ASSERT_TRUE(parse("\xef\xbb\xbf" "event_id,pgn,occurred_at,kind,cohort\r\n"
			     "e1,111222333,2031-01-01,1,2031\r\n"
			     "e2,111222333,2031-01-01,1,2031\r\n"));
	CU_ASSERT_EQUAL(csv.n, 2);
	CU_ASSERT_STRING_EQUAL(csv.updates[0]->event_id, "e1");
	CU_ASSERT_EQUAL(csv.updates[1]->cohort, 2031);
	CU_ASSERT_EQUAL(csv.lines[1], 3);
}

static void test_csv_semicolon_header_switches_delimiter(void)
{
	CU_ASSERT_TRUE(parse("event_id;pgn;occurred_at;kind;cohort;name\n"
			     "e1;111222333;2031-01-01;1;2031;Vries, Sam\n"));
	CU_ASSERT_EQUAL(csv.delimiter, ';');
	CU_ASSERT_STRING_EQUAL(csv.updates[0]->name, "Vries, Sam");
}

static void test_csv_blank_lines_are_skipped_and_lines_still_counted(void)
{
	CU_ASSERT_FALSE(parse(HEADER "\n"
				     "e1,111222333,2031-01-01,1,2031,25LX00\n"
				     "\n"
				     "e2,111222333,2031-01-01,BOGUS,2031,25LX00\n"));
	CU_ASSERT_EQUAL(csv.n, 1);
	CU_ASSERT_EQUAL(csv.lines[0], 3);
	CU_ASSERT_TRUE(has_error(5, "kind: unknown value 'BOGUS'"));
}

static void test_csv_header_only_is_no_updates_and_no_error(void)
{
	CU_ASSERT_TRUE(parse(HEADER));
	CU_ASSERT_EQUAL(csv.n, 0);
}

/* ---- CSV: bad rows, each reported with its line -------------------------------------- */

static void test_csv_unknown_enum_name(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,AANGEMELDX,2031,25LP\n"));
	CU_ASSERT_TRUE(has_error(2, "kind: unknown value 'AANGEMELDX'"));
	CU_ASSERT_EQUAL(csv.n, 0);
}

static void test_csv_enum_number_outside_the_enum(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,7,2031,25LP\n"));
	CU_ASSERT_TRUE(has_error(2, "kind: unknown value '7'"));
}

static void test_csv_bad_time(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-02-29,1,2031,25LX00\n"
				     "e2,111222333,gisteren,1,2031,25LX00\n"));
	CU_ASSERT_TRUE(has_error(2, "occurred_at"));
	CU_ASSERT_TRUE(has_error(3, "occurred_at: 'gisteren'"));
}

static void test_csv_bad_number(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,1,20x1,25LX00\n"
				     "e2,111222333,2031-01-01,1,-2031,25LX00\n"
				     "e3,111222333,2031-01-01,1,4294967296,25LX00\n"));
	CU_ASSERT_TRUE(has_error(2, "cohort: '20x1' is not a whole number"));
	CU_ASSERT_TRUE(has_error(3, "cohort"));
	CU_ASSERT_TRUE(has_error(4, "cohort"));
}

static void test_csv_wrong_field_count(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,1,2031\n"
				     "e2,111222333,2031-01-01,1,2031,25LX00,extra\n"));
	CU_ASSERT_TRUE(has_error(2, "5 fields, the header has 6"));
	CU_ASSERT_TRUE(has_error(3, "7 fields, the header has 6"));
}

static void test_csv_required_value_empty(void)
{
	CU_ASSERT_FALSE(parse(HEADER ",111222333,2031-01-01,1,2031,25LX00\n"));
	CU_ASSERT_TRUE(has_error(2, "event_id: empty"));
}

static void test_csv_duplicate_event_id(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,1,2031,25LX00\n"
				     "e1,111222333,2031-01-02,1,2031,25LX00\n"));
	CU_ASSERT_TRUE(has_error(3, "event_id 'e1' is already used on line 2"));
	CU_ASSERT_EQUAL(csv.n, 1);
}

static void test_csv_event_id_too_long(void)
{
	char text[512];
	snprintf(text, sizeof text, HEADER "%065d,111222333,2031-01-01,1,2031,25LX00\n", 1);
	CU_ASSERT_FALSE(parse(text));
	CU_ASSERT_TRUE(has_error(2, "event_id: 65 bytes, at most 64"));
}

static void test_csv_invalid_utf8_value(void)
{
	CU_ASSERT_FALSE(parse("event_id,pgn,occurred_at,kind,cohort,name\n"
			      "e1,111222333,2031-01-01,1,2031,Jos\xe9\n"));
	CU_ASSERT_TRUE(has_error(2, "name: not valid UTF-8 (byte 4)"));
}

static void test_csv_control_character_in_quoted_value(void)
{
	CU_ASSERT_FALSE(parse("event_id,pgn,occurred_at,kind,cohort,reason\n"
			      "e1,111222333,2031-01-01,1,2031,\"two\nlines\"\n"));
	CU_ASSERT_TRUE(has_error(2, "reason: control character \\x0a"));
}

static void test_csv_nul_byte(void)
{
	static const char text[] = HEADER "e1,111222333,2031-01-01,1,2031,25L\0X00\n";
	updcsv_free(&csv);
	updcsv_init(&csv);
	CU_ASSERT_FALSE(updcsv_parse(&csv, text, sizeof text - 1));
	CU_ASSERT_TRUE(has_error(2, "NUL"));
}

static void test_csv_unclosed_quote(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,2031-01-01,1,2031,25LX00\n"
				     "\"e2,111222333,2031-01-01,1,2031,25LX00\n"));
	CU_ASSERT_TRUE(has_error(3, "not closed"));
}

static void test_csv_quote_inside_unquoted_field(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e\"1,111222333,2031-01-01,1,2031,25LX00\n"));
	CU_ASSERT_TRUE(has_error(2, "malformed CSV"));
}

static void test_csv_unknown_and_duplicate_and_missing_columns(void)
{
	CU_ASSERT_FALSE(parse("event_id,pgn,occurred_at,kind,kind,leeftijd\n"));
	CU_ASSERT_TRUE(has_error(1, "'leeftijd' is not a StatusUpdate field"));
	CU_ASSERT_TRUE(has_error(1, "column 'kind' appears twice"));
	CU_ASSERT_TRUE(has_error(1, "required column 'cohort' is missing"));
}

static void test_csv_empty_file(void)
{
	CU_ASSERT_FALSE(parse(""));
	CU_ASSERT_TRUE(has_error(1, "empty"));
}

static void test_csv_every_bad_row_is_reported_not_just_the_first(void)
{
	CU_ASSERT_FALSE(parse(HEADER "e1,111222333,x,1,2031,25LX00\n"
				     "e2,111222333,2031-01-01,1,2031,25LX00\n"
				     "e3,111222333,2031-01-01,X,2031,25LX00\n"));
	CU_ASSERT_EQUAL(csv.total_errors, 2);
	CU_ASSERT_TRUE(has_error(2, "occurred_at"));
	CU_ASSERT_TRUE(has_error(4, "kind"));
}

/* ---- framing ----------------------------------------------------------------------- */

static size_t make_frame(uint64_t seq, uint8_t *out, size_t cap)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Ping ping = OVERSTAP__V1__PING__INIT;
	ping.t = 42;
	env.seq = seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PING;
	env.ping = &ping;
	uint8_t *buf;
	size_t len;
	if (!frame_pack_envelope(&env, &buf, &len) || len > cap)
		return 0;
	memcpy(out, buf, len);
	free(buf);
	return len;
}

static void test_frame_partial_header_and_body_need_more(void)
{
	uint8_t buf[64];
	size_t len = make_frame(7, buf, sizeof buf), used;
	Overstap__V1__Envelope *env;
	CU_ASSERT_TRUE(len > 4);
	CU_ASSERT_EQUAL(client_frame_parse(buf, 3, 1024, &used, NULL, &env), CLIENT_FRAME_NEED_MORE);
	CU_ASSERT_EQUAL(client_frame_parse(buf, len - 1, 1024, &used, NULL, &env), CLIENT_FRAME_NEED_MORE);
	CU_ASSERT_PTR_NULL(env);
}

static void test_frame_whole_and_back_to_back(void)
{
	uint8_t buf[128];
	size_t a = make_frame(7, buf, sizeof buf);
	size_t b = make_frame(8, buf + a, sizeof buf - a);
	size_t used;
	Overstap__V1__Envelope *env;
	CU_ASSERT_EQUAL(client_frame_parse(buf, a + b, 1024, &used, NULL, &env), CLIENT_FRAME_OK);
	CU_ASSERT_EQUAL(used, a);
	CU_ASSERT_EQUAL(env->seq, 7);
	CU_ASSERT_EQUAL(env->body_case, OVERSTAP__V1__ENVELOPE__BODY_PING);
	CU_ASSERT_EQUAL(env->ping->t, 42);
	overstap__v1__envelope__free_unpacked(env, NULL);
	CU_ASSERT_EQUAL(client_frame_parse(buf + used, b, 1024, &used, NULL, &env), CLIENT_FRAME_OK);
	CU_ASSERT_EQUAL(env->seq, 8);
	overstap__v1__envelope__free_unpacked(env, NULL);
}

static void test_frame_zero_and_oversized_lengths_are_refused(void)
{
	uint8_t zero[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };
	uint8_t big[4] = { 0x00, 0x40, 0x00, 0x01 }; /* 4 MiB + 1 */
	size_t used;
	uint32_t flen = 0;
	Overstap__V1__Envelope *env;
	CU_ASSERT_EQUAL(client_frame_parse(zero, sizeof zero, 4u << 20, &used, &flen, &env), CLIENT_FRAME_BAD_LENGTH);
	CU_ASSERT_EQUAL(flen, 0);
	CU_ASSERT_EQUAL(client_frame_parse(big, sizeof big, 4u << 20, &used, &flen, &env), CLIENT_FRAME_BAD_LENGTH);
	CU_ASSERT_EQUAL(flen, (4u << 20) + 1);
}

static void test_frame_undecodable_body(void)
{
	/* field 1 as a length-delimited field whose length runs past the end */
	uint8_t buf[] = { 0, 0, 0, 3, 0x0a, 0x7f, 0x01 };
	size_t used;
	Overstap__V1__Envelope *env;
	CU_ASSERT_EQUAL(client_frame_parse(buf, sizeof buf, 1024, &used, NULL, &env), CLIENT_FRAME_UNDECODABLE);
	CU_ASSERT_PTR_NULL(env);
}

/* ---- names -------------------------------------------------------------------------- */

static void test_names_from_the_contract(void)
{
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_KIND, 11), "AANGEMELD");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_KIND, 17), "MBO_UITGESCHREVEN");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_STATUS, 7), "ZONDER_PLEK");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_ALERT_KIND, 1), "ZOMERLEK");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_VO_SOORT, 2), "VMBO_KB");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_LEERWEG, 2), "BBL");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_BESTEMMING, 6), "ANDERS");
	CU_ASSERT_STRING_EQUAL(wire_enum_name(WIRE_ENUM_RESULT, 2), "DUPLICATE");
	CU_ASSERT_PTR_NULL(wire_enum_name(WIRE_ENUM_KIND, 7));
	CU_ASSERT_STRING_EQUAL(wire_enum_label(WIRE_ENUM_KIND, 99), "UNKNOWN(99)");
}

static void test_names_parse_short_full_lowercase_and_number(void)
{
	int v = -1;
	CU_ASSERT_TRUE(wire_enum_parse(WIRE_ENUM_KIND, "INGESCHREVEN", &v));
	CU_ASSERT_EQUAL(v, 15);
	CU_ASSERT_TRUE(wire_enum_parse(WIRE_ENUM_KIND, "EVENT_KIND_NIET_GESTART", &v));
	CU_ASSERT_EQUAL(v, 16);
	CU_ASSERT_TRUE(wire_enum_parse(WIRE_ENUM_VO_SOORT, "vmbo_tl", &v));
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_TRUE(wire_enum_parse(WIRE_ENUM_LEERWEG, "1", &v));
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_FALSE(wire_enum_parse(WIRE_ENUM_LEERWEG, "3", &v));
	CU_ASSERT_FALSE(wire_enum_parse(WIRE_ENUM_LEERWEG, "BOL ", &v));
	CU_ASSERT_FALSE(wire_enum_parse(WIRE_ENUM_KIND, "STATUS_AANGEMELD", &v));
	CU_ASSERT_FALSE(wire_enum_parse(WIRE_ENUM_KIND, "", &v));
}

static void test_group_by_names(void)
{
	int v = 0;
	CU_ASSERT_TRUE(wire_group_by_parse("vo_school", &v));
	CU_ASSERT_EQUAL(v, 2);
	CU_ASSERT_TRUE(wire_group_by_parse("mbo_instelling", &v));
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_FALSE(wire_group_by_parse("school", &v));
	CU_ASSERT_FALSE(wire_group_by_parse("unspecified", &v));
	CU_ASSERT_STRING_EQUAL(wire_group_by_name(5), "vo_soort");
}

/* ---- times ----------------------------------------------------------------------------- */

static void test_time_forms(void)
{
	int64_t t = 0;
	CU_ASSERT_TRUE(wire_time_parse("2031-04-01", &t));
	CU_ASSERT_EQUAL(t, 1932768000);
	CU_ASSERT_TRUE(wire_time_parse("2031-04-01T02:00:00+02:00", &t));
	CU_ASSERT_EQUAL(t, 1932768000);
	CU_ASSERT_TRUE(wire_time_parse("2031-03-31T22:00-0200", &t));
	CU_ASSERT_EQUAL(t, 1932768000);
	CU_ASSERT_TRUE(wire_time_parse("2031-03-15 09:30:00.750Z", &t));
	CU_ASSERT_EQUAL(t, 1931333400);
	CU_ASSERT_TRUE(wire_time_parse("2031-03-15T09:30", &t));
	CU_ASSERT_EQUAL(t, 1931333400);
	CU_ASSERT_TRUE(wire_time_parse("2000-02-29", &t));
	CU_ASSERT_EQUAL(t, 951782400);
	CU_ASSERT_TRUE(wire_time_parse("1931333400", &t));
	CU_ASSERT_EQUAL(t, 1931333400);
	CU_ASSERT_TRUE(wire_time_parse("0", &t));
	CU_ASSERT_EQUAL(t, 0);
}

static void test_time_refuses_what_is_not_a_moment(void)
{
	int64_t t;
	static const char *const bad[] = { "", "2031-02-29", "2031-13-01", "2031-04-01T25:00", "2031-04-01T10",
					   "2031-04-01X", "2031-4-1", "2031-04-01T10:00:00+15:00", "-5",
					   "1234567890123", "2031-04-01T10:00:00.", "2031-04-01 " };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_FALSE(wire_time_parse(bad[i], &t));
}

static void test_time_format(void)
{
	char buf[32];
	wire_time_format(1932768000, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "2031-04-01T00:00:00Z");
	CU_ASSERT_TRUE(wire_date_valid("2028-02-29"));
	CU_ASSERT_FALSE(wire_date_valid("2100-02-29"));
}

/* ---- UTF-8 and Windows-1252 -------------------------------------------------------------- */

static void test_utf8_valid_and_invalid(void)
{
	size_t at = 99;
	static const char ok[] = "Frysl\xc3\xa2n \xe2\x82\xac \xf0\x9f\x98\x80";
	CU_ASSERT_TRUE(utf8_valid(ok, sizeof ok - 1, NULL));
	CU_ASSERT_FALSE(utf8_valid("ab\xc0\xaf", 4, &at)); /* overlong '/' */
	CU_ASSERT_EQUAL(at, 2);
	CU_ASSERT_FALSE(utf8_valid("\xed\xa0\x80", 3, NULL)); /* surrogate */
	CU_ASSERT_FALSE(utf8_valid("\xf4\x90\x80\x80", 4, NULL)); /* above U+10FFFF */
	CU_ASSERT_FALSE(utf8_valid("x\xc3", 2, &at)); /* cut short */
	CU_ASSERT_EQUAL(at, 1);
	CU_ASSERT_FALSE(utf8_valid("\xe9t\xe9", 3, &at)); /* Latin-1 */
	CU_ASSERT_EQUAL(at, 0);
}

static void test_cp1252_to_utf8(void)
{
	size_t len = 0;
	static const char in[] = "\x80 caf\xe9 \x93x\x94";
	char *s = text_cp1252_to_utf8(in, sizeof in - 1, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "\xe2\x82\xac caf\xc3\xa9 \xe2\x80\x9cx\xe2\x80\x9d");
	CU_ASSERT_EQUAL(len, strlen(s));
	free(s);
}

static void test_to_utf8_keeps_utf8_drops_bom_converts_cp1252(void)
{
	bool converted = true;
	size_t len;
	char *s = text_to_utf8("\xef\xbb\xbf" "Frysl\xc3\xa2n", 11, &len, &converted);
	CU_ASSERT_STRING_EQUAL(s, "Frysl\xc3\xa2n");
	CU_ASSERT_FALSE(converted);
	free(s);
	s = text_to_utf8("Frysl\xe2n", 7, &len, &converted);
	CU_ASSERT_STRING_EQUAL(s, "Frysl\xc3\xa2n");
	CU_ASSERT_TRUE(converted);
	free(s);
}

static void test_csv_file_in_cp1252_is_converted(void)
{
	char path[] = "/tmp/test_clientlib_XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	const char text[] = "event_id;pgn;occurred_at;kind;cohort;name\ne1;111222333;2031-01-01;1;2031;Jos\xe9\n";
	CU_ASSERT_EQUAL(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	updcsv_free(&csv);
	updcsv_init(&csv);
	char err[256];
	CU_ASSERT_TRUE(updcsv_read_file(&csv, path, err, sizeof err));
	unlink(path);
	CU_ASSERT_EQUAL(csv.total_errors, 0);
	CU_ASSERT_TRUE(csv.converted);
	CU_ASSERT_EQUAL_FATAL(csv.n, 1);
	CU_ASSERT_STRING_EQUAL(csv.updates[0]->name, "Jos\xc3\xa9");
}

/* ---- tables -------------------------------------------------------------------------------- */

static char *print_table(const struct table *t)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	table_print(t, f);
	fclose(f);
	return out;
}

static void test_table_aligns_by_characters_not_bytes(void)
{
	static const char *const header[] = { "key", "naam", "n" };
	static const enum table_align align[] = { TABLE_LEFT, TABLE_LEFT, TABLE_RIGHT };
	struct table t;
	CU_ASSERT_TRUE_FATAL(table_init(&t, 3, header, align));
	const char *r1[] = { "25LX00", "Fryslân", "7" };
	const char *r2[] = { "02FC", "Ulft", "120" };
	table_add_row(&t, r1);
	table_add_row(&t, r2);
	char *s = print_table(&t);
	CU_ASSERT_STRING_EQUAL(s, "key     naam       n\n"
				  "--------------------\n"
				  "25LX00  Fryslân    7\n"
				  "02FC    Ulft     120\n");
	free(s);
	table_free(&t);
}

static void test_table_has_no_trailing_blanks(void)
{
	static const char *const header[] = { "a", "b" };
	struct table t;
	CU_ASSERT_TRUE_FATAL(table_init(&t, 2, header, NULL));
	const char *r1[] = { "long value", "" };
	table_add_row(&t, r1);
	char *s = print_table(&t);
	CU_ASSERT_STRING_EQUAL(s, "a           b\n"
				  "-------------\n"
				  "long value\n");
	free(s);
	table_free(&t);
}

/* ---- reference data ---------------------------------------------------------------------------- */

static void test_regions_file(void)
{
	struct refdata r;
	refdata_init(&r);
	const char text[] = "code;naam\n01;Oost-Groningen\nMC39;Gewest Zuid-Limburg\n7;Noord- en Midden-Drenthe\n";
	CU_ASSERT_TRUE(refdata_parse_regions(&r, text, sizeof text - 1));
	CU_ASSERT_EQUAL_FATAL(r.n_regions, 3);
	CU_ASSERT_STRING_EQUAL(r.regions[1].code, "39");
	CU_ASSERT_STRING_EQUAL(r.regions[2].code, "07");
	CU_ASSERT_STRING_EQUAL(r.regions[2].naam, "Noord- en Midden-Drenthe");
	refdata_free(&r);
	const char bad[] = "code;naam\n1x;Nergens\n02;\n";
	CU_ASSERT_FALSE(refdata_parse_regions(&r, bad, sizeof bad - 1));
	CU_ASSERT_EQUAL(r.total_errors, 2);
	CU_ASSERT_EQUAL(r.errors[0].line, 2);
	CU_ASSERT_EQUAL(r.errors[1].line, 3);
	refdata_free(&r);
}

#define DUO_HEADER "PROVINCIE;BRIN NUMMER;INSTELLINGSNAAM;GEMEENTENUMMER;GEMEENTENAAM;ONDERWIJSSTRUCTUUR;RMC-REGIO CODE;RMC-REGIO NAAM\n"

static void test_duo_file_gives_schools_gemeenten_regions(void)
{
	struct refdata r;
	refdata_init(&r);
	const char text[] = DUO_HEADER
		"Friesland;19EO;\"VMBO \"\"De Jutter\"\" Vlieland\";0096;VLIELAND;MAVO;04;Frysl\xe2n\n"
		"Limburg;26HL;Terra Nigra;917;HEERLEN;VMBO;39;Zuid-Limburg\n"
		"Limburg;25LY;Sint-Janscollege;0917;HEERLEN;HAVO/VWO;39;Zuid-Limburg\n";
	CU_ASSERT_TRUE(refdata_parse_duo_vo(&r, text, sizeof text - 1));
	CU_ASSERT_TRUE(r.converted);
	CU_ASSERT_EQUAL_FATAL(r.n_schools, 3);
	CU_ASSERT_STRING_EQUAL(r.schools[0].code, "19EO00");
	CU_ASSERT_STRING_EQUAL(r.schools[0].brin, "19EO");
	CU_ASSERT_STRING_EQUAL(r.schools[0].naam, "VMBO \"De Jutter\" Vlieland");
	CU_ASSERT_STRING_EQUAL(r.schools[0].gemeente, "GM0096");
	CU_ASSERT_STRING_EQUAL(r.schools[1].gemeente, "GM0917");
	CU_ASSERT_EQUAL_FATAL(r.n_gemeenten, 2);
	CU_ASSERT_STRING_EQUAL(r.gemeenten[1].region, "39");
	CU_ASSERT_EQUAL_FATAL(r.n_regions, 2);
	CU_ASSERT_STRING_EQUAL(r.regions[0].naam, "Frysl\xc3\xa2n");
	refdata_free(&r);
}

static void test_duo_file_refuses_bad_rows_and_conflicts(void)
{
	struct refdata r;
	refdata_init(&r);
	const char text[] = DUO_HEADER "Limburg;2X6L;A;0917;HEERLEN;VMBO;39;Z\n"
				       "Limburg;26HL;B;0917;HEERLEN;VMBO;39;Z\n"
				       "Limburg;26HL;C;0917;HEERLEN;VMBO;39;Z\n"
				       "Limburg;25LY;D;0917;HEERLEN;VMBO;38;Z\n";
	CU_ASSERT_FALSE(refdata_parse_duo_vo(&r, text, sizeof text - 1));
	CU_ASSERT_EQUAL(r.total_errors, 3);
	CU_ASSERT_EQUAL(r.errors[0].line, 2);
	CU_ASSERT_EQUAL(r.errors[1].line, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.errors[1].message, "already on line 3"));
	CU_ASSERT_EQUAL(r.errors[2].line, 5);
	refdata_free(&r);
	const char missing[] = "BRIN NUMMER;INSTELLINGSNAAM\n26HL;B\n";
	CU_ASSERT_FALSE(refdata_parse_duo_vo(&r, missing, sizeof missing - 1));
	CU_ASSERT_EQUAL(r.total_errors, 3); /* GEMEENTENUMMER, GEMEENTENAAM, RMC-REGIO CODE */
	refdata_free(&r);
}

static void test_codes_normalised(void)
{
	char region[3], gm[7];
	CU_ASSERT_TRUE(refdata_region_code("MC39", region));
	CU_ASSERT_STRING_EQUAL(region, "39");
	CU_ASSERT_FALSE(refdata_region_code("00", region));
	CU_ASSERT_FALSE(refdata_region_code("100", region));
	CU_ASSERT_TRUE(refdata_gemeente_code("268", gm));
	CU_ASSERT_STRING_EQUAL(gm, "GM0268");
	CU_ASSERT_TRUE(refdata_gemeente_code("GM0935", gm));
	CU_ASSERT_STRING_EQUAL(gm, "GM0935");
	CU_ASSERT_FALSE(refdata_gemeente_code("GM12345", gm));
}

/* ---- renderers ------------------------------------------------------------------------------------ */

static void test_alert_line_is_one_line_with_escapes(void)
{
	Overstap__V1__Alert a = OVERSTAP__V1__ALERT__INIT;
	a.alert_id = 17;
	a.kind = OVERSTAP__V1__ALERT_KIND__ALERT_KIND_ZOMERLEK;
	a.cohort = 2031;
	a.pgn = "111222333";
	a.name = "Sam \"S\"\nde Vries";
	a.raised_at = 1932768000;
	char *line = render_alert_line(&a);
	CU_ASSERT_STRING_EQUAL(line, "17 ZOMERLEK cohort=2031 pgn=111222333 name=\"Sam \\\"S\\\"\\nde Vries\" "
				     "raised_at=2031-04-01T00:00:00Z");
	free(line);
}

static void test_alert_json_uses_proto_names(void)
{
	Overstap__V1__Alert a = OVERSTAP__V1__ALERT__INIT;
	a.alert_id = 3;
	a.kind = OVERSTAP__V1__ALERT_KIND__ALERT_KIND_ESCALATIE;
	a.region = "39";
	a.escalated_alert_id = 2;
	json_t *j = render_alert_json(&a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "kind")), "ESCALATIE");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "escalated_alert_id")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "pgn")), "");
	json_decref(j);
}

static void test_gap_and_pct_formatting(void)
{
	char buf[16];
	render_gap(-0.04, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "+0.0");
	render_gap(-1.25, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "-1.3");
	render_gap(2, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "+2.0");
	render_pct(97.46, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "97.5");
}

static void test_stats_csv_quotes_labels_and_leaves_suppressed_empty(void)
{
	Overstap__V1__StatsRow row = OVERSTAP__V1__STATS_ROW__INIT, small = OVERSTAP__V1__STATS_ROW__INIT;
	row.key = "25LX00";
	row.label = "Het \"College\", Weert";
	row.overstappers = 4;
	row.met_keuze = 3;
	row.in_beeld_pct = 75;
	small.key = "26HL00";
	small.label = "Klein";
	small.suppressed = true;
	Overstap__V1__StatsRow *rows[] = { &row, &small };
	Overstap__V1__Targets t = OVERSTAP__V1__TARGETS__INIT;
	t.in_beeld_pct = 98;
	t.definitief_pct = 98;
	t.ddd_pct = 97;
	Overstap__V1__StatsReply r = OVERSTAP__V1__STATS_REPLY__INIT;
	r.n_rows = 2;
	r.rows = rows;
	r.targets = &t;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	render_stats_csv(&r, f);
	fclose(f);
	const char *second = strchr(out, '\n') + 1;
	CU_ASSERT_NSTRING_EQUAL(second,
				"25LX00,\"Het \"\"College\"\", Weert\",4,3,0,0,0,0,0,0,0,0,75.00,98.00,-23.00,0.00,98.00,"
				"-98.00,0.00,97.00,-97.00,false\n",
				strlen("25LX00,\"Het \"\"College\"\", Weert\",4,3,0,0,0,0,0,0,0,0,75.00,98.00,-23.00,0.00,98.00,"
				       "-98.00,0.00,97.00,-97.00,false\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "26HL00,Klein,0,0,0,0,0,0,0,0,0,0,,98.00,,,98.00,,,97.00,,true\n"));
	free(out);
}

/* ---- options ---------------------------------------------------------------------------------------- */

static void test_connection_options_from_environment_and_flags(void)
{
	setenv("OVERSTAP_HOST", "overstap.example", 1);
	setenv("OVERSTAP_PORT", "7443", 1);
	setenv("OVERSTAP_CA", "/etc/ca.crt", 1);
	struct client_opts o;
	client_opts_init(&o, "test");
	CU_ASSERT_STRING_EQUAL(o.host, "overstap.example");
	CU_ASSERT_EQUAL(o.port, 7443);
	CU_ASSERT_STRING_EQUAL(o.ca, "/etc/ca.crt");
	char err[256];
	CU_ASSERT_EQUAL(client_opts_apply(&o, CLIENT_OPT_PORT, "8443", err, sizeof err), 1);
	CU_ASSERT_EQUAL(o.port, 8443);
	CU_ASSERT_EQUAL(client_opts_apply(&o, CLIENT_OPT_PORT, "0", err, sizeof err), -1);
	CU_ASSERT_EQUAL(client_opts_apply(&o, CLIENT_OPT_PORT, "12ab", err, sizeof err), -1);
	CU_ASSERT_EQUAL(client_opts_apply(&o, 'x', "1", err, sizeof err), 0);
	CU_ASSERT_FALSE(client_opts_check(&o, err, sizeof err)); /* no certificate */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "OVERSTAP_CERT"));
	unsetenv("OVERSTAP_HOST");
	unsetenv("OVERSTAP_PORT");
	unsetenv("OVERSTAP_CA");
}

/* ---- registration ---------------------------------------------------------------------------------- */

static void register_suites(void)
{
	static const struct cu_test csv_tests[] = {
		T(test_csv_good_rows_fill_every_field),
		T(test_csv_columns_in_any_order_and_enums_by_any_name),
		T(test_csv_empty_optional_fields_are_defaults),
		T(test_csv_quoting_keeps_commas_and_quotes),
		T(test_csv_bom_and_crlf_are_accepted),
		T(test_csv_semicolon_header_switches_delimiter),
		T(test_csv_blank_lines_are_skipped_and_lines_still_counted),
		T(test_csv_header_only_is_no_updates_and_no_error),
		T(test_csv_unknown_enum_name),
		T(test_csv_enum_number_outside_the_enum),
		T(test_csv_bad_time),
		T(test_csv_bad_number),
		T(test_csv_wrong_field_count),
		T(test_csv_required_value_empty),
		T(test_csv_duplicate_event_id),
		T(test_csv_event_id_too_long),
		T(test_csv_invalid_utf8_value),
		T(test_csv_control_character_in_quoted_value),
		T(test_csv_nul_byte),
		T(test_csv_unclosed_quote),
		T(test_csv_quote_inside_unquoted_field),
		T(test_csv_unknown_and_duplicate_and_missing_columns),
		T(test_csv_empty_file),
		T(test_csv_every_bad_row_is_reported_not_just_the_first),
		T(test_csv_file_in_cp1252_is_converted),
	}, other_tests[] = {
		T(test_frame_partial_header_and_body_need_more),
		T(test_frame_whole_and_back_to_back),
		T(test_frame_zero_and_oversized_lengths_are_refused),
		T(test_frame_undecodable_body),
		T(test_names_from_the_contract),
		T(test_names_parse_short_full_lowercase_and_number),
		T(test_group_by_names),
		T(test_time_forms),
		T(test_time_refuses_what_is_not_a_moment),
		T(test_time_format),
		T(test_utf8_valid_and_invalid),
		T(test_cp1252_to_utf8),
		T(test_to_utf8_keeps_utf8_drops_bom_converts_cp1252),
		T(test_table_aligns_by_characters_not_bytes),
		T(test_table_has_no_trailing_blanks),
		T(test_regions_file),
		T(test_duo_file_gives_schools_gemeenten_regions),
		T(test_duo_file_refuses_bad_rows_and_conflicts),
		T(test_codes_normalised),
		T(test_alert_line_is_one_line_with_escapes),
		T(test_alert_json_uses_proto_names),
		T(test_gap_and_pct_formatting),
		T(test_stats_csv_quotes_labels_and_leaves_suppressed_empty),
		T(test_connection_options_from_environment_and_flags),
	};
	ADD_TESTS("clientlib_csv", NULL, csv_tests);
	ADD_TESTS("clientlib", NULL, other_tests);
}

int main(void)
{
	updcsv_init(&csv);
	int rc = cu_run(register_suites);
	updcsv_free(&csv);
	return rc;
}
