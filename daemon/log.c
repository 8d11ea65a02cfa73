/* log.c — leveled logfmt records, one per line, on stderr or in the journal.
 *
 * Owns the minimum level, the target, and the record format. A call site's
 * printf format is read word by word: a word `key=…` is a field whose value is
 * formatted on its own and then quoted and escaped as logfmt wants, every other
 * word is free text gathered into one msg="…". So a libpq error with newlines
 * stays inside its quotes on one line, without touching the callers. Each
 * record is written with one write(2) (or one sd_journal_sendv), so records
 * never interleave. Timestamps are the wall clock (UTC, milliseconds),
 * whatever the daemon's manual time says.
 */
#include "log.h"

#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

enum log_level log_min_level = LOG_INFO;
static bool to_journal;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const level_words[] = { "debug", "info", "warn", "error" };
static const char *const journal_priorities[] = { "PRIORITY=7", "PRIORITY=6", "PRIORITY=4", "PRIORITY=3" };

#define LOG_MAX_FIELDS 32
#define LOG_RECORD_MAX 4096

bool log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_ERROR; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

void log_set_level(enum log_level level)
{
	log_min_level = level;
}

bool log_target_parse(const char *s, enum log_target *out)
{
	static const char *const names[] = { "auto", "stderr", "journal" };
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum log_target)i;
			return true;
		}
	}
	return false;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE when stderr is connected to the
 * journal; a stderr redirected elsewhere since does not match it. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_target(enum log_target target)
{
	to_journal = target == LOG_TARGET_JOURNAL || (target == LOG_TARGET_AUTO && stderr_is_journal());
}

bool log_to_journal(void)
{
	return to_journal;
}

/* ---- escaping ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

static bool needs_quotes(const char *s, size_t len)
{
	if (len == 0)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
			return true;
		if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)s + i, len - i);
			if (n == 0)
				return true;
			i += n - 1;
		}
	}
	return false;
}

/* Writes the escaped form of s (no quotes) into out, whole escape sequences
 * only, as far as cap allows; *written is what it wrote. Returns the length
 * the whole of it needs. */
static size_t escape(char *out, size_t cap, const char *s, size_t len, size_t *written)
{
	size_t need = 0;
	bool fits = true;
	*written = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		const char *piece = esc;
		size_t plen;
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c, plen = 2;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2), plen = 2;
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2), plen = 2;
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2), plen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", c), plen = 6;
		} else if (c >= 0x80) {
			size_t k = utf8_seq((const unsigned char *)s + i, len - i);
			if (k == 0) {
				snprintf(esc, sizeof esc, "\\x%02x", c), plen = 4;
			} else {
				piece = s + i, plen = k;
				i += k - 1;
			}
		} else {
			esc[0] = (char)c, plen = 1;
		}
		need += plen;
		if (fits && *written + plen <= cap) {
			memcpy(out + *written, piece, plen);
			*written += plen;
		} else {
			fits = false;
		}
	}
	return need;
}

/* ---- one record ------------------------------------------------------------------ */

struct out {
	char *p;
	size_t cap; /* usable bytes, the room for " truncated=true" and NUL already taken off */
	size_t n;
	bool full;
};

