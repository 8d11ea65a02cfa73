/* wire.h — names and times as people write them, for the wire enums and
 * timestamps of proto/overstap.proto (DESIGN §4.2, §6.1).
 *
 * Enum names come from the generated protobuf descriptors, so they can never
 * drift from the contract: "AANGEMELD" ↔ EVENT_KIND_AANGEMELD = 11. Pure, no
 * allocation.
 */
#ifndef OVERSTAP_WIRE_H
#define OVERSTAP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.pb-c.h"

#define WIRE_ENUM_KIND (&overstap__v1__event_kind__descriptor)
#define WIRE_ENUM_STATUS (&overstap__v1__status__descriptor)
#define WIRE_ENUM_ALERT_KIND (&overstap__v1__alert_kind__descriptor)
#define WIRE_ENUM_RESULT (&overstap__v1__result__descriptor)
#define WIRE_ENUM_BESTEMMING (&overstap__v1__bestemming__descriptor)
#define WIRE_ENUM_VO_SOORT (&overstap__v1__vo_soort__descriptor)
#define WIRE_ENUM_LEERWEG (&overstap__v1__leerweg__descriptor)
#define WIRE_ENUM_GROUP_BY (&overstap__v1__group_by__descriptor)

/* The value's name without its enum prefix ("AANGEMELD"); NULL when the
 * number is not in the enum. */
const char *wire_enum_name(const ProtobufCEnumDescriptor *d, int value);
/* Like wire_enum_name, but "UNKNOWN(42)" style text for unknown numbers
 * (in one of four static buffers, reused in turn). */
const char *wire_enum_label(const ProtobufCEnumDescriptor *d, int value);
/* Accepts the short name ("AANGEMELD"), the full name
 * ("EVENT_KIND_AANGEMELD"), either in any case, or the decimal number of a
 * defined value. */
bool wire_enum_parse(const ProtobufCEnumDescriptor *d, const char *s, int *out);
/* "A, B, C" list of the short names except UNSPECIFIED, into buf. */
void wire_enum_list(const ProtobufCEnumDescriptor *d, char *buf, size_t len);

/* group_by by its lower-case name as the clients take it ("vo_school"). */
bool wire_group_by_parse(const char *s, int *out);
const char *wire_group_by_name(int value);

/* A moment: unix seconds ("1775000000") or ISO 8601 / RFC 3339:
 * "2031-04-01", "2031-04-01T09:30", "2031-04-01T09:30:00", with optional
 * fraction (dropped), and "Z", "+02:00", "+0200" or "+02"; ' ' may stand for
 * 'T'. Without a zone the time is UTC, as the daemon reads its clock start. */
bool wire_time_parse(const char *s, int64_t *out);
/* 2031-04-01T00:00:00Z into buf (at least 21 bytes). */
void wire_time_format(int64_t t, char *buf, size_t len);
/* A date YYYY-MM-DD that exists in the calendar. */
bool wire_date_valid(const char *s);

#endif
