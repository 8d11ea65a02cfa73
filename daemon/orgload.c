/* orgload.c — the table of organisations' uncommitted events.
 *
 * Owns its entries (allocated one by one, so a pointer to one stays valid as
 * the table grows) and the index from organisation to entry.
 */
#include "orgload.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "keymap.h"

struct orgload {
	struct keymap index; /* org → entries[] */
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

struct orgload_entry *orgload_entry(struct orgload *l, const char *org)
{
	size_t len = strnlen(org, OVERSTAP_ORG_MAX);
	uint32_t at;
	if (keymap_get(&l->index, org, len, &at))
		return l->entries[at];
	if (!GROW(l->entries, l->cap, l->n + 1, 16))
		return NULL;
	struct orgload_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	memcpy(e->org, org, len); /* the key the index keeps */
	l->entries[l->n] = e;
	keymap_put(&l->index, e->org, len, (uint32_t)l->n, NULL);
	l->n++;
	return e;
}

int64_t orgload_queued(const struct orgload *l, const char *org)
{
	uint32_t at;
	if (!l || !keymap_get(&l->index, org, strnlen(org, OVERSTAP_ORG_MAX), &at))
		return 0;
	return l->entries[at]->queued;
}
