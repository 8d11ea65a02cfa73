/* exchange.c — one HTTP exchange and its answer (exchange.h).
 *
 * Owns the watch on the client's connection and the JSON rendering of an
 * answer; never blocks. Callers: http.c, web.c.
 */
#include "exchange.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "clock.h"
#include "rules.h"
#include "errcodes.h"
#include "pbjson.h"
#include "stats.h"

static const char *reason_of(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	default: return code >= 500 ? "Service Unavailable" : "Error";
	}
}

static void closed_cb(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct exchange *x = arg;
	x->gone = true;
}

struct exchange *exchange_new(struct evhttp_request *req, void *owner)
{
	struct exchange *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->req = req;
	x->owner = owner;
	x->started_us = clock_mono_us();
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), closed_cb, x);
	return x;
}

bool exchange_finish(struct exchange *x)
{
	if (x->gone)
		return false;
	evhttp_connection_set_closecb(evhttp_request_get_connection(x->req), NULL, NULL);
	return true;
}

void exchange_free(struct exchange *x)
{
	json_decref(x->extra);
	free(x);
}

void exchange_send_text(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, reason_of(code), body);
}

void exchange_send_json(struct evhttp_request *req, int code, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct evbuffer *body = evbuffer_new();
	if (body && text)
		evbuffer_add(body, text, strlen(text));
	exchange_send_text(req, code, "application/json", body);
	if (body)
		evbuffer_free(body);
	free(text);
	json_decref(doc);
}

void exchange_send_error(struct evhttp_request *req, int code, const char *wire_code, const char *message)
{
	exchange_send_json(req, code,
			   json_pack("{s:s, s:s, s:s}", "code", wire_code, "message", message, "error", message));
}

int exchange_status_of(const char *code)
{
	if (strcmp(code, ERR_PERMISSION_DENIED) == 0)
		return 403;
	if (strcmp(code, ERR_INTERNAL) == 0)
		return 503;
	if (strcmp(code, ERR_AS_OF_UNAVAILABLE) == 0)
		return 409;
	return 400;
}

bool exchange_result_usable(struct exchange *x, const PGresult *res, const char *error)
{
	if (!res) {
		exchange_fail(x, 503, ERR_INTERNAL, error ? error : "no answer");
		return false;
	}
	if (!exchange_finish(x)) {
		exchange_free(x);
		return false;
	}
	return true;
}

void exchange_fail(struct exchange *x, int code, const char *wire_code, const char *message)
{
	if (exchange_finish(x))
		exchange_send_error(x->req, code, wire_code, message);
	exchange_free(x);
}

/* Parses cohort, region and by from the query string; false answers 400. */
bool exchange_parse_query(struct exchange *p, bool want_by)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(p->req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	bool ok = evhttp_parse_query_str(query ? query : "", &q) == 0;
	const char *cohort = ok ? evhttp_find_header(&q, "cohort") : NULL;
	const char *region = ok ? evhttp_find_header(&q, "region") : NULL;
	const char *by = ok ? evhttp_find_header(&q, "by") : NULL;
	const char *as_of = ok ? evhttp_find_header(&q, "as_of") : NULL;
	int64_t moment = 0;
	char *end = NULL;
	long c = cohort ? strtol(cohort, &end, 10) : 0;
	const char *problem = NULL;
	if (!ok)
		problem = "malformed query string";
	else if (!cohort || *end || c < 0 || !overstap_cohort_is_year((uint32_t)c))
		problem = "cohort=YEAR is required";
	else if (region && region[0] && !overstap_region_is_valid(region))
		problem = "region is a two-digit RMC region code";
	else if (as_of && as_of[0] && (!rules_parse_moment(as_of, &moment) || moment <= 0))
		problem = "as_of is a date (YYYY-MM-DD, 00:00 Europe/Amsterdam), an ISO 8601 moment or unix seconds";
	else if (want_by && by && by[0]) {
		Overstap__V1__GroupBy g;
		if (!stats_group_by_parse(by, &g))
			problem = "by is one of region, vo_school, woongemeente, mbo_instelling, vo_soort";
	}
	if (!problem) {
		p->cohort = (uint32_t)c;
		snprintf(p->region, sizeof p->region, "%s", region ? region : "");
		snprintf(p->by, sizeof p->by, "%s", by && by[0] ? by : "region");
		p->as_of = moment;
	}
	if (ok)
		evhttp_clear_headers(&q);
	if (u)
		evhttp_uri_free(u);
	if (problem) {
		if (exchange_finish(p))
			exchange_send_error(p->req, 400, ERR_BAD_REQUEST, problem);
		return false;
	}
	return true;
}

json_t *exchange_stats_extra(const struct exchange *x)
{
	/* the milestones come with the StatsReply itself */
	return json_pack("{s:I, s:s, s:s, s:I}", "cohort", (json_int_t)x->cohort, "region", x->region, "group_by",
			 x->by, "as_of", (json_int_t)x->as_of);
}

bool exchange_query_param(struct exchange *x, const char *name, char *out, size_t cap)
{
	struct evkeyvalq q;
	struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(x->req));
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	bool found = false;
	if (evhttp_parse_query_str(query ? query : "", &q) == 0) {
		const char *v = evhttp_find_header(&q, name);
		if (v) {
			snprintf(out, cap, "%s", v);
			found = true;
		}
		evhttp_clear_headers(&q);
	}
	if (u)
		evhttp_uri_free(u);
	return found;
}

/* ---- the request transport ---------------------------------------------------- */

static void transport_send(void *conn, const Overstap__V1__Envelope *env)
{
	struct exchange *x = conn;
	if (!exchange_finish(x))
		return;
	x->answered = true;
	if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		exchange_send_error(x->req, exchange_status_of(env->error->code), env->error->code,
				    env->error->message);
		return;
	}
	/* the one member of the body oneof */
	const ProtobufCMessage *body = NULL;
	const ProtobufCMessageDescriptor *d = env->base.descriptor;
	for (unsigned i = 0; i < d->n_fields && !body; i++)
		if (d->fields[i].id == (uint32_t)env->body_case && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			body = *(ProtobufCMessage *const *)((const char *)env + d->fields[i].offset);
	json_t *doc = body ? pbjson_from_message(body) : json_object();
	if (doc && x->extra)
		json_object_update(doc, x->extra);
	if (!doc) {
		exchange_send_error(x->req, 503, ERR_INTERNAL, "out of memory");
		return;
	}
	exchange_send_json(x->req, 200, doc);
}

static bool transport_is_gone(const void *conn)
{
	return ((const struct exchange *)conn)->gone;
}

static void transport_release(void *conn, bool counted)
{
	(void)counted;
	struct exchange *x = conn;
	if (!x->answered && exchange_finish(x)) /* ended without an answer: say so */
		exchange_send_error(x->req, 503, ERR_INTERNAL, "no answer");
	exchange_free(x);
}

static const struct request_transport exchange_transport = {
	.name = "http",
	.send = transport_send,
	.is_gone = transport_is_gone,
	.release = transport_release,
};

struct request *exchange_request(struct exchange *x, const struct identity *who, const char *what)
{
	struct request *r = request_new(&exchange_transport, x, NULL, 0, who, 0, true, what);
	if (!r)
		exchange_fail(x, 503, ERR_INTERNAL, "out of memory");
	return r;
}
