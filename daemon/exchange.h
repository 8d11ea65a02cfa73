/* exchange.h — one HTTP exchange waiting for its answer, for the loopback
 * HTTP side (http.c) and the HTTPS API (web.c).
 *
 * An exchange notices when its client goes away (then nothing is sent), and
 * it is a request transport (request.h): a handler that answers protobuf
 * sessions answers it too, and the Envelope goes out as JSON (pbjson.c), with
 * an Error as {"code", "message"} and the HTTP status of its code.
 */
#ifndef OVERSTAP_EXCHANGE_H
#define OVERSTAP_EXCHANGE_H

#include <event2/http.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "overstap.h"
#include "request.h"

struct evbuffer;

struct exchange {
	struct evhttp_request *req;
	void *owner;   /* http or web, for the callbacks */
	bool gone;     /* the connection closed before the answer */
	bool answered;
	json_t *extra; /* top-level fields added to a JSON answer (cohort, region, by) */
	int64_t started_us;
	/* what the route parsed (query string or body), per route */
	uint32_t cohort;
	char region[8];
	char by[32];
	char text[64];
	struct identity who; /* the caller (HTTPS) */
	int64_t as_of;       /* 0: now */
};

struct exchange *exchange_new(struct evhttp_request *req, void *owner);
/* True when the exchange can still be answered; detaches the close hook (so
 * call it once, right before answering). */
bool exchange_finish(struct exchange *x);
void exchange_free(struct exchange *x);

/* A request (request.h) answered through the exchange; NULL when out of
 * memory (the exchange is then answered 503 and freed). The request owns
 * the exchange from then on. */
struct request *exchange_request(struct exchange *x, const struct identity *who, const char *what);

/* Answers (headers: no caching, nosniff) and takes doc. */
void exchange_send_text(struct evhttp_request *req, int code, const char *type, struct evbuffer *body);
void exchange_send_json(struct evhttp_request *req, int code, json_t *doc);
/* {"code", "message"} ("error" repeats the message for the first API's clients). */
void exchange_send_error(struct evhttp_request *req, int code, const char *wire_code, const char *message);
/* The HTTP status of a wire error code. */
int exchange_status_of(const char *wire_code);

/* cohort (required), region, by and as_of from the query string into x;
 * false: answered 400 (the caller frees x). */
bool exchange_parse_query(struct exchange *x, bool want_by);

/* The top-level fields of a stats answer beside the StatsReply: cohort,
 * region, group_by, as_of. */
json_t *exchange_stats_extra(const struct exchange *x);

/* The value of one query-string parameter into out (cut to cap); false
 * when absent (out unchanged). */
bool exchange_query_param(struct exchange *x, const char *name, char *out, size_t cap);

/* At the head of a store callback that answers x: true when there is a
 * result and x can still be answered; otherwise x is answered (503) or
 * dropped (its client went away) and freed. */
bool exchange_result_usable(struct exchange *x, const PGresult *res, const char *error);

/* Finishes x with an error answer, then frees it. */
void exchange_fail(struct exchange *x, int code, const char *wire_code, const char *message);

#endif
