/* request.h — one request of a client and its one answer.
 *
 * A transport (a protobuf session, an HTTP exchange) makes a request for each
 * message the route table lets through (router.h) and hands it to the
 * handler, which ends it exactly once: with an answer (request_answer), an
 * Error (request_error), or without one (request_end: an AlertAck, a
 * Subscribe). Until then the request holds its transport — a session stays
 * allocated, and a request that costs database work counts in the session's
 * one in-flight limit. An answer for a client that went away is dropped.
 * The transport's release never reads more input synchronously, so ending a
 * request inside a commit callback cannot re-enter frame dispatch.
 */
#ifndef OVERSTAP_REQUEST_H
#define OVERSTAP_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "overstap.h"
#include "overstap.pb-c.h"

struct session;
struct frame_scan;

/* What a request needs of whatever carried it. */
struct request_transport {
	const char *name; /* "session", "http" */
	/* Sends one answer (the request's seq is set); drops it when the client is gone. */
	void (*send)(void *conn, const Overstap__V1__Envelope *env);
	bool (*is_gone)(const void *conn);
	/* The request ended: give back what request_new's caller took (a
	 * reference, an in-flight slot). Never dispatches input synchronously. */
	void (*release)(void *conn, bool counted);
};

struct request {
	const struct request_transport *transport;
	void *conn;
	struct session *session; /* the protobuf session, or NULL (HTTP) */
	uint64_t seq;
	uint64_t conn_id; /* for logs: the session number */
	struct identity who;
	const char *what; /* the route's name, for logs */
	bool counted;     /* holds an in-flight slot of its connection */
	/* what the frame's bytes held (common/frame.h), during the handler's
	 * call only; NULL when the request did not come in a frame */
	const struct frame_scan *scan;
};

/* Called by a transport that has taken what release() gives back. NULL when
 * out of memory (the transport answers INTERNAL and releases itself). */
struct request *request_new(const struct request_transport *t, void *conn, struct session *session,
			    uint64_t conn_id, const struct identity *who, uint64_t seq, bool counted,
			    const char *what);

bool request_is_gone(const struct request *r);
/* Sends env (its seq is set to the request's) and ends the request. */
void request_answer(struct request *r, Overstap__V1__Envelope *env);
/* Sends Error{code, message} and ends the request. */
void request_error(struct request *r, const char *code, const char *message);
/* Ends the request without an answer. */
void request_end(struct request *r);

#endif
