/* pbjson.h — protobuf messages as JSON, the way DESIGN §6.2 writes them.
 *
 * Keys are the protobuf field names; enum values by their name without the
 * enum's prefix (AANGEMELD, not STATUS_AANGEMELD); 64-bit ids as JSON
 * numbers; every field present (proto3 has no "unset"), repeated fields as
 * arrays, a oneof only with its chosen member. Driven by the generated
 * descriptors, so a new field appears in the JSON without code here.
 */
#ifndef OVERSTAP_PBJSON_H
#define OVERSTAP_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object (caller owns it), or NULL when out of memory. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);
/* The name of enum value v without its prefix ("AANGEMELD"); "" if unknown. */
const char *pbjson_enum_name(const ProtobufCEnumDescriptor *d, int v);

#endif
