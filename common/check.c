/* check.c — what happens when an invariant does not hold (check.h): one line
 * on stderr naming it, then abort() for a core dump. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void check_failed(const char *what, const char *file, int line)
{
	fprintf(stderr, "FATAL invariant violated: %s (%s:%d)\n", what, file, line);
	fflush(stderr);
	abort();
}
