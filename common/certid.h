/* certid.h — the role and organisation a client certificate names.
 *
 * Subject OU = role, CN = organisation (DESIGN §4.1), checked as for a peer.
 * Shared by the daemon (verified peers) and the clients (their own --cert).
 */
#ifndef OVERSTAP_CERTID_H
#define OVERSTAP_CERTID_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "overstap.h"

/* On failure writes the reason (no personal data) and returns false. */
bool certid_read(X509 *cert, struct identity *out, char *why, size_t whylen);

#endif
