/* updcsv.c — the strict CSV reader of StatusUpdate rows (libcsv).
 *
 * Owns the mapping from header names to StatusUpdate fields, taken from the
 * generated message descriptor (so a new proto field is a new column for
 * free), and the per-field conversions. Never talks to the network; reports
 * every bad row with its line instead of stopping at the first.
 * Callers: overstap-push, the unit tests.
 */
#include "updcsv.h"

#include <csv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "wire.h"

#define MAX_COLUMNS 64
#define EVENT_ID_MAX 64
#define FILE_MAX ((size_t)1 << 30)

static const char *const required[] = { "event_id", "pgn", "occurred_at", "kind", "cohort" };
#define N_REQUIRED (sizeof required / sizeof required[0])

struct parser {
	struct updcsv *u;
	unsigned long line;     /* of the chunk being fed */
	unsigned long row_line; /* where the current row's first field ended */
	unsigned long last_end; /* line on which the last row ended */
	bool in_header;
	bool header_bad;
	size_t ncols;
	const ProtobufCFieldDescriptor *cols[MAX_COLUMNS];
	size_t nfields;
	char *fields[MAX_COLUMNS + 1];
	size_t lens[MAX_COLUMNS + 1];
	bool row_has_nul;
	/* event ids seen: open addressing over indexes into u->updates */
	size_t *seen;
	size_t seen_cap;
};

static void add_error(struct updcsv *u, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_error(struct updcsv *u, unsigned long line, const char *fmt, ...)
{
	u->total_errors++;
	if (u->n_errors >= UPDCSV_MAX_ERRORS)
		return;
	struct updcsv_error *e = &u->errors[u->n_errors++];
	e->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

void updcsv_init(struct updcsv *u)
{
	memset(u, 0, sizeof *u);
	u->delimiter = ',';
}

void updcsv_free_update(Overstap__V1__StatusUpdate *m)
{
	if (!m)
		return;
	const ProtobufCMessageDescriptor *d = &overstap__v1__status_update__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].type != PROTOBUF_C_TYPE_STRING)
			continue;
		char **p = (char **)((char *)m + d->fields[i].offset);
		if (*p && *p != protobuf_c_empty_string)
			free(*p);
	}
	free(m);
}

void updcsv_free(struct updcsv *u)
{
	for (size_t i = 0; i < u->n; i++)
		updcsv_free_update(u->updates[i]);
	free(u->updates);
	free(u->lines);
	updcsv_init(u);
}

/* ---- one field --------------------------------------------------------------- */

static const char *printable(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < len; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	if (o + 5 >= len && o >= 3)
		memcpy(buf + o - 3, "...", 3);
	buf[o] = '\0';
	return buf;
}

static bool parse_u32(const char *s, uint32_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	unsigned long long v = strtoull(s, NULL, 10);
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool is_required(const char *name)
{
	for (size_t i = 0; i < N_REQUIRED; i++)
		if (strcmp(name, required[i]) == 0)
			return true;
	return false;
}

/* Sets one field of m from its text; false with an error recorded. */
static bool set_field(struct parser *ps, Overstap__V1__StatusUpdate *m, const ProtobufCFieldDescriptor *fd,
		      const char *val, size_t len)
{
	struct updcsv *u = ps->u;
	unsigned long line = ps->row_line;
	char shown[80];
	void *at = (char *)m + fd->offset;
	if (!*val) {
		if (is_required(fd->name)) {
			add_error(u, line, "%s: empty, but every row needs it", fd->name);
			return false;
		}
		return true; /* the default: "", 0, UNSPECIFIED */
	}
	size_t bad;
	if (!utf8_valid(val, len, &bad)) {
		add_error(u, line, "%s: not valid UTF-8 (byte %zu); save the file as UTF-8", fd->name, bad + 1);
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			add_error(u, line, "%s: control character \\x%02x in the value", fd->name, *p);
			return false;
		}
	}
	if (len > UPDCSV_FIELD_MAX) {
		add_error(u, line, "%s: %zu bytes, at most %d", fd->name, len, UPDCSV_FIELD_MAX);
		return false;
	}
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		if (strcmp(fd->name, "event_id") == 0 && len > EVENT_ID_MAX) {
			add_error(u, line, "event_id: %zu bytes, at most %d", len, EVENT_ID_MAX);
			return false;
		}
		char *copy = strdup(val);
		if (!copy) {
			add_error(u, line, "out of memory");
			return false;
		}
		*(char **)at = copy;
		return true;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		int v;
		if (!wire_enum_parse(fd->descriptor, val, &v)) {
			char list[400];
			wire_enum_list(fd->descriptor, list, sizeof list);
			add_error(u, line, "%s: unknown value '%s' (one of %s)", fd->name, printable(val, shown, sizeof shown),
				  list);
			return false;
		}
		*(int *)at = v;
		return true;
	}
	case PROTOBUF_C_TYPE_INT64: {
		int64_t t;
		if (!wire_time_parse(val, &t)) {
			add_error(u, line, "%s: '%s' is neither unix seconds nor an ISO 8601 date or time "
					   "(2031-03-15 or 2031-03-15T09:30:00Z)",
				  fd->name, printable(val, shown, sizeof shown));
			return false;
		}
		*(int64_t *)at = t;
		return true;
	}
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v;
		if (!parse_u32(val, &v)) {
			add_error(u, line, "%s: '%s' is not a whole number", fd->name, printable(val, shown, sizeof shown));
			return false;
		}
		*(uint32_t *)at = v;
		return true;
	}
	default:
		add_error(u, line, "%s: this field cannot be given in a CSV file", fd->name);
		return false;
	}
}

