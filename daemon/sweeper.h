/* sweeper.h — the deadline sweeps of DESIGN §5.1 and the escalation check.
 *
 * A timer waits for the next due deadline of any cohort; at start-up the
 * sweeper catches up deadlines that passed while the daemon was down. Each
 * (cohort, deadline) runs once, recorded in sweep_run, as set-based SQL.
 */
#ifndef OVERSTAP_SWEEPER_H
#define OVERSTAP_SWEEPER_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct sweeper;

/* When every sweep asked for has run (ok), or one failed (message says why). */
typedef void (*sweeper_done_fn)(void *arg, bool ok, const char *message, uint32_t alerts_raised);

struct sweeper *sweeper_new(struct server *srv);
void sweeper_free(struct sweeper *sw);
void sweeper_register(struct sweeper *sw);
/* Database is up: catch up and arm the timer. */
void sweeper_start(struct sweeper *sw);
/* Runs every sweep due at or before `at`; then calls done(arg) once (when
 * done is not NULL). */
void sweeper_run_until(struct sweeper *sw, int64_t at, sweeper_done_fn done, void *arg);
void sweeper_clock_changed(struct sweeper *sw);

#endif
