/* tls.c — SSL_CTX for the listener and the identity of a verified peer.
 *
 * Owns the OpenSSL server configuration. Never reads identity from anything
 * but the verified client certificate; rejects names with embedded NULs or
 * characters outside a safe set (certid.c). Callers: main (context), session
 * (identity).
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
	/* Idle connections hold no record buffers. No resumption at all: a
	 * resumed session would skip the certificate checks (a certificate
	 * revoked since would still work), so every connection shows its
	 * certificate again — no session cache, no tickets. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
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

/* The peer's certificate after the handshake: the first of the verified chain
 * (which tls_release_handshake() leaves), the certificates between it and
 * the trust anchor what the peer sent besides. Before any release, or should
 * there be no verified chain, the session's own. */
static X509 *peer_certificate(SSL *ssl, STACK_OF(X509) **between)
{
	*between = NULL;
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	if (!chain || sk_X509_num(chain) < 1) {
		STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
		*between = sent ? sk_X509_dup(sent) : NULL;
		return SSL_get0_peer_certificate(ssl);
	}
	*between = sk_X509_new_null();
	for (int i = 1; *between && i < sk_X509_num(chain) - 1; i++)
		sk_X509_push(*between, sk_X509_value(chain, i));
	return sk_X509_value(chain, 0);
}

bool tls_peer_still_valid(SSL *ssl, SSL_CTX *ctx, char *why, size_t whylen)
{
	STACK_OF(X509) *between;
	X509 *cert = peer_certificate(ssl, &between);
	if (!cert) {
		sk_X509_free(between);
		snprintf(why, whylen, "no client certificate");
		return false;
	}
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	bool ok = xs && X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx), cert, between) == 1;
	if (ok) {
		X509_STORE_CTX_set_purpose(xs, X509_PURPOSE_SSL_CLIENT);
		ok = X509_verify_cert(xs) == 1;
		if (!ok)
			snprintf(why, whylen, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
	} else {
		snprintf(why, whylen, "cannot check: %s", sslerr_last("out of memory"));
	}
	X509_STORE_CTX_free(xs);
	sk_X509_free(between);
	return ok;
}

/* ---- what an established connection no longer needs ----------------------
 *
 * After its handshake a connection keeps, in OpenSSL 3.0, the handshake's
 * SSL_SESSION — a second reference to the peer's certificate (the verified
 * chain holds it too, and keeps it), the chain the peer sent, the negotiated
 * extensions, the master secret — and its own copy
 * of the server's certificate set: some 5 KB of the 27 a connection held,
 * kept only for resumption (off: tls_server_ctx) and renegotiation (off).
 * OpenSSL has no call to drop them, but a connection may be given a new
 * session, and another context (as for SNI). Given a session of its own
 * protocol and cipher and nothing else, and a context without certificates,
 * it frees both at once. SSL_set_session() resets a connection whose method
 * is not its context's, and the method of an established connection is its
 * version's (TLSv1.3's), not TLS_server_method(): so the context it is given
 * is one made with that very method (one per method, kept until exit), and
 * nothing of the record layer, the traffic secrets (a KeyUpdate) or the
 * verified chain (tls_peer_still_valid()) changes. Checked against 3.0's
 * code and in test_tls; on another OpenSSL it does nothing. */

#define POST_HANDSHAKE_CTX_MAX 4
static struct {
	const SSL_METHOD *method;
	SSL_CTX *ctx;
} post_handshake[POST_HANDSHAKE_CTX_MAX];

static SSL_CTX *post_handshake_ctx(const SSL_METHOD *method)
{
	for (int i = 0; i < POST_HANDSHAKE_CTX_MAX; i++) {
		if (post_handshake[i].method == method)
			return post_handshake[i].ctx;
		if (!post_handshake[i].method) {
			SSL_CTX *ctx = SSL_CTX_new(method);
			if (!ctx)
				return NULL;
			post_handshake[i].method = method;
			post_handshake[i].ctx = ctx;
			return ctx;
		}
	}
	return NULL;
}

