/* session.c — one TLS client connection as an explicit state machine.
 *
 * Owns the bufferevent, the framing of DESIGN §4.1 in both directions, the
 * turning of frames into requests through the route table (router.h: who may
 * send what lives in routes.c, not here), and back-pressure: a session stops
 * reading while the database is away, while too many of its requests that
 * cost database work are in flight, or while its output backs up. The state
 * changes in session_enter() alone. Never blocks; never trusts a byte from
 * the peer. Callers: net (accept, drain), every handler (through request.h).
 */
#include "session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "clock.h"
#include "config.h"
#include "errcodes.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "orgload.h"
#include "pbarena.h"
#include "ratelimit.h"
#include "request.h"
#include "router.h"
#include "server.h"
#include "store.h"
#include "tls.h"

#define OUTPUT_HIGH_WATER (8u << 20) /* stop reading while this much is unsent */
/* What a session may buffer of a frame without a share of max_input_bytes:
 * small frames come and go; a larger one reserves its length first. */
#define SMALL_READ (16u << 10)

struct session {
	TAILQ_ENTRY(session) link;    /* srv->sessions */
	TAILQ_ENTRY(session) hs_link; /* srv->handshakes, while HANDSHAKE */
	struct server *srv;
	struct bufferevent *bev;
	enum session_state state;
	struct identity who;
	char peer[64];
	char addr[48];
	uint64_t id;
	int refs;
	int requests_in_flight; /* requests that cost database work, not yet ended */
	bool reading;
	bool in_dispatch;
	struct event *ev_deadline; /* the handshake's, fixed at accept */
	struct event *ev_resume;   /* process buffered frames from the loop */
	struct event *ev_timer;    /* frame_timeout and client_idle_timeout */
	struct event *ev_wake;     /* parked: the socket has bytes to read */
	bool parked;               /* reading, but the bufferevent not: see park() */
	int64_t frame_started_us;  /* a frame began to arrive while reading; 0 when none */
	int64_t last_frame_us;     /* the last whole frame (or the connect) */
	uint32_t frame_reserved;   /* bytes of srv->input_reserved the frame in progress holds */
	uint32_t budget_need;      /* waiting: the reservation it waits for (0: events only) */
	bool waiting_budget;       /* on srv->budget_waiters */
	TAILQ_ENTRY(session) budget_link;
	const struct session_listener *listener;
	void *listener_arg;
	struct orgload_entry *load; /* its identity's connections and events (orgload.h), once known */
};

static uint64_t next_session_id = 1;

static void session_enter(struct session *s, enum session_state to);

/* ---- references and accessors ------------------------------------------- */

void session_ref(struct session *s)
{
	s->refs++;
}

void session_unref(struct session *s)
{
	CHECK(s->refs > 0);
	if (--s->refs == 0) {
		CHECK(s->state == SESSION_CLOSED);
		free(s);
	}
}

enum session_state session_state(const struct session *s)
{
	return s->state;
}

const struct identity *session_identity(const struct session *s)
{
	return &s->who;
}

const char *session_peer(const struct session *s)
{
	return s->peer;
}

const char *session_address(const struct session *s)
{
	return s->addr;
}

uint64_t session_id(const struct session *s)
{
	return s->id;
}

size_t session_output_pending(const struct session *s)
{
	if (!s->bev)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

void session_listen(struct session *s, const struct session_listener *l, void *arg)
{
	s->listener = arg ? l : NULL;
	s->listener_arg = arg;
}

void *session_listener_arg(const struct session *s, const struct session_listener *l)
{
	return s->listener == l ? s->listener_arg : NULL;
}

void session_for_each(struct server *srv, void (*fn)(struct session *s, void *arg), void *arg)
{
	struct session *s = TAILQ_FIRST(&srv->sessions);
	if (s)
		session_ref(s);
	while (s) {
		struct session *next = s->state == SESSION_CLOSED ? NULL : TAILQ_NEXT(s, link);
		if (next)
			session_ref(next);
		fn(s, arg);
		session_unref(s);
		s = next;
	}
}

/* ---- sending ------------------------------------------------------------ */

void session_send(struct session *s, const Overstap__V1__Envelope *env)
{
	if (s->state != SESSION_READY && s->state != SESSION_DRAINING)
		return;
	size_t len = overstap__v1__envelope__get_packed_size(env);
	if (len == 0 || len > (size_t)s->srv->cfg->max_frame_bytes) {
		log_error("session", "session=%llu reply of %zu bytes exceeds max_frame_bytes",
			  (unsigned long long)s->id, len);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(len + FRAME_HEADER_BYTES), &vec, 1) < 1 ||
	    vec.iov_len < len + FRAME_HEADER_BYTES) {
		log_error("session", "session=%llu out of memory sending", (unsigned long long)s->id);
		return;
	}
	uint8_t *p = vec.iov_base;
	frame_encode_header(p, (uint32_t)len);
	overstap__v1__envelope__pack(env, p + FRAME_HEADER_BYTES);
	vec.iov_len = len + FRAME_HEADER_BYTES;
	evbuffer_commit_space(out, &vec, 1);
}

