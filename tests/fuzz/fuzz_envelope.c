/* fuzz_envelope.c — libFuzzer target: what a client's bytes go through in the
 * daemon, up to the database.
 *
 * The input is a stream of frames (DESIGN §4.1): frame_check_header, then
 * overstap__v1__envelope__unpack of each whole frame. A StatusBatch's updates
 * are validated as every role (overstap_validate_update, with the certificate
 * CN set to the update's own school), the accepted ones merged into per-pupil
 * states (overstap_state_apply), and each state asked for its status and
 * alerts (overstap_status, rules_status_at, rules_evaluate). PupilQuery and
 * StatsQuery fields get the pure checks the daemon has for them.
 *
 * Invariants asserted (our own, so a failure is a finding, not input):
 *   - apply is idempotent: an event applied twice changes nothing the second time;
 *   - apply is commutative: the accepted events in reverse order give the same bytes;
 *   - encode → decode → encode gives identical bytes;
 *   - a packed envelope unpacks, and packs again to the same bytes (unless it
 *     holds a key of field 0: see wire_scan).
 * A NUL byte inside a wire string (issue 11: protobuf-c hands out char *, so
 * "id\0x" reads as "id") is seen by wire_scan below, and must be seen by the
 * daemon's own scan (frame_scan_envelope) too: the two are asserted to agree,
 * and what the daemon refuses before decoding is not decoded here either.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "overstap.h"
#include "overstap.pb-c.h"
#include "rules.h"

#define MAX_FRAME (8u << 20) /* DESIGN §4.1 default */
#define MAX_STATES 8
#define MAX_EVENTS 64
#define NOW_DEFAULT 1924992000 /* 2031-01-01T00:00:00Z */

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_envelope: invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                         \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* ---- what unpack hides: a look at the wire bytes -----------------------------
 * protobuf-c's unpack gives a string field as a NUL-terminated char *, so what
 * follows an embedded NUL is gone by the time anyone looks; and it keeps a key
 * of field 0 written in more than one byte (its "0 is not a valid tag" check
 * reads the first byte only) as an unknown field, which it packs as the
 * one-byte key 00 that its own unpack then refuses. This walks
 * the wire bytes of a message with its descriptor, at every depth. Only called
 * on bytes protobuf-c has unpacked. */

struct wire_findings {
	bool nul_in_string; /* issue 11: "id\0x" reads as "id" */
	bool field_zero;    /* a key of field number 0 */
};

static bool get_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *at < len; shift += 7) {
		uint8_t b = p[(*at)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

static void wire_scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth,
		      struct wire_findings *out)
{
	size_t at = 0;
	while (at < len) {
		uint64_t key, v;
		if (!get_varint(p, len, &at, &key))
			return;
		uint64_t number = key >> 3;
		if (number == 0)
			out->field_zero = true;
		switch (key & 7) {
		case 0:
			if (!get_varint(p, len, &at, &v))
				return;
			break;
		case 1:
			if (len - at < 8)
				return;
			at += 8;
			break;
		case 5:
			if (len - at < 4)
				return;
			at += 4;
			break;
		case 2: {
			if (!get_varint(p, len, &at, &v) || v > len - at)
				return;
			const ProtobufCFieldDescriptor *f =
				number <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)number) : NULL;
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p + at, 0, (size_t)v))
				out->nul_in_string = true;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8)
				wire_scan(f->descriptor, p + at, (size_t)v, depth + 1, out);
			at += (size_t)v;
			break;
		}
		default:
			return;
		}
	}
}

/* ---- one StatusBatch ---------------------------------------------------------- */

/* As ingest.c's to_update_in (static there). */
static void to_update_in(const Overstap__V1__StatusUpdate *u, struct overstap_update_in *in)
{
	in->event_id = u->event_id;
	in->pgn = u->pgn;
	in->occurred_at = u->occurred_at;
	in->kind = (int)u->kind;
	in->cohort = u->cohort;
	in->school = u->school;
	in->woongemeente = u->woongemeente;
	in->vo_soort = (int)u->vo_soort;
	in->birth_date = u->birth_date;
	in->name = u->name;
	in->bestemming = (int)u->bestemming;
	in->crebo = u->crebo;
	in->mbo_instelling = u->mbo_instelling;
	in->niveau = u->niveau;
	in->leerweg = (int)u->leerweg;
	in->reason = u->reason;
}

struct pupil {
	char pgn[10];
	struct pupil_state state;
};

static size_t encode(const struct pupil_state *st, uint8_t *buf)
{
	size_t n = overstap_state_encode(st, buf, OVERSTAP_STATE_ENCODED_MAX);
	CHECK(n > 0);
	return n;
}

