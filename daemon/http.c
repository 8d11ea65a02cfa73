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
#include "exchange.h"
#include "request.h"
#include "rules.h"
#include "server.h"
#include "stats.h"
#include "store.h"

/* Per role and region, never per school (a school's queue would tell how
 * many of its pupils have an alert). */
static const char SQL_QUEUE_DEPTH[] =
	"(SELECT 'q', split_part(recipient, ':', 1), region, count(*) FROM alert WHERE acked_at IS NULL "
	" GROUP BY 2, 3 ORDER BY 2, 3) "
	/* the freshness per region (freshness.c): vo schools that delivered in
	 * the last 14 days ($1 today), and those with an open SCHOOL_STIL */
	"UNION ALL (SELECT 'd', '', r.region, count(*) FROM (SELECT overstap_region_of('', d.school) AS region "
	"  FROM school_day d WHERE d.day > $1::int - 14 GROUP BY d.school) r WHERE r.region IS NOT NULL "
	"  GROUP BY 3 ORDER BY 3) "
	"UNION ALL (SELECT 's', '', region, count(*) FROM alert WHERE kind = @ALERT_SCHOOL_STIL@ "
	"  AND resolved_at IS NULL GROUP BY 3 ORDER BY 3)";

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

/* ---- /healthz ------------------------------------------------------------- */

static void healthz_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	bool up = store_is_up(h->srv->store);
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "%s\n", up ? "ok" : "database unavailable");
	exchange_send_text(req, up ? 200 : 503, "text/plain; charset=utf-8", body);
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


/* The rows of SQL_QUEUE_DEPTH tagged tag, as samples. Roles and regions are
 * ours (rmc, 39): no quoting needed, but nothing else gets through. */
static void put_rows(struct evbuffer *b, const PGresult *res, char tag)
{
	for (int r = 0; r < PQntuples(res); r++) {
		const char *role = PQgetvalue(res, r, 1), *region = PQgetvalue(res, r, 2);
		if (PQgetvalue(res, r, 0)[0] != tag || strcspn(role, "\"\\\n") != strlen(role) ||
		    (region[0] && !overstap_region_is_valid(region)))
			continue;
		if (tag == 'q')
			evbuffer_add_printf(b, "overstapd_queue_depth{role=\"%s\",region=\"%s\"} %s\n", role, region,
					    PQgetvalue(res, r, 3));
		else
			evbuffer_add_printf(b, "overstapd_schools_%s{region=\"%s\"} %s\n", tag == 'd' ? "delivering" : "silent",
					    region, PQgetvalue(res, r, 3));
	}
}

static void metrics_reply(const PGresult *res, const char *error, void *arg)
{
	struct exchange *p = arg;
	if (!exchange_finish(p)) {
		exchange_free(p);
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
	put_help(b, "overstapd_share_limited_total", "counter",
		 "One identity at its share: a session waiting for its own commits, a connection refused.");
	evbuffer_add_printf(b, "overstapd_share_limited_total{share=\"queued_events\"} %llu\n",
			    (unsigned long long)m->share_waits);
	evbuffer_add_printf(b, "overstapd_share_limited_total{share=\"connections\"} %llu\n",
			    (unsigned long long)m->share_refusals);
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
	for (int k = 1; k <= ALERT_KIND_MAX; k++)
		evbuffer_add_printf(b, "overstapd_alerts_raised_total{kind=\"%s\"} %llu\n", rules_alert_kind_name((enum alert_kind)k),
				    (unsigned long long)m->alerts_raised[k]);
	put_help(b, "overstapd_alerts_delivered_total", "counter", "Alerts sent to subscribers (with redeliveries).");
	evbuffer_add_printf(b, "overstapd_alerts_delivered_total %llu\n", (unsigned long long)m->alerts_delivered);
	put_help(b, "overstapd_alerts_acked_total", "counter", "Alerts acknowledged by subscribers.");
	evbuffer_add_printf(b, "overstapd_alerts_acked_total %llu\n", (unsigned long long)m->alerts_acked);
	put_help(b, "overstapd_database_up", "gauge", "1 when every database connection is ready.");
	evbuffer_add_printf(b, "overstapd_database_up %d\n", store_is_up(((struct http *)p->owner)->srv->store) ? 1 : 0);
	put_help(b, "overstapd_queue_depth", "gauge",
		 "Unacknowledged alerts per recipient role and region (of the pupil), never per school.");
	if (res) {
		put_rows(b, res, 'q');
		put_help(b, "overstapd_schools_delivering", "gauge",
			 "Vo schools per region that delivered events in the last 14 days.");
		put_rows(b, res, 'd');
		put_help(b, "overstapd_schools_silent", "gauge",
			 "Vo schools per region with an open SCHOOL_STIL alert (stopped delivering).");
		put_rows(b, res, 's');
	} else {
		log_warn("http", "queue depth unavailable: %s", error ? error : "?");
	}
	exchange_send_text(p->req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
	exchange_free(p);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct exchange *p = exchange_new(req, h);
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
	char today[24];
	snprintf(today, sizeof today, "%lld", (long long)(clock_now() / 86400));
	const char *params[1] = { today };
	store_query(h->srv->store, LANE_READ, "http_queue_depth", 1, params, false, metrics_reply, p);
}

/* ---- /api/v1/stats and /api/v1/alerts ------------------------------------- */

static void api_stats_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct exchange *p = exchange_new(req, h);
	if (!p) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (!exchange_parse_query(p, true)) {
		exchange_free(p);
		return;
	}
	if (!store_is_up(h->srv->store)) {
		exchange_fail(p, 503, ERR_INTERNAL, "the database is unavailable; try again shortly");
		return;
	}
	Overstap__V1__StatsQuery q = OVERSTAP__V1__STATS_QUERY__INIT;
	q.cohort = p->cohort;
	q.region = p->region;
	q.as_of = p->as_of;
	stats_group_by_parse(p->by, &q.group_by);
	/* group_by is StatsQuery's field name, as overstap-report --format json
	 * writes it; "by" stays beside it for one release */
	p->extra = exchange_stats_extra(p);
	json_object_set_new(p->extra, "by", json_string(p->by));
	/* HTTP carries no certificate: the public view (small cells suppressed);
	 * access control is the reverse proxy's (deploy/) */
	struct identity who = { .role = ROLE_PUBLIC };
	struct request *r = exchange_request(p, &who, "StatsQuery");
	if (r)
		stats_query(h->srv->stats, r, &q);
}

static void alerts_reply(const PGresult *res, const char *error, void *arg)
{
	struct exchange *p = arg;
	if (!exchange_finish(p)) {
		exchange_free(p);
		return;
	}
	if (!res) {
		exchange_send_error(p->req, 503, ERR_INTERNAL, error ? error : "no answer");
		exchange_free(p);
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
	exchange_send_json(p->req, 200,
		  json_pack("{s:I, s:s, s:o}", "cohort", (json_int_t)p->cohort, "region", p->region, "open", open));
	exchange_free(p);
}

static void api_alerts_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct exchange *p = exchange_new(req, h);
	if (!p) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (!exchange_parse_query(p, false)) {
		exchange_free(p);
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
	exchange_send_text(req, 200, "text/html; charset=utf-8", body);
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