void session_send_error(struct session *s, uint64_t seq, const char *code, const char *message)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Error err = OVERSTAP__V1__ERROR__INIT;
	err.code = (char *)code;
	err.message = (char *)message;
	env.seq = seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ERROR;
	env.error = &err;
	session_send(s, &env);
}

/* ---- parking: an idle session holds no read buffers -----------------------
 *
 * A bufferevent that reads and finds nothing keeps what it reserved for the
 * read in its input buffer (libevent: a 16 KB chain), and OpenSSL may keep
 * its record buffer: most of what an idle connection cost. So while a READY
 * session reads but holds nothing — no byte in its input buffer, none
 * inside OpenSSL — its bufferevent does not read at all; a plain read event
 * on the socket (ev_wake) turns the bufferevent's reading back on when bytes
 * (or the peer's close) arrive. Being parked is part of `reading`: the
 * session still wants to read, nothing else changes. */

static void park(struct session *s);

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct session *s = arg;
	s->parked = false;
	if (s->state != SESSION_READY || !s->reading)
		return;
	/* the peer closed (or reset): no buffers for a read that says only
	 * that — thousands of clients that go at once would all hold them */
	char byte;
	ssize_t n = recv(fd, &byte, 1, MSG_PEEK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		log_debug("session", "session=%llu peer=%s disconnected", (unsigned long long)s->id, s->peer);
		session_ref(s);
		session_enter(s, SESSION_CLOSED);
		session_unref(s);
		return;
	}
	if (n < 0) {
		park(s); /* nothing after all */
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
}

static void park(struct session *s)
{
	if (s->parked || !s->reading || s->state != SESSION_READY || !s->ev_wake)
		return;
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0 || SSL_has_pending(bufferevent_openssl_get_ssl(s->bev)))
		return;
	bufferevent_disable(s->bev, EV_READ);
	if (event_add(s->ev_wake, NULL) != 0) {
		bufferevent_enable(s->bev, EV_READ); /* could not park: read as before */
		return;
	}
	s->parked = true;
}

/* Reading on (the bufferevent's, unless there is nothing to read: parked)
 * or off (the bufferevent's and the wake-up's). */
static void read_on(struct session *s)
{
	if (s->reading)
		return;
	s->reading = true;
	bufferevent_enable(s->bev, EV_READ);
	park(s);
}

static void read_off(struct session *s)
{
	if (s->parked) {
		event_del(s->ev_wake);
		s->parked = false;
	}
	if (s->reading) {
		s->reading = false;
		bufferevent_disable(s->bev, EV_READ);
	}
}

/* ---- the global budgets --------------------------------------------------
 *
 * Frames being received hold a share of max_input_bytes (a small frame, up
 * to SMALL_READ, needs none), and a session takes its next frame only while
 * the events accepted but not committed stay under max_queued_events, and
 * its organisation's under max_queued_events_per_org (orgload.h):
 * one school that floods from many connections fills its own share, not the
 * daemon's, and the other schools' batches go on. A session that must wait
 * joins srv->budget_waiters and reads nothing, its frame timer stopped (the
 * wait is not its fault); session_budget_freed() lets them go on in the
 * order they came, passing over those whose organisation is still at its
 * share. */

static void budget_release(struct session *s)
{
	if (!s->frame_reserved)
		return;
	s->srv->input_reserved -= s->frame_reserved;
	s->frame_reserved = 0;
	if (s->bev)
		bufferevent_setwatermark(s->bev, EV_READ, 0, SMALL_READ + FRAME_HEADER_BYTES);
	if (!TAILQ_EMPTY(&s->srv->budget_waiters))
		session_budget_freed(s->srv);
}

static void budget_leave(struct session *s)
{
	if (s->waiting_budget) {
		TAILQ_REMOVE(&s->srv->budget_waiters, s, budget_link);
		s->waiting_budget = false;
	}
	budget_release(s);
}

