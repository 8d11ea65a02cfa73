/* keymap.c — open addressing with linear probing, FNV-1a hashes.
 *
 * Owns only its slot array; never the keys. Grows at 50% load; a clear
 * shrinks a map that is mostly empty.
 */
#include "keymap.h"

#include <stdlib.h>
#include <string.h>

uint64_t keymap_hash(const void *key, size_t keylen)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < keylen; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void keymap_init(struct keymap *m)
{
	memset(m, 0, sizeof *m);
}

void keymap_free(struct keymap *m)
{
	free(m->slots);
	keymap_init(m);
}

void keymap_clear(struct keymap *m)
{
	/* a map that grew for one large group and now holds far fewer keys
	 * starts small again: clearing it would otherwise write all its slots
	 * for every small group after (megabytes, each time) */
	if (m->cap > 1024 && m->count * 8 < m->cap) {
		keymap_free(m);
		return;
	}
	if (m->slots)
		memset(m->slots, 0, m->cap * sizeof *m->slots);
	m->count = 0;
}

static struct keymap_slot *find(const struct keymap *m, const void *key, size_t keylen, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct keymap_slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
			return s;
	}
}

static void grow(struct keymap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct keymap_slot *old = m->slots;
	size_t oldcap = m->cap;
	m->slots = calloc(cap, sizeof *m->slots);
	if (!m->slots)
		abort();
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*find(m, old[i].key, old[i].keylen, old[i].hash) = old[i];
	free(old);
}

uint32_t keymap_put(struct keymap *m, const void *key, size_t keylen, uint32_t value, bool *existed)
{
	if ((m->count + 1) * 2 > m->cap)
		grow(m);
	uint64_t h = keymap_hash(key, keylen);
	struct keymap_slot *s = find(m, key, keylen, h);
	if (s->key) {
		if (existed)
			*existed = true;
		return s->value;
	}
	s->key = key;
	s->keylen = keylen;
	s->hash = h;
	s->value = value;
	m->count++;
	if (existed)
		*existed = false;
	return value;
}

bool keymap_get(const struct keymap *m, const void *key, size_t keylen, uint32_t *value)
{
	if (!m->cap)
		return false;
	struct keymap_slot *s = find(m, key, keylen, keymap_hash(key, keylen));
	if (!s->key)
		return false;
	*value = s->value;
	return true;
}
