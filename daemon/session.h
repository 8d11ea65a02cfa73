/* session.h — one client connection: TLS, framing, dispatch, back-pressure.
 *
 * Each session is an explicit state machine (HANDSHAKE → READY → DRAINING →
 * CLOSED) moved by one function in session.c. Every frame becomes a request
 * (request.h) through the route table (router.h); session.c knows no handler.
 * Other modules hold references (session_ref/unref) across asynchronous work
 * and may send on a session whatever its state: sends to a closed session are
 * dropped.
 */
#ifndef OVERSTAP_SESSION_H
#define OVERSTAP_SESSION_H

#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.h"
#include "overstap.pb-c.h"

struct server;
struct session;

enum session_state { SESSION_HANDSHAKE, SESSION_READY, SESSION_DRAINING, SESSION_CLOSED };

/* Takes ownership of fd; `addr` is the peer's address, `peer` address:port.
 * The session is on srv->handshakes until its handshake ends. Returns NULL
 * (fd closed) on failure. */
struct session *session_new(struct server *srv, evutil_socket_t fd, const char *addr, const char *peer);

void session_ref(struct session *s);
void session_unref(struct session *s);

enum session_state session_state(const struct session *s);
const struct identity *session_identity(const struct session *s);
const char *session_peer(const struct session *s);
const char *session_address(const struct session *s);
uint64_t session_id(const struct session *s);
/* Bytes waiting in the output buffer (for delivery pacing). */
size_t session_output_pending(const struct session *s);

/* Queues one envelope (framed) for sending; dropped unless READY or DRAINING. */
void session_send(struct session *s, const Overstap__V1__Envelope *env);
/* Sends Error{code, message} with seq. */
void session_send_error(struct session *s, uint64_t seq, const char *code, const char *message);
/* Sends Error and closes the connection once it is written. */
void session_fail(struct session *s, uint64_t seq, const char *code, const char *message);
/* Closes at once, whatever the state (a handshake the listener gives up on). */
void session_abort(struct session *s);

/* Handshakes in progress from addr (NULL: from anywhere); *oldest is the
 * one to give way: the longest-waiting that has not sent its ClientHello
 * yet, else the longest-running; NULL when there are none. */
int session_handshakes_from(struct server *srv, const char *addr, struct session **oldest);

/* Budget came free (a frame consumed, events committed): sessions waiting
 * for the global budgets read again, first come first served. */
void session_budget_freed(struct server *srv);

/* Re-evaluates whether the session reads (database up, in-flight limit,
 * output backlog). Frames already buffered are processed from the event
 * loop, never from inside this call. */
void session_update_reading(struct session *s);

/* The TLS configuration was loaded again: a session whose certificate no
 * longer verifies (revoked, a CA removed) is told so and closed. */
void session_recheck_certificate(struct session *s);

/* Shutdown: stop reading, close once every request in flight has ended. */
void session_drain(struct session *s);

/* Calls fn for every session of the server; fn may close the session. */
void session_for_each(struct server *srv, void (*fn)(struct session *s, void *arg), void *arg);

/* One module may follow a session (the alert queue, for its subscription):
 * told when the session closes and when its output has drained. */
struct session_listener {
	void (*closed)(void *arg, struct session *s);
	void (*writable)(void *arg, struct session *s);
};
void session_listen(struct session *s, const struct session_listener *l, void *arg);
/* The arg set with listener l, or NULL. */
void *session_listener_arg(const struct session *s, const struct session_listener *l);

#endif
