/* sslerr.h — OpenSSL's last error as text, for logs and messages; shared by
 * the daemon and the clients. */
#ifndef OVERSTAP_SSLERR_H
#define OVERSTAP_SSLERR_H

/* The last error in OpenSSL's queue as text, and clears the queue; `none`
 * when there is none. The text lives until the next call. */
const char *sslerr_last(const char *none);

#endif