static bool events_budget_ok(const struct server *srv)
{
	return srv->events_queued < srv->cfg->max_queued_events;
}

static bool org_budget_ok(const struct session *s)
{
	return !s->load || s->load->queued < s->srv->cfg->max_queued_events_per_org;
}

/* Both event budgets: all sessions' and s's organisation's. */
static bool may_take_events(const struct session *s)
{
	return events_budget_ok(s->srv) && org_budget_ok(s);
}

/* Takes need bytes of max_input_bytes for the frame in progress; one frame
 * always fits when nothing else is reserved. */
static bool budget_take(struct session *s, uint32_t need)
{
	struct server *srv = s->srv;
	if (srv->input_reserved > 0 && srv->input_reserved + need > srv->cfg->max_input_bytes)
		return false;
	srv->input_reserved += need;
	s->frame_reserved = need;
	bufferevent_setwatermark(s->bev, EV_READ, 0, need);
	return true;
}

static void budget_wait(struct session *s, uint32_t need)
{
	if (!s->waiting_budget) {
		TAILQ_INSERT_TAIL(&s->srv->budget_waiters, s, budget_link);
		s->waiting_budget = true;
	}
	s->budget_need = need;
	s->frame_started_us = 0;
	read_off(s);
}

/* A session that may not take its next frame: its identity's share spent
 * (counted, and said once per identity and 10 s), or the daemon's budget. */
static void events_wait(struct session *s)
{
	if (!org_budget_ok(s)) {
		metrics.share_waits++;
		static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(1, 10000);
		unsigned long missed;
		if (ratelimit_allow_key(&rl, overstap_role_name(s->who.role), s->who.org, clock_mono_us() / 1000, &missed))
			log_info("session", "session=%llu role=%s org=%s waits: %lld events of this identity not yet "
				 "committed (max_queued_events_per_org) suppressed_before=%lu",
				 (unsigned long long)s->id, overstap_role_name(s->who.role), s->who.org,
				 (long long)s->load->queued, missed);
	}
	budget_wait(s, 0);
}

void session_budget_freed(struct server *srv)
{
	struct session *s, *next;
	for (s = TAILQ_FIRST(&srv->budget_waiters); s; s = next) {
		next = TAILQ_NEXT(s, budget_link);
		if (!events_budget_ok(srv))
			return;
		if (!org_budget_ok(s))
			continue; /* its organisation is at its share: only its sessions wait */
		if (s->budget_need && !s->frame_reserved && !budget_take(s, s->budget_need))
			return; /* first come, first served: the rest waits behind it */
		TAILQ_REMOVE(&srv->budget_waiters, s, budget_link);
		s->waiting_budget = false;
		s->budget_need = 0;
		session_update_reading(s);
		if (s->ev_resume)
			event_active(s->ev_resume, EV_TIMEOUT, 0);
	}
}

/* ---- the state machine -------------------------------------------------- */

static bool transition_allowed(enum session_state from, enum session_state to)
{
	switch (from) {
	case SESSION_HANDSHAKE:
		return to == SESSION_READY || to == SESSION_CLOSED;
	case SESSION_READY:
		return to == SESSION_DRAINING || to == SESSION_CLOSED;
	case SESSION_DRAINING:
		return to == SESSION_CLOSED;
	case SESSION_CLOSED:
		return false;
	}
	return false;
}

static void leave_handshake(struct session *s)
{
	TAILQ_REMOVE(&s->srv->handshakes, s, hs_link);
	s->srv->n_handshaking--;
	if (s->ev_deadline) {
		event_free(s->ev_deadline);
		s->ev_deadline = NULL;
	}
}

static void enter_closed(struct session *s, enum session_state from)
{
	if (from != SESSION_HANDSHAKE && s->listener)
		s->listener->closed(s->listener_arg, s);
	s->listener = NULL;
	budget_leave(s);
	if (s->ev_resume) {
		event_free(s->ev_resume);
		s->ev_resume = NULL;
	}
	if (s->ev_timer) {
		event_free(s->ev_timer);
		s->ev_timer = NULL;
	}
	if (s->ev_wake) {
		event_free(s->ev_wake);
		s->ev_wake = NULL;
		s->parked = false;
	}
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->load) {
		s->load->connections--;
		s->load = NULL;
	}
	TAILQ_REMOVE(&s->srv->sessions, s, link);
	s->srv->n_sessions--;
	metrics.connections_open--;
	log_debug("session", "session=%llu closed", (unsigned long long)s->id);
	session_unref(s); /* the server's list held one */
}