/* ---- event id set -------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Index of an update with this event id, or SIZE_MAX; remembers idx when new. */
static size_t seen_check(struct parser *ps, const char *id, size_t idx)
{
	struct updcsv *u = ps->u;
	if ((idx + 1) * 2 > ps->seen_cap) {
		size_t cap = ps->seen_cap ? ps->seen_cap * 2 : 1024;
		size_t *t = malloc(cap * sizeof *t);
		if (!t)
			return SIZE_MAX;
		for (size_t i = 0; i < cap; i++)
			t[i] = SIZE_MAX;
		for (size_t i = 0; i < ps->seen_cap; i++) {
			if (ps->seen[i] == SIZE_MAX)
				continue;
			size_t k = hash_str(u->updates[ps->seen[i]]->event_id) & (cap - 1);
			while (t[k] != SIZE_MAX)
				k = (k + 1) & (cap - 1);
			t[k] = ps->seen[i];
		}
		free(ps->seen);
		ps->seen = t;
		ps->seen_cap = cap;
	}
	size_t k = hash_str(id) & (ps->seen_cap - 1);
	while (ps->seen[k] != SIZE_MAX) {
		if (strcmp(u->updates[ps->seen[k]]->event_id, id) == 0)
			return ps->seen[k];
		k = (k + 1) & (ps->seen_cap - 1);
	}
	ps->seen[k] = idx;
	return SIZE_MAX;
}

/* ---- rows ------------------------------------------------------------------------ */

static void header_row(struct parser *ps)
{
	struct updcsv *u = ps->u;
	const ProtobufCMessageDescriptor *d = &overstap__v1__status_update__descriptor;
	ps->in_header = false;
	if (ps->nfields > MAX_COLUMNS) {
		add_error(u, ps->row_line, "header: %zu columns, at most %d", ps->nfields, MAX_COLUMNS);
		ps->header_bad = true;
		return;
	}
	ps->ncols = ps->nfields;
	for (size_t i = 0; i < ps->nfields; i++) {
		const char *name = ps->fields[i];
		char shown[80];
		const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (!*name) {
			add_error(u, ps->row_line, "header: column %zu has no name", i + 1);
			ps->header_bad = true;
			continue;
		}
		if (!fd) {
			add_error(u, ps->row_line, "header: '%s' is not a StatusUpdate field (event_id, pgn, occurred_at, "
						   "kind, cohort, school, woongemeente, vo_soort, birth_date, name, bestemming, "
						   "crebo, mbo_instelling, niveau, leerweg, reason)",
				  printable(name, shown, sizeof shown));
			ps->header_bad = true;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (ps->cols[j] == fd) {
				add_error(u, ps->row_line, "header: column '%s' appears twice", name);
				ps->header_bad = true;
			}
		}
		ps->cols[i] = fd;
	}
	for (size_t r = 0; r < N_REQUIRED; r++) {
		bool found = false;
		for (size_t i = 0; i < ps->nfields; i++)
			found = found || strcmp(ps->fields[i], required[r]) == 0;
		if (!found) {
			add_error(u, ps->row_line, "header: required column '%s' is missing", required[r]);
			ps->header_bad = true;
		}
	}
}

static void data_row(struct parser *ps)
{
	struct updcsv *u = ps->u;
	if (ps->nfields != ps->ncols) {
		add_error(u, ps->row_line, "%zu fields, the header has %zu", ps->nfields, ps->ncols);
		return;
	}
	if (ps->row_has_nul) {
		add_error(u, ps->row_line, "a NUL byte in the row");
		return;
	}
	Overstap__V1__StatusUpdate *m = malloc(sizeof *m);
	if (!m) {
		add_error(u, ps->row_line, "out of memory");
		return;
	}
	overstap__v1__status_update__init(m);
	bool ok = true;
	for (size_t i = 0; i < ps->ncols; i++)
		ok = set_field(ps, m, ps->cols[i], ps->fields[i], ps->lens[i]) && ok;
	if (!ok) {
		updcsv_free_update(m);
		return;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		Overstap__V1__StatusUpdate **p = realloc(u->updates, cap * sizeof *p);
		unsigned long *l = p ? realloc(u->lines, cap * sizeof *l) : NULL;
		if (p)
			u->updates = p;
		if (!p || !l) {
			add_error(u, ps->row_line, "out of memory");
			updcsv_free_update(m);
			return;
		}
		u->lines = l;
		u->cap = cap;
	}
	u->updates[u->n] = m;
	u->lines[u->n] = ps->row_line;
	size_t prev = seen_check(ps, m->event_id, u->n);
	if (prev != SIZE_MAX) {
		add_error(u, ps->row_line, "event_id '%s' is already used on line %lu", m->event_id, u->lines[prev]);
		updcsv_free_update(m);
		return;
	}
	u->n++;
}

