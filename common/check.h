/* check.h — assertions on our own invariants, on in every build.
 *
 * CHECK(cond) stops the process with a message naming the condition and the
 * place when cond is false (like Redis' serverAssert). Only for what our own
 * code guarantees; never for anything that came from outside (a client, the
 * database, a file): that is an error to report, not an invariant.
 */
#ifndef OVERSTAP_CHECK_H
#define OVERSTAP_CHECK_H

_Noreturn void check_failed(const char *what, const char *file, int line);

#define CHECK(cond) ((cond) ? (void)0 : check_failed(#cond, __FILE__, __LINE__))

#endif
