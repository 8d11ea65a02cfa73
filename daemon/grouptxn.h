/* grouptxn.h — one group transaction of ingest: many events, one COMMIT.
 *
 * A group is every event ingest queued on one shard (at most
 * max_group_events), deduplicated by (org, event_id) and grouped by (pupil,
 * cohort). It is one store job of two round trips: step 0 inserts unknown
 * pupils and the events and reads the states ingest does not hold in memory;
 * step 1 writes the merged states (only if their version is unchanged, else
 * the group runs again), personal data, resolved and raised alerts, and
 * COMMITs. When the caches know every pupil's state, or the pupils they do
 * not know may well be new, the group is one round trip instead: it guesses
 * that those pupils (ids from the pool, idpool.h) and every event are new,
 * the database checks the guess, and a wrong guess runs the group again in
 * two steps. Only after COMMIT do the pupil ids and states it learned enter
 * the caches. Used by ingest.c alone.
 */
#ifndef OVERSTAP_GROUPTXN_H
#define OVERSTAP_GROUPTXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.h"
#include "rules.h"

struct store;
struct store_job;
struct pupilcache;
struct statecache;
struct idpool;
struct grouptxn;

enum item_outcome { ITEM_PENDING = 0, ITEM_INSERTED, ITEM_DUPLICATE };

/* One accepted update on its way to the database. */
struct item {
	void *batch;     /* ingest's: whose result this is */
	void *load;      /* ingest's: the sending organisation's count of queued events */
	const char *org; /* the sending organisation, lives as long as the batch */
	uint32_t index;  /* in its batch */
	uint32_t first;  /* the group's first item with the same (org, event_id) */
	uint8_t outcome;
	struct overstap_event ev;
};

/* done: the group committed (ok) or failed for good; its items, effects and
 * outcomes stay readable until the next grouptxn_begin(). */
typedef void (*grouptxn_done_fn)(void *arg, bool ok);

/* writer: names this group's rows of school_day ("instance/shard"). */
struct grouptxn *grouptxn_new(const struct rules_calendar *cal, struct pupilcache *pupils,
			      struct statecache *states, struct idpool *ids, const char *writer, grouptxn_done_fn done,
			      void *arg);
void grouptxn_free(struct grouptxn *t);
/* The prepared statements; before store_start(). */
void grouptxn_register(struct store *store);

/* Takes n items (copied) as the next group; false when out of memory (the
 * items stay the caller's). Then submit grouptxn_job() to an ingest lane. */
bool grouptxn_begin(struct grouptxn *t, const struct item *items, size_t n);
struct store_job *grouptxn_job(struct grouptxn *t);

size_t grouptxn_count(const struct grouptxn *t);
const struct item *grouptxn_item(const struct grouptxn *t, size_t i);
/* After done(ok): was item i stored (not a duplicate, in or before the group)? */
bool grouptxn_item_inserted(const struct grouptxn *t, size_t i);
/* After done(ok): the (cohort, vo school) of every state written, and every
 * recipient that got an alert. */
void grouptxn_each_touched(const struct grouptxn *t, void (*fn)(void *arg, uint32_t cohort, const char *school),
			   void *arg);
/* After done(ok): every (cohort, vo school) that delivered accepted events. */
void grouptxn_each_delivered(const struct grouptxn *t,
			     void (*fn)(void *arg, uint32_t cohort, const char *school), void *arg);
void grouptxn_each_woken(const struct grouptxn *t, void (*fn)(void *arg, const char *recipient), void *arg);
/* Groups (pupil, cohort) in the last group, and alerts it raised by kind. */
size_t grouptxn_pupils(const struct grouptxn *t);

#endif
