/* log.h — leveled, structured (key=value) logging to stderr.
 *
 * One line per event worth knowing: `TIME LEVEL module key=value ...`.
 * Never log personal data (PGN, name, birth date): log surrogate ids.
 */
#ifndef OVERSTAP_LOG_H
#define OVERSTAP_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

bool log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...)                                                                        \
	do {                                                                                       \
		if (log_min_level <= LOG_DEBUG)                                                    \
			log_msg(LOG_DEBUG, mod, __VA_ARGS__);                                      \
	} while (0)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
