/* ratelimit.c — a fixed window per call site (ratelimit.h). Pure: the time
 * comes in. Callers: session, net, ingest, pupil, stats (warnings a client
 * can provoke). */
#include "ratelimit.h"

bool ratelimit_allow_key(struct ratelimit_keyed *rk, const char *a, const char *b, int64_t now_ms,
			 unsigned long *missed)
{
	uint32_t h = 2166136261u;
	for (const char *p = a; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ ':') * 16777619u;
	for (const char *p = b; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return ratelimit_allow(&rk->slot[h % RATELIMIT_SLOTS], now_ms, missed);
}

bool ratelimit_allow(struct ratelimit *rl, int64_t now_ms, unsigned long *missed)
{
	if (now_ms - rl->window_start >= rl->period_ms || now_ms < rl->window_start) {
		rl->window_start = now_ms;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->missed++;
		return false;
	}
	rl->used++;
	*missed = rl->missed;
	rl->missed = 0;
	return true;
}
