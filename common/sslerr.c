/* sslerr.c — OpenSSL's error queue as one line of text (sslerr.h).
 * Callers: daemon/tls.c, clients/lib/client.c. */
#include "sslerr.h"

#include <openssl/err.h>

const char *sslerr_last(const char *none)
{
	static char buf[256];
	unsigned long e = ERR_get_error();
	if (!e)
		return none;
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}
