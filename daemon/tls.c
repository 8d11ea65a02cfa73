/* tls.c — SSL_CTX for the listener and the identity of a verified peer.
 *
 * Owns the OpenSSL server configuration. Never reads identity from anything
 * but the verified client certificate; rejects names with embedded NULs or
 * characters outside a safe set (certid.c). Callers: main (context), session
 * (identity).
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "certid.h"
#include "sslerr.h"

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *ca, const char *crl,
			char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "SSL_CTX_new: %s", sslerr_last("unknown TLS error"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections hold no record buffers, and no server-side session
	 * cache keeps a copy of every peer's session: resumption works with
	 * stateless tickets. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "server certificate %s: %s", cert, sslerr_last("unknown TLS error"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "server key %s: %s", key, sslerr_last("unknown TLS error"));
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "CA %s: %s", ca, sslerr_last("unknown TLS error"));
		goto fail;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (!names) {
		snprintf(err, errlen, "CA %s: no certificate names: %s", ca, sslerr_last("unknown TLS error"));
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	static const unsigned char sid_ctx[] = "overstapd";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	if (crl && crl[0]) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
		if (!lookup || X509_load_crl_file(lookup, crl, X509_FILETYPE_PEM) < 1) {
			snprintf(err, errlen, "CRL %s: %s", crl, sslerr_last("unknown TLS error"));
			goto fail;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

bool tls_peer_identity(SSL *ssl, struct identity *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof *out);
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(why, whylen, "certificate not verified: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
		return false;
	}
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!cert) {
		snprintf(why, whylen, "no client certificate");
		return false;
	}
	return certid_read(cert, out, why, whylen);
}
