/* log.h — leveled, structured logging: one logfmt record per line.
 *
 * `ts=TIME level=info module=store lane=ingest/0 msg="connection lost: …"`.
 * Call sites keep writing printf formats of `key=%s` words and free text: the
 * log layer formats each conversion on its own, so a value that holds spaces,
 * quotes or newlines (a libpq error message) is quoted and escaped, and the
 * free text becomes one quoted msg=. A record never spans two lines.
 * Records go to stderr, or to the journal with one field per key
 * ([log] target). Never log personal data (PGN, name, birth date): log
 * surrogate ids.
 */
#ifndef OVERSTAP_LOG_H
#define OVERSTAP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
/* auto: the journal when stderr is the journal's stream (systemd's
 * JOURNAL_STREAM names it), else stderr. */
enum log_target { LOG_TARGET_AUTO = 0, LOG_TARGET_STDERR, LOG_TARGET_JOURNAL };

extern enum log_level log_min_level;

bool log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level level);
bool log_target_parse(const char *s, enum log_target *out);
void log_set_target(enum log_target target);
/* true when records go to the journal (after log_set_target) */
bool log_to_journal(void);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The record log_msg writes, without the newline, into out (always
 * NUL-terminated; a record too long for it ends in truncated=true). Returns
 * its length. For tests and for callers with a record of their own. */
size_t log_format(char *out, size_t cap, int64_t wall_ms, enum log_level level, const char *module,
		  const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* One logfmt value: `s` as it is when it needs no quotes, else in double
 * quotes with \" \\ \n \r \t and \u00XX (other control characters) and \xNN
 * (bytes that are not UTF-8) escaped. Returns the length it needs
 * (snprintf-like: out holds at most cap - 1 bytes and a NUL). */
size_t log_quote(char *out, size_t cap, const char *s);

/* A libpq notice processor (PQsetNoticeProcessor; arg: the connection's
 * name): the server's notices and the errors libpq reports outside a query
 * (a FATAL when a backend is terminated) become records of module store,
 * instead of libpq's default, raw lines on stderr. */
void log_notice_processor(void *arg, const char *message);

#define log_debug(mod, ...)                                                                        \
	do {                                                                                       \
		if (log_min_level <= LOG_DEBUG)                                                    \
			log_msg(LOG_DEBUG, mod, __VA_ARGS__);                                      \
	} while (0)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
