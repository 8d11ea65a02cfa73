/* grow.h — the one way an array grows: doubling, checked, nothing lost on
 * failure.
 *
 *   if (!GROW(items, cap, n + 1, 64)) → out of memory; items and cap unchanged
 *
 * The caller decides what running out means there (a rejected request, a
 * cache that does without, a group that fails and is retried) and says so;
 * nothing silently returns.
 */
#ifndef OVERSTAP_GROW_H
#define OVERSTAP_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Makes room for `need` elements of `size` bytes in the array *pp points to
 * (capacity *cap elements), doubling from `first`. false when out of memory
 * or the size would overflow; then *pp and *cap are unchanged. */
bool grow_into(void *pp, size_t *cap, size_t need, size_t size, size_t first);

#define GROW(p, cap, need, first) grow_into(&(p), &(cap), (need), sizeof *(p), (first))

#endif
