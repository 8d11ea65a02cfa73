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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "errcodes.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "router.h"
#include "server.h"
#include "store.h"
#include "tls.h"

#define HANDSHAKE_TIMEOUT_SECS 15
#define OUTPUT_HIGH_WATER (8u << 20) /* stop reading while this much is unsent */

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
	const struct session_listener *listener;
	void *listener_arg;
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
	if (s->ev_resume) {
		event_free(s->ev_resume);
		s->ev_resume = NULL;
	}
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
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

void session_abort(struct session *s)
{
	session_enter(s, SESSION_CLOSED);
}

int session_handshakes_from(struct server *srv, const char *addr, struct session **oldest)
{
	*oldest = NULL;
	if (!addr) {
		*oldest = TAILQ_FIRST(&srv->handshakes);
		return srv->n_handshaking;
	}
	int n = 0;
	struct session *s;
	TAILQ_FOREACH(s, &srv->handshakes, hs_link) {
		if (strcmp(s->addr, addr) == 0 && n++ == 0)
			*oldest = s;
	}
	return n;
}

void session_update_reading(struct session *s)
{
	if (s->state == SESSION_CLOSED || s->state == SESSION_HANDSHAKE)
		return;
	bool want = s->state == SESSION_READY && store_is_up(s->srv->store) &&
		    s->requests_in_flight < s->srv->cfg->max_inflight_batches &&
		    session_output_pending(s) < OUTPUT_HIGH_WATER;
	if (want) {
		if (!s->reading) {
			s->reading = true;
			bufferevent_enable(s->bev, EV_READ);
		}
		/* frames already buffered get no new read callback: the loop
		 * processes them next, never this call (it may come from a
		 * commit callback inside another request) */
		if (!s->in_dispatch && evbuffer_get_length(bufferevent_get_input(s->bev)) >= FRAME_HEADER_BYTES)
			event_active(s->ev_resume, EV_TIMEOUT, 0);
	} else if (s->reading) {
		s->reading = false;
		bufferevent_disable(s->bev, EV_READ);
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
	log_warn("session", "session=%llu peer=%s role=%s org=%s denied=%s", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, what);
	char msg[128];
	snprintf(msg, sizeof msg, "role %s may not send %s", overstap_role_name(s->who.role), what);
	session_send_error(s, seq, ERR_PERMISSION_DENIED, msg);
}

/* One envelope: its route, the role's right to it, a request to its handler. */
static void session_dispatch(struct session *s, Overstap__V1__Envelope *env)
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
	route->handle(route->module, req, env);
}

/* Handles every whole frame in the input buffer, stopping when reading is
 * paused (in-flight limit, output backlog) so the rest waits for the resume
 * event. */
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
		if (avail < (size_t)len + FRAME_HEADER_BYTES)
			break;
		const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len + FRAME_HEADER_BYTES);
		if (!p) {
			session_fail(s, 0, ERR_INTERNAL, "out of memory");
			break;
		}
		Overstap__V1__Envelope *env = overstap__v1__envelope__unpack(NULL, len, p + FRAME_HEADER_BYTES);
		evbuffer_drain(in, (size_t)len + FRAME_HEADER_BYTES);
		metrics.frames_in++;
		if (!env) {
			metrics.frames_bad++;
			session_fail(s, 0, ERR_BAD_FRAME, "frame does not decode as an overstap.v1.Envelope");
			break;
		}
		session_dispatch(s, env);
		overstap__v1__envelope__free_unpacked(env, NULL);
		if (s->state == SESSION_READY && session_output_pending(s) >= OUTPUT_HIGH_WATER)
			session_update_reading(s);
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
	s->ev_resume = event_new(s->srv->base, -1, 0, session_resume_cb, s);
	if (!s->ev_resume) {
		log_error("session", "session=%llu out of memory at connect", (unsigned long long)s->id);
		session_enter(s, SESSION_CLOSED);
		return;
	}
	/* deliver a write callback when output drains below this (pacing) */
	bufferevent_setwatermark(s->bev, EV_WRITE, 64 * 1024, 0);
	log_info("session", "session=%llu peer=%s role=%s org=%s tls=%s connected", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, SSL_get_version(ssl));
	session_enter(s, SESSION_READY);
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
		unsigned long e;
		char buf[160] = "";
		while ((e = bufferevent_get_openssl_error(bev)))
			ERR_error_string_n(e, buf, sizeof buf);
		log_info("session", "session=%llu peer=%s handshake failed%s%s", (unsigned long long)s->id, s->peer,
			 buf[0] ? ": " : "", buf);
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
	/* read a whole frame at most beyond what is buffered */
	bufferevent_setwatermark(s->bev, EV_READ, 0, (size_t)srv->cfg->max_frame_bytes + FRAME_HEADER_BYTES);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	struct timeval tv = { HANDSHAKE_TIMEOUT_SECS, 0 };
	evtimer_add(s->ev_deadline, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return s;
}
