/* pupilcache.h — PGN → pupil id, for the pupils this daemon has seen.
 *
 * A pupil's surrogate id never changes, so a known pupil costs ingest no
 * statement at all. Only ids of committed rows may enter (a rolled-back
 * insert leaves no row): ingest puts them after COMMIT. Bounded: when full it
 * starts again empty. Keys are the 9-digit PGN as a number (000000000 is no
 * PGN, so 0 marks an empty slot).
 */
#ifndef OVERSTAP_PUPILCACHE_H
#define OVERSTAP_PUPILCACHE_H

#include <stddef.h>
#include <stdint.h>

struct pupilcache {
	uint32_t *keys;
	int64_t *ids;
	size_t cap, count, max;
};

void pupilcache_init(struct pupilcache *c, size_t max_entries);
void pupilcache_free(struct pupilcache *c);
/* The key of a PGN of 9 digits; 0 for anything else. */
uint32_t pupilcache_key(const char *pgn);
/* The pupil id, or 0 when unknown. */
int64_t pupilcache_get(const struct pupilcache *c, uint32_t key);
/* Remembers key → id; does nothing for key 0, id <= 0, or out of memory. */
void pupilcache_put(struct pupilcache *c, uint32_t key, int64_t id);

#endif
