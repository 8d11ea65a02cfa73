/* frame.c — length-prefixed protobuf frames (DESIGN §4.1).
 *
 * Owns the header format and its bounds check. Never reads or writes a
 * socket; callers (daemon session, client library) do the I/O.
 */
#include "frame.h"

#include <stdlib.h>

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
