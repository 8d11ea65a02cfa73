/* http.c — the loopback HTTP side (DESIGN §6.2) on evhttp in the daemon loop.
 *
 * Owns /healthz (200 when the database answers), /metrics (Prometheus text),
 * /api/v1/stats and /api/v1/alerts (JSON via jansson) and the dashboard page
 * (dashboard.c). Never blocks: database answers arrive through the store; a
 * request whose client went away meanwhile is dropped, not answered.
 * Put a reverse proxy with authentication in front (deploy/).
 */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "config.h"
#include "dashboard.h"
#include "log.h"
#include "metrics.h"
#include "errcodes.h"
#include "overstap.h"
#include "pbjson.h"
#include "request.h"
#include "rules.h"
#include "server.h"
#include "stats.h"
#include "store.h"

/* Per role and region, never per school (a school's queue would tell how
 * many of its pupils have an alert). */
static const char SQL_QUEUE_DEPTH[] =
	"SELECT split_part(recipient, ':', 1), region, count(*) FROM alert WHERE acked_at IS NULL "
	"GROUP BY 1, 2 ORDER BY 1, 2";

static const char SQL_OPEN_ALERTS[] =
	"SELECT kind, count(*) FROM alert WHERE cohort = $1::int AND ($2::text = '' OR region = $2::text) "
	"AND resolved_at IS NULL "
	"AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@, @ALERT_ESCALATIE@) "
	"AND (recipient LIKE 'rmc:%' OR recipient LIKE 'projectteam:%' OR kind = @ALERT_GEEN_AANMELDING@) "
	"GROUP BY kind ORDER BY kind";

struct http {
	struct server *srv;
	struct evhttp *evh;
};

/* One HTTP exchange waiting for an answer; `gone` when its connection closed
 * first. It is also a request transport (request.h): the handlers that
 * answer protobuf sessions answer it, and their Envelope goes out as JSON. */
struct pending {
	struct http *h;
	struct evhttp_request *req;
	bool gone;
	bool answered;
	uint32_t cohort;
	char region[8];
	char by[32];
	json_t *extra; /* top-level fields beside the message's (cohort, region, by) */
};

static void pending_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct pending *p = arg;
	p->gone = true;
}

static struct pending *pending_new(struct http *h, struct evhttp_request *req)
{
	struct pending *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->h = h;
	p->req = req;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), pending_closed, p);
	return p;
}

/* True when the request can still be answered; detaches the close hook. */
static bool pending_finish(struct pending *p)
{
	if (p->gone)
		return false;
	evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
	return true;
}

static void pending_free(struct pending *p)
{
	json_decref(p->extra);
	free(p);
}

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *type,
		      struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, reason, body);
}

static void send_json(struct evhttp_request *req, int code, const char *reason, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct evbuffer *body = evbuffer_new();
	if (text)
		evbuffer_add(body, text, strlen(text));
	send_text(req, code, reason, "application/json", body);
	evbuffer_free(body);
	free(text);
	json_decref(doc);
}

/* Errors as DESIGN §6.2 writes them: {"code", "message"} ("error" repeats
 * the message for clients of the first API). */
static void send_json_error(struct evhttp_request *req, int code, const char *reason, const char *wire_code,
			    const char *message)
{
	send_json(req, code, reason, json_pack("{s:s, s:s, s:s}", "code", wire_code, "message", message, "error", message));
}

/* The HTTP status of a wire error code. */
static int http_status_of(const char *code, const char **reason)
{
	if (strcmp(code, ERR_PERMISSION_DENIED) == 0) {
		*reason = "Forbidden";
		return 403;
	}
	if (strcmp(code, ERR_INTERNAL) == 0) {
		*reason = "Service Unavailable";
		return 503;
	}
	*reason = "Bad Request";
	return 400;
}

/* ---- the request transport -------------------------------------------------- */

static void exchange_send(void *conn, const Overstap__V1__Envelope *env)
{
	struct pending *p = conn;
	if (!pending_finish(p))
		return;
	p->answered = true;
	if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		const char *reason;
		int status = http_status_of(env->error->code, &reason);
		send_json_error(p->req, status, reason, env->error->code, env->error->message);
		return;
	}
	/* the one member of the body oneof */
	const ProtobufCMessage *body = NULL;
	const ProtobufCMessageDescriptor *d = env->base.descriptor;
	for (unsigned i = 0; i < d->n_fields && !body; i++)
		if (d->fields[i].id == (uint32_t)env->body_case && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			body = *(ProtobufCMessage *const *)((const char *)env + d->fields[i].offset);
	json_t *doc = body ? pbjson_from_message(body) : json_object();
	if (doc && p->extra)
		json_object_update(doc, p->extra);
	if (!doc) {
		send_json_error(p->req, 503, "Service Unavailable", ERR_INTERNAL, "out of memory");
		return;
	}
	send_json(p->req, 200, "OK", doc);
}

