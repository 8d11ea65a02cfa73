/* frame.h — the wire framing of DESIGN §4.1, shared by daemon and clients.
 *
 * A frame is a 4-byte unsigned big-endian length N, then N bytes: one
 * serialized overstap.v1.Envelope, 1 <= N <= max_frame_bytes. Pure: no I/O.
 */
#ifndef OVERSTAP_FRAME_H
#define OVERSTAP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.h"
#include "overstap.pb-c.h"

#define FRAME_HEADER_BYTES 4

enum frame_status { FRAME_OK = 0, FRAME_EMPTY, FRAME_TOO_LARGE };

void frame_encode_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t len);
/* Reads the length; FRAME_EMPTY for 0, FRAME_TOO_LARGE above max. */
enum frame_status frame_check_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max,
				     uint32_t *len);
/* header + packed envelope in one malloc'd buffer (caller frees); 0 on failure. */
int frame_pack_envelope(const Overstap__V1__Envelope *env, uint8_t **buf, size_t *len);

/* What a frame's Envelope bytes hold, read from the wire format before any
 * of it is decoded: a client cannot make the decoder allocate more than
 * FRAME_DECODE_BUDGET, nor slip a NUL into a string (protobuf-c would cut
 * the string there). */
#define FRAME_DECODE_BUDGET (32u << 20) /* bytes the decoder may allocate for one frame */
#define FRAME_SCAN_MAX_UPDATES OVERSTAP_MAX_BATCH /* updates whose NULs are told apart */

struct frame_scan {
	uint64_t seq;            /* Envelope.seq (0 when absent) */
	uint32_t body;           /* the body's field number (Envelope__BodyCase), 0 when none */
	size_t decode_bytes;     /* what decoding would allocate, an upper estimate */
	size_t n_updates;        /* a StatusBatch's updates */
	bool nul_outside_updates; /* a string with a NUL byte outside StatusBatch.updates */
	size_t n_nul_updates;    /* updates with a NUL byte in some string */
	/* bit i: update i (i < FRAME_SCAN_MAX_UPDATES) holds a NUL byte */
	uint8_t nul_updates[(FRAME_SCAN_MAX_UPDATES + 7) / 8];
};

/* false when the bytes are not a well-formed Envelope (as unpack would refuse). */
bool frame_scan_envelope(const uint8_t *p, size_t len, struct frame_scan *out);
bool frame_scan_update_has_nul(const struct frame_scan *scan, size_t i);

#endif
