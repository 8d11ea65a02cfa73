/* idpool.h — pupil ids reserved ahead, for pupils ingest has never seen.
 *
 * Ids come from the pupil table's own sequence (nextval: never handed out
 * twice, whatever commits), fetched in blocks inside group transactions, so
 * a group of new pupils knows their ids before it sends a statement and
 * needs no round trip to learn them. An id is only a proposal: the pupil
 * row's primary key still decides, so an id the sequence handed out again
 * (a crash can lose a sequence's progress) fails that group's attempt,
 * never a pupil. One per ingest shard; used by grouptxn.c.
 */
#ifndef OVERSTAP_IDPOOL_H
#define OVERSTAP_IDPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids fetched at a time, and the level below which a group fetches more. */
#define IDPOOL_BLOCK 32768
#define IDPOOL_LOW 32768

struct idpool {
	int64_t *ids;
	size_t n, cap;
	bool fetching; /* a group has asked for a block */
};

void idpool_init(struct idpool *p);
void idpool_free(struct idpool *p);
/* Ids left. */
size_t idpool_available(const struct idpool *p);
/* The next id; the pool must hold one. */
int64_t idpool_take(struct idpool *p);
/* Adds a fetched id (silently dropped when out of memory). */
void idpool_add(struct idpool *p, int64_t id);
/* Forgets every id (the database may have lost the sequence's progress). */
void idpool_clear(struct idpool *p);
/* Whether a group should fetch a block now; marks the pool as fetching. */
bool idpool_wants_block(struct idpool *p);
/* The fetch ended (with or without ids). */
void idpool_fetched(struct idpool *p);

#endif
