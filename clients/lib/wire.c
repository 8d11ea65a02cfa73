/* wire.c — enum names from the protobuf descriptors, and wire times.
 *
 * Owns the conversions between what people type in CSV files and on command
 * lines and the numbers on the wire. Pure: no I/O, no allocation, no locale.
 * Callers: the CSV reader, the renderers, the clients' argument parsing.
 */
#include "wire.h"

#include "civil.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Length of the enum's value prefix: "EVENT_KIND_" of EVENT_KIND_UNSPECIFIED. */
static size_t prefix_len(const ProtobufCEnumDescriptor *d)
{
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *n = d->values[i].name;
		const char *u = strstr(n, "UNSPECIFIED");
		if (d->values[i].value == 0 && u && u[11] == '\0')
			return (size_t)(u - n);
	}
	return 0;
}

const char *wire_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	if (!v)
		return NULL;
	size_t p = prefix_len(d);
	return strlen(v->name) > p ? v->name + p : v->name;
}

const char *wire_enum_label(const ProtobufCEnumDescriptor *d, int value)
{
	static char bufs[4][32]; /* a few at once, e.g. in one printf */
	static unsigned next;
	const char *n = wire_enum_name(d, value);
	if (n)
		return n;
	char *buf = bufs[next++ % 4];
	snprintf(buf, sizeof bufs[0], "UNKNOWN(%d)", value);
	return buf;
}

bool wire_enum_parse(const ProtobufCEnumDescriptor *d, const char *s, int *out)
{
	if (!s || !*s)
		return false;
	size_t p = prefix_len(d);
	if (s[0] >= '0' && s[0] <= '9') {
		long v = 0;
		for (const char *q = s; *q; q++) {
			if (*q < '0' || *q > '9' || v > 100000)
				return false;
			v = v * 10 + (*q - '0');
		}
		if (!protobuf_c_enum_descriptor_get_value(d, (int)v))
			return false;
		*out = (int)v;
		return true;
	}
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *full = d->values[i].name;
		if (strcasecmp(s, full) == 0 || (strlen(full) > p && strcasecmp(s, full + p) == 0)) {
			*out = d->values[i].value;
			return true;
		}
	}
	return false;
}

void wire_enum_list(const ProtobufCEnumDescriptor *d, char *buf, size_t len)
{
	size_t at = 0;
	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < d->n_values && at < len; i++) {
		if (d->values[i].value == 0)
			continue;
		int n = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", wire_enum_name(d, d->values[i].value));
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

bool wire_group_by_parse(const char *s, int *out)
{
	const ProtobufCEnumDescriptor *d = WIRE_ENUM_GROUP_BY;
	for (unsigned i = 0; i < d->n_values; i++) {
		if (d->values[i].value == 0)
			continue;
		if (strcasecmp(s, wire_enum_name(d, d->values[i].value)) == 0) {
			*out = d->values[i].value;
			return true;
		}
	}
	return false;
}

const char *wire_group_by_name(int value)
{
	static char buf[32];
	const char *n = wire_enum_name(WIRE_ENUM_GROUP_BY, value);
	if (!n || value == 0)
		return "";
	size_t i = 0;
	for (; n[i] && i + 1 < sizeof buf; i++)
		buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
	buf[i] = '\0';
	return buf;
}

/* ---- time ------------------------------------------------------------------ */

bool wire_date_valid(const char *s)
{
	int64_t t;
	return strlen(s) == 10 && civil_parse_iso(s, &t); /* exactly YYYY-MM-DD */
}

bool wire_time_parse(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	const char *p = s;
	/* unix seconds: only digits (an ISO date has '-' after four digits) */
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 12)
			return false;
		int64_t v = 0;
		for (; *p; p++)
			v = v * 10 + (*p - '0');
		*out = v;
		return true;
	}
	/* ISO 8601 / RFC 3339: the daemon's own parser (clock.c) */
	return civil_parse_iso(s, out);
}

void wire_time_format(int64_t t, char *buf, size_t len)
{
	civil_format_iso(t, buf, (unsigned)len);
}
