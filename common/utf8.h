/* utf8.h — the one UTF-8 validator, shared by daemon and clients.
 *
 * Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Pure: no allocation, no locale.
 */
#ifndef OVERSTAP_UTF8_H
#define OVERSTAP_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8. On failure *bad_at (if given) is the offset of the first bad
 * byte. A NUL byte is valid UTF-8 (U+0000); utf8_is_text refuses it. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);
/* Strict UTF-8 without control characters (C0, DEL, C1): names, reasons, ids. */
bool utf8_is_text(const char *s, size_t len);

#endif