/* encode → decode → encode gives the same bytes; the status of both agrees. */
static void check_roundtrip(const struct pupil_state *st, int64_t now, const struct rules_calendar *cal)
{
	uint8_t a[OVERSTAP_STATE_ENCODED_MAX], b[OVERSTAP_STATE_ENCODED_MAX];
	size_t na = encode(st, a);
	struct pupil_state back;
	CHECK(overstap_state_decode(&back, a, na));
	size_t nb = encode(&back, b);
	CHECK(na == nb && memcmp(a, b, na) == 0);
	CHECK(rules_status_at(cal, st, now) == rules_status_at(cal, &back, now));
}

static void look_at(const struct pupil_state *old, const struct pupil_state *st, int64_t now,
		    const struct rules_calendar *cal)
{
	enum status s0 = overstap_status(st, false), s1 = overstap_status(st, true);
	CHECK(s0 > STATUS_UNSPECIFIED && s0 < STATUS_COUNT);
	CHECK(s1 > STATUS_UNSPECIFIED && s1 < STATUS_COUNT);
	enum status s = rules_status_at(cal, st, now);
	CHECK(s == s0 || s == s1);
	struct rules_outcome out;
	rules_evaluate(cal, old, st, now, &out);
	CHECK(out.n_alerts <= sizeof out.alerts / sizeof out.alerts[0]);
	(void)overstap_woongemeente(st);
	(void)overstap_mbo_instelling(st);
	(void)overstap_has_open_application(st);
	(void)overstap_has_ddd(st);
	(void)overstap_is_registered(st);
	(void)overstap_has_left_vo(st);
}

/* Returns how many updates some role's validation accepted. */
static size_t status_batch(const Overstap__V1__StatusBatch *b, int64_t now, const struct frame_scan *scan)
{
	struct rules_calendar cal;
	rules_calendar_default(&cal);
	static struct pupil pupils[MAX_STATES];
	static struct overstap_event events[MAX_EVENTS];
	size_t n_pupils = 0, n_events = 0, n_accepted = 0;
	static const enum role roles[] = { ROLE_NONE, ROLE_VO, ROLE_MBO, ROLE_RMC, ROLE_PROJECTTEAM, ROLE_ADMIN };

	for (size_t i = 0; i < b->n_updates; i++) {
		const Overstap__V1__StatusUpdate *u = b->updates[i];
		if (frame_scan_update_has_nul(scan, i))
			continue; /* the daemon rejects it (BAD_STRING) before validation */
		struct overstap_update_in in;
		to_update_in(u, &in);
		bool accepted_by_someone = false;
		struct overstap_event ev;
		for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
			struct identity who = { roles[r], "" };
			snprintf(who.org, sizeof who.org, "%s", u->school);
			struct overstap_error err;
			struct overstap_event e;
			bool ok = overstap_validate_update(&in, &who, now, &e, &err);
			if (!ok) {
				CHECK(err.code != NULL && err.message[0] != '\0');
				continue;
			}
			/* only the school's own role or admin may send a kind */
			CHECK(roles[r] == ROLE_ADMIN || (overstap_kind_is_vo(e.kind) ? roles[r] == ROLE_VO
										  : roles[r] == ROLE_MBO));
			if (accepted_by_someone)
				CHECK(memcmp(&e, &ev, sizeof e) == 0); /* the role decides whether, not what */
			memcpy(&ev, &e, sizeof ev);
			accepted_by_someone = true;
		}
		if (!accepted_by_someone)
			continue;
		n_accepted++;
		CHECK(overstap_pgn_is_valid(ev.pgn));
		/* the state of its pupil and cohort */
		struct pupil *p = NULL;
		for (size_t k = 0; k < n_pupils && !p; k++)
			if (strcmp(pupils[k].pgn, ev.pgn) == 0 && pupils[k].state.cohort == ev.cohort)
				p = &pupils[k];
		if (!p) {
			if (n_pupils == MAX_STATES)
				continue;
			p = &pupils[n_pupils++];
			snprintf(p->pgn, sizeof p->pgn, "%s", ev.pgn);
			overstap_state_init(&p->state, ev.cohort);
		}
		struct pupil_state old = p->state;
		bool changed = overstap_state_apply(&p->state, &ev);
		uint8_t a[OVERSTAP_STATE_ENCODED_MAX], c[OVERSTAP_STATE_ENCODED_MAX];
		size_t na = encode(&p->state, a);
		CHECK(!overstap_state_apply(&p->state, &ev)); /* idempotent */
		size_t nc = encode(&p->state, c);
		CHECK(na == nc && memcmp(a, c, na) == 0);
		if (!changed) {
			size_t no = encode(&old, c);
			CHECK(no == na && memcmp(a, c, na) == 0);
		}
		look_at(&old, &p->state, now, &cal);
		check_roundtrip(&p->state, now, &cal);
		if (n_events < MAX_EVENTS)
			events[n_events++] = ev;
	}

	/* commutative: the same events in reverse order give the same states */
	for (size_t k = 0; k < n_pupils; k++) {
		struct pupil_state rev;
		overstap_state_init(&rev, pupils[k].state.cohort);
		for (size_t i = n_events; i-- > 0;)
			if (strcmp(events[i].pgn, pupils[k].pgn) == 0)
				overstap_state_apply(&rev, &events[i]);
		uint8_t a[OVERSTAP_STATE_ENCODED_MAX], c[OVERSTAP_STATE_ENCODED_MAX];
		size_t na = encode(&pupils[k].state, a), nc = encode(&rev, c);
		/* only when every event of this pupil was kept (MAX_EVENTS) */
		if (n_events < MAX_EVENTS)
			CHECK(na == nc && memcmp(a, c, na) == 0);
	}
	return n_accepted;
}

