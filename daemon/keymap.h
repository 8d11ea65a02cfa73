/* keymap.h — a small open-addressing hash map from byte keys to indexes.
 *
 * Keys are not copied: the caller keeps them alive while the map is used.
 * Used where a group of events must be matched by key (event ids, PGNs).
 */
#ifndef OVERSTAP_KEYMAP_H
#define OVERSTAP_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keymap_slot {
	const void *key;
	size_t keylen;
	uint64_t hash;
	uint32_t value;
};

struct keymap {
	struct keymap_slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

void keymap_init(struct keymap *m);
void keymap_free(struct keymap *m);
/* Empties the map (and gives back its slots when it holds under 1/8 of them). */
void keymap_clear(struct keymap *m);
/* Inserts key → value unless the key is present; returns the value stored
 * (the existing one when present). */
uint32_t keymap_put(struct keymap *m, const void *key, size_t keylen, uint32_t value, bool *existed);
bool keymap_get(const struct keymap *m, const void *key, size_t keylen, uint32_t *value);
uint64_t keymap_hash(const void *key, size_t keylen);

#endif
