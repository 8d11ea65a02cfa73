/* grow.c — doubling growth of arrays (grow.h). Owns nothing. */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool grow_into(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : (first ? first : 1);
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return false;
		n *= 2;
	}
	if (size && n > SIZE_MAX / size)
		return false;
	void *old;
	memcpy(&old, pp, sizeof old); /* *pp is a T *: read and write it as bytes */
	void *p = realloc(old, n * size);
	if (!p)
		return false;
	memcpy(pp, &p, sizeof p);
	*cap = n;
	return true;
}