/* ---- one frame ---------------------------------------------------------------- */

static void one_envelope(const uint8_t *body, size_t len)
{
	Overstap__V1__Envelope *env = overstap__v1__envelope__unpack(NULL, len, body);
	if (!env)
		return;
	struct wire_findings wf = { false, false };
	wire_scan(&overstap__v1__envelope__descriptor, body, len, 0, &wf);
	/* the daemon's own scan before decoding (common/frame.c): it refuses a
	 * key of field 0 outright, and what it lets through it has seen all of */
	struct frame_scan scan;
	bool scanned = frame_scan_envelope(body, len, &scan);
	if (wf.field_zero)
		CHECK(!scanned);
	if (scanned && scan.n_updates <= FRAME_SCAN_MAX_UPDATES)
		CHECK(wf.nul_in_string == (scan.nul_outside_updates || scan.n_nul_updates > 0));
	if (!scanned || scan.nul_outside_updates || scan.decode_bytes > FRAME_DECODE_BUDGET ||
	    (scan.body == OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH && scan.n_updates > OVERSTAP_MAX_BATCH)) {
		overstap__v1__envelope__free_unpacked(env, NULL); /* the daemon answers without decoding */
		return;
	}
	/* the time comes from seq when it is a plausible unix time, so the fuzzer
	 * reaches every side of the deadlines; else a fixed day */
	int64_t now = env->seq >= 946684800 && env->seq <= 4102444800u ? (int64_t)env->seq : NOW_DEFAULT;
	switch (env->body_case) {
	case OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH:
		if (env->status_batch)
			(void)status_batch(env->status_batch, now, &scan);
		break;
	case OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY:
		/* pupil.c: a valid PGN, cohort 1990..2200 (inline there) */
		if (env->pupil_query)
			(void)overstap_pgn_is_valid(env->pupil_query->pgn);
		break;
	case OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY:
		/* stats.c checks cohort, group_by and region inline, in code that
		 * needs a session: nothing pure to call yet */
		break;
	default:
		break;
	}
	/* What we pack, we and the peer can unpack, and it packs the same again.
	 * Not for a key of field 0, which protobuf-c keeps but cannot pack back (above). */
	uint8_t *f1 = NULL, *f2 = NULL;
	size_t n1 = 0, n2 = 0;
	if (wf.field_zero) {
		/* skip */
	} else if (frame_pack_envelope(env, &f1, &n1)) {
		uint32_t l;
		CHECK(frame_check_header(f1, UINT32_MAX, &l) == FRAME_OK && l + FRAME_HEADER_BYTES == n1);
		Overstap__V1__Envelope *again = overstap__v1__envelope__unpack(NULL, l, f1 + FRAME_HEADER_BYTES);
		CHECK(again != NULL);
		CHECK(again->seq == env->seq && again->body_case == env->body_case);
		CHECK(frame_pack_envelope(again, &f2, &n2));
		CHECK(n1 == n2 && memcmp(f1, f2, n1) == 0);
		overstap__v1__envelope__free_unpacked(again, NULL);
	} else {
		CHECK(overstap__v1__envelope__get_packed_size(env) == 0);
	}
	free(f1);
	free(f2);
	overstap__v1__envelope__free_unpacked(env, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	while (size - at >= FRAME_HEADER_BYTES) {
		uint32_t len;
		enum frame_status fs = frame_check_header(data + at, MAX_FRAME, &len);
		if (fs == FRAME_EMPTY) {
			CHECK(len == 0);
			break; /* the daemon sends an Error and closes */
		}
		if (fs == FRAME_TOO_LARGE) {
			CHECK(len > MAX_FRAME);
			break;
		}
		CHECK(len >= 1 && len <= MAX_FRAME);
		if (len > size - at - FRAME_HEADER_BYTES)
			break; /* the rest has not arrived */
		one_envelope(data + at + FRAME_HEADER_BYTES, len);
		at += FRAME_HEADER_BYTES + len;
	}
	return 0;
}
