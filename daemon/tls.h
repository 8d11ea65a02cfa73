/* tls.h — the server's TLS context and the peer identity.
 *
 * TLS 1.2 minimum, a client certificate signed by the configured CA required
 * (optional CRL). Identity — role from subject OU, organisation from subject
 * CN — is read only from the verified certificate (DESIGN §4.1). No session
 * resumption. main builds the context again on SIGHUP and when the CRL file
 * changes; established peers are checked against the new one.
 */
#ifndef OVERSTAP_TLS_H
#define OVERSTAP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.h"

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *ca, const char *crl,
			char *err, size_t errlen);

/* After the handshake: the verified peer's role and organisation. On failure
 * writes the reason (no personal data) and returns false. */
bool tls_peer_identity(SSL *ssl, struct identity *out, char *why, size_t whylen);

/* Does an established peer's certificate still verify against ctx (a new CA
 * or CRL after a reload)? On failure writes why ("certificate revoked"). */
bool tls_peer_still_valid(SSL *ssl, SSL_CTX *ctx, char *why, size_t whylen);

/* After the handshake and tls_peer_identity(): gives back what only the
 * handshake needed (its SSL_SESSION, the connection's copy of the server's
 * certificate set: ~5 KB per connection). The
 * connection reads, writes, takes a KeyUpdate and is checked by
 * tls_peer_still_valid() as before; SSL_get0_peer_certificate() is NULL
 * after it. OpenSSL 3.0 only (elsewhere it does nothing and says false). */
bool tls_release_handshake(SSL *ssl);

/* At exit: the contexts tls_release_handshake() made. */
void tls_release_contexts(void);

/* Has a file (the CRL) changed since the last look? Updates *last. */
struct tls_stamp {
	uint64_t dev, ino;
	int64_t size, mtime_ns;
};
bool tls_file_changed(const char *path, struct tls_stamp *last);


/* overstapd --check-config: opens every file the [tls] section names (cert,
 * key, ca, and crl when set), checks that the key belongs to the certificate
 * and that the certificate is within its validity period, then builds the
 * server context as the daemon would. false with a sentence in err. */
bool tls_check_files(const char *cert, const char *key, const char *ca, const char *crl, char *err,
		     size_t errlen);

#endif
