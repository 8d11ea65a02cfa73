/* statecache.c — see statecache.h. Open addressing, linear probing, no
 * per-entry removal (a cohort is forgotten by rebuilding the table). */
#include "statecache.h"

#include <stdlib.h>
#include <string.h>

static uint64_t slot_hash(int64_t pupil_id, uint32_t cohort)
{
	uint64_t h = (uint64_t)pupil_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)cohort * 0xC2B2AE3D27D4EB4Full;
	return h ^ (h >> 29);
}

void statecache_init(struct statecache *c, size_t max_entries)
{
	memset(c, 0, sizeof *c);
	c->max = max_entries;
}

static void free_slots(struct statecache_entry *slots, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		free(slots[i].facts);
	free(slots);
}

void statecache_free(struct statecache *c)
{
	free_slots(c->slots, c->cap);
	c->slots = NULL;
	c->cap = c->count = 0;
}

void statecache_clear(struct statecache *c)
{
	size_t max = c->max;
	statecache_free(c);
	c->max = max;
}

static struct statecache_entry *find(const struct statecache *c, int64_t pupil_id, uint32_t cohort)
{
	if (!c->cap)
		return NULL;
	size_t i = slot_hash(pupil_id, cohort) & (c->cap - 1);
	while (c->slots[i].pupil_id) {
		if (c->slots[i].pupil_id == pupil_id && c->slots[i].cohort == cohort)
			return &c->slots[i];
		i = (i + 1) & (c->cap - 1);
	}
	return &c->slots[i]; /* the empty slot where it would go */
}

const struct statecache_entry *statecache_get(const struct statecache *c, int64_t pupil_id, uint32_t cohort)
{
	const struct statecache_entry *e = find(c, pupil_id, cohort);
	return e && e->pupil_id ? e : NULL;
}

static bool grow(struct statecache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 4096;
	struct statecache_entry *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	struct statecache_entry *old = c->slots;
	size_t old_cap = c->cap;
	c->slots = slots;
	c->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].pupil_id)
			continue;
		*find(c, old[i].pupil_id, old[i].cohort) = old[i];
	}
	free(old);
	return true;
}

void statecache_put(struct statecache *c, int64_t pupil_id, uint32_t cohort, int64_t version, bool had_zomerlek,
		    bool had_niet_gestart, const uint8_t *facts, size_t facts_len)
{
	if (pupil_id <= 0 || facts_len > UINT16_MAX || c->max == 0)
		return;
	struct statecache_entry *e = find(c, pupil_id, cohort);
	if (!e || !e->pupil_id) {
		if (c->count >= c->max)
			statecache_clear(c); /* full: start again */
		if ((c->count + 1) * 4 > c->cap * 3 && !grow(c))
			return;
		e = find(c, pupil_id, cohort);
		e->pupil_id = pupil_id;
		e->cohort = cohort;
		e->facts = NULL;
		e->facts_len = 0;
		c->count++;
	}
	if (e->facts_len != facts_len) {
		uint8_t *p = realloc(e->facts, facts_len ? facts_len : 1);
		if (!p) {
			statecache_clear(c);
			return;
		}
		e->facts = p;
	}
	memcpy(e->facts, facts, facts_len);
	e->facts_len = (uint16_t)facts_len;
	e->version = version;
	e->had_zomerlek = had_zomerlek;
	e->had_niet_gestart = had_niet_gestart;
}

void statecache_forget_cohort(struct statecache *c, uint32_t cohort)
{
	if (!c->cap)
		return;
	struct statecache_entry *old = c->slots;
	size_t old_cap = c->cap;
	struct statecache_entry *slots = calloc(old_cap, sizeof *slots);
	if (!slots) {
		statecache_clear(c);
		return;
	}
	c->slots = slots;
	c->count = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].pupil_id)
			continue;
		if (old[i].cohort == cohort) {
			free(old[i].facts);
			continue;
		}
		*find(c, old[i].pupil_id, old[i].cohort) = old[i];
		c->count++;
	}
	free(old);
}
