/* fuzz_updcsv.c — libFuzzer target: the StatusUpdate CSV reader of
 * clients/lib (updcsv_parse), what overstap-push reads a school's export with.
 *
 * The bytes are parsed as they are and, when they are not UTF-8, also as
 * Windows-1252 the way updcsv_read_file converts them. For every parse:
 *   - the counts agree: n_errors <= total_errors, n_errors <= UPDCSV_MAX_ERRORS,
 *     every kept error has a message; true exactly when no error;
 *   - every line number (of an error or an update) is one the file has, where
 *     LF, CRLF and a lone CR each end a line;
 *   - every update has its required fields, its strings are valid UTF-8 without
 *     control characters, and its event id is unique in the file;
 *   - the updates, sent as one StatusBatch frame (frame_pack_envelope), arrive
 *     with every field as the file gave it: what the CSV said is what is sent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "overstap.pb-c.h"
#include "text.h"
#include "updcsv.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_updcsv: invariant failed: %s (%s:%d)\n", #cond,   \
				__FILE__, __LINE__);                                         \
			abort();                                                             \
		}                                                                            \
	} while (0)

static void check_string(const char *s)
{
	CHECK(s != NULL);
	size_t n = strlen(s);
	CHECK(n <= UPDCSV_FIELD_MAX);
	CHECK(utf8_valid(s, n, NULL));
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
}

static void same_update(const Overstap__V1__StatusUpdate *a, const Overstap__V1__StatusUpdate *b)
{
	const ProtobufCMessageDescriptor *d = &overstap__v1__status_update__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING:
			CHECK(strcmp(*(char *const *)pa, *(char *const *)pb) == 0);
			break;
		case PROTOBUF_C_TYPE_INT64:
			CHECK(*(const int64_t *)pa == *(const int64_t *)pb);
			break;
		case PROTOBUF_C_TYPE_UINT32:
			CHECK(*(const uint32_t *)pa == *(const uint32_t *)pb);
			break;
		case PROTOBUF_C_TYPE_ENUM:
			CHECK(*(const int *)pa == *(const int *)pb);
			break;
		default:
			break;
		}
	}
}

/* The number of lines: line ends (LF, CRLF, CR) + 1. */
static unsigned long lines_in(const char *s, size_t len)
{
	unsigned long n = 1;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')))
			n++;
	return n;
}

static void parse(const char *data, size_t len)
{
	unsigned long max_line = lines_in(data, len);
	struct updcsv u;
	updcsv_init(&u);
	bool ok = updcsv_parse(&u, data, len);
	CHECK(ok == (u.total_errors == 0));
	CHECK(u.n_errors <= u.total_errors && u.n_errors <= UPDCSV_MAX_ERRORS);
	CHECK(u.delimiter == ',' || u.delimiter == ';');
	for (size_t i = 0; i < u.n_errors; i++)
		CHECK(u.errors[i].message[0] != '\0' && u.errors[i].line <= max_line);
	CHECK(u.n <= u.cap);
	for (size_t i = 0; i < u.n; i++) {
		const Overstap__V1__StatusUpdate *m = u.updates[i];
		CHECK(m != NULL && u.lines[i] >= 2 && u.lines[i] <= max_line);
		CHECK(m->event_id[0] && m->pgn[0]);
		CHECK(strlen(m->event_id) <= 64);
		const ProtobufCMessageDescriptor *d = &overstap__v1__status_update__descriptor;
		for (unsigned f = 0; f < d->n_fields; f++)
			if (d->fields[f].type == PROTOBUF_C_TYPE_STRING)
				check_string(*(char *const *)((const char *)m + d->fields[f].offset));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(u.updates[j]->event_id, m->event_id) != 0);
	}
	if (u.n > 0) {
		Overstap__V1__StatusBatch b = OVERSTAP__V1__STATUS_BATCH__INIT;
		b.n_updates = u.n;
		b.updates = u.updates;
		Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 1;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
		env.status_batch = &b;
		uint8_t *frame;
		size_t flen;
		CHECK(frame_pack_envelope(&env, &frame, &flen));
		uint32_t blen;
		CHECK(frame_check_header(frame, UINT32_MAX, &blen) == FRAME_OK && blen + FRAME_HEADER_BYTES == flen);
		Overstap__V1__Envelope *got = overstap__v1__envelope__unpack(NULL, blen, frame + FRAME_HEADER_BYTES);
		CHECK(got && got->body_case == OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH);
		CHECK(got->status_batch->n_updates == u.n);
		for (size_t i = 0; i < u.n; i++)
			same_update(u.updates[i], got->status_batch->updates[i]);
		overstap__v1__envelope__free_unpacked(got, NULL);
		free(frame);
	}
	updcsv_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	parse(s, size);
	if (!utf8_valid(s, size, NULL)) {
		size_t clen;
		char *conv = text_cp1252_to_utf8(s, size, &clen);
		if (conv) {
			CHECK(utf8_valid(conv, clen, NULL));
			parse(conv, clen);
			free(conv);
		}
	}
	return 0;
}