static void put(struct out *w, const char *s, size_t len)
{
	if (w->full)
		return;
	if (w->n + len > w->cap) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

static void put_value(struct out *w, const char *s, size_t len)
{
	if (w->full)
		return;
	if (!needs_quotes(s, len)) {
		put(w, s, len);
		return;
	}
	if (w->n + 2 > w->cap) {
		w->full = true;
		return;
	}
	w->p[w->n++] = '"';
	size_t written;
	size_t need = escape(w->p + w->n, w->cap - w->n - 1, s, len, &written);
	w->n += written;
	if (written < need)
		w->full = true;
	w->p[w->n++] = '"';
}

size_t log_quote(char *out, size_t cap, const char *s)
{
	size_t len = strlen(s), written;
	size_t need = needs_quotes(s, len) ? escape(NULL, 0, s, len, &written) + 2 : len;
	if (cap == 0)
		return need;
	struct out w = { out, cap - 1, 0, false };
	put_value(&w, s, len);
	out[w.n] = '\0';
	return need;
}

struct field {
	const char *key; /* into the format; NULL: the msg */
	size_t keylen;
	size_t val, vallen; /* into the scratch buffer */
};

struct scratch {
	char buf[LOG_RECORD_MAX];
	size_t n;
};

static size_t conv_length(const char *f, size_t *conv_at)
{
	/* f points at '%'; returns the length of the whole specification */
	size_t i = 1;
	while (f[i] && strchr("-+ #0'", f[i]))
		i++;
	if (f[i] == '*')
		i++;
	else
		while (f[i] >= '0' && f[i] <= '9')
			i++;
	if (f[i] == '.') {
		i++;
		if (f[i] == '*')
			i++;
		else
			while (f[i] >= '0' && f[i] <= '9')
				i++;
	}
	while (f[i] && strchr("hlLqjzt", f[i]))
		i++;
	*conv_at = i;
	return f[i] ? i + 1 : i;
}

/* Formats one conversion (spec of `len` bytes) with its arguments into sc. */
static void format_conv(struct scratch *sc, const char *spec, size_t len, size_t conv_at, va_list *ap)
{
	char sp[32];
	if (len >= sizeof sp || spec[conv_at] == '\0')
		return;
	memcpy(sp, spec, len);
	sp[len] = '\0';
	char conv = spec[conv_at];
	if (conv == '%') {
		if (sc->n + 1 < sizeof sc->buf)
			sc->buf[sc->n++] = '%';
		return;
	}
	int stars[2], nstars = 0;
	for (size_t i = 1; i < conv_at; i++)
		if (spec[i] == '*' && nstars < 2)
			stars[nstars++] = va_arg(*ap, int);
	const char *lenmod = spec + conv_at;
	while (lenmod > spec && strchr("hlLqjzt", lenmod[-1]))
		lenmod--;
	size_t lm = (size_t)(spec + conv_at - lenmod);
	char *dst = sc->buf + sc->n;
	size_t room = sizeof sc->buf - sc->n;
	int k = 0;
#define EMIT(value)                                                                                \
	do {                                                                                       \
		if (nstars == 0)                                                                   \
			k = snprintf(dst, room, sp, value);                                        \
		else if (nstars == 1)                                                              \
			k = snprintf(dst, room, sp, stars[0], value);                              \
		else                                                                               \
			k = snprintf(dst, room, sp, stars[0], stars[1], value);                    \
	} while (0)
	switch (conv) {
	case 'd':
	case 'i':
		if (lm == 2 && lenmod[0] == 'l')
			EMIT(va_arg(*ap, long long));
		else if (lm == 1 && lenmod[0] == 'l')
			EMIT(va_arg(*ap, long));
		else if (lm == 1 && (lenmod[0] == 'z' || lenmod[0] == 't'))
			EMIT(va_arg(*ap, ptrdiff_t));
		else if (lm == 1 && lenmod[0] == 'j')
			EMIT(va_arg(*ap, intmax_t));
		else
			EMIT(va_arg(*ap, int));
		break;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		if (lm == 2 && lenmod[0] == 'l')
			EMIT(va_arg(*ap, unsigned long long));
		else if (lm == 1 && lenmod[0] == 'l')
			EMIT(va_arg(*ap, unsigned long));
		else if (lm == 1 && (lenmod[0] == 'z' || lenmod[0] == 't'))
			EMIT(va_arg(*ap, size_t));
		else if (lm == 1 && lenmod[0] == 'j')
			EMIT(va_arg(*ap, uintmax_t));
		else
			EMIT(va_arg(*ap, unsigned));
		break;
	case 'c':
		EMIT(va_arg(*ap, int));
		break;
	case 's': {
		const char *s = va_arg(*ap, const char *);
		EMIT(s ? s : "(null)");
		break;
	}
	case 'p':
		EMIT(va_arg(*ap, void *));
		break;
	case 'f':
	case 'F':
	case 'e':
	case 'E':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		if (lm == 1 && lenmod[0] == 'L')
			EMIT(va_arg(*ap, long double));
		else
			EMIT(va_arg(*ap, double));
		break;
	default:
		break; /* %n and unknown conversions print nothing */
	}
#undef EMIT
	if (k > 0)
		sc->n += (size_t)k < room ? (size_t)k : room - 1;
}

static bool is_key_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '/'));
}

