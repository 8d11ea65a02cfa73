/* pbarena.h — memory for decoding one frame, given back all at once.
 *
 * protobuf-c's unpack allocates every string and submessage of a message on
 * its own: a StatusBatch of 50 updates is some 800 mallocs, and freeing them
 * and making them again for the next frame was a quarter of the daemon's
 * CPU at half load (README "Performance", (d)). A pbarena hands protobuf-c memory
 * from chunks it keeps (a ProtobufCAllocator whose free does nothing) and
 * pbarena_reset() takes it all back after the frame's dispatch, when nothing
 * points into the message any more (session.c). What one frame may make the
 * decoder allocate is bounded before it is decoded (frame.h). Under
 * AddressSanitizer the session decodes with malloc instead, so the sanitizer
 * still sees every field on its own.
 */
#ifndef OVERSTAP_PBARENA_H
#define OVERSTAP_PBARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct pbarena_chunk;

struct pbarena {
	ProtobufCAllocator allocator; /* what unpack takes */
	struct pbarena_chunk *first;  /* kept from frame to frame */
	struct pbarena_chunk *extra;  /* for a frame larger than first: freed at reset */
	size_t used;                  /* of the chunk being filled */
	struct pbarena_chunk *current;
	size_t allocated;             /* bytes handed out since the last reset */
};

void pbarena_init(struct pbarena *a);
/* Gives back every allocation; keeps the first chunk for the next frame. */
void pbarena_reset(struct pbarena *a);
void pbarena_free(struct pbarena *a);

#endif
