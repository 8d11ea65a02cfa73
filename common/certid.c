/* certid.c — the identity a client certificate names (DESIGN §4.1).
 *
 * Owns the reading of subject OU (role) and CN (organisation) and their
 * checks: exactly one of each, no embedded NUL, only [A-Za-z0-9._-], and an
 * organisation of the form the role needs. Never decides whether a
 * certificate is trusted: that is the TLS verification's (daemon/tls.c).
 * Callers: tls (peers), overstap-bench (the identity its --cert names).
 */
#include "certid.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

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

bool certid_read(X509 *cert, struct identity *out, char *why, size_t whylen)
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
		org_ok = overstap_region_is_valid(out->org);
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