/* The one place a session's state changes; each transition does its part. */
static void session_enter(struct session *s, enum session_state to)
{
	enum session_state from = s->state;
	if (from == to)
		return;
	CHECK(transition_allowed(from, to));
	s->state = to;
	if (from == SESSION_HANDSHAKE)
		leave_handshake(s);
	switch (to) {
	case SESSION_READY:
		s->reading = true; /* EV_READ is on since the handshake */
		session_update_reading(s);
		break;
	case SESSION_DRAINING:
		session_update_reading(s); /* stops reading */
		break;
	case SESSION_CLOSED:
		enter_closed(s, from);
		break;
	case SESSION_HANDSHAKE:
		break;
	}
}

/* DRAINING ends in CLOSED once nothing is in flight and the output is out. */
static void session_check_drained(struct session *s)
{
	if (s->state != SESSION_DRAINING || s->requests_in_flight > 0)
		return;
	if (session_output_pending(s) == 0) {
		session_enter(s, SESSION_CLOSED);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_enable(s->bev, EV_WRITE);
}

void session_fail(struct session *s, uint64_t seq, const char *code, const char *message)
{
	if (s->state != SESSION_READY)
		return;
	log_info("session", "session=%llu peer=%s role=%s org=%s closing code=%s", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, code);
	session_send_error(s, seq, code, message);
	session_enter(s, SESSION_DRAINING);
	session_check_drained(s);
}

void session_drain(struct session *s)
{
	if (s->state == SESSION_READY) {
		session_enter(s, SESSION_DRAINING);
		session_check_drained(s);
	} else if (s->state == SESSION_HANDSHAKE) {
		session_enter(s, SESSION_CLOSED);
	}
}

void session_recheck_certificate(struct session *s)
{
	if (s->state != SESSION_READY && s->state != SESSION_DRAINING)
		return;
	char why[160];
	if (tls_peer_still_valid(bufferevent_openssl_get_ssl(s->bev), s->srv->ssl_ctx, why, sizeof why))
		return;
	log_warn("session", "session=%llu peer=%s role=%s org=%s closing: certificate no longer valid: %s",
		 (unsigned long long)s->id, s->peer, overstap_role_name(s->who.role), s->who.org, why);
	char msg[200];
	snprintf(msg, sizeof msg, "your certificate is no longer valid: %s", why);
	if (s->state == SESSION_READY)
		session_fail(s, 0, ERR_PERMISSION_DENIED, msg);
	else
		session_enter(s, SESSION_CLOSED);
}

void session_abort(struct session *s)
{
	session_enter(s, SESSION_CLOSED);
}

int session_handshakes_from(struct server *srv, const char *addr, struct session **oldest)
{
	struct session *s, *first = NULL, *first_idle = NULL;
	int n = 0;
	TAILQ_FOREACH(s, &srv->handshakes, hs_link) {
		if (addr && strcmp(s->addr, addr) != 0)
			continue;
		n++;
		if (!first)
			first = s;
		/* a handshake that has not even had its ClientHello yet makes way
		 * before one that is under way */
		if (!first_idle && SSL_in_before(bufferevent_openssl_get_ssl(s->bev)))
			first_idle = s;
	}
	*oldest = first_idle ? first_idle : first;
	return n;
}

void session_update_reading(struct session *s)
{
	if (s->state == SESSION_CLOSED || s->state == SESSION_HANDSHAKE || s->waiting_budget)
		return;
	bool want = s->state == SESSION_READY && store_is_up(s->srv->store) &&
		    s->requests_in_flight < s->srv->cfg->max_inflight_requests &&
		    session_output_pending(s) < OUTPUT_HIGH_WATER;
	if (want && !may_take_events(s)) {
		events_wait(s);
		return;
	}
	if (want) {
		read_on(s);
		/* frames already buffered get no new read callback: the loop
		 * processes them next, never this call (it may come from a
		 * commit callback inside another request) */
		if (!s->in_dispatch && evbuffer_get_length(bufferevent_get_input(s->bev)) >= FRAME_HEADER_BYTES)
			event_active(s->ev_resume, EV_TIMEOUT, 0);
	} else if (s->reading) {
		s->frame_started_us = 0; /* its own pause: the frame's time starts again */
		read_off(s);
	}
}

/* ---- requests ------------------------------------------------------------ */

static void conn_send(void *conn, const Overstap__V1__Envelope *env)
{
	session_send(conn, env);
}

static bool conn_is_gone(const void *conn)
{
	return ((const struct session *)conn)->state == SESSION_CLOSED;
}

static void conn_release(void *conn, bool counted)
{
	struct session *s = conn;
	if (counted) {
		CHECK(s->requests_in_flight > 0);
		s->requests_in_flight--;
		if (s->state == SESSION_DRAINING)
			session_check_drained(s);
		else
			session_update_reading(s);
	}
	session_unref(s);
}

static const struct request_transport session_transport = {
	.name = "session",
	.send = conn_send,
	.is_gone = conn_is_gone,
	.release = conn_release,
};

static void deny(struct session *s, uint64_t seq, const char *what)
{
	static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(20, 10000);
	unsigned long missed;
	if (ratelimit_allow_key(&rl, overstap_role_name(s->who.role), s->who.org, clock_mono_us() / 1000, &missed))
		log_warn("session", "session=%llu peer=%s role=%s org=%s denied=%s suppressed_before=%lu",
			 (unsigned long long)s->id, s->peer, overstap_role_name(s->who.role), s->who.org, what,
			 missed);
	char msg[128];
	snprintf(msg, sizeof msg, "role %s may not send %s", overstap_role_name(s->who.role), what);
	session_send_error(s, seq, ERR_PERMISSION_DENIED, msg);
}

/* One envelope: its route, the role's right to it, a request to its handler. */
static void session_dispatch(struct session *s, Overstap__V1__Envelope *env, const struct frame_scan *scan)
{
	uint64_t seq = env->seq;
	if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY__NOT_SET) {
		session_send_error(s, seq, ERR_BAD_REQUEST, "envelope without a message");
		return;
	}
	const struct route *route = router_find(s->srv->router, env->body_case);
	if (!route) {
		session_send_error(s, seq, ERR_BAD_REQUEST, "a server message cannot be sent to the server");
		return;
	}
	if (!route_allows(route, s->who.role)) {
		deny(s, seq, route->name);
		return;
	}
	struct request *req = request_new(&session_transport, s, s, s->id, &s->who, seq, route->costs_db,
					  route->name);
	if (!req) {
		session_send_error(s, seq, ERR_INTERNAL, "out of memory, send again later");
		return;
	}
	session_ref(s);
	if (route->costs_db) {
		s->requests_in_flight++;
		session_update_reading(s);
	}
	req->scan = scan;
	route->handle(route->module, req, env);
}

