/* frame.h — the wire framing of DESIGN §4.1, shared by daemon and clients.
 *
 * A frame is a 4-byte unsigned big-endian length N, then N bytes: one
 * serialized overstap.v1.Envelope, 1 <= N <= max_frame_bytes. Pure: no I/O.
 */
#ifndef OVERSTAP_FRAME_H
#define OVERSTAP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "overstap.pb-c.h"

#define FRAME_HEADER_BYTES 4

enum frame_status { FRAME_OK = 0, FRAME_EMPTY, FRAME_TOO_LARGE };

void frame_encode_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t len);
/* Reads the length; FRAME_EMPTY for 0, FRAME_TOO_LARGE above max. */
enum frame_status frame_check_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max,
				     uint32_t *len);
/* header + packed envelope in one malloc'd buffer (caller frees); 0 on failure. */
int frame_pack_envelope(const Overstap__V1__Envelope *env, uint8_t **buf, size_t *len);

#endif
