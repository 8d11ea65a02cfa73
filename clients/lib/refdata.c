/* refdata.c — reads the regions file and DUO's vo schools file.
 *
 * Owns the column mapping, code normalisation (region "7" → "07", gemeente
 * "106" → "GM0106", BRIN + vestiging "00") and the consistency checks (one
 * region per gemeente, one row per BRIN). Never touches the database.
 * Callers: overstapctl import-regions / import-duo-vo, the unit tests.
 */
#include "refdata.h"

#include <csv.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text.h"
#include "grow.h"

#define MAX_COLS 64

/* ---- rows of a ;-separated file ------------------------------------------------ */

struct row {
	unsigned long line;
	size_t n;
	char *f[MAX_COLS];
};

struct rows {
	struct row *v;
	size_t n, cap;
	struct row cur;
	unsigned long line;
	bool oom;
};

static void rows_field(void *s, size_t len, void *data)
{
	struct rows *rs = data;
	if (rs->cur.n == 0)
		rs->cur.line = rs->line;
	if (rs->cur.n < MAX_COLS) {
		char *copy = malloc(len + 1);
		if (!copy) {
			rs->oom = true;
			return;
		}
		memcpy(copy, s ? s : "", len);
		copy[len] = '\0';
		/* trim what libcsv leaves around quoted values */
		size_t a = 0, b = len;
		while (a < b && isspace((unsigned char)copy[a]))
			a++;
		while (b > a && isspace((unsigned char)copy[b - 1]))
			b--;
		memmove(copy, copy + a, b - a);
		copy[b - a] = '\0';
		rs->cur.f[rs->cur.n] = copy;
	}
	rs->cur.n++;
}

static void rows_end(int c, void *data)
{
	(void)c;
	struct rows *rs = data;
	if (rs->cur.n == 0)
		return;
	if (!GROW(rs->v, rs->cap, rs->n + 1, 256)) {
		rs->oom = true;
		for (size_t i = 0; i < rs->cur.n && i < MAX_COLS; i++)
			free(rs->cur.f[i]);
		memset(&rs->cur, 0, sizeof rs->cur);
		return;
	}
	rs->v[rs->n++] = rs->cur;
	memset(&rs->cur, 0, sizeof rs->cur);
}

static void rows_free(struct rows *rs)
{
	for (size_t r = 0; r < rs->n; r++)
		for (size_t i = 0; i < rs->v[r].n && i < MAX_COLS; i++)
			free(rs->v[r].f[i]);
	for (size_t i = 0; i < rs->cur.n && i < MAX_COLS; i++)
		free(rs->cur.f[i]);
	free(rs->v);
}

static void add_error(struct refdata *r, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_error(struct refdata *r, unsigned long line, const char *fmt, ...)
{
	r->total_errors++;
	if (r->n_errors >= REFDATA_MAX_ERRORS)
		return;
	r->errors[r->n_errors].line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errors[r->n_errors].message, sizeof r->errors[0].message, fmt, ap);
	va_end(ap);
	r->n_errors++;
}

/* Decodes (BOM, Windows-1252) and splits into rows; false with an error. */
static bool read_rows(struct refdata *r, const char *data, size_t len, struct rows *rs)
{
	memset(rs, 0, sizeof *rs);
	rs->line = 1;
	size_t ulen;
	bool converted;
	char *text = text_to_utf8(data, len, &ulen, &converted);
	if (!text) {
		add_error(r, 0, "the file is neither UTF-8 nor Windows-1252");
		return false;
	}
	r->converted = r->converted || converted;
	struct csv_parser cp;
	if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		free(text);
		add_error(r, 0, "out of memory");
		return false;
	}
	csv_set_delim(&cp, ';');
	bool ok = true;
	size_t off = 0;
	while (off < ulen) {
		size_t n = text_line_length(text + off, ulen - off);
		bool nl = text[off + n - 1] == '\n' || text[off + n - 1] == '\r';
		if (csv_parse(&cp, text + off, n, rows_field, rows_end, rs) != n) {
			add_error(r, rs->line, "malformed CSV: %s", text_csv_problem(csv_error(&cp)));
			ok = false;
			break;
		}
		off += n;
		if (nl)
			rs->line++;
	}
	if (ok && csv_fini(&cp, rows_field, rows_end, rs) != 0) {
		add_error(r, rs->line, "malformed CSV: a quoted field is not closed before the end of the file");
		ok = false;
	}
	csv_free(&cp);
	free(text);
	if (rs->oom) {
		add_error(r, 0, "out of memory");
		ok = false;
	}
	if (ok && rs->n == 0) {
		add_error(r, 1, "the file is empty: it needs a header row");
		ok = false;
	}
	return ok;
}

