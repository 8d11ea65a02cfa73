/* fuzz_duo.c — libFuzzer target: the reference data files of clients/lib
 * (refdata.c), what `overstapctl import-regions` and `import-duo-vo` read.
 *
 * The same bytes go through both parsers, the regions file (`code;naam`) and
 * DUO's "hoofdvestigingen vo", each into a fresh struct refdata. For each:
 *   - true exactly when no error; n_errors <= total_errors and the cap; every
 *     error's line is one the file has (LF, CRLF and a lone CR end a line);
 *   - every region code is two digits 01..99 and named, and no code twice;
 *   - every school is BRIN (2 digits, 2 capitals) + "00", named, in a gemeente
 *     GMdddd that the file's gemeente table holds, and no BRIN twice;
 *   - every gemeente's region, when it has one, is in the region table.
 * The code normalisers (refdata_region_code, refdata_gemeente_code) also get
 * the input's first line, and what they accept has their output's form.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refdata.h"

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_duo: invariant failed: %s (%s:%d)\n", #cond,  \
				__FILE__, __LINE__);                                      \
			abort();                                                          \
		}                                                                         \
	} while (0)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool region_ok(const char *c)
{
	return strlen(c) == 2 && is_digit(c[0]) && is_digit(c[1]) && strcmp(c, "00") != 0;
}

static bool gemeente_ok(const char *g)
{
	return strlen(g) == 6 && g[0] == 'G' && g[1] == 'M' && is_digit(g[2]) && is_digit(g[3]) && is_digit(g[4]) &&
	       is_digit(g[5]);
}

static bool has_region(const struct refdata *r, const char *code)
{
	for (size_t i = 0; i < r->n_regions; i++)
		if (strcmp(r->regions[i].code, code) == 0)
			return true;
	return false;
}

static unsigned long lines_in(const uint8_t *s, size_t len)
{
	unsigned long n = 1;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')))
			n++;
	return n;
}

static void check(const struct refdata *r, bool ok, unsigned long max_line)
{
	CHECK(ok == (r->total_errors == 0));
	CHECK(r->n_errors <= r->total_errors && r->n_errors <= REFDATA_MAX_ERRORS);
	for (size_t i = 0; i < r->n_errors; i++)
		CHECK(r->errors[i].message[0] != '\0' && r->errors[i].line <= max_line);
	for (size_t i = 0; i < r->n_regions; i++) {
		CHECK(region_ok(r->regions[i].code));
		CHECK(r->regions[i].naam && r->regions[i].naam[0]);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r->regions[i].code, r->regions[j].code) != 0);
	}
	for (size_t i = 0; i < r->n_gemeenten; i++) {
		const struct ref_gemeente *g = &r->gemeenten[i];
		CHECK(gemeente_ok(g->code));
		CHECK(g->naam != NULL);
		CHECK(g->region[0] == '\0' || (region_ok(g->region) && has_region(r, g->region)));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(g->code, r->gemeenten[j].code) != 0);
	}
	for (size_t i = 0; i < r->n_schools; i++) {
		const struct ref_school *s = &r->schools[i];
		CHECK(strlen(s->brin) == 4 && is_digit(s->brin[0]) && is_digit(s->brin[1]) && s->brin[2] >= 'A' &&
		      s->brin[2] <= 'Z' && s->brin[3] >= 'A' && s->brin[3] <= 'Z');
		CHECK(strncmp(s->code, s->brin, 4) == 0 && strcmp(s->code + 4, "00") == 0);
		CHECK(s->naam && s->naam[0] && s->structuur);
		bool known = false;
		for (size_t k = 0; k < r->n_gemeenten && !known; k++)
			known = strcmp(r->gemeenten[k].code, s->gemeente) == 0;
		CHECK(known);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(s->brin, r->schools[j].brin) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	unsigned long max_line = lines_in(data, size);
	struct refdata r;

	refdata_init(&r);
	check(&r, refdata_parse_regions(&r, s, size), max_line);
	refdata_free(&r);

	refdata_init(&r);
	check(&r, refdata_parse_duo_vo(&r, s, size), max_line);
	refdata_free(&r);

	/* the normalisers, on the first line as a string */
	char line[64];
	size_t n = 0;
	while (n < size && n < sizeof line - 1 && data[n] != '\n' && data[n] != '\0')
		n++;
	memcpy(line, data, n);
	line[n] = '\0';
	char region[3], gm[7];
	if (refdata_region_code(line, region))
		CHECK(region_ok(region));
	if (refdata_gemeente_code(line, gm))
		CHECK(gemeente_ok(gm));
	return 0;
}
