/* tls.h — the server's TLS context and the peer identity.
 *
 * TLS 1.2 minimum, a client certificate signed by the configured CA required
 * (optional CRL). Identity — role from subject OU, organisation from subject
 * CN — is read only from the verified certificate (DESIGN §4.1).
 */
#ifndef OVERSTAP_TLS_H
#define OVERSTAP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "overstap.h"

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *ca, const char *crl,
			char *err, size_t errlen);

/* After the handshake: the verified peer's role and organisation. On failure
 * writes the reason (no personal data) and returns false. */
bool tls_peer_identity(SSL *ssl, struct identity *out, char *why, size_t whylen);


#endif
