/* updcsv.h — StatusUpdate rows from a CSV file (DESIGN §6.1, overstap-push).
 *
 * The header row names StatusUpdate fields exactly as proto/overstap.proto
 * does (event_id, pgn, occurred_at, kind, cohort, school, woongemeente, ...),
 * in any order; event_id, pgn, occurred_at, kind and cohort are required.
 * Enum fields take the value name without prefix (AANGEMELD), with prefix
 * (EVENT_KIND_AANGEMELD) or the number; occurred_at takes unix seconds or ISO
 * 8601. Strict: every row that cannot be sent as written is reported with its
 * line number, and a caller should send nothing while there are errors.
 * Comma-separated (or semicolon-separated, as spreadsheet programs in the
 * Netherlands save it: decided by the header), RFC 4180 quoting, CRLF, LF or CR,
 * an optional UTF-8 BOM; a file without a single UTF-8 sequence but with
 * bytes that are not UTF-8 is read as Windows-1252.
 */
#ifndef OVERSTAP_UPDCSV_H
#define OVERSTAP_UPDCSV_H

#include <stdbool.h>
#include <stddef.h>

#include "overstap.pb-c.h"

#define UPDCSV_MAX_ERRORS 100 /* kept with their text; more are only counted */
#define UPDCSV_FIELD_MAX 1024 /* bytes in one field */

struct updcsv_error {
	unsigned long line;
	char message[400];
};

struct updcsv {
	Overstap__V1__StatusUpdate **updates; /* owned, with their strings */
	unsigned long *lines;                 /* the line each update starts on */
	size_t n, cap;
	struct updcsv_error errors[UPDCSV_MAX_ERRORS];
	size_t n_errors;     /* kept in errors[] */
	size_t total_errors; /* all of them */
	bool converted;      /* updcsv_read_file read the file as Windows-1252 */
	char delimiter;      /* ',' or, when the header has ';' and no ',', ';' */
};

void updcsv_init(struct updcsv *u);
/* Parses a whole file's bytes. true when there is no error. */
bool updcsv_parse(struct updcsv *u, const char *data, size_t len);
/* Reads and parses a file ("-" = stdin). false with err set when the file
 * cannot be read; else as updcsv_parse (check total_errors). */
bool updcsv_read_file(struct updcsv *u, const char *path, char *err, size_t errlen);
void updcsv_free(struct updcsv *u);

/* Frees one update as updcsv made it. */
void updcsv_free_update(Overstap__V1__StatusUpdate *m);

#endif
