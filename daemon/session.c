/* session.c — one TLS client connection as an explicit state machine.
 *
 * Owns the bufferevent, the framing of DESIGN §4.1 on both directions, the
 * dispatch of envelopes to the modules by message type and role (§4.3), and
 * back-pressure: a session stops reading while the database is away, while
 * too many of its batches are in flight, or while its output backs up.
 * Never blocks; never trusts a byte from the peer. Callers: net (accept),
 * ingest/queue/stats/pupil/admin (replies).
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

#include "admin.h"
#include "config.h"
#include "frame.h"
#include "ingest.h"
#include "log.h"
#include "net.h"
#include "metrics.h"
#include "pupil.h"
#include "queue.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "errcodes.h"
#include "tls.h"

#define HANDSHAKE_TIMEOUT_SECS 15
#define OUTPUT_HIGH_WATER (8u << 20) /* stop reading while this much is unsent */

struct session {
	TAILQ_ENTRY(session) link;
	struct server *srv;
	struct bufferevent *bev;
	enum session_state state;
	struct identity who;
	char peer[64];
	uint64_t id;
	int refs;
	int requests_in_flight;
	bool reading;
	bool in_dispatch;
	bool handshaking; /* counted in srv->n_handshaking */
	void *queue_slot;
};

static uint64_t next_session_id = 1;

static void session_process_input(struct session *s);
static void session_close(struct session *s);

/* ---- references and accessors ------------------------------------------- */

void session_ref(struct session *s)
{
	s->refs++;
}

