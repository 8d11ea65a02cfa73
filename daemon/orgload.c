/* orgload.c — the table of what each identity holds.
 *
 * Owns its entries (allocated one by one, so a pointer to one stays valid as
 * the table grows) and the index from (role, organisation) to entry.
 */
#include "orgload.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "keymap.h"

struct orgload {
	struct keymap index; /* entry key → entries[] */
	struct orgload_entry **entries;
	size_t n, cap;
};

struct orgload *orgload_new(void)
{
	struct orgload *l = calloc(1, sizeof *l);
	if (l)
		keymap_init(&l->index);
	return l;
}

void orgload_free(struct orgload *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i]);
	free(l->entries);
	keymap_free(&l->index);
	free(l);
}

/* The key of who: its role as one byte, then its organisation. */
static size_t key_of(const struct identity *who, char key[OVERSTAP_ORG_MAX + 2])
{
	size_t len = strnlen(who->org, OVERSTAP_ORG_MAX);
	key[0] = (char)('0' + (int)who->role);
	memcpy(key + 1, who->org, len);
	key[len + 1] = '\0';
	return len + 1;
}

struct orgload_entry *orgload_entry(struct orgload *l, const struct identity *who)
{
	char key[OVERSTAP_ORG_MAX + 2];
	size_t len = key_of(who, key);
	uint32_t at;
	if (keymap_get(&l->index, key, len, &at))
		return l->entries[at];
	if (!GROW(l->entries, l->cap, l->n + 1, 16))
		return NULL;
	struct orgload_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->who.role = who->role;
	memcpy(e->who.org, key + 1, len - 1);
	memcpy(e->key, key, len + 1); /* the index keeps a pointer to it */
	l->entries[l->n] = e;
	keymap_put(&l->index, e->key, len, (uint32_t)l->n, NULL);
	l->n++;
	return e;
}
