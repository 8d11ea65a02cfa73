/* test_frame.c — the scan of a frame's bytes before they are decoded
 * (common/frame.c): decode cost, updates counted, NUL bytes found, malformed
 * bytes refused — compared with what protobuf-c itself does with them; and
 * the arena frames are decoded into (daemon/pbarena.c). */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "cu_run.h"
#include "frame.h"
#include "overstap.pb-c.h"
#include "pbarena.h"

/* A packed Envelope{seq, status_batch{n updates, each with this event_id}}. */
static uint8_t *pack_batch(uint64_t seq, size_t n, const char *event_id, size_t *len)
{
	Overstap__V1__StatusUpdate *u = calloc(n ? n : 1, sizeof *u);
	Overstap__V1__StatusUpdate **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	for (size_t i = 0; i < n; i++) {
		overstap__v1__status_update__init(&u[i]);
		u[i].event_id = (char *)event_id;
		ptrs[i] = &u[i];
	}
	Overstap__V1__StatusBatch b = OVERSTAP__V1__STATUS_BATCH__INIT;
	b.n_updates = n;
	b.updates = ptrs;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.seq = seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &b;
	*len = overstap__v1__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(*len);
	overstap__v1__envelope__pack(&env, buf);
	free(u);
	free(ptrs);
	return buf;
}

static void test_scan_counts_updates_and_reads_seq(void)
{
	size_t len;
	uint8_t *buf = pack_batch(77, 3, "e-1", &len);
	struct frame_scan sc;
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(buf, len, &sc));
	CU_ASSERT_EQUAL(sc.seq, 77);
	CU_ASSERT_EQUAL(sc.body, OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH);
	CU_ASSERT_EQUAL(sc.n_updates, 3);
	CU_ASSERT_EQUAL(sc.n_nul_updates, 0);
	CU_ASSERT_FALSE(sc.nul_outside_updates);
	CU_ASSERT(sc.decode_bytes > 3 * sizeof(Overstap__V1__StatusUpdate));
	CU_ASSERT(sc.decode_bytes < 4096);
	free(buf);
}

static void test_scan_prices_a_frame_of_empty_updates_before_decoding(void)
{
	/* 4 MiB of empty updates (2 bytes each on the wire, ~170 allocated) */
	size_t n = 2000000, len;
	uint8_t *buf = pack_batch(1, n, "", &len);
	CU_ASSERT(len < (4u << 20) + 16);
	struct frame_scan sc;
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(buf, len, &sc));
	CU_ASSERT_EQUAL(sc.n_updates, n);
	CU_ASSERT(sc.decode_bytes > (size_t)n * sizeof(Overstap__V1__StatusUpdate)); /* > 250 MB */
	CU_ASSERT(sc.decode_bytes > FRAME_DECODE_BUDGET);
	free(buf);
}

static void test_a_full_batch_at_the_longest_fields_fits_the_budget(void)
{
	/* 10,000 updates with every string at its maximum (DESIGN §4.1: fits 8 MiB) */
	size_t n = 10000;
	char id[65], name[201], reason[257];
	memset(id, 'i', 64), id[64] = 0;
	memset(name, 'n', 200), name[200] = 0;
	memset(reason, 'r', 256), reason[256] = 0;
	Overstap__V1__StatusUpdate *u = calloc(n, sizeof *u);
	Overstap__V1__StatusUpdate **ptrs = calloc(n, sizeof *ptrs);
	for (size_t i = 0; i < n; i++) {
		overstap__v1__status_update__init(&u[i]);
		u[i].event_id = id;
		u[i].pgn = "123456782";
		u[i].occurred_at = 1900000000;
		u[i].kind = 1;
		u[i].cohort = 2031;
		u[i].school = "25LX00";
		u[i].woongemeente = "GM0268";
		u[i].vo_soort = 2;
		u[i].birth_date = "2015-05-17";
		u[i].name = name;
		u[i].crebo = "25168";
		u[i].mbo_instelling = "25LP";
		u[i].reason = reason;
		ptrs[i] = &u[i];
	}
	Overstap__V1__StatusBatch b = OVERSTAP__V1__STATUS_BATCH__INIT;
	b.n_updates = n;
	b.updates = ptrs;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &b;
	size_t len = overstap__v1__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(len);
	overstap__v1__envelope__pack(&env, buf);
	CU_ASSERT(len <= (8u << 20));
	struct frame_scan sc;
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(buf, len, &sc));
	CU_ASSERT_EQUAL(sc.n_updates, n);
	CU_ASSERT(sc.decode_bytes <= FRAME_DECODE_BUDGET);
	free(buf);
	free(u);
	free(ptrs);
}

