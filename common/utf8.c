/* utf8.c — strict UTF-8 validation (see utf8.h).
 *
 * Owns the decoding of one code point at a time; callers decide what a bad
 * byte means (a rejected update, a Windows-1252 file, an unechoed event id).
 * Callers: overstap (field checks), ingest (echoed ids), clients/lib (files).
 */
#include "utf8.h"

#include <stdint.h>

/* Decodes the code point at s[i]; its length, or 0 when not strict UTF-8. */
static size_t decode(const unsigned char *p, size_t i, size_t len, uint32_t *cp)
{
	unsigned c = p[i];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	if (n == 0 || i + n > len || (n == 2 && c < 0xc2))
		return 0;
	uint32_t v = n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
	for (size_t k = 1; k < n; k++) {
		if ((p[i + k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i + k] & 0x3f);
	}
	if ((n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) || (n == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return n;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = decode(p, i, len, &cp);
		if (n == 0) {
			if (bad_at)
				*bad_at = i;
			return false;
		}
		i += n;
	}
	return true;
}

bool utf8_is_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = decode(p, i, len, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += n;
	}
	return true;
}
