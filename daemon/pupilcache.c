/* pupilcache.c — PGN → pupil id, open addressing with linear probing.
 *
 * Owns two parallel arrays (keys, ids), at most half full. Grows by doubling
 * up to its bound, then starts again empty: a cache may forget, never lie.
 * Callers: ingest (lookups before a group, puts after its COMMIT).
 */
#include "pupilcache.h"

#include <stdbool.h>
#include <stdlib.h>

#define FIRST_CAP 65536

void pupilcache_init(struct pupilcache *c, size_t max_entries)
{
	c->keys = NULL;
	c->ids = NULL;
	c->cap = c->count = 0;
	c->max = max_entries;
}

void pupilcache_free(struct pupilcache *c)
{
	free(c->keys);
	free(c->ids);
	pupilcache_init(c, c->max);
}

uint32_t pupilcache_key(const char *pgn)
{
	uint32_t k = 0;
	for (int i = 0; i < 9; i++) {
		if (pgn[i] < '0' || pgn[i] > '9')
			return 0;
		k = k * 10 + (uint32_t)(pgn[i] - '0');
	}
	return pgn[9] == '\0' ? k : 0;
}

static size_t slot_of(uint32_t key, size_t cap)
{
	return (key * 2654435761u) & (cap - 1);
}

int64_t pupilcache_get(const struct pupilcache *c, uint32_t key)
{
	if (!c->cap || key == 0)
		return 0;
	for (size_t i = slot_of(key, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->keys[i] == key)
			return c->ids[i];
		if (c->keys[i] == 0)
			return 0;
	}
}

static void insert(struct pupilcache *c, uint32_t key, int64_t id)
{
	for (size_t i = slot_of(key, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->keys[i] == key)
			return;
		if (c->keys[i] == 0) {
			c->keys[i] = key;
			c->ids[i] = id;
			c->count++;
			return;
		}
	}
}

/* A table of cap slots holding what fits of the old one (all of it when
 * growing; nothing when starting again). false when out of memory. */
static bool rebuild(struct pupilcache *c, size_t cap, bool keep)
{
	uint32_t *keys = calloc(cap, sizeof *keys);
	int64_t *ids = calloc(cap, sizeof *ids);
	if (!keys || !ids) {
		free(keys);
		free(ids);
		return false;
	}
	uint32_t *old_keys = c->keys;
	int64_t *old_ids = c->ids;
	size_t old_cap = c->cap;
	c->keys = keys;
	c->ids = ids;
	c->cap = cap;
	c->count = 0;
	for (size_t i = 0; keep && i < old_cap; i++)
		if (old_keys[i])
			insert(c, old_keys[i], old_ids[i]);
	free(old_keys);
	free(old_ids);
	return true;
}

void pupilcache_put(struct pupilcache *c, uint32_t key, int64_t id)
{
	if (key == 0 || id <= 0)
		return;
	bool ok = true;
	if (c->count + 1 > c->max) {
		ok = rebuild(c, c->cap, false); /* full: start again empty */
	} else if ((c->count + 1) * 2 > c->cap) {
		size_t cap = c->cap * 2;
		if (!c->cap)
			for (cap = 16; cap < FIRST_CAP && cap < 2 * c->max; cap *= 2)
				;
		ok = rebuild(c, cap, true);
	}
	if (ok && c->cap > 0) /* a cache: doing without is fine */
		insert(c, key, id);
}
