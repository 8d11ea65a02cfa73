/* session.h — one client connection: TLS, framing, dispatch, back-pressure.
 *
 * Each session is an explicit state machine (HANDSHAKE → READY → DRAINING →
 * CLOSED) moved by session.c alone. Other modules hold references
 * (session_ref/unref) across asynchronous work and may send on a session
 * whatever its state: sends to a closed session are dropped.
 */
#ifndef OVERSTAP_SESSION_H
#define OVERSTAP_SESSION_H

#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "overstap.h"
#include "overstap.pb-c.h"

struct server;
struct session;

enum session_state { SESSION_HANDSHAKE, SESSION_READY, SESSION_DRAINING, SESSION_CLOSED };

/* Takes ownership of fd. Returns NULL (fd closed) on failure. */
struct session *session_new(struct server *srv, evutil_socket_t fd, const char *peer);

void session_ref(struct session *s);
void session_unref(struct session *s);

enum session_state session_state(const struct session *s);
const struct identity *session_identity(const struct session *s);
const char *session_peer(const struct session *s);
uint64_t session_id(const struct session *s);

/* Queues one envelope (framed) for sending. */
void session_send(struct session *s, const Overstap__V1__Envelope *env);
/* Sends Error{code, message} with the request's seq. */
void session_send_error(struct session *s, uint64_t seq, const char *code, const char *message);
/* Sends Error and closes the connection once it is written. */
void session_fail(struct session *s, uint64_t seq, const char *code, const char *message);

/* Asynchronous requests in flight on this session (StatusBatches): reading
 * stops at the configured maximum and resumes when one completes. */
void session_request_started(struct session *s);
void session_request_done(struct session *s);
/* Re-evaluates whether the session reads (database up, in-flight limit,
 * output backlog); also processes frames already buffered. */
void session_update_reading(struct session *s);

/* Shutdown: stop reading, close once every request in flight is answered. */
void session_drain(struct session *s);

/* Calls fn for every session of the server; fn may close the session. */
void session_for_each(struct server *srv, void (*fn)(struct session *s, void *arg), void *arg);

/* Bytes waiting in the output buffer (for delivery pacing). */
size_t session_output_pending(const struct session *s);

/* Per-module attachment points (one slot each, owned by that module). */
void *session_queue_slot(const struct session *s);
void session_set_queue_slot(struct session *s, void *p);

#endif