static void test_scan_finds_a_nul_in_a_string_and_which_update_has_it(void)
{
	/* Envelope{seq=5, status_batch{ {event_id="ok"}, {event_id="id\0x"} }},
	 * by hand: protobuf-c itself would cut "id\0x" at the NUL */
	static const uint8_t buf[] = {
		0x08, 0x05,                   /* seq = 5 */
		0x52, 0x0e,                   /* field 10 (status_batch), 14 bytes */
		0x0a, 0x04, 0x0a, 0x02, 'o', 'k', /* update 0 */
		0x0a, 0x06, 0x0a, 0x04, 'i', 'd', 0x00, 'x', /* update 1 */
	};
	struct frame_scan sc;
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(buf, sizeof buf, &sc));
	CU_ASSERT_EQUAL(sc.n_updates, 2);
	CU_ASSERT_EQUAL(sc.n_nul_updates, 1);
	CU_ASSERT_FALSE(frame_scan_update_has_nul(&sc, 0));
	CU_ASSERT_TRUE(frame_scan_update_has_nul(&sc, 1));
	CU_ASSERT_FALSE(sc.nul_outside_updates);
	/* protobuf-c decodes it, and the string is cut: hence the scan */
	Overstap__V1__Envelope *env = overstap__v1__envelope__unpack(NULL, sizeof buf, buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(env);
	CU_ASSERT_STRING_EQUAL(env->status_batch->updates[1]->event_id, "id");
	overstap__v1__envelope__free_unpacked(env, NULL);
	/* PupilQuery{pgn="1\0"}: outside any update */
	static const uint8_t q[] = { 0xb2, 0x01, 0x04, 0x0a, 0x02, '1', 0x00 };
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(q, sizeof q, &sc));
	CU_ASSERT_EQUAL(sc.body, OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY);
	CU_ASSERT_TRUE(sc.nul_outside_updates);
}

static void test_scan_prices_packed_ids(void)
{
	/* AlertAck with 1,000,000 ids: 8 MB once decoded */
	size_t n = 1000000;
	uint64_t *ids = calloc(n, sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = i;
	Overstap__V1__AlertAck ack = OVERSTAP__V1__ALERT_ACK__INIT;
	ack.n_alert_ids = n;
	ack.alert_ids = ids;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK;
	env.alert_ack = &ack;
	size_t len = overstap__v1__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(len);
	overstap__v1__envelope__pack(&env, buf);
	struct frame_scan sc;
	CU_ASSERT_TRUE_FATAL(frame_scan_envelope(buf, len, &sc));
	CU_ASSERT(sc.decode_bytes >= n * 8);
	free(buf);
	free(ids);
}

static void test_scan_refuses_what_protobuf_c_refuses(void)
{
	static const uint8_t truncated_varint[] = { 0x08, 0x80 };
	static const uint8_t length_past_end[] = { 0x52, 0x10, 0x0a };
	static const uint8_t group[] = { 0x0b }; /* wire type 3 */
	static const uint8_t field_zero[] = { 0x00, 0x01 };
	const struct {
		const uint8_t *p;
		size_t n;
	} bad[] = { { truncated_varint, 2 }, { length_past_end, 3 }, { group, 1 }, { field_zero, 2 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct frame_scan sc;
		CU_ASSERT_FALSE(frame_scan_envelope(bad[i].p, bad[i].n, &sc));
		CU_ASSERT_PTR_NULL(overstap__v1__envelope__unpack(NULL, bad[i].n, bad[i].p));
	}
}

/* Decoded into an arena, a batch reads as decoded with malloc: small (one
 * chunk), then large (10,000 updates: chunks beyond the first), then small
 * again after a reset; every allocation aligned like malloc's. */
static void test_an_arena_decodes_like_malloc_and_is_given_back_at_once(void)
{
	struct pbarena a;
	pbarena_init(&a);
	size_t counts[] = { 3, 10000, 50 };
	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		size_t len;
		uint8_t *buf = pack_batch(k + 1, counts[k], "event-with-a-longer-id", &len);
		Overstap__V1__Envelope *m = overstap__v1__envelope__unpack(NULL, len, buf);
		Overstap__V1__Envelope *e = overstap__v1__envelope__unpack(&a.allocator, len, buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT_EQUAL(e->seq, k + 1);
		CU_ASSERT_EQUAL_FATAL(e->status_batch->n_updates, counts[k]);
		for (size_t i = 0; i < counts[k]; i++) {
			CU_ASSERT_STRING_EQUAL(e->status_batch->updates[i]->event_id, m->status_batch->updates[i]->event_id);
			CU_ASSERT_EQUAL((uintptr_t)e->status_batch->updates[i] % 16, 0);
		}
		CU_ASSERT(a.allocated > counts[k] * sizeof(Overstap__V1__StatusUpdate));
		CU_ASSERT_EQUAL(a.extra != NULL, counts[k] == 10000);
		overstap__v1__envelope__free_unpacked(m, NULL);
		pbarena_reset(&a);
		CU_ASSERT_EQUAL(a.allocated, 0);
		CU_ASSERT_PTR_NULL(a.extra);
		CU_ASSERT_PTR_NOT_NULL(a.first);
		free(buf);
	}
	/* a frame that does not decode leaves nothing behind either */
	uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0x0f };
	CU_ASSERT_PTR_NULL(overstap__v1__envelope__unpack(&a.allocator, sizeof junk, junk));
	pbarena_reset(&a);
	CU_ASSERT_EQUAL(a.allocated, 0);
	pbarena_free(&a);
}

static const struct cu_test SCAN_TESTS[] = {
	T(test_scan_counts_updates_and_reads_seq),
	T(test_scan_prices_a_frame_of_empty_updates_before_decoding),
	T(test_a_full_batch_at_the_longest_fields_fits_the_budget),
	T(test_scan_finds_a_nul_in_a_string_and_which_update_has_it),
	T(test_scan_prices_packed_ids),
	T(test_scan_refuses_what_protobuf_c_refuses),
	T(test_an_arena_decodes_like_malloc_and_is_given_back_at_once),
};

static void register_suites(void)
{
	ADD_TESTS("frame scan", NULL, SCAN_TESTS);
}

int main(void)
{
	return cu_run(register_suites);
}
