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
/* The role (OU) and organisation (CN) a certificate names, checked as for a
 * peer (used by tls_peer_identity, and by overstap-bench for --cert). */
bool tls_certificate_identity(X509 *cert, struct identity *out, char *why, size_t whylen);

/* The last OpenSSL error as text, for logs. */
const char *tls_last_error(void);

/* overstapd --check-config: opens every file the [tls] section names (cert,
 * key, ca, and crl when set), checks that the key belongs to the certificate
 * and that the certificate is within its validity period, then builds the
 * server context as the daemon would. false with a sentence in err. */
bool tls_check_files(const char *cert, const char *key, const char *ca, const char *crl, char *err,
		     size_t errlen);

#endif