/* What the scan of a frame refuses before decoding (frame.h); true when the
 * frame was answered and is done. */
static bool refused_by_scan(struct session *s, const struct frame_scan *scan)
{
	char msg[160];
	if (scan->body == OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH && scan->n_updates > OVERSTAP_MAX_BATCH) {
		snprintf(msg, sizeof msg, "a StatusBatch holds at most %d updates, this one %zu", OVERSTAP_MAX_BATCH,
			 scan->n_updates);
		session_send_error(s, scan->seq, ERR_BAD_REQUEST, msg);
		return true;
	}
	if (scan->decode_bytes > FRAME_DECODE_BUDGET) {
		snprintf(msg, sizeof msg, "decoding this message would take %zu MiB, more than the %u MiB allowed",
			 scan->decode_bytes >> 20, FRAME_DECODE_BUDGET >> 20);
		session_send_error(s, scan->seq, ERR_BAD_REQUEST, msg);
		return true;
	}
	if (scan->nul_outside_updates) {
		session_send_error(s, scan->seq, ERR_BAD_STRING, "a text field holds a NUL byte");
		return true;
	}
	return false;
}

/* A whole frame is consumed: its reservation goes back, its time stops. */
static void frame_done(struct session *s)
{
	budget_release(s);
	s->frame_started_us = 0;
	s->last_frame_us = clock_mono_us();
}

/* The memory frames are decoded into (pbarena.h): one arena for all
 * sessions, as a frame is decoded, dispatched and done with before the next.
 * NULL (malloc per field) under AddressSanitizer, and should a frame ever be
 * decoded while another's message is still in use. */
static struct pbarena decode_arena;
static bool decode_arena_busy;

static ProtobufCAllocator *decode_allocator(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return NULL;
#else
	if (decode_arena_busy)
		return NULL;
	if (!decode_arena.allocator.alloc)
		pbarena_init(&decode_arena);
	decode_arena_busy = true;
	return &decode_arena.allocator;
#endif
}

static void decode_done(ProtobufCAllocator *alloc, Overstap__V1__Envelope *env)
{
	if (!alloc) {
		if (env)
			overstap__v1__envelope__free_unpacked(env, NULL);
		return;
	}
	pbarena_reset(&decode_arena); /* the whole message at once */
	decode_arena_busy = false;
}

