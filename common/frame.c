/* frame.c — length-prefixed protobuf frames (DESIGN §4.1).
 *
 * Owns the header format and its bounds check, and the scan of a frame's
 * bytes before they are decoded (what decoding would cost, how many updates,
 * NUL bytes in strings), driven by the generated descriptors. Never reads or
 * writes a socket; callers (daemon session, client library) do the I/O.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

void frame_encode_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

enum frame_status frame_check_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max,
				     uint32_t *len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	*len = n;
	if (n == 0)
		return FRAME_EMPTY;
	if (n > max)
		return FRAME_TOO_LARGE;
	return FRAME_OK;
}

int frame_pack_envelope(const Overstap__V1__Envelope *env, uint8_t **buf, size_t *len)
{
	size_t body = overstap__v1__envelope__get_packed_size(env);
	if (body == 0 || body > UINT32_MAX - FRAME_HEADER_BYTES)
		return 0;
	uint8_t *p = malloc(FRAME_HEADER_BYTES + body);
	if (!p)
		return 0;
	frame_encode_header(p, (uint32_t)body);
	overstap__v1__envelope__pack(env, p + FRAME_HEADER_BYTES);
	*buf = p;
	*len = FRAME_HEADER_BYTES + body;
	return 1;
}

/* ---- the scan before decoding ------------------------------------------------ */

#define SCAN_MAX_DEPTH 8
#define ALLOC_OVERHEAD 16 /* what malloc keeps beside each block, roughly */

struct scan_ctx {
	struct frame_scan *out;
	const ProtobufCFieldDescriptor *updates; /* StatusBatch.updates */
	long update;                             /* index of the update being scanned, or -1 */
};

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

static size_t element_bytes(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 8;
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static void note_nul(struct scan_ctx *c)
{
	struct frame_scan *o = c->out;
	if (c->update < 0) {
		o->nul_outside_updates = true;
		return;
	}
	size_t i = (size_t)c->update;
	if (i < FRAME_SCAN_MAX_UPDATES && !(o->nul_updates[i / 8] & (1u << (i % 8)))) {
		o->nul_updates[i / 8] |= (uint8_t)(1u << (i % 8));
		o->n_nul_updates++;
	}
}

/* Counts the elements of a packed repeated scalar field. */
static bool count_packed(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len, size_t *n)
{
	size_t width = f->type == PROTOBUF_C_TYPE_FIXED64 || f->type == PROTOBUF_C_TYPE_SFIXED64 ||
				       f->type == PROTOBUF_C_TYPE_DOUBLE
			       ? 8
		       : f->type == PROTOBUF_C_TYPE_FIXED32 || f->type == PROTOBUF_C_TYPE_SFIXED32 ||
				       f->type == PROTOBUF_C_TYPE_FLOAT
			       ? 4
			       : 0;
	if (width) {
		*n = len / width;
		return len % width == 0;
	}
	const uint8_t *end = p + len;
	*n = 0;
	while (p < end) {
		uint64_t v;
		if (!read_varint(&p, end, &v))
			return false;
		(*n)++;
	}
	return true;
}

static bool scan_message(struct scan_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
			 int depth);

/* One length-delimited field of length n at p. */
static bool scan_delimited(struct scan_ctx *c, const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n,
			   int depth)
{
	struct frame_scan *o = c->out;
	if (!f)
		return true; /* unknown field: unpack keeps it aside; its bytes are counted by the caller */
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
		if (f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, n))
			note_nul(c);
		o->decode_bytes += n + 1 + ALLOC_OVERHEAD;
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		long outer = c->update;
		if (f == c->updates)
			c->update = (long)o->n_updates++;
		bool ok = scan_message(c, f->descriptor, p, n, depth + 1);
		c->update = outer;
		if (!ok)
			return false;
	} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t k;
		if (!count_packed(f, p, n, &k))
			return false;
		o->decode_bytes += k * element_bytes(f);
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		o->decode_bytes += element_bytes(f); /* one more slot of the array */
	return true;
}

static bool scan_message(struct scan_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
			 int depth)
{
	if (depth > SCAN_MAX_DEPTH)
		return false;
	struct frame_scan *o = c->out;
	o->decode_bytes += d->sizeof_message + ALLOC_OVERHEAD;
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t tag;
		if (!read_varint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
			return false;
		uint32_t id = (uint32_t)(tag >> 3);
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, id);
		uint64_t v;
		switch (tag & 7) {
		case 0: /* varint */
			if (!read_varint(&p, end, &v))
				return false;
			if (depth == 0 && id == 1)
				o->seq = v;
			if (f && f->label == PROTOBUF_C_LABEL_REPEATED)
				o->decode_bytes += element_bytes(f) * 2; /* an unpacked element */
			break;
		case 1: /* 64-bit */
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 5: /* 32-bit */
			if (end - p < 4)
				return false;
			p += 4;
			break;
		case 2: /* length-delimited */
			if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if (depth == 0 && f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
				o->body = id;
			if (!f)
				o->decode_bytes += (size_t)v + ALLOC_OVERHEAD;
			if (!scan_delimited(c, f, p, (size_t)v, depth))
				return false;
			p += v;
			break;
		default: /* groups (3, 4) and the rest: protobuf-c refuses them too */
			return false;
		}
	}
	return true;
}

bool frame_scan_envelope(const uint8_t *p, size_t len, struct frame_scan *out)
{
	memset(out, 0, sizeof *out);
	struct scan_ctx c = { out, NULL, -1 };
	c.updates = protobuf_c_message_descriptor_get_field(&overstap__v1__status_batch__descriptor, 1);
	return scan_message(&c, &overstap__v1__envelope__descriptor, p, len, 0);
}

bool frame_scan_update_has_nul(const struct frame_scan *scan, size_t i)
{
	return i < FRAME_SCAN_MAX_UPDATES && (scan->nul_updates[i / 8] & (1u << (i % 8)));
}
