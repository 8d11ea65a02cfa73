/* statecache.h — the pupil states this daemon last committed, in memory.
 *
 * Ingest reads a pupil's state from here instead of PostgreSQL when it can.
 * It is only ever a hint: every write checks the stored version, so a stale
 * entry (a sweep or another instance changed the row) costs one retry of the
 * group (which clears the cache), never a wrong state. Bounded: when full it
 * starts again empty.
 */
#ifndef OVERSTAP_STATECACHE_H
#define OVERSTAP_STATECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct statecache_entry {
	int64_t pupil_id; /* 0: empty slot */
	uint32_t cohort;
	uint16_t facts_len;
	bool had_zomerlek, had_niet_gestart;
	int64_t version;
	uint8_t *facts;
};

struct statecache {
	struct statecache_entry *slots;
	size_t cap; /* power of two */
	size_t count, max;
};

void statecache_init(struct statecache *c, size_t max_entries);
void statecache_free(struct statecache *c);
void statecache_clear(struct statecache *c);
/* Forgets every state of one cohort (a sweep changed them). */
void statecache_forget_cohort(struct statecache *c, uint32_t cohort);
const struct statecache_entry *statecache_get(const struct statecache *c, int64_t pupil_id, uint32_t cohort);
/* Stores (or replaces) a committed state; silently does nothing when out of memory. */
void statecache_put(struct statecache *c, int64_t pupil_id, uint32_t cohort, int64_t version, bool had_zomerlek,
		    bool had_niet_gestart, const uint8_t *facts, size_t facts_len);

#endif