/* One whole frame of len bytes after the header; false to stop reading. */
static bool handle_frame(struct session *s, struct evbuffer *in, uint32_t len)
{
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len + FRAME_HEADER_BYTES);
	if (!p) {
		session_fail(s, 0, ERR_INTERNAL, "out of memory");
		return false;
	}
	metrics.frames_in++;
	struct frame_scan scan;
	if (!frame_scan_envelope(p + FRAME_HEADER_BYTES, len, &scan)) {
		evbuffer_drain(in, (size_t)len + FRAME_HEADER_BYTES);
		frame_done(s);
		metrics.frames_bad++;
		session_fail(s, 0, ERR_BAD_FRAME, "frame does not decode as an overstap.v1.Envelope");
		return false;
	}
	Overstap__V1__Envelope *env = NULL;
	ProtobufCAllocator *alloc = NULL;
	if (!refused_by_scan(s, &scan)) {
		alloc = decode_allocator();
		env = overstap__v1__envelope__unpack(alloc, len, p + FRAME_HEADER_BYTES);
		if (!env) {
			decode_done(alloc, NULL);
			evbuffer_drain(in, (size_t)len + FRAME_HEADER_BYTES);
			frame_done(s);
			metrics.frames_bad++;
			session_fail(s, 0, ERR_BAD_FRAME, "frame does not decode as an overstap.v1.Envelope");
			return false;
		}
	} else {
		metrics.frames_bad++;
	}
	evbuffer_drain(in, (size_t)len + FRAME_HEADER_BYTES);
	frame_done(s);
	if (env) {
		session_dispatch(s, env, &scan);
		decode_done(alloc, env);
	}
	return true;
}

/* Arms the timer for the nearer of the frame in progress's deadline and the
 * idle deadline (real time: the manual clock does not stop a socket). */
static void timer_update(struct session *s)
{
	if (!s->ev_timer || s->state != SESSION_READY)
		return;
	const struct config *cfg = s->srv->cfg;
	int64_t due = 0;
	if (cfg->frame_timeout && s->frame_started_us)
		due = s->frame_started_us + cfg->frame_timeout * 1000000;
	if (cfg->client_idle_timeout) {
		int64_t idle = s->last_frame_us + cfg->client_idle_timeout * 1000000;
		if (!due || idle < due)
			due = idle;
	}
	if (!due) {
		evtimer_del(s->ev_timer);
		return;
	}
	int64_t wait = due - clock_mono_us();
	if (wait < 0)
		wait = 0;
	struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };
	evtimer_add(s->ev_timer, &tv);
}

static void session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	const struct config *cfg = s->srv->cfg;
	int64_t now = clock_mono_us();
	char msg[96];
	if (s->state != SESSION_READY)
		return;
	if (cfg->frame_timeout && s->frame_started_us && now >= s->frame_started_us + cfg->frame_timeout * 1000000) {
		static struct ratelimit rl = RATELIMIT_INIT(10, 10000);
		unsigned long missed;
		if (ratelimit_allow(&rl, now / 1000, &missed))
			log_warn("session", "session=%llu peer=%s frame not complete within %llds, closing suppressed_before=%lu",
				 (unsigned long long)s->id, s->peer, (long long)cfg->frame_timeout, missed);
		snprintf(msg, sizeof msg, "a frame must arrive whole within %lld seconds of its first byte",
			 (long long)cfg->frame_timeout);
		session_fail(s, 0, ERR_FRAME_TIMEOUT, msg);
		return;
	}
	if (cfg->client_idle_timeout && s->requests_in_flight == 0 &&
	    now >= s->last_frame_us + cfg->client_idle_timeout * 1000000) {
		log_info("session", "session=%llu peer=%s idle for %llds, closing", (unsigned long long)s->id, s->peer,
			 (long long)cfg->client_idle_timeout);
		snprintf(msg, sizeof msg, "no message for %lld seconds", (long long)cfg->client_idle_timeout);
		session_fail(s, 0, ERR_IDLE_TIMEOUT, msg);
		return;
	}
	if (cfg->client_idle_timeout && now >= s->last_frame_us + cfg->client_idle_timeout * 1000000)
		s->last_frame_us = now; /* busy with its requests: idle from when they end */
	timer_update(s);
}

/* The frame in progress (avail of need bytes buffered) may not fit what is
 * reserved for it: false when the session must wait for the budget. */
