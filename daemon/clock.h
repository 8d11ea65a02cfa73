/* clock.h — the daemon's time (DESIGN §5.1).
 *
 * Every module reads "now" here and nowhere else. mode = system is the real
 * time; mode = manual starts at a configured moment and moves only forward,
 * by clock_set() (AdminRequest.set_clock). Listeners hear about every move so
 * timers (deadline sweeps, redelivery, escalation) fire through the same code
 * path as in production.
 */
#ifndef OVERSTAP_CLOCK_H
#define OVERSTAP_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

enum clock_mode { CLOCK_SYSTEM = 0, CLOCK_MANUAL };

void clock_init(enum clock_mode mode, int64_t manual_start);
enum clock_mode clock_mode(void);
int64_t clock_now(void);    /* the daemon's time, unix seconds */
int64_t clock_now_ms(void); /* the daemon's time, unix milliseconds */
int64_t clock_wall_ms(void);  /* the real wall clock, for logs only */
int64_t clock_mono_us(void);  /* monotonic microseconds, for latencies */

/* Manual mode only: moves the time to `at` (unix seconds). Refuses to go back.
 * Calls every listener after the move. */
bool clock_set(int64_t at);

typedef void (*clock_listener)(void *arg);
void clock_on_change(clock_listener fn, void *arg);

#endif
