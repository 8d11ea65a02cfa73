/* text.c — UTF-8 validation, Windows-1252 conversion, aligned tables.
 *
 * Owns nothing global. Conversion uses iconv, opened per call (files are read
 * once). Never prints except table_print to the stream it is given.
 * Callers: the CSV readers, overstap-report, overstapctl.
 */
#include "text.h"

#include <errno.h>
#include <csv.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *text_cp1252_to_utf8(const char *s, size_t len, size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", "CP1252");
	if (cd == (iconv_t)-1)
		return NULL;
	size_t cap = len * 3 + 1; /* every CP1252 byte is at most 3 UTF-8 bytes */
	char *out = malloc(cap);
	if (!out) {
		iconv_close(cd);
		return NULL;
	}
	char *in = (char *)s, *o = out;
	size_t inleft = len, oleft = cap - 1;
	size_t r = iconv(cd, &in, &inleft, &o, &oleft);
	iconv_close(cd);
	if (r == (size_t)-1) {
		free(out);
		return NULL;
	}
	*o = '\0';
	if (outlen)
		*outlen = (size_t)(o - out);
	return out;
}

char *text_to_utf8(const char *s, size_t len, size_t *outlen, bool *converted)
{
	*converted = false;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (utf8_valid(s, len, NULL)) {
		char *out = malloc(len + 1);
		if (!out)
			return NULL;
		memcpy(out, s, len);
		out[len] = '\0';
		if (outlen)
			*outlen = len;
		return out;
	}
	char *out = text_cp1252_to_utf8(s, len, outlen);
	if (out)
		*converted = true;
	return out;
}

char *text_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			if (cap > max) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
				free(buf);
				buf = NULL;
				break;
			}
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				buf = NULL;
				snprintf(err, errlen, "%s: out of memory", path);
				break;
			}
			buf = p;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return NULL;
	if (n > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

size_t text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

/* ---- tables ----------------------------------------------------------------- */

static char *dup_cell(const char *s)
{
	return strdup(s ? s : "");
}

bool table_init(struct table *t, size_t ncols, const char *const *header, const enum table_align *align)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols;
	t->align = calloc(ncols ? ncols : 1, sizeof *t->align);
	if (!t->align)
		return false;
	if (align)
		memcpy(t->align, align, ncols * sizeof *align);
	return table_add_row(t, header);
}

bool table_add_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
		if (!p)
			return false;
		t->cells = p;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t c = 0; c < t->ncols; c++) {
		row[c] = dup_cell(cells ? cells[c] : NULL);
		if (!row[c]) {
			while (c > 0)
				free(row[--c]);
			return false;
		}
	}
	t->nrows++;
	return true;
}

static void pad(FILE *out, size_t n, char ch)
{
	while (n--)
		fputc(ch, out);
}

void table_print(const struct table *t, FILE *out)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = text_width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		/* the last left-aligned cells get no trailing padding */
		size_t last = t->ncols;
		while (last > 0 && t->cells[r * t->ncols + last - 1][0] == '\0')
			last--;
		for (size_t c = 0; c < last; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t gap = w[c] - text_width(cell);
			if (c > 0)
				fputs("  ", out);
			if (t->align[c] == TABLE_RIGHT)
				pad(out, gap, ' ');
			fputs(cell, out);
			if (t->align[c] == TABLE_LEFT && c + 1 < last)
				pad(out, gap, ' ');
		}
		fputc('\n', out);
		if (r == 0) {
			size_t total = 0;
			for (size_t c = 0; c < t->ncols; c++)
				total += w[c] + (c ? 2 : 0);
			pad(out, total, '-');
			fputc('\n', out);
		}
	}
	free(w);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	memset(t, 0, sizeof *t);
}

const char *text_csv_problem(int code)
{
	switch (code) {
	case CSV_EPARSE:
		return "a quote inside an unquoted field, or text after a closing quote (a field with a quote "
		       "in it must be quoted as a whole, its quotes doubled: \"25 \"\"De Bron\"\"\")";
	case CSV_ENOMEM:
		return "out of memory";
	case CSV_ETOOBIG:
		return "a field too large";
	default:
		return csv_strerror(code);
	}
}

size_t text_line_length(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			return i + 1;
		if (s[i] == '\r')
			return i + 1 < len && s[i + 1] == '\n' ? i + 2 : i + 1;
	}
	return len;
}
