/* text.h — text handling for the clients: UTF-8 checks, Windows-1252 input,
 * and aligned tables.
 *
 * Files from school and DUO systems arrive as UTF-8 (sometimes with a BOM) or
 * as Windows-1252; everything leaving these functions is UTF-8.
 */
#ifndef OVERSTAP_TEXT_H
#define OVERSTAP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "utf8.h" /* utf8_valid(), shared with the daemon */


/* Windows-1252 → UTF-8 (iconv). Returns a malloc'd, NUL-terminated string and
 * its length, or NULL (bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined). */
char *text_cp1252_to_utf8(const char *s, size_t len, size_t *outlen);

/* A file's bytes as UTF-8: a UTF-8 BOM is dropped; bytes that are not valid
 * UTF-8 are read as Windows-1252 and converted (*converted = true). Returns a
 * malloc'd, NUL-terminated buffer, or NULL when neither reading works. */
char *text_to_utf8(const char *s, size_t len, size_t *outlen, bool *converted);

/* Reads a whole file (at most max bytes) into a malloc'd NUL-terminated buffer. */
char *text_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* The length of the first line of s[0..len), with its end: LF, CRLF, or a CR
 * alone (as old Mac spreadsheet programs save CSV); len when it has no end.
 * The CSV readers feed their parser one line at a time to count lines. */
size_t text_line_length(const char *s, size_t len);

/* Columns on a terminal: code points, not bytes (no East Asian wide forms). */
size_t text_width(const char *s);
/* What a libcsv error code (csv_error()) means for the person who wrote the
 * file: "a quote inside an unquoted field, or text after a closing quote"
 * rather than libcsv's "error parsing data while strict checking enabled". */
const char *text_csv_problem(int csv_error_code);

/* ---- aligned tables --------------------------------------------------------- */

enum table_align { TABLE_LEFT = 0, TABLE_RIGHT };

struct table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;
	char **cells; /* nrows * ncols, owned */
	enum table_align *align;
};

/* A table with a header row. false on out of memory. */
bool table_init(struct table *t, size_t ncols, const char *const *header, const enum table_align *align);
/* Appends a row of ncols cells (copied; NULL is an empty cell). */
bool table_add_row(struct table *t, const char *const *cells);
/* Header, a rule of '-', then the rows; columns padded to their widest cell,
 * two spaces apart, no trailing blanks. */
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

#endif
