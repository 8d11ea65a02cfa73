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

#include "clock.h"
#include "config.h"
#include "dashboard.h"
#include "log.h"
#include "metrics.h"
#include "overstap.h"
#include "rules.h"
#include "server.h"
#include "stats.h"
#include "store.h"

static const char SQL_QUEUE_DEPTH[] =
	"SELECT recipient, count(*) FROM alert WHERE acked_at IS NULL GROUP BY recipient ORDER BY recipient";

static const char SQL_OPEN_ALERTS[] =
	"SELECT kind, count(*) FROM alert WHERE cohort = $1::int AND ($2::text = '' OR region = $2::text) "
	"AND resolved_at IS NULL AND kind IN (1, 2, 3, 4) "
	"AND (recipient LIKE 'rmc:%' OR recipient LIKE 'projectteam:%' OR kind = 3) "
	"GROUP BY kind ORDER BY kind";

struct http {
	struct server *srv;
	struct evhttp *evh;
};

/* A request waiting for the database; `gone` when its connection closed. */
struct pending {
	struct http *h;
	struct evhttp_request *req;
	bool gone;
	uint32_t cohort;
	char region[8];
	char by[32];
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
	char *text = json_dumps(doc, JSON_COMPACT);
	struct evbuffer *body = evbuffer_new();
	if (text)
		evbuffer_add(body, text, strlen(text));
	send_text(req, code, reason, "application/json", body);
	evbuffer_free(body);
	free(text);
	json_decref(doc);
}

static void send_json_error(struct evhttp_request *req, int code, const char *reason, const char *message)
{
	send_json(req, code, reason, json_pack("{s:s}", "error", message));
}

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

static const char *const alert_kind_names[] = { "UNSPECIFIED", "ZOMERLEK", "NIET_GESTART", "GEEN_AANMELDING",
						"ESCALATIE", "OPGELOST" };

static void metrics_reply(const PGresult *res, const char *error, void *arg)
{
	struct pending *p = arg;
	if (!pending_finish(p)) {
		free(p);
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
		evbuffer_add_printf(b, "overstapd_alerts_raised_total{kind=\"%s\"} %llu\n", alert_kind_names[k],
				    (unsigned long long)m->alerts_raised[k]);
	put_help(b, "overstapd_alerts_delivered_total", "counter", "Alerts sent to subscribers (with redeliveries).");
	evbuffer_add_printf(b, "overstapd_alerts_delivered_total %llu\n", (unsigned long long)m->alerts_delivered);
	put_help(b, "overstapd_alerts_acked_total", "counter", "Alerts acknowledged by subscribers.");
	evbuffer_add_printf(b, "overstapd_alerts_acked_total %llu\n", (unsigned long long)m->alerts_acked);
	put_help(b, "overstapd_database_up", "gauge", "1 when every database connection is ready.");
	evbuffer_add_printf(b, "overstapd_database_up %d\n", store_is_up(p->h->srv->store) ? 1 : 0);
	put_help(b, "overstapd_queue_depth", "gauge", "Unacknowledged alerts per recipient queue.");
	if (res) {
		for (int r = 0; r < PQntuples(res); r++) {
			const char *rc = PQgetvalue(res, r, 0);
			/* recipients are ours (rmc:39, vo:25LX00): no quoting needed, but be safe */
			bool safe = strcspn(rc, "\"\\\n") == strlen(rc);
			if (safe)
				evbuffer_add_printf(b, "overstapd_queue_depth{recipient=\"%s\"} %s\n", rc,
						    PQgetvalue(res, r, 1));
		}
	} else {
		log_warn("http", "queue depth unavailable: %s", error ? error : "?");
	}
	send_text(p->req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
	free(p);
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
	else if (!cohort || *end || c < 1990 || c > 2200)
		problem = "cohort=YEAR is required";
	else if (region && region[0] &&
		 (strlen(region) != 2 || region[0] < '0' || region[0] > '9' || region[1] < '0' || region[1] > '9'))
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
		send_json_error(req, 400, "Bad Request", problem);
		return false;
	}
	return true;
}

static void stats_reply(const Overstap__V1__StatsReply *reply, const char *error, void *arg)
{
	struct pending *p = arg;
	if (!pending_finish(p)) {
		free(p);
		return;
	}
	if (!reply) {
		send_json_error(p->req, 503, "Service Unavailable", error ? error : "no answer");
		free(p);
		return;
	}
	json_t *rows = json_array();
	for (size_t i = 0; i < reply->n_rows; i++) {
		const Overstap__V1__StatsRow *r = reply->rows[i];
		json_array_append_new(
			rows, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:b}",
					"key", r->key, "label", r->label, "overstappers", (json_int_t)r->overstappers,
					"met_keuze", (json_int_t)r->met_keuze, "aangemeld", (json_int_t)r->aangemeld,
					"aangemeld_op_tijd", (json_int_t)r->aangemeld_op_tijd, "geplaatst",
					(json_int_t)r->geplaatst, "ingeschreven", (json_int_t)r->ingeschreven,
					"andere_bestemming", (json_int_t)r->andere_bestemming, "ddd", (json_int_t)r->ddd,
					"zomerlek", (json_int_t)r->zomerlek, "niet_gestart", (json_int_t)r->niet_gestart,
					"in_beeld_pct", r->in_beeld_pct, "definitief_pct", r->definitief_pct, "ddd_pct",
					r->ddd_pct, "suppressed", r->suppressed));
	}
	json_t *doc = json_pack("{s:I, s:s, s:s, s:{s:f, s:f, s:f}, s:o}", "cohort", (json_int_t)p->cohort,
				"region", p->region, "by", p->by, "targets", "in_beeld_pct", reply->targets->in_beeld_pct,
				"definitief_pct", reply->targets->definitief_pct, "ddd_pct", reply->targets->ddd_pct,
				"rows", rows);
	/* group_by is StatsQuery's field name, as overstap-report --format json
	 * writes it; "by" stays beside it for one release */
	json_object_set_new(doc, "group_by", json_string(p->by));
	send_json(p->req, 200, "OK", doc);
	free(p);
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
		pending_finish(p);
		free(p);
		return;
	}
	Overstap__V1__GroupBy by = OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	stats_group_by_parse(p->by, &by);
	/* HTTP carries no certificate: it gets the non-admin view (small cells
	 * suppressed); access control is the reverse proxy's (deploy/). */
	if (!store_is_up(h->srv->store)) {
		stats_reply(NULL, "the database is unavailable; try again shortly", p);
		return;
	}
	stats_compute(h->srv->stats, p->cohort, by, p->region, false, stats_reply, p);
}

static void alerts_reply(const PGresult *res, const char *error, void *arg)
{
	struct pending *p = arg;
	if (!pending_finish(p)) {
		free(p);
		return;
	}
	if (!res) {
		send_json_error(p->req, 503, "Service Unavailable", error ? error : "no answer");
		free(p);
		return;
	}
	json_t *open = json_object();
	for (int k = 1; k <= 4; k++)
		json_object_set_new(open, alert_kind_names[k], json_integer(0));
	for (int r = 0; r < PQntuples(res); r++) {
		int k = atoi(PQgetvalue(res, r, 0));
		if (k >= 1 && k <= 4)
			json_object_set_new(open, alert_kind_names[k], json_integer(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
	}
	send_json(p->req, 200, "OK",
		  json_pack("{s:I, s:s, s:o}", "cohort", (json_int_t)p->cohort, "region", p->region, "open", open));
	free(p);
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
		pending_finish(p);
		free(p);
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
	clock_format_iso(clock_now(), now, sizeof now);
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