static bool frame_may_grow(struct session *s, uint32_t need)
{
	if (need <= SMALL_READ + FRAME_HEADER_BYTES || s->frame_reserved)
		return true;
	if (TAILQ_EMPTY(&s->srv->budget_waiters) && budget_take(s, need))
		return true;
	budget_wait(s, need);
	return false;
}

/* Handles every whole frame in the input buffer, stopping when reading is
 * paused (in-flight limit, output backlog, budgets) so the rest waits for the
 * resume event. */
static void session_process_input(struct session *s)
{
	if (s->in_dispatch)
		return; /* cannot happen: requests never dispatch synchronously */
	s->in_dispatch = true;
	session_ref(s);
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint32_t max = (uint32_t)s->srv->cfg->max_frame_bytes;
	while (s->state == SESSION_READY && s->reading) {
		size_t avail = evbuffer_get_length(in);
		if (avail < FRAME_HEADER_BYTES)
			break;
		uint8_t hdr[FRAME_HEADER_BYTES];
		evbuffer_copyout(in, hdr, sizeof hdr);
		uint32_t len;
		enum frame_status fs = frame_check_header(hdr, max, &len);
		if (fs != FRAME_OK) {
			metrics.frames_bad++;
			char msg[128];
			snprintf(msg, sizeof msg, "frame length %u outside 1..%u", len, max);
			session_fail(s, 0, fs == FRAME_EMPTY ? ERR_BAD_FRAME : ERR_FRAME_TOO_LARGE, msg);
			break;
		}
		if (avail < (size_t)len + FRAME_HEADER_BYTES) {
			frame_may_grow(s, len + FRAME_HEADER_BYTES);
			break;
		}
		/* the frame before this one (of this session or another) may
		 * have spent a budget: this one then waits, so a budget is
		 * passed by at most one frame */
		session_update_reading(s);
		if (!s->reading)
			break;
		if (!handle_frame(s, in, len))
			break;
		if (s->state == SESSION_READY && session_output_pending(s) >= OUTPUT_HIGH_WATER)
			session_update_reading(s);
	}
	if (s->state == SESSION_READY) {
		if (evbuffer_get_length(in) == 0) {
			s->frame_started_us = 0;
			park(s);
		}
		else if (s->reading && !s->frame_started_us)
			s->frame_started_us = clock_mono_us();
		timer_update(s);
	}
	s->in_dispatch = false;
	session_unref(s);
}

/* ---- libevent callbacks ------------------------------------------------- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process_input(arg);
}

static void session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	if (s->state == SESSION_READY && s->reading)
		session_process_input(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct session *s = arg;
	if (s->state == SESSION_DRAINING) {
		session_check_drained(s);
		return;
	}
	if (s->state == SESSION_READY && !s->reading)
		session_update_reading(s);
	if (s->state == SESSION_READY && s->listener)
		s->listener->writable(s->listener_arg, s);
}

/* One identity may hold max_connections_per_org sessions: the one over it is
 * told so and closed (one line per identity and 10 s), the others stay. A
 * school that opens connections without end takes its own share, never the
 * daemon's max_connections. */
static void refuse_over_share(struct session *s)
{
	static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(1, 10000);
	unsigned long missed;
	long long max = (long long)s->srv->cfg->max_connections_per_org;
	if (ratelimit_allow_key(&rl, overstap_role_name(s->who.role), s->who.org, clock_mono_us() / 1000, &missed))
		log_warn("session", "session=%llu peer=%s role=%s org=%s refused: %lld connections of this identity "
			 "(max_connections_per_org) suppressed_before=%lu",
			 (unsigned long long)s->id, s->peer, overstap_role_name(s->who.role), s->who.org, max, missed);
	metrics.share_refusals++;
	char msg[160];
	snprintf(msg, sizeof msg, "this certificate's organisation already holds %lld connections, the most it may; "
		 "close one first", max);
	session_send_error(s, 0, ERR_TOO_MANY_CONNECTIONS, msg);
	session_enter(s, SESSION_DRAINING);
	session_check_drained(s);
}