static bool exchange_is_gone(const void *conn)
{
	return ((const struct pending *)conn)->gone;
}

static void exchange_release(void *conn, bool counted)
{
	(void)counted;
	struct pending *p = conn;
	if (!p->answered && pending_finish(p)) /* ended without an answer: say so */
		send_json_error(p->req, 503, "Service Unavailable", ERR_INTERNAL, "no answer");
	pending_free(p);
}

static const struct request_transport exchange_transport = {
	.name = "http",
	.send = exchange_send,
	.is_gone = exchange_is_gone,
	.release = exchange_release,
};

/* ---- /healthz ------------------------------------------------------------- */

static void healthz_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	bool up = store_is_up(h->srv->store);
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "%s\n", up ? "ok" : "database unavailable");
	send_text(req, up ? 200 : 503, up ? "OK" : "Service Unavailable", "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

/* ---- /metrics ------------------------------------------------------------- */

static void put_help(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_histogram(struct evbuffer *b, const char *name, const char *help, const struct histogram *h)
{
	put_help(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
	}
	cum += h->counts[h->n_bounds];
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	evbuffer_add_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}


static void metrics_reply(const PGresult *res, const char *error, void *arg)
{
	struct pending *p = arg;
	if (!pending_finish(p)) {
		pending_free(p);
		return;
	}
	struct evbuffer *b = evbuffer_new();
	const struct metrics *m = &metrics;
	put_help(b, "overstapd_connections_open", "gauge", "Client connections open now.");
	evbuffer_add_printf(b, "overstapd_connections_open %llu\n", (unsigned long long)m->connections_open);
	put_help(b, "overstapd_connections_accepted_total", "counter", "Client connections accepted.");
	evbuffer_add_printf(b, "overstapd_connections_accepted_total %llu\n",
			    (unsigned long long)m->connections_accepted);
	put_help(b, "overstapd_handshakes_failed_total", "counter", "TLS handshakes or identities refused.");
	evbuffer_add_printf(b, "overstapd_handshakes_failed_total %llu\n", (unsigned long long)m->handshakes_failed);
	put_help(b, "overstapd_handshakes_dropped_total", "counter",
		 "TLS handshakes closed to make room for a newer one (max_handshakes).");
	evbuffer_add_printf(b, "overstapd_handshakes_dropped_total %llu\n", (unsigned long long)m->handshakes_dropped);
	put_help(b, "overstapd_frames_total", "counter", "Frames received.");
	evbuffer_add_printf(b, "overstapd_frames_total %llu\n", (unsigned long long)m->frames_in);
	put_help(b, "overstapd_frames_bad_total", "counter", "Frames refused (size or decoding).");
	evbuffer_add_printf(b, "overstapd_frames_bad_total %llu\n", (unsigned long long)m->frames_bad);
	put_help(b, "overstapd_events_total", "counter", "Status updates by result.");
	evbuffer_add_printf(b, "overstapd_events_total{result=\"accepted\"} %llu\n",
			    (unsigned long long)m->events_accepted);
	evbuffer_add_printf(b, "overstapd_events_total{result=\"duplicate\"} %llu\n",
			    (unsigned long long)m->events_duplicate);
	evbuffer_add_printf(b, "overstapd_events_total{result=\"rejected\"} %llu\n",
			    (unsigned long long)m->events_rejected);
	put_help(b, "overstapd_commits_total", "counter", "Group transactions committed.");
	evbuffer_add_printf(b, "overstapd_commits_total %llu\n", (unsigned long long)m->commits);
	put_help(b, "overstapd_commit_failures_total", "counter", "Group transactions that failed for good.");
	evbuffer_add_printf(b, "overstapd_commit_failures_total %llu\n", (unsigned long long)m->commit_failures);
	put_histogram(b, "overstapd_batch_size", "Updates per StatusBatch.", &m->batch_size);
	put_histogram(b, "overstapd_group_size", "Events per group transaction.", &m->group_size);
	put_histogram(b, "overstapd_commit_latency_seconds", "Time from the start of a group to its COMMIT.",
		      &m->commit_seconds);
	put_help(b, "overstapd_alerts_raised_total", "counter", "Alerts raised by kind.");
	for (int k = 1; k <= 5; k++)
		evbuffer_add_printf(b, "overstapd_alerts_raised_total{kind=\"%s\"} %llu\n", rules_alert_kind_name((enum alert_kind)k),
				    (unsigned long long)m->alerts_raised[k]);
	put_help(b, "overstapd_alerts_delivered_total", "counter", "Alerts sent to subscribers (with redeliveries).");
	evbuffer_add_printf(b, "overstapd_alerts_delivered_total %llu\n", (unsigned long long)m->alerts_delivered);
	put_help(b, "overstapd_alerts_acked_total", "counter", "Alerts acknowledged by subscribers.");
	evbuffer_add_printf(b, "overstapd_alerts_acked_total %llu\n", (unsigned long long)m->alerts_acked);
	put_help(b, "overstapd_database_up", "gauge", "1 when every database connection is ready.");
	evbuffer_add_printf(b, "overstapd_database_up %d\n", store_is_up(p->h->srv->store) ? 1 : 0);
	put_help(b, "overstapd_queue_depth", "gauge",
		 "Unacknowledged alerts per recipient role and region (of the pupil), never per school.");
	if (res) {
		for (int r = 0; r < PQntuples(res); r++) {
			const char *role = PQgetvalue(res, r, 0), *region = PQgetvalue(res, r, 1);
			/* roles and regions are ours (rmc, 39): no quoting needed, but be safe */
			bool safe = strcspn(role, "\"\\\n") == strlen(role) && overstap_region_is_valid(region);
			if (safe || (strcspn(role, "\"\\\n") == strlen(role) && !region[0]))
				evbuffer_add_printf(b, "overstapd_queue_depth{role=\"%s\",region=\"%s\"} %s\n", role, region,
						    PQgetvalue(res, r, 2));
		}
	} else {
		log_warn("http", "queue depth unavailable: %s", error ? error : "?");
	}
	send_text(p->req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
	pending_free(p);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct pending *p = pending_new(h, req);
	if (!p) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	/* the counters answer at once while PostgreSQL is away (database_up 0):
	 * that is when a monitor needs them; only the queue depths need a query */
	if (!store_is_up(h->srv->store)) {
		metrics_reply(NULL, "database unavailable", p);
		return;
	}
	store_query(h->srv->store, LANE_READ, "http_queue_depth", 0, NULL, false, metrics_reply, p);
}

/* ---- /api/v1/stats and /api/v1/alerts ------------------------------------- */

/* Parses cohort, region and by from the query string; false answers 400. */
static bool parse_query(struct evhttp_request *req, struct pending *p, bool want_by)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	bool ok = evhttp_parse_query_str(query ? query : "", &q) == 0;
	const char *cohort = ok ? evhttp_find_header(&q, "cohort") : NULL;
	const char *region = ok ? evhttp_find_header(&q, "region") : NULL;
	const char *by = ok ? evhttp_find_header(&q, "by") : NULL;
	char *end = NULL;
	long c = cohort ? strtol(cohort, &end, 10) : 0;
	const char *problem = NULL;
	if (!ok)
		problem = "malformed query string";
	else if (!cohort || *end || c < 0 || !overstap_cohort_is_year((uint32_t)c))
		problem = "cohort=YEAR is required";
	else if (region && region[0] && !overstap_region_is_valid(region))
		problem = "region is a two-digit RMC region code";
	else if (want_by && by && by[0]) {
		Overstap__V1__GroupBy g;
		if (!stats_group_by_parse(by, &g))
			problem = "by is one of region, vo_school, woongemeente, mbo_instelling, vo_soort";
	}
	if (!problem) {
		p->cohort = (uint32_t)c;
		snprintf(p->region, sizeof p->region, "%s", region ? region : "");
		snprintf(p->by, sizeof p->by, "%s", by && by[0] ? by : "region");
	}
	if (ok)
		evhttp_clear_headers(&q);
	if (u)
		evhttp_uri_free(u);
	if (problem) {
		pending_finish(p);
		send_json_error(req, 400, "Bad Request", ERR_BAD_REQUEST, problem);
		return false;
	}
	return true;
}

static void api_stats_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct pending *p = pending_new(h, req);
	if (!p) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (!parse_query(req, p, true)) {
		pending_free(p);
		return;
	}
	if (!store_is_up(h->srv->store)) {
		pending_finish(p);
		send_json_error(req, 503, "Service Unavailable", ERR_INTERNAL,
				"the database is unavailable; try again shortly");
		pending_free(p);
		return;
	}
	Overstap__V1__StatsQuery q = OVERSTAP__V1__STATS_QUERY__INIT;
	q.cohort = p->cohort;
	q.region = p->region;
	stats_group_by_parse(p->by, &q.group_by);
	/* group_by is StatsQuery's field name, as overstap-report --format json
	 * writes it; "by" stays beside it for one release */
	p->extra = json_pack("{s:I, s:s, s:s, s:s}", "cohort", (json_int_t)p->cohort, "region", p->region, "by", p->by,
			     "group_by", p->by);
	/* HTTP carries no certificate: the public view (small cells suppressed);
	 * access control is the reverse proxy's (deploy/) */
	struct identity who = { .role = ROLE_PUBLIC };
	struct request *r = request_new(&exchange_transport, p, NULL, 0, &who, 0, true, "StatsQuery");
	if (!r) {
		pending_finish(p);
		send_json_error(req, 503, "Service Unavailable", ERR_INTERNAL, "out of memory");
		pending_free(p);
		return;
	}
	stats_query(h->srv->stats, r, &q);
}

static void alerts_reply(const PGresult *res, const char *error, void *arg)
{
	struct pending *p = arg;
	if (!pending_finish(p)) {
		pending_free(p);
		return;
	}
	if (!res) {
		send_json_error(p->req, 503, "Service Unavailable", ERR_INTERNAL, error ? error : "no answer");
		pending_free(p);
		return;
	}
	json_t *open = json_object();
	for (int k = 1; k <= 4; k++)
		json_object_set_new(open, rules_alert_kind_name((enum alert_kind)k), json_integer(0));
	for (int r = 0; r < PQntuples(res); r++) {
		int k = atoi(PQgetvalue(res, r, 0));
		if (k >= 1 && k <= 4)
			json_object_set_new(open, rules_alert_kind_name((enum alert_kind)k), json_integer(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
	}
	send_json(p->req, 200, "OK",
		  json_pack("{s:I, s:s, s:o}", "cohort", (json_int_t)p->cohort, "region", p->region, "open", open));
	pending_free(p);
}

static void api_alerts_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct pending *p = pending_new(h, req);
	if (!p) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (!parse_query(req, p, false)) {
		pending_free(p);
		return;
	}
	char cohort[16];
	snprintf(cohort, sizeof cohort, "%u", p->cohort);
	const char *params[2] = { cohort, p->region };
	if (!store_is_up(h->srv->store)) {
		alerts_reply(NULL, "the database is unavailable; try again shortly", p);
		return;
	}
	store_query(h->srv->store, LANE_READ, "http_open_alerts", 2, params, false, alerts_reply, p);
}

/* ---- / (the dashboard) ---------------------------------------------------- */

static void dashboard_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path && strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	/* default cohort: the one starting in mbo next (from August on, next year's) */
	char now[32];
	civil_format_iso(clock_now(), now, sizeof now);
	int year = atoi(now), month = atoi(now + 5);
	int cohort = month >= 8 ? year + 1 : year;
	struct evbuffer *body = evbuffer_new();
	dashboard_render(body, cohort, h->srv->cfg->calendar.escalate_after);
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	evhttp_add_header(hd, "Content-Security-Policy",
			  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
			  "connect-src 'self'; img-src data:");
	send_text(req, 200, "OK", "text/html; charset=utf-8", body);
	evbuffer_free(body);
}

/* ---- life cycle ----------------------------------------------------------- */

struct http *http_new(struct server *srv, const char *hostport, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (!config_split_hostport(hostport, host, sizeof host, &port)) {
		snprintf(err, errlen, "http_listen '%s' is not host:port", hostport);
		return NULL;
	}
	struct http *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->srv = srv;
	h->evh = evhttp_new(srv->base);
	if (!h->evh || evhttp_bind_socket(h->evh, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "cannot listen on %s", hostport);
		if (h->evh)
			evhttp_free(h->evh);
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->evh, 16384);
	evhttp_set_max_body_size(h->evh, 0);
	evhttp_set_timeout(h->evh, 30);
	evhttp_set_cb(h->evh, "/healthz", healthz_cb, h);
	evhttp_set_cb(h->evh, "/metrics", metrics_cb, h);
	evhttp_set_cb(h->evh, "/api/v1/stats", api_stats_cb, h);
	evhttp_set_cb(h->evh, "/api/v1/alerts", api_alerts_cb, h);
	evhttp_set_gencb(h->evh, dashboard_cb, h);
	store_register(srv->store, "http_queue_depth", SQL_QUEUE_DEPTH);
	store_register(srv->store, "http_open_alerts", SQL_OPEN_ALERTS);
	return h;
}

void http_stop(struct http *h)
{
	(void)h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	evhttp_free(h->evh);
	free(h);
}
