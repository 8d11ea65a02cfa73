/* server.h — the daemon's shared context: what every module reaches through.
 *
 * One per process, built by main, read by the modules it wires together. Owns
 * nothing itself; each pointer's module owns its object.
 */
#ifndef OVERSTAP_SERVER_H
#define OVERSTAP_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/queue.h>

struct event_base;
struct config;
struct store;
struct ingest;
struct queue;
struct sweeper;
struct stats;
struct freshness;
struct replay;
struct http;
struct web;
struct router;
struct orgload;
struct session;

TAILQ_HEAD(session_list, session);

struct server {
	struct event_base *base;
	const struct config *cfg;
	SSL_CTX *ssl_ctx;
	struct store *store;
	struct ingest *ingest;
	struct queue *queue;
	struct sweeper *sweeper;
	struct stats *stats;
	struct freshness *freshness; /* SCHOOL_STIL and what schools deliver */
	struct replay *replay;       /* states at a peildatum */
	struct http *http;
	struct web *web; /* the HTTPS side */
	struct router *router; /* who may send what (routes.c) */
	struct evconnlistener *listener;
	struct session_list sessions;
	int n_sessions;
	struct session_list handshakes; /* sessions in HANDSHAKE, oldest first */
	int n_handshaking;
	/* the global budgets (session.c): bytes of frames being received, and
	 * events accepted but not committed (kept by ingest); sessions that wait
	 * for either, first come first served */
	int64_t input_reserved;
	int64_t events_queued;
	struct orgload *org_load; /* per identity: its events and connections (orgload.h) */
	struct session_list budget_waiters;
	bool draining; /* SIGTERM: no new connections, finish what is in flight */
};

#endif
