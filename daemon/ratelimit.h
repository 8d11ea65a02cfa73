/* ratelimit.h — at most a few lines a period for a warning a client can
 * cause at will (a denial, a rejected update, a refused handshake).
 *
 *   static struct ratelimit rl = RATELIMIT_INIT(10, 10000);  // 10 per 10 s
 *   unsigned long missed;
 *   if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
 *       log_warn("session", "... denied ... suppressed=%lu", missed);
 *
 * What is suppressed is counted and reported on the next line let through.
 */
#ifndef OVERSTAP_RATELIMIT_H
#define OVERSTAP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	unsigned burst;     /* lines per period */
	int64_t period_ms;
	int64_t window_start;
	unsigned used;
	unsigned long missed; /* suppressed since the last line let through */
};

#define RATELIMIT_INIT(burst, period_ms) { (burst), (period_ms), 0, 0, 0 }

/* true: log this one; *missed is how many were suppressed before it. */
bool ratelimit_allow(struct ratelimit *rl, int64_t now_ms, unsigned long *missed);

/* The same, with a window per sender (hashed into RATELIMIT_SLOTS): one
 * certificate flooding does not silence the denials of another. */
#define RATELIMIT_SLOTS 64
struct ratelimit_keyed {
	struct ratelimit slot[RATELIMIT_SLOTS];
};
#define RATELIMIT_KEYED_INIT(burst, period_ms)                                                       \
	{ .slot = { [0 ... RATELIMIT_SLOTS - 1] = RATELIMIT_INIT(burst, period_ms) } }
bool ratelimit_allow_key(struct ratelimit_keyed *rk, const char *a, const char *b, int64_t now_ms,
			 unsigned long *missed);

#endif
