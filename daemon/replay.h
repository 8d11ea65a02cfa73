/* replay.h — the states of a cohort as they were at a moment (DESIGN §5.2
 * "Peildatum"), for StatsQuery.as_of.
 *
 * A state no write touched after the moment is what it was then: only the
 * pupils whose state changed later are replayed — their events received by
 * then folded again (overstap_state_apply), their status at that moment
 * (rules_status_at), their ZOMERLEK / NIET_GESTART from the alerts raised by
 * then — in slices of pupils, so the loop serves others between them, and
 * at most REPLAY_MAX_RUNNING replays at once (the rest wait their turn).
 * The result is the counts per (vo school, group key) of the replayed
 * pupils, as arrays the stats statement adds to the untouched states
 * (stats.c). Also owns the log horizon: before it the database does not
 * hold every event it was sent (AS_OF_UNAVAILABLE).
 */
#ifndef OVERSTAP_REPLAY_H
#define OVERSTAP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "overstap.pb-c.h"
#include "store.h"

struct server;
struct replay;

/* The counts of the replayed pupils per (school, key), as text arrays for
 * the statement: school, key, then the ten counts of a stats cell. */
#define REPLAY_N_COUNTS 10
struct replay_cells {
	struct pgarray school, key;
	struct pgarray counts[REPLAY_N_COUNTS];
	uint32_t pupils; /* replayed */
};

/* done: cells (valid during the call) or error (a sentence). */
typedef void (*replay_done_fn)(void *arg, const struct replay_cells *cells, const char *error);

struct replay *replay_new(struct server *srv);
void replay_free(struct replay *rp);
void replay_register(struct replay *rp);
/* The database is up: records the log horizon at the first start. */
void replay_start(struct replay *rp);
/* The earliest moment a peildatum may name; INT64_MAX until known. */
int64_t replay_horizon(const struct replay *rp);

/* Replays the cohort's pupils whose state changed after as_of (of the
 * region's schools, "" = all), grouped by `by`. */
void replay_run(struct replay *rp, uint32_t cohort, int64_t as_of, const char *region, Overstap__V1__GroupBy by,
		replay_done_fn done, void *arg);

#endif