static int column(const struct row *header, const char *name)
{
	for (size_t i = 0; i < header->n && i < MAX_COLS; i++)
		if (strcasecmp(header->f[i], name) == 0)
			return (int)i;
	return -1;
}

static const char *cell(const struct row *row, int col)
{
	return col >= 0 && (size_t)col < row->n && col < MAX_COLS ? row->f[col] : "";
}

/* ---- codes -------------------------------------------------------------------------- */

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

bool refdata_region_code(const char *s, char out[3])
{
	if ((s[0] == 'M' || s[0] == 'm') && (s[1] == 'C' || s[1] == 'c'))
		s += 2;
	if (!all_digits(s) || strlen(s) > 2)
		return false;
	int v = atoi(s);
	if (v < 1 || v > 99)
		return false;
	snprintf(out, 3, "%02d", v);
	return true;
}

bool refdata_gemeente_code(const char *s, char out[7])
{
	if ((s[0] == 'G' || s[0] == 'g') && (s[1] == 'M' || s[1] == 'm'))
		s += 2;
	if (!all_digits(s) || strlen(s) > 4)
		return false;
	snprintf(out, 7, "GM%04d", atoi(s));
	return true;
}

static bool brin_code(const char *s, char out[5])
{
	if (strlen(s) != 4 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isalpha((unsigned char)s[2]) || !isalpha((unsigned char)s[3]))
		return false;
	for (int i = 0; i < 4; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	out[4] = '\0';
	return true;
}

/* ---- results --------------------------------------------------------------------------- */

void refdata_init(struct refdata *r)
{
	memset(r, 0, sizeof *r);
}

void refdata_free(struct refdata *r)
{
	for (size_t i = 0; i < r->n_regions; i++)
		free(r->regions[i].naam);
	for (size_t i = 0; i < r->n_gemeenten; i++)
		free(r->gemeenten[i].naam);
	for (size_t i = 0; i < r->n_schools; i++) {
		free(r->schools[i].naam);
		free(r->schools[i].structuur);
	}
	free(r->regions);
	free(r->gemeenten);
	free(r->schools);
	refdata_init(r);
}

static struct ref_region *find_region(struct refdata *r, const char *code)
{
	for (size_t i = 0; i < r->n_regions; i++)
		if (strcmp(r->regions[i].code, code) == 0)
			return &r->regions[i];
	return NULL;
}

static bool add_region(struct refdata *r, const char *code, const char *naam)
{
	struct ref_region *p = realloc(r->regions, (r->n_regions + 1) * sizeof *p);
	if (!p)
		return false;
	r->regions = p;
	snprintf(p[r->n_regions].code, sizeof p[0].code, "%s", code);
	p[r->n_regions].naam = strdup(naam);
	if (!p[r->n_regions].naam)
		return false;
	r->n_regions++;
	return true;
}

bool refdata_parse_regions(struct refdata *r, const char *data, size_t len)
{
	struct rows rs;
	bool ok = read_rows(r, data, len, &rs);
	if (ok) {
		const struct row *h = &rs.v[0];
		int c_code = column(h, "code"), c_naam = column(h, "naam");
		if (c_code < 0 || c_naam < 0) {
			add_error(r, h->line, "header: the columns 'code' and 'naam' are needed");
			ok = false;
		}
		for (size_t i = 1; ok && i < rs.n; i++) {
			const struct row *row = &rs.v[i];
			char code[3];
			const char *naam = cell(row, c_naam);
			if (row->n != h->n) {
				add_error(r, row->line, "%zu fields, the header has %zu", row->n, h->n);
				continue;
			}
			if (!refdata_region_code(cell(row, c_code), code)) {
				add_error(r, row->line, "code '%.20s' is not a region number 01..99", cell(row, c_code));
				continue;
			}
			if (!*naam) {
				add_error(r, row->line, "region %s has no naam", code);
				continue;
			}
			struct ref_region *have = find_region(r, code);
			if (have) {
				if (strcmp(have->naam, naam) != 0)
					add_error(r, row->line, "region %s appears twice with different names", code);
				continue;
			}
			if (!add_region(r, code, naam)) {
				add_error(r, row->line, "out of memory");
				break;
			}
		}
	}
	rows_free(&rs);
	return r->total_errors == 0;
}

bool refdata_parse_duo_vo(struct refdata *r, const char *data, size_t len)
{
	struct rows rs;
	bool ok = read_rows(r, data, len, &rs);
	if (!ok) {
		rows_free(&rs);
		return false;
	}
	const struct row *h = &rs.v[0];
	static const char *const needed[] = { "BRIN NUMMER", "INSTELLINGSNAAM", "GEMEENTENUMMER", "GEMEENTENAAM",
					      "RMC-REGIO CODE" };
	int col[5];
	for (int k = 0; k < 5; k++) {
		col[k] = column(h, needed[k]);
		if (col[k] < 0)
			add_error(r, h->line, "header: column '%s' is missing (is this DUO's \"hoofdvestigingen vo\"?)",
				  needed[k]);
	}
	int c_rnaam = column(h, "RMC-REGIO NAAM"), c_struct = column(h, "ONDERWIJSSTRUCTUUR");
	if (r->total_errors) {
		rows_free(&rs);
		return false;
	}
	size_t cap_s = rs.n, cap_g = rs.n;
	r->schools = calloc(cap_s, sizeof *r->schools);
	r->gemeenten = calloc(cap_g, sizeof *r->gemeenten);
	if (!r->schools || !r->gemeenten) {
		add_error(r, 0, "out of memory");
		rows_free(&rs);
		return false;
	}
	unsigned long *school_line = calloc(cap_s, sizeof *school_line);
	for (size_t i = 1; school_line && i < rs.n; i++) {
		const struct row *row = &rs.v[i];
		char brin[5], gm[7], region[3] = "";
		if (row->n != h->n) {
			add_error(r, row->line, "%zu fields, the header has %zu", row->n, h->n);
			continue;
		}
		const char *naam = cell(row, col[1]), *gnaam = cell(row, col[3]), *rcode = cell(row, col[4]);
		bool bad = false;
		if (!brin_code(cell(row, col[0]), brin)) {
			add_error(r, row->line, "BRIN NUMMER '%.20s' is not a BRIN code (2 digits, 2 letters)",
				  cell(row, col[0]));
			bad = true;
		}
		if (!*naam) {
			add_error(r, row->line, "INSTELLINGSNAAM is empty");
			bad = true;
		}
		if (!refdata_gemeente_code(cell(row, col[2]), gm)) {
			add_error(r, row->line, "GEMEENTENUMMER '%.20s' is not a gemeente number", cell(row, col[2]));
			bad = true;
		}
		if (!*gnaam) {
			add_error(r, row->line, "GEMEENTENAAM is empty");
			bad = true;
		}
		if (*rcode && !refdata_region_code(rcode, region)) {
			add_error(r, row->line, "RMC-REGIO CODE '%.20s' is not a region number", rcode);
			bad = true;
		}
		if (bad)
			continue;
		/* the school: main location, vestiging 00 */
		bool dup = false;
		for (size_t s = 0; s < r->n_schools && !dup; s++) {
			if (strcmp(r->schools[s].brin, brin) == 0) {
				add_error(r, row->line, "BRIN %s already on line %lu", brin, school_line[s]);
				dup = true;
			}
		}
		if (dup)
			continue;
		struct ref_school *sc = &r->schools[r->n_schools];
		snprintf(sc->code, sizeof sc->code, "%s00", brin);
		snprintf(sc->brin, sizeof sc->brin, "%s", brin);
		snprintf(sc->gemeente, sizeof sc->gemeente, "%s", gm);
		sc->naam = strdup(naam);
		sc->structuur = strdup(cell(row, c_struct));
		school_line[r->n_schools] = row->line;
		r->n_schools++;
		/* the gemeente and its region follow from the same row */
		struct ref_gemeente *g = NULL;
		for (size_t k = 0; k < r->n_gemeenten && !g; k++)
			if (strcmp(r->gemeenten[k].code, gm) == 0)
				g = &r->gemeenten[k];
		if (g) {
			if (strcmp(g->region, region) != 0)
				add_error(r, row->line, "gemeente %s is in RMC region '%s' here but '%s' on line %lu", gm,
					  region, g->region, g->line);
		} else {
			g = &r->gemeenten[r->n_gemeenten++];
			snprintf(g->code, sizeof g->code, "%s", gm);
			snprintf(g->region, sizeof g->region, "%s", region);
			g->naam = strdup(gnaam);
			g->line = row->line;
		}
		if (region[0] && !find_region(r, region)) {
			const char *rn = cell(row, c_rnaam);
			if (!add_region(r, region, *rn ? rn : region))
				add_error(r, row->line, "out of memory");
		}
		if (!sc->naam || !sc->structuur || !g->naam)
			add_error(r, row->line, "out of memory");
	}
	if (!school_line)
		add_error(r, 0, "out of memory");
	free(school_line);
	rows_free(&rs);
	return r->total_errors == 0;
}
