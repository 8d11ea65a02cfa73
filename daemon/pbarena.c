/* pbarena.c — a chunked bump allocator behind a ProtobufCAllocator.
 *
 * Owns its chunks: the first (PBARENA_FIRST bytes) lives as long as the
 * arena; a request that does not fit the chunk being filled gets a new one,
 * at least as large as the request, freed by the next reset. Allocations are
 * aligned to 16 bytes, like malloc's.
 */
#include "pbarena.h"

#include <stdint.h>
#include <stdlib.h>

#define PBARENA_FIRST (64u << 10)
#define PBARENA_ALIGN 16u

struct pbarena_chunk {
	struct pbarena_chunk *next; /* the extra chunks, newest first */
	size_t size;                /* bytes of data */
	_Alignas(16) unsigned char data[];
};

static struct pbarena_chunk *chunk_new(size_t size)
{
	struct pbarena_chunk *c = malloc(sizeof *c + size);
	if (c) {
		c->next = NULL;
		c->size = size;
	}
	return c;
}

static void *arena_alloc(void *data, size_t size)
{
	struct pbarena *a = data;
	size_t need = (size + PBARENA_ALIGN - 1) & ~(size_t)(PBARENA_ALIGN - 1);
	if (need < size)
		return NULL; /* overflow */
	if (!a->current || a->current->size - a->used < need) {
		if (!a->first) {
			a->first = chunk_new(PBARENA_FIRST);
			if (!a->first)
				return NULL;
		}
		struct pbarena_chunk *c;
		if (!a->current && need <= a->first->size) {
			c = a->first;
		} else {
			size_t size_new = need > PBARENA_FIRST ? need : PBARENA_FIRST;
			c = chunk_new(size_new);
			if (!c)
				return NULL;
			c->next = a->extra;
			a->extra = c;
		}
		a->current = c;
		a->used = 0;
	}
	void *p = a->current->data + a->used;
	a->used += need;
	a->allocated += need;
	return p;
}

static void arena_free(void *data, void *pointer)
{
	(void)data;
	(void)pointer; /* all of it goes at pbarena_reset() */
}

void pbarena_init(struct pbarena *a)
{
	*a = (struct pbarena){ .allocator = { arena_alloc, arena_free, a } };
}

void pbarena_reset(struct pbarena *a)
{
	while (a->extra) {
		struct pbarena_chunk *next = a->extra->next;
		free(a->extra);
		a->extra = next;
	}
	a->current = NULL;
	a->used = 0;
	a->allocated = 0;
}

void pbarena_free(struct pbarena *a)
{
	pbarena_reset(a);
	free(a->first);
	a->first = NULL;
}
