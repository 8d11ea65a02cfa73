/* tls.c — SSL_CTX for the listener and the identity of a verified peer.
 *
 * Owns the OpenSSL server configuration. Never reads identity from anything
 * but the verified client certificate; rejects names with embedded NULs or
 * characters outside a safe set. Callers: main (context), session (identity),
 * overstap-bench (the identity its --cert names).
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

const char *tls_last_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();
	if (!e)
		return "unknown TLS error";
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *ca, const char *crl,
			char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "SSL_CTX_new: %s", tls_last_error());
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
		snprintf(err, errlen, "server certificate %s: %s", cert, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "server key %s: %s", key, tls_last_error());
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "CA %s: %s", ca, tls_last_error());
		goto fail;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (!names) {
		snprintf(err, errlen, "CA %s: no certificate names: %s", ca, tls_last_error());
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
			snprintf(err, errlen, "CRL %s: %s", crl, tls_last_error());
			goto fail;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* One subject entry as a C string; false when absent, duplicated, with an
 * embedded NUL, too long, or outside [A-Za-z0-9._-]. */
static bool subject_field(X509_NAME *name, int nid, char *out, size_t outlen)
{
	int idx = X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return false;
	ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	int len = ASN1_STRING_length(data);
	const unsigned char *p = ASN1_STRING_get0_data(data);
	if (len <= 0 || (size_t)len >= outlen || memchr(p, '\0', (size_t)len))
		return false;
	for (int i = 0; i < len; i++) {
		unsigned char c = p[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	memcpy(out, p, (size_t)len);
	out[len] = '\0';
	return true;
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
	return tls_certificate_identity(cert, out, why, whylen);
}

bool tls_certificate_identity(X509 *cert, struct identity *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof *out);
	X509_NAME *subject = X509_get_subject_name(cert);
	char ou[32];
	if (!subject_field(subject, NID_organizationalUnitName, ou, sizeof ou)) {
		snprintf(why, whylen, "certificate has no single valid OU (role)");
		return false;
	}
	out->role = overstap_role_parse(ou);
	if (out->role == ROLE_NONE) {
		snprintf(why, whylen, "unknown role OU=%s", ou);
		return false;
	}
	if (!subject_field(subject, NID_commonName, out->org, sizeof out->org)) {
		snprintf(why, whylen, "certificate has no single valid CN (organisation)");
		return false;
	}
	bool org_ok = true;
	switch (out->role) {
	case ROLE_VO:
		org_ok = overstap_vestiging_is_valid(out->org);
		break;
	case ROLE_MBO:
		org_ok = overstap_brin_is_valid(out->org);
		break;
	case ROLE_RMC:
	case ROLE_PROJECTTEAM:
		org_ok = strlen(out->org) == 2 && out->org[0] >= '0' && out->org[0] <= '9' &&
			 out->org[1] >= '0' && out->org[1] <= '9';
		break;
	default:
		break;
	}
	if (!org_ok) {
		snprintf(why, whylen, "CN=%s is not a valid organisation for role %s", out->org, ou);
		return false;
	}
	return true;
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
		snprintf(err, errlen, "[tls] cert %s: not a PEM certificate: %s", cert, tls_last_error());
		goto done;
	}
	f = fopen(key, "r");
	if (f) {
		pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!pk) {
		snprintf(err, errlen, "[tls] key %s: not a PEM private key (or one with a passphrase): %s", key,
			 tls_last_error());
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