static void clear_fields(struct parser *ps)
{
	for (size_t i = 0; i < ps->nfields && i <= MAX_COLUMNS; i++) {
		free(ps->fields[i]);
		ps->fields[i] = NULL;
	}
	ps->nfields = 0;
	ps->row_has_nul = false;
}

static void on_field(void *s, size_t len, void *data)
{
	struct parser *ps = data;
	if (ps->nfields == 0)
		ps->row_line = ps->line;
	if (ps->nfields <= MAX_COLUMNS) {
		const char *src = s ? s : "";
		if (memchr(src, '\0', len))
			ps->row_has_nul = true;
		char *copy = malloc(len + 1);
		if (copy) {
			memcpy(copy, src, len);
			copy[len] = '\0';
		}
		ps->fields[ps->nfields] = copy ? copy : strdup("");
		ps->lens[ps->nfields] = copy ? len : 0;
	}
	ps->nfields++;
}

static void on_row(int c, void *data)
{
	(void)c;
	struct parser *ps = data;
	if (ps->nfields == 0)
		return;
	if (ps->nfields > MAX_COLUMNS + 1)
		ps->nfields = MAX_COLUMNS + 1; /* only so many were kept */
	ps->last_end = ps->line;
	if (ps->in_header)
		header_row(ps);
	else if (!ps->header_bad)
		data_row(ps);
	clear_fields(ps);
}

bool updcsv_parse(struct updcsv *u, const char *data, size_t len)
{
	struct parser ps = { .u = u, .line = 1, .in_header = true };
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	size_t first = text_line_length(data, len); /* the header's line, CR or LF ended */
	u->delimiter = (memchr(data, ';', first) && !memchr(data, ',', first)) ? ';' : ',';
	struct csv_parser cp;
	if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		add_error(u, 0, "out of memory");
		return false;
	}
	csv_set_delim(&cp, (unsigned char)u->delimiter);
	bool broken = false;
	size_t off = 0;
	/* feed line by line so every callback knows its line number */
	while (off < len && !ps.header_bad) {
		size_t n = text_line_length(data + off, len - off);
		bool nl = data[off + n - 1] == '\n' || data[off + n - 1] == '\r';
		if (csv_parse(&cp, data + off, n, on_field, on_row, &ps) != n) {
			add_error(u, ps.line, "malformed CSV: %s", text_csv_problem(csv_error(&cp)));
			broken = true;
			break;
		}
		off += n;
		if (nl)
			ps.line++;
	}
	if (!broken && !ps.header_bad && csv_fini(&cp, on_field, on_row, &ps) != 0)
		add_error(u, ps.last_end + 1, "malformed CSV: a quoted field in the row from here on is not closed "
					      "before the end of the file");
	if (ps.in_header && !ps.header_bad && u->total_errors == 0)
		add_error(u, 1, "the file is empty: it needs a header row (event_id,pgn,occurred_at,kind,cohort,...)");
	clear_fields(&ps);
	csv_free(&cp);
	free(ps.seen);
	return u->total_errors == 0;
}

/* Whether the bytes hold at least one multi-byte UTF-8 sequence. */
static bool has_utf8_sequence(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] >= 0xc2 && p[i] <= 0xf4 && (p[i + 1] & 0xc0) == 0x80) {
			size_t n = (p[i] >> 5) == 6 ? 2 : (p[i] >> 4) == 14 ? 3 : 4;
			if (i + n <= len && utf8_valid(s + i, n, NULL))
				return true;
		}
	}
	return false;
}

bool updcsv_read_file(struct updcsv *u, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *data = text_read_file(path, FILE_MAX, &len, err, errlen);
	if (!data)
		return false;
	if (!utf8_valid(data, len, NULL) && !has_utf8_sequence(data, len)) {
		size_t clen;
		char *conv = text_cp1252_to_utf8(data, len, &clen);
		if (conv) {
			free(data);
			data = conv;
			len = clen;
			u->converted = true;
		}
	}
	updcsv_parse(u, data, len);
	free(data);
	return true;
}