static void session_established(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	char why[160];
	if (!tls_peer_identity(ssl, &s->who, why, sizeof why)) {
		metrics.handshakes_failed++;
		log_warn("session", "session=%llu peer=%s refused: %s", (unsigned long long)s->id, s->peer, why);
		session_enter(s, SESSION_CLOSED);
		return;
	}
	tls_release_handshake(ssl); /* ~5 KB less per connection (tls.h) */
	s->load = orgload_entry(s->srv->org_load, &s->who);
	if (s->load)
		s->load->connections++; /* until enter_closed() */
	s->ev_resume = event_new(s->srv->base, -1, 0, session_resume_cb, s);
	s->ev_timer = evtimer_new(s->srv->base, session_timer_cb, s);
	s->ev_wake = event_new(s->srv->base, bufferevent_getfd(s->bev), EV_READ, wake_cb, s);
	s->last_frame_us = clock_mono_us();
	if (!s->load || !s->ev_resume || !s->ev_timer || !s->ev_wake) {
		log_error("session", "session=%llu out of memory at connect", (unsigned long long)s->id);
		session_enter(s, SESSION_CLOSED);
		return;
	}
	/* deliver a write callback when output drains below this (pacing) */
	bufferevent_setwatermark(s->bev, EV_WRITE, 64 * 1024, 0);
	bool over_share = s->load->connections > s->srv->cfg->max_connections_per_org;
	if (!over_share)
		log_info("session", "session=%llu peer=%s role=%s org=%s tls=%s connected", (unsigned long long)s->id,
			 s->peer, overstap_role_name(s->who.role), s->who.org, SSL_get_version(ssl));
	session_enter(s, SESSION_READY);
	if (over_share) {
		refuse_over_share(s);
		return;
	}
	park(s); /* most connections say nothing for a while */
	timer_update(s);
}

/* Why a handshake failed, in words: the certificate check's own ("certificate
 * has expired", "certificate revoked", "unable to get local issuer
 * certificate"), else OpenSSL's last error; one line, rate-limited. */
static void handshake_failed(struct session *s, struct bufferevent *bev)
{
	static struct ratelimit rl = RATELIMIT_INIT(20, 10000);
	unsigned long e, last = 0;
	while ((e = bufferevent_get_openssl_error(bev)))
		last = e;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char buf[160] = "";
	if (vr != X509_V_OK)
		snprintf(buf, sizeof buf, "%s", X509_verify_cert_error_string(vr));
	else if (last)
		ERR_error_string_n(last, buf, sizeof buf);
	else
		snprintf(buf, sizeof buf, "connection closed during the handshake");
	unsigned long missed;
	if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
		log_info("session", "session=%llu peer=%s handshake refused: %s suppressed_before=%lu",
			 (unsigned long long)s->id, s->peer, buf, missed);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		session_established(s);
		return;
	}
	if (s->state == SESSION_HANDSHAKE) {
		metrics.handshakes_failed++;
		handshake_failed(s, bev);
	} else {
		log_debug("session", "session=%llu peer=%s %s", (unsigned long long)s->id, s->peer,
			  (what & BEV_EVENT_EOF) ? "disconnected" : "connection error");
	}
	session_ref(s);
	session_enter(s, SESSION_CLOSED);
	session_unref(s);
}

/* The handshake's deadline, fixed when the connection was accepted: bytes
 * that trickle in do not extend it. */
static void session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	if (s->state != SESSION_HANDSHAKE)
		return;
	metrics.handshakes_failed++;
	log_info("session", "session=%llu peer=%s handshake failed (timeout)", (unsigned long long)s->id, s->peer);
	session_enter(s, SESSION_CLOSED);
}

struct session *session_new(struct server *srv, evutil_socket_t fd, const char *addr, const char *peer)
{
	struct session *s = calloc(1, sizeof *s);
	SSL *ssl = SSL_new(srv->ssl_ctx);
	struct event *deadline = s ? evtimer_new(srv->base, session_deadline_cb, s) : NULL;
	struct bufferevent *bev = NULL;
	if (s && ssl && deadline)
		bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		if (ssl)
			SSL_free(ssl);
		if (deadline)
			event_free(deadline);
		evutil_closesocket(fd);
		free(s);
		log_error("session", "peer=%s out of memory at accept", peer);
		return NULL;
	}
	s->bev = bev;
	s->ev_deadline = deadline;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->srv = srv;
	s->state = SESSION_HANDSHAKE;
	s->id = next_session_id++;
	s->refs = 1; /* the server's list holds one */
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	snprintf(s->addr, sizeof s->addr, "%s", addr);
	TAILQ_INSERT_TAIL(&srv->sessions, s, link);
	srv->n_sessions++;
	TAILQ_INSERT_TAIL(&srv->handshakes, s, hs_link);
	srv->n_handshaking++;
	metrics.connections_accepted++;
	metrics.connections_open++;
	/* a small frame at most before it reserves its share (frame_may_grow) */
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMALL_READ + FRAME_HEADER_BYTES);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	struct timeval tv = { (time_t)srv->cfg->handshake_timeout, 0 };
	evtimer_add(s->ev_deadline, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return s;
}