void session_unref(struct session *s)
{
	if (--s->refs == 0)
		free(s);
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

uint64_t session_id(const struct session *s)
{
	return s->id;
}

void *session_queue_slot(const struct session *s)
{
	return s->queue_slot;
}

void session_set_queue_slot(struct session *s, void *p)
{
	s->queue_slot = p;
}

size_t session_output_pending(const struct session *s)
{
	if (!s->bev)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(s->bev));
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
	if (s->state == SESSION_CLOSED || s->state == SESSION_HANDSHAKE)
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

/* DRAINING ends in CLOSED once nothing is in flight and the output is out. */
static void session_check_drained(struct session *s)
{
	if (s->state != SESSION_DRAINING || s->requests_in_flight > 0)
		return;
	if (session_output_pending(s) == 0) {
		session_close(s);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_enable(s->bev, EV_WRITE);
}

void session_fail(struct session *s, uint64_t seq, const char *code, const char *message)
{
	if (s->state == SESSION_CLOSED)
		return;
	log_info("session", "session=%llu peer=%s role=%s org=%s closing code=%s", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, code);
	session_send_error(s, seq, code, message);
	s->state = SESSION_DRAINING;
	session_update_reading(s);
	session_check_drained(s);
}

void session_drain(struct session *s)
{
	if (s->state == SESSION_READY) {
		s->state = SESSION_DRAINING;
		session_update_reading(s);
		session_check_drained(s);
	} else if (s->state == SESSION_HANDSHAKE) {
		session_close(s);
	}
}

static void handshake_over(struct session *s)
{
	if (s->handshaking) {
		s->handshaking = false;
		net_handshake_ended(s->srv);
	}
}

static void session_close(struct session *s)
{
	if (s->state == SESSION_CLOSED)
		return;
	handshake_over(s);
	bool was_established = s->state != SESSION_HANDSHAKE;
	s->state = SESSION_CLOSED;
	if (was_established)
		queue_session_closed(s->srv->queue, s);
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	TAILQ_REMOVE(&s->srv->sessions, s, link);
	s->srv->n_sessions--;
	metrics.connections_open--;
	log_debug("session", "session=%llu closed", (unsigned long long)s->id);
	session_unref(s);
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
		/* frames already buffered get no new read callback */
		session_process_input(s);
	} else if (s->reading) {
		s->reading = false;
		bufferevent_disable(s->bev, EV_READ);
	}
}

void session_request_started(struct session *s)
{
	s->requests_in_flight++;
	session_update_reading(s);
}

void session_request_done(struct session *s)
{
	s->requests_in_flight--;
	if (s->state == SESSION_DRAINING)
		session_check_drained(s);
	else
		session_update_reading(s);
}

/* ---- dispatch ------------------------------------------------------------ */

static bool role_in(enum role r, unsigned mask)
{
	return (mask >> r) & 1u;
}
#define R(x) (1u << (x))

static void deny(struct session *s, uint64_t seq, const char *what)
{
	log_warn("session", "session=%llu peer=%s role=%s org=%s denied=%s", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, what);
	char msg[128];
	snprintf(msg, sizeof msg, "role %s may not send %s", overstap_role_name(s->who.role), what);
	session_send_error(s, seq, ERR_PERMISSION_DENIED, msg);
}

static void session_dispatch(struct session *s, Overstap__V1__Envelope *env)
{
	struct server *srv = s->srv;
	uint64_t seq = env->seq;
	enum role role = s->who.role;
	switch (env->body_case) {
	case OVERSTAP__V1__ENVELOPE__BODY_PING: {
		Overstap__V1__Envelope reply = OVERSTAP__V1__ENVELOPE__INIT;
		Overstap__V1__Pong pong = OVERSTAP__V1__PONG__INIT;
		pong.t = env->ping->t;
		reply.seq = seq;
		reply.body_case = OVERSTAP__V1__ENVELOPE__BODY_PONG;
		reply.pong = &pong;
		session_send(s, &reply);
		return;
	}
	case OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH:
		if (!role_in(role, R(ROLE_VO) | R(ROLE_MBO) | R(ROLE_ADMIN)))
			return deny(s, seq, "StatusBatch");
		ingest_submit(srv->ingest, s, seq, env->status_batch);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY_SUBSCRIBE:
		if (!role_in(role, R(ROLE_VO) | R(ROLE_RMC) | R(ROLE_PROJECTTEAM)))
			return deny(s, seq, "Subscribe");
		queue_subscribe(srv->queue, s, seq, env->subscribe);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK:
		if (!role_in(role, R(ROLE_VO) | R(ROLE_RMC) | R(ROLE_PROJECTTEAM)))
			return deny(s, seq, "AlertAck");
		queue_ack(srv->queue, s, seq, env->alert_ack);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY:
		if (!role_in(role, R(ROLE_PROJECTTEAM) | R(ROLE_ADMIN)))
			return deny(s, seq, "StatsQuery");
		stats_query(srv->stats, s, seq, env->stats_query);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY:
		if (!role_in(role, R(ROLE_VO) | R(ROLE_MBO) | R(ROLE_RMC) | R(ROLE_ADMIN)))
			return deny(s, seq, "PupilQuery");
		pupil_query(srv, s, seq, env->pupil_query);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REQUEST:
		if (role != ROLE_ADMIN)
			return deny(s, seq, "AdminRequest");
		admin_request(srv, s, seq, env->admin_request);
		return;
	case OVERSTAP__V1__ENVELOPE__BODY__NOT_SET:
		session_send_error(s, seq, ERR_BAD_REQUEST, "envelope without a message");
		return;
	default:
		session_send_error(s, seq, ERR_BAD_REQUEST, "a server message cannot be sent to the server");
		return;
	}
}

/* Handles every whole frame in the input buffer, stopping when reading is
 * paused (in-flight limit) so the rest waits for session_update_reading(). */
static void session_process_input(struct session *s)
{
	if (s->in_dispatch)
		return; /* re-entered from a reply path; the outer loop continues */
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

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process_input(arg);
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
	queue_session_writable(s->srv->queue, s);
}

static void session_established(struct session *s)
{
	handshake_over(s);
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	char why[160];
	if (!tls_peer_identity(ssl, &s->who, why, sizeof why)) {
		metrics.handshakes_failed++;
		log_warn("session", "session=%llu peer=%s refused: %s", (unsigned long long)s->id, s->peer, why);
		session_close(s);
		return;
	}
	s->state = SESSION_READY;
	s->reading = true; /* EV_READ is on since the handshake */
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	/* deliver a write callback when output drains below this (pacing) */
	bufferevent_setwatermark(s->bev, EV_WRITE, 64 * 1024, 0);
	log_info("session", "session=%llu peer=%s role=%s org=%s tls=%s connected", (unsigned long long)s->id,
		 s->peer, overstap_role_name(s->who.role), s->who.org, SSL_get_version(ssl));
	session_update_reading(s);
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
		log_info("session", "session=%llu peer=%s handshake failed%s%s%s", (unsigned long long)s->id,
			 s->peer, buf[0] ? ": " : "", buf, (what & BEV_EVENT_TIMEOUT) ? " (timeout)" : "");
	} else {
		log_debug("session", "session=%llu peer=%s %s", (unsigned long long)s->id, s->peer,
			  (what & BEV_EVENT_EOF) ? "disconnected" : "connection error");
	}
	session_ref(s);
	session_close(s);
	session_unref(s);
}

struct session *session_new(struct server *srv, evutil_socket_t fd, const char *peer)
{
	struct session *s = calloc(1, sizeof *s);
	SSL *ssl = SSL_new(srv->ssl_ctx);
	if (!s || !ssl) {
		free(s);
		if (ssl)
			SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	s->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		free(s);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->srv = srv;
	s->state = SESSION_HANDSHAKE;
	s->id = next_session_id++;
	s->refs = 1; /* the server's list holds one */
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	TAILQ_INSERT_TAIL(&srv->sessions, s, link);
	srv->n_sessions++;
	s->handshaking = true;
	net_handshake_begun(srv);
	metrics.connections_accepted++;
	metrics.connections_open++;
	/* read a whole frame at most beyond what is buffered */
	bufferevent_setwatermark(s->bev, EV_READ, 0, (size_t)srv->cfg->max_frame_bytes + FRAME_HEADER_BYTES);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	struct timeval tv = { HANDSHAKE_TIMEOUT_SECS, 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return s;
}
