/* idpool.c — pupil ids reserved ahead (idpool.h).
 *
 * Owns the ids fetched and not yet used, as a stack. Never talks to the
 * database itself: grouptxn.c adds the fetch to a group's statements and
 * hands the ids it gets back. Caller: grouptxn.c (ingest.c owns the pool).
 */
#include "idpool.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grow.h"

void idpool_init(struct idpool *p)
{
	memset(p, 0, sizeof *p);
}

void idpool_free(struct idpool *p)
{
	free(p->ids);
	idpool_init(p);
}

size_t idpool_available(const struct idpool *p)
{
	return p->n;
}

int64_t idpool_take(struct idpool *p)
{
	CHECK(p->n > 0); /* the caller counted */
	return p->ids[--p->n];
}

void idpool_add(struct idpool *p, int64_t id)
{
	if (id <= 0 || !GROW(p->ids, p->cap, p->n + 1, IDPOOL_BLOCK))
		return;
	p->ids[p->n++] = id;
}

void idpool_clear(struct idpool *p)
{
	p->n = 0;
}

bool idpool_wants_block(struct idpool *p)
{
	if (p->fetching || p->n >= IDPOOL_LOW)
		return false;
	p->fetching = true;
	return true;
}

void idpool_fetched(struct idpool *p)
{
	p->fetching = false;
}