bool tls_release_handshake(SSL *ssl)
{
	if ((OpenSSL_version_num() & 0xfff00000UL) != 0x30000000UL)
		return false;
	SSL_SESSION *handshake = SSL_get_session(ssl);
	if (!handshake || !SSL_is_init_finished(ssl) || !SSL_SESSION_get0_cipher(handshake) ||
	    SSL_SESSION_get_max_fragment_length(handshake) != TLSEXT_max_fragment_length_DISABLED)
		return false; /* a negotiated fragment length lives in the session only */
	const SSL_METHOD *method = SSL_get_ssl_method(ssl);
	SSL_CTX *post = post_handshake_ctx(method);
	SSL_SESSION *lean = post ? SSL_SESSION_new() : NULL;
	if (!lean || !SSL_SESSION_set_protocol_version(lean, SSL_SESSION_get_protocol_version(handshake)) ||
	    !SSL_SESSION_set_cipher(lean, SSL_SESSION_get0_cipher(handshake))) {
		SSL_SESSION_free(lean);
		ERR_clear_error();
		return false;
	}
	long verified = SSL_get_verify_result(ssl);
	/* the context's method is the connection's: SSL_set_session() keeps it */
	bool done = SSL_CTX_get_ssl_method(post) == method && SSL_set_SSL_CTX(ssl, post) == post &&
		    SSL_set_session(ssl, lean) == 1;
	SSL_SESSION_free(lean); /* the connection holds it now */
	SSL_set_verify_result(ssl, verified);
	ERR_clear_error();
	return done;
}

void tls_release_contexts(void)
{
	for (int i = 0; i < POST_HANDSHAKE_CTX_MAX; i++) {
		SSL_CTX_free(post_handshake[i].ctx);
		post_handshake[i].ctx = NULL;
		post_handshake[i].method = NULL;
	}
}

static bool stamp_of(const char *path, struct tls_stamp *st)
{
	struct stat sb;
	memset(st, 0, sizeof *st);
	if (!path || !path[0] || stat(path, &sb) != 0)
		return false;
	st->dev = (uint64_t)sb.st_dev;
	st->ino = (uint64_t)sb.st_ino;
	st->size = (int64_t)sb.st_size;
	st->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	return true;
}

bool tls_file_changed(const char *path, struct tls_stamp *last)
{
	struct tls_stamp now;
	stamp_of(path, &now);
	bool changed = memcmp(&now, last, sizeof now) != 0;
	*last = now;
	return changed;
}

static bool readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "[tls] %s %s: cannot open: %s", what, path, strerror(errno));
		return false;
	}
	fclose(f);
	return true;
}

bool tls_check_files(const char *cert, const char *key, const char *ca, const char *crl, char *err,
		     size_t errlen)
{
	if (!readable("cert", cert, err, errlen) || !readable("key", key, err, errlen) ||
	    !readable("ca", ca, err, errlen) || (crl && crl[0] && !readable("crl", crl, err, errlen)))
		return false;
	bool ok = false;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	FILE *f = fopen(cert, "r");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!x) {
		snprintf(err, errlen, "[tls] cert %s: not a PEM certificate: %s", cert, sslerr_last("unknown TLS error"));
		goto done;
	}
	f = fopen(key, "r");
	if (f) {
		pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!pk) {
		snprintf(err, errlen, "[tls] key %s: not a PEM private key (or one with a passphrase): %s", key,
			 sslerr_last("unknown TLS error"));
		goto done;
	}
	if (X509_check_private_key(x, pk) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "[tls] key %s does not belong to the certificate %s", key, cert);
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		snprintf(err, errlen, "[tls] cert %s has expired", cert);
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		snprintf(err, errlen, "[tls] cert %s is not valid yet", cert);
		goto done;
	}
	SSL_CTX *ctx = tls_server_ctx(cert, key, ca, crl, err, errlen);
	if (ctx) {
		SSL_CTX_free(ctx);
		ok = true;
	}
done:
	X509_free(x);
	EVP_PKEY_free(pk);
	return ok;
}