/* Length of "key" when the word at f starts with `key=`, else 0. */
static size_t key_prefix(const char *f)
{
	size_t i = 0;
	while (f[i] && is_key_char(f[i], i == 0))
		i++;
	return i > 0 && f[i] == '=' ? i : 0;
}

static void trim_end(const char *buf, size_t start, size_t *len)
{
	while (*len > 0 && (buf[start + *len - 1] == ' ' || buf[start + *len - 1] == '\n' ||
			    buf[start + *len - 1] == '\r' || buf[start + *len - 1] == '\t'))
		(*len)--;
}

struct record {
	struct scratch sc;
	struct field fields[LOG_MAX_FIELDS + 1];
	int n_fields;
	size_t msg, msglen; /* the free text, in sc */
	char msgbuf[LOG_RECORD_MAX];
};

/* Splits the format into fields and free text, formatting every conversion. */
static void parse_record(struct record *r, const char *fmt, va_list ap0)
{
	va_list ap;
	va_copy(ap, ap0);
	r->sc.n = 0;
	r->n_fields = 0;
	size_t mlen = 0;
	bool have_msg = false;
	const char *f = fmt;
	while (*f) {
		while (*f == ' ')
			f++;
		if (!*f)
			break;
		size_t kl = key_prefix(f);
		size_t start = r->sc.n;
		const char *word = f;
		if (kl)
			f += kl + 1;
		/* the rest of the word: up to the next space of the format itself */
		while (*f && *f != ' ') {
			if (*f == '%') {
				size_t conv_at;
				size_t len = conv_length(f, &conv_at);
				format_conv(&r->sc, f, len, conv_at, &ap);
				f += len;
			} else {
				if (r->sc.n + 1 < sizeof r->sc.buf)
					r->sc.buf[r->sc.n++] = *f;
				f++;
			}
		}
		size_t vlen = r->sc.n - start;
		if (kl && r->n_fields < LOG_MAX_FIELDS) {
			trim_end(r->sc.buf, start, &vlen);
			r->fields[r->n_fields++] = (struct field){ word, kl, start, vlen };
		} else {
			if (!have_msg && r->n_fields < LOG_MAX_FIELDS + 1) {
				r->fields[r->n_fields++] = (struct field){ NULL, 0, 0, 0 };
				have_msg = true;
			}
			if (mlen && mlen + 1 < sizeof r->msgbuf)
				r->msgbuf[mlen++] = ' ';
			size_t k = vlen < sizeof r->msgbuf - mlen ? vlen : sizeof r->msgbuf - mlen;
			memcpy(r->msgbuf + mlen, r->sc.buf + start, k);
			mlen += k;
			r->sc.n = start; /* the text lives in msgbuf */
		}
	}
	va_end(ap);
	r->msglen = mlen;
	trim_end(r->msgbuf, 0, &r->msglen);
}

