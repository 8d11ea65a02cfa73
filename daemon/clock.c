/* clock.c — the daemon's notion of now: system or manual (DESIGN §5.1).
 *
 * Owns the manual time and the list of listeners told when it moves. Never
 * goes backwards. The only module that calls clock_gettime().
 */
#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_LISTENERS 8

static enum clock_mode mode = CLOCK_SYSTEM;
static int64_t manual_ms;
static struct {
	clock_listener fn;
	void *arg;
} listeners[MAX_LISTENERS];
static int n_listeners;

void clock_init(enum clock_mode m, int64_t manual_start)
{
	mode = m;
	manual_ms = manual_start * 1000;
}

enum clock_mode clock_mode(void)
{
	return mode;
}

int64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_now_ms(void)
{
	return mode == CLOCK_MANUAL ? manual_ms : clock_wall_ms();
}

int64_t clock_now(void)
{
	return clock_now_ms() / 1000;
}

bool clock_set(int64_t at)
{
	if (mode != CLOCK_MANUAL || at * 1000 < manual_ms)
		return false;
	manual_ms = at * 1000;
	for (int i = 0; i < n_listeners; i++)
		listeners[i].fn(listeners[i].arg);
	return true;
}

void clock_on_change(clock_listener fn, void *arg)
{
	if (n_listeners < MAX_LISTENERS) {
		listeners[n_listeners].fn = fn;
		listeners[n_listeners].arg = arg;
		n_listeners++;
	}
}