static size_t render(struct record *r, char *out, size_t cap, int64_t wall_ms, enum log_level level,
		     const char *module)
{
	static const char trunc[] = " truncated=true";
	if (cap < sizeof trunc + 1) {
		if (cap)
			out[0] = '\0';
		return 0;
	}
	struct out w = { out, cap - sizeof trunc, 0, false };
	char head[96];
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t hn = strftime(head, sizeof head, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	hn += (size_t)snprintf(head + hn, sizeof head - hn, ".%03dZ level=%s module=", (int)(wall_ms % 1000),
			       level_words[level]);
	put(&w, head, hn);
	put_value(&w, module, strlen(module));
	for (int i = 0; i < r->n_fields; i++) {
		struct field *fl = &r->fields[i];
		if (fl->key) {
			put(&w, " ", 1);
			put(&w, fl->key, fl->keylen);
			put(&w, "=", 1);
			put_value(&w, r->sc.buf + fl->val, fl->vallen);
		} else if (r->msglen) {
			put(&w, " msg=", 5);
			put_value(&w, r->msgbuf, r->msglen);
		}
	}
	if (w.full) {
		memcpy(out + w.n, trunc, sizeof trunc - 1);
		w.n += sizeof trunc - 1;
	}
	out[w.n] = '\0';
	return w.n;
}

size_t log_format(char *out, size_t cap, int64_t wall_ms, enum log_level level, const char *module,
		  const char *fmt, va_list ap)
{
	static __thread struct record r;
	parse_record(&r, fmt, ap);
	return render(&r, out, cap, wall_ms, level, module);
}

/* ---- the journal ------------------------------------------------------------------ */

/* OVERSTAP_<KEY>=value: journal field names are A-Z, 0-9 and _. */
static size_t journal_field(char *out, size_t cap, const char *key, size_t keylen, const char *val,
			    size_t vallen)
{
	static const char prefix[] = "OVERSTAP_";
	size_t n = 0;
	if (cap < sizeof prefix + keylen + 2 + vallen)
		return 0;
	memcpy(out, prefix, sizeof prefix - 1);
	n = sizeof prefix - 1;
	for (size_t i = 0; i < keylen && n < 64; i++) {
		char c = key[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		out[n++] = c;
	}
	out[n++] = '=';
	memcpy(out + n, val, vallen);
	return n + vallen;
}

static bool send_journal(struct record *r, const char *line, size_t len, enum log_level level,
			 const char *module)
{
	static __thread char fieldbuf[2 * LOG_RECORD_MAX + 64 * (LOG_MAX_FIELDS + 2)];
	struct iovec iov[LOG_MAX_FIELDS + 6];
	int n = 0;
	size_t used = 0;
	/* MESSAGE: the record without its ts= (the journal keeps its own time) */
	const char *sp = memchr(line, ' ', len);
	const char *msg = sp ? sp + 1 : line;
	size_t mlen = len - (size_t)(msg - line);
	char *m = fieldbuf;
	memcpy(m, "MESSAGE=", 8);
	memcpy(m + 8, msg, mlen);
	iov[n++] = (struct iovec){ m, 8 + mlen };
	used = 8 + mlen;
	iov[n++] = (struct iovec){ (void *)journal_priorities[level], strlen(journal_priorities[level]) };
	static const char ident[] = "SYSLOG_IDENTIFIER=overstapd";
	iov[n++] = (struct iovec){ (void *)ident, sizeof ident - 1 };
	size_t k = journal_field(fieldbuf + used, sizeof fieldbuf - used, "module", 6, module, strlen(module));
	if (k) {
		iov[n++] = (struct iovec){ fieldbuf + used, k };
		used += k;
	}
	for (int i = 0; i < r->n_fields; i++) {
		struct field *fl = &r->fields[i];
		k = fl->key ? journal_field(fieldbuf + used, sizeof fieldbuf - used, fl->key, fl->keylen,
					    r->sc.buf + fl->val, fl->vallen)
			    : journal_field(fieldbuf + used, sizeof fieldbuf - used, "msg", 3, r->msgbuf, r->msglen);
		if (k) {
			iov[n++] = (struct iovec){ fieldbuf + used, k };
			used += k;
		}
	}
	return sd_journal_sendv(iov, n) >= 0;
}

void log_notice_processor(void *arg, const char *message)
{
	const char *lane = arg ? arg : "?";
	bool bad = strncmp(message, "FATAL", 5) == 0 || strncmp(message, "ERROR", 5) == 0 ||
		   strncmp(message, "PANIC", 5) == 0 || strncmp(message, "WARNING", 7) == 0;
	log_msg(bad ? LOG_WARN : LOG_INFO, "store", "lane=%s server says: %s", lane, message);
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	if (level < log_min_level)
		return;
	static __thread struct record r;
	static __thread char line[LOG_RECORD_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	parse_record(&r, fmt, ap);
	va_end(ap);
	size_t n = render(&r, line, sizeof line - 1, clock_wall_ms(), level, module);
	if (to_journal && send_journal(&r, line, n, level, module))
		return;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
