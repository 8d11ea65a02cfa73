/* web.c — the people's side (DESIGN §6.2): the HTTPS API and a page per role.
 *
 * Owns the HTTPS listener (libevent's evhttp over OpenSSL bufferevents with
 * the daemon's TLS context: the same CA, CRL and identity rules as the
 * protobuf port), the admission of its handshakes (web_conn: at most
 * max_handshakes at once and max_handshakes_per_address from one address,
 * the oldest gives way; a fixed handshake_timeout), and the routes. Every
 * request is answered for the identity of its connection's certificate:
 * requests that have a protobuf message (StatsQuery, PupilQuery, AlertAck) go
 * through the route table and the same handlers as the protobuf port; the
 * lists (alerts, pupils) are scoped and audited in their statements (queue.c,
 * pupil.c). Who may use which route: routes.c.
 */
#include "web.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "civil.h"
#include "clock.h"
#include "config.h"
#include "errcodes.h"
#include "exchange.h"
#include "freshness.h"
#include "log.h"
#include "metrics.h"
#include "pbjson.h"
#include "pupil.h"
#include "queue.h"
#include "ratelimit.h"
#include "router.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "tls.h"

/* the pages and their assets (scripts/embed-web.sh from web/) */
struct web_asset {
	const char *name;
	const char *type;
	const char *body;
};
extern const struct web_asset web_assets[];
extern const int web_n_assets;

#define WEB_SWEEP_MS 250
#define WEB_MAX_BODY 65536
#define WEB_MAX_PER_IDENTITY 32 /* connections of one certificate; a browser opens six */
#define WEB_LIST_LIMIT 20000

/* One HTTPS connection, from accept to close: hung on its SSL (ex_data), so
 * OpenSSL's free of the SSL ends it. */
struct web_conn {
	struct web *w;
	SSL *ssl;
	TAILQ_ENTRY(web_conn) link;  /* all connections, oldest first */
	TAILQ_ENTRY(web_conn) hlink; /* handshaking ones, oldest first */
	bool handshaking;
	bool hello;   /* its ClientHello arrived (the address is known) */
	bool aborted; /* shut down; its bufferevent ends it */
	int64_t deadline_us;
	char addr[INET6_ADDRSTRLEN];
	bool has_identity;
	struct identity who;
};
TAILQ_HEAD(web_conn_list, web_conn);

struct web {
	struct server *srv;
	struct evhttp *evh;
	struct event *ev_sweep;
	struct web_conn_list conns;
	struct web_conn_list handshakes;
	int n_conns, n_handshakes;
	bool stopped;
};

static int conn_index = -1;

/* ---- connections and their handshakes ------------------------------------- */

static void conn_abort(struct web_conn *c, const char *why)
{
	if (c->aborted)
		return;
	c->aborted = true;
	if (c->handshaking) {
		TAILQ_REMOVE(&c->w->handshakes, c, hlink);
		c->w->n_handshakes--;
		c->handshaking = false;
	}
	/* the bufferevent reads EOF and evhttp frees the connection (and the SSL) */
	int fd = SSL_get_fd(c->ssl);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	log_debug("web", "peer=%s closed: %s", c->addr[0] ? c->addr : "?", why);
}

static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	struct web_conn *c = ptr;
	if (!c)
		return;
	if (!c->w) { /* freed after web_free (libevent finalizes bufferevents late) */
		free(c);
		return;
	}
	if (c->handshaking) {
		TAILQ_REMOVE(&c->w->handshakes, c, hlink);
		c->w->n_handshakes--;
	}
	TAILQ_REMOVE(&c->w->conns, c, link);
	c->w->n_conns--;
	metrics.connections_open--;
	free(c);
}

/* The oldest handshake (of addr, or of all) that has not sent a ClientHello
 * yet, else the oldest. */
static struct web_conn *oldest_handshake(struct web *w, const char *addr, int *count)
{
	struct web_conn *c, *silent = NULL, *any = NULL;
	*count = 0;
	TAILQ_FOREACH(c, &w->handshakes, hlink) {
		if (addr && (!c->hello || strcmp(c->addr, addr) != 0))
			continue;
		(*count)++;
		if (!any)
			any = c;
		if (!silent && !c->hello)
			silent = c;
	}
	return silent ? silent : any;
}

static void drop_for_room(struct web *w, struct web_conn *victim, const char *where)
{
	static struct ratelimit rl = RATELIMIT_INIT(10, 10000);
	unsigned long missed;
	if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
		log_info("web", "peer=%s handshake dropped: too many at once%s suppressed_before=%lu",
			 victim->addr[0] ? victim->addr : "?", where, missed);
	metrics.handshakes_dropped++;
	conn_abort(victim, "handshake dropped");
	(void)w;
}

static void peer_identity_known(struct web_conn *c)
{
	char why[160];
	if (!tls_peer_identity(c->ssl, &c->who, why, sizeof why)) {
		static struct ratelimit rl = RATELIMIT_INIT(20, 10000);
		unsigned long missed;
		metrics.handshakes_failed++;
		if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
			log_warn("web", "peer=%s refused: %s suppressed_before=%lu", c->addr, why, missed);
		conn_abort(c, why);
		return;
	}
	c->has_identity = true;
	/* one certificate's connections: its oldest give way */
	int n = 0;
	struct web_conn *o, *oldest = NULL;
	TAILQ_FOREACH(o, &c->w->conns, link) {
		if (o->has_identity && !o->aborted && o->who.role == c->who.role && strcmp(o->who.org, c->who.org) == 0) {
			n++;
			if (!oldest)
				oldest = o;
		}
	}
	if (n > WEB_MAX_PER_IDENTITY && oldest)
		conn_abort(oldest, "too many connections of one certificate");
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	struct web_conn *c = SSL_get_ex_data(ssl, conn_index);
	if (!c || c->aborted)
		return;
	if ((where & SSL_CB_HANDSHAKE_START) && c->handshaking && !c->hello) {
		c->hello = true;
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = SSL_get_fd(ssl);
		if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof c->addr);
			else if (ss.ss_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof c->addr);
		}
		int here;
		struct web_conn *victim = oldest_handshake(c->w, c->addr, &here);
		if (here > c->w->srv->cfg->max_handshakes_per_address && victim)
			drop_for_room(c->w, victim, " from this address");
	}
	if ((where & SSL_CB_ALERT) && (where & SSL_CB_WRITE) && c->handshaking) {
		static struct ratelimit rl = RATELIMIT_INIT(20, 10000);
		unsigned long missed;
		long v = SSL_get_verify_result(ssl);
		metrics.handshakes_failed++;
		if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
			log_warn("web", "peer=%s handshake failed: %s%s%s suppressed_before=%lu", c->addr,
				 SSL_alert_desc_string_long(ret), v != X509_V_OK ? ", " : "",
				 v != X509_V_OK ? X509_verify_cert_error_string(v) : "", missed);
	}
	if ((where & SSL_CB_HANDSHAKE_DONE) && c->handshaking) {
		TAILQ_REMOVE(&c->w->handshakes, c, hlink);
		c->w->n_handshakes--;
		c->handshaking = false;
		peer_identity_known(c);
	}
}

/* evhttp asks for the bufferevent of each connection it accepts (the socket
 * comes after): an OpenSSL one that accepts, with its web_conn. */
static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct web *w = arg;
	SSL *ssl = SSL_new(w->srv->ssl_ctx);
	struct web_conn *c = ssl ? calloc(1, sizeof *c) : NULL;
	if (!c) {
		/* evhttp would make a plain bufferevent: no identity, so every
		 * request on it is refused (web_cb) */
		SSL_free(ssl);
		return NULL;
	}
	c->w = w;
	c->ssl = ssl;
	c->handshaking = true;
	c->deadline_us = clock_mono_us() + w->srv->cfg->handshake_timeout * 1000000LL;
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	TAILQ_INSERT_TAIL(&w->handshakes, c, hlink);
	w->n_conns++;
	w->n_handshakes++;
	metrics.connections_open++;
	metrics.connections_accepted++;
	SSL_set_ex_data(ssl, conn_index, c);
	SSL_set_info_callback(ssl, info_cb);
	int all;
	struct web_conn *victim = oldest_handshake(w, NULL, &all);
	if (all > w->srv->cfg->max_handshakes && victim)
		drop_for_room(w, victim, "");
	if (w->n_conns > w->srv->cfg->max_connections || w->stopped)
		c->aborted = true; /* shut down by the sweep once evhttp gave it its socket */
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
								  BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev)
		SSL_free(ssl); /* frees c too */
	return bev;
}

/* Every WEB_SWEEP_MS: handshakes past their deadline, and connections
 * refused at accept (their socket is set only after bev_cb returns). */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct web *w = arg;
	int64_t now = clock_mono_us();
	struct web_conn *c, *next;
	for (c = TAILQ_FIRST(&w->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->aborted && SSL_get_fd(c->ssl) >= 0) {
			c->aborted = false;
			conn_abort(c, "refused");
		} else if (c->handshaking && now >= c->deadline_us) {
			conn_abort(c, "handshake timeout");
		}
	}
}

/* ---- the caller ------------------------------------------------------------ */

/* The identity of the request's connection; false when it has none (or its
 * certificate no longer verifies after a reload). */
static bool request_identity(struct web *w, struct evhttp_request *req, struct identity *who)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct web_conn *c = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
	if (!c || !c->has_identity || c->aborted)
		return false;
	if (SSL_get_SSL_CTX(ssl) != w->srv->ssl_ctx) {
		/* [tls] was loaded again: the certificate must verify against it */
		char why[160];
		if (!tls_peer_still_valid(ssl, w->srv->ssl_ctx, why, sizeof why)) {
			log_info("web", "peer=%s role=%s org=%s refused: %s", c->addr, overstap_role_name(c->who.role),
				 c->who.org, why);
			c->has_identity = false;
			return false;
		}
	}
	*who = c->who;
	return true;
}

static void send_security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	evhttp_add_header(hd, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(hd, "X-Frame-Options", "DENY");
	evhttp_add_header(hd, "Referrer-Policy", "no-referrer");
}

static void refuse(struct evhttp_request *req, int code, const char *wire, const char *message)
{
	send_security_headers(req);
	if (code == 403)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	exchange_send_error(req, code, wire, message);
}

/* ---- the routes that have a protobuf message ------------------------------- */

static void dispatch(struct web *w, struct exchange *x, const struct identity *who,
		     const Overstap__V1__Envelope *env)
{
	const struct route *rt = router_find(w->srv->router, env->body_case);
	if (!rt || !route_allows(rt, who->role)) {
		exchange_fail(x, 403, ERR_PERMISSION_DENIED, "your role may not ask this");
		return;
	}
	if (!store_is_up(w->srv->store)) {
		exchange_fail(x, 503, ERR_INTERNAL, "the database is unavailable; try again shortly");
		return;
	}
	struct request *r = exchange_request(x, who, rt->name);
	if (r)
		rt->handle(rt->module, r, env);
}

static void stats_route(struct web *w, struct exchange *x, const struct identity *who)
{
	if (!exchange_parse_query(x, true)) {
		exchange_free(x);
		return;
	}
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__StatsQuery q = OVERSTAP__V1__STATS_QUERY__INIT;
	q.cohort = x->cohort;
	q.region = x->region;
	q.as_of = x->as_of;
	stats_group_by_parse(x->by, &q.group_by);
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY;
	env.stats_query = &q;
	x->extra = exchange_stats_extra(x);
	dispatch(w, x, who, &env);
}

static void pupil_route(struct web *w, struct exchange *x, const struct identity *who, const char *pgn)
{
	if (!exchange_parse_query(x, false)) {
		exchange_free(x);
		return;
	}
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__PupilQuery q = OVERSTAP__V1__PUPIL_QUERY__INIT;
	char buf[16];
	snprintf(buf, sizeof buf, "%s", pgn);
	q.pgn = buf;
	q.cohort = x->cohort;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY;
	env.pupil_query = &q;
	x->extra = json_pack("{s:s, s:I}", "pgn", buf, "cohort", (json_int_t)x->cohort);
	dispatch(w, x, who, &env);
}

/* POST {"alert_ids": [...]}: an AlertAck on the caller's own queue. */
static void ack_route(struct web *w, struct exchange *x, const struct identity *who)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(x->req);
	size_t len = evbuffer_get_length(in);
	const char *problem = NULL;
	json_error_t jerr;
	json_t *doc = NULL, *ids = NULL;
	if (len == 0 || len > WEB_MAX_BODY)
		problem = "the body is a JSON object {\"alert_ids\": [...]} of at most 64 KiB";
	else if (!(doc = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr)) ||
		 !json_is_object(doc) || !json_is_array(ids = json_object_get(doc, "alert_ids")))
		problem = "the body is a JSON object {\"alert_ids\": [...]}";
	else if (json_array_size(ids) > 10000)
		problem = "at most 10000 alert ids at once";
	uint64_t *v = problem ? NULL : calloc(json_array_size(ids) + 1, sizeof *v);
	if (!problem && !v)
		problem = "out of memory";
	for (size_t i = 0; !problem && i < json_array_size(ids); i++) {
		json_t *e = json_array_get(ids, i);
		if (!json_is_integer(e) || json_integer_value(e) <= 0)
			problem = "alert_ids are positive integers";
		else
			v[i] = (uint64_t)json_integer_value(e);
	}
	if (problem) {
		free(v);
		json_decref(doc);
		exchange_fail(x, 400, ERR_BAD_REQUEST, problem);
		return;
	}
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__AlertAck ack = OVERSTAP__V1__ALERT_ACK__INIT;
	ack.n_alert_ids = json_array_size(ids);
	ack.alert_ids = v;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK;
	env.alert_ack = &ack;
	dispatch(w, x, who, &env);
	free(v);
	json_decref(doc);
}

/* ---- the lists ------------------------------------------------------------- */

static void alerts_done(const PGresult *res, const char *error, void *arg)
{
	struct exchange *x = arg;
	if (!exchange_result_usable(x, res, error))
		return;
	json_t *list = json_array();
	int rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		Overstap__V1__Alert a = OVERSTAP__V1__ALERT__INIT;
		queue_row_to_alert(res, r, &a);
		json_t *o = pbjson_from_message(&a.base);
		if (!o)
			continue;
		int64_t acked = strtoll(PQgetvalue(res, r, QUEUE_LIST_ACKED_AT), NULL, 10);
		int64_t resolved = strtoll(PQgetvalue(res, r, QUEUE_LIST_RESOLVED_AT), NULL, 10);
		int64_t escalated = strtoll(PQgetvalue(res, r, QUEUE_LIST_ESCALATED_AT), NULL, 10);
		int now = atoi(PQgetvalue(res, r, QUEUE_LIST_STATUS_NOW));
		json_object_set_new(o, "acked", json_boolean(acked > 0));
		json_object_set_new(o, "acked_at", json_integer(acked));
		json_object_set_new(o, "resolved", json_boolean(resolved > 0));
		json_object_set_new(o, "resolved_at", json_integer(resolved));
		json_object_set_new(o, "escalated", json_boolean(escalated > 0));
		json_object_set_new(o, "escalated_at", json_integer(escalated));
		json_object_set_new(o, "deliveries", json_integer(atoi(PQgetvalue(res, r, QUEUE_LIST_DELIVERIES))));
		json_object_set_new(o, "status_now",
				    json_string(now ? pbjson_enum_name(&overstap__v1__status__descriptor, now) : ""));
		json_array_append_new(list, o);
	}
	exchange_send_json(x->req, 200,
			   json_pack("{s:s, s:o, s:b}", "state", x->text, "alerts", list, "truncated",
				     rows >= WEB_LIST_LIMIT));
	exchange_free(x);
}

static void alerts_route(struct web *w, struct exchange *x, const struct identity *who)
{
	char state[16] = "open";
	exchange_query_param(x, "state", state, sizeof state);
	if (strcmp(state, "open") != 0 && strcmp(state, "all") != 0) {
		exchange_fail(x, 400, ERR_BAD_REQUEST, "state is open or all");
		return;
	}
	snprintf(x->text, sizeof x->text, "%s", state);
	queue_list(w->srv->queue, who, strcmp(state, "all") == 0, WEB_LIST_LIMIT, alerts_done, x);
}

/* A pupil's applications (and keuze) from the state's facts; an mbo
 * institution sees only its own. */
static void put_facts(json_t *o, const char *hex, const struct identity *who)
{
	static struct pupil_state st; /* large; the loop is single-threaded */
	size_t n = strlen(hex) / 2;
	uint8_t *bytes = malloc(n + 1);
	bool ok = bytes != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		unsigned v;
		ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
		bytes[i] = (uint8_t)v;
	}
	ok = ok && overstap_state_decode(&st, bytes, n);
	free(bytes);
	json_t *apps = json_array();
	for (int i = 0; ok && i < st.n_mbo; i++) {
		const struct mbo_fact *m = &st.mbo[i];
		if (!m->applied || (who->role == ROLE_MBO && strcmp(m->instelling, who->org) != 0))
			continue;
		json_array_append_new(apps, json_pack("{s:s, s:s, s:s, s:i}", "mbo_instelling", m->instelling, "crebo",
						      m->crebo, "status", overstap_kind_name(m->order.kind), "niveau",
						      (int)m->niveau));
	}
	json_object_set_new(o, "applications", apps);
	if (ok && who->role == ROLE_VO && st.keuze.kind)
		json_object_set_new(o, "keuze",
				    json_pack("{s:s, s:s, s:s}", "bestemming",
					      pbjson_enum_name(&overstap__v1__bestemming__descriptor, st.bestemming),
					      "crebo", st.keuze_crebo, "mbo_instelling", st.keuze_instelling));
}

/* "1,3" → ["ZOMERLEK", "GEEN_AANMELDING"] */
static json_t *kinds_of(const char *list)
{
	json_t *a = json_array();
	for (const char *p = list; *p;) {
		char *end;
		long k = strtol(p, &end, 10);
		if (end == p)
			break;
		json_array_append_new(a, json_string(pbjson_enum_name(&overstap__v1__alert_kind__descriptor, (int)k)));
		p = *end == ',' ? end + 1 : end;
	}
	return a;
}

static void pupils_done(const PGresult *res, const char *error, void *arg)
{
	struct exchange *x = arg;
	const struct identity *who = &x->who;
	if (!exchange_result_usable(x, res, error))
		return;
	json_t *list = json_array();
	int rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		int status = atoi(PQgetvalue(res, r, PUPIL_LIST_STATUS));
		int last = atoi(PQgetvalue(res, r, PUPIL_LIST_LAST_KIND));
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:s, s:b, s:o, s:s, s:s, s:{s:s, s:I}}", "pgn", PQgetvalue(res, r, PUPIL_LIST_PGN),
			"name", PQgetvalue(res, r, PUPIL_LIST_NAME), "birth_date", PQgetvalue(res, r, PUPIL_LIST_BIRTH_DATE),
			"status", pbjson_enum_name(&overstap__v1__status__descriptor, status), "has_ddd",
			PQgetvalue(res, r, PUPIL_LIST_HAS_DDD)[0] == 't', "open_alerts",
			kinds_of(PQgetvalue(res, r, PUPIL_LIST_OPEN_ALERTS)), "woongemeente",
			PQgetvalue(res, r, PUPIL_LIST_WOONGEMEENTE), "vo_school", PQgetvalue(res, r, PUPIL_LIST_VO_SCHOOL),
			"last_event", "kind", last ? overstap_kind_name((enum event_kind)last) : "", "occurred_at",
			(json_int_t)strtoll(PQgetvalue(res, r, PUPIL_LIST_LAST_AT), NULL, 10));
		if (!o)
			continue;
		put_facts(o, PQgetvalue(res, r, PUPIL_LIST_FACTS), who);
		json_array_append_new(list, o);
	}
	exchange_send_json(x->req, 200,
			   json_pack("{s:I, s:o, s:b}", "cohort", (json_int_t)x->cohort, "pupils", list, "truncated",
				     rows >= WEB_LIST_LIMIT));
	exchange_free(x);
}

static void pupils_route(struct web *w, struct exchange *x, const struct identity *who)
{
	if (!exchange_parse_query(x, false)) {
		exchange_free(x);
		return;
	}
	x->who = *who; /* for the answer: an mbo institution sees only its own applications */
	pupil_list(w->srv, who, x->cohort, WEB_LIST_LIMIT, pupils_done, x);
}

static void freshness_done(const PGresult *res, const char *error, void *arg)
{
	struct exchange *x = arg;
	if (!exchange_result_usable(x, res, error))
		return;
	const struct web *w = x->owner;
	json_t *list = json_array();
	for (int r = 0; r < PQntuples(res); r++)
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:I}", "vo_school", PQgetvalue(res, r, FRESH_SCHOOL),
					"label", PQgetvalue(res, r, FRESH_NAME), "last_received_at",
					(json_int_t)strtoll(PQgetvalue(res, r, FRESH_LAST_AT), NULL, 10), "events_14d",
					(json_int_t)strtoll(PQgetvalue(res, r, FRESH_RECENT), NULL, 10), "silent",
					PQgetvalue(res, r, FRESH_SILENT)[0] == 't', "alert_open",
					PQgetvalue(res, r, FRESH_ALERT_OPEN)[0] == 't', "competing_claims",
					(json_int_t)strtoll(PQgetvalue(res, r, FRESH_COMPETING), NULL, 10)));
	exchange_send_json(x->req, 200,
			   json_pack("{s:I, s:s, s:I, s:o}", "cohort", (json_int_t)x->cohort, "region", x->region,
				     "silent_after_days", (json_int_t)(w->srv->cfg->silent_after / 86400), "schools", list));
	exchange_free(x);
}

/* per school of the caller's region (projectteam), or of any region or all
 * (admin) */
static void freshness_route(struct web *w, struct exchange *x, const struct identity *who)
{
	if (!exchange_parse_query(x, false)) {
		exchange_free(x);
		return;
	}
	if (who->role == ROLE_PROJECTTEAM) {
		if (x->region[0] && strcmp(x->region, who->org) != 0) {
			exchange_fail(x, 403, ERR_PERMISSION_DENIED, "a projectteam sees its own region only");
			return;
		}
		snprintf(x->region, sizeof x->region, "%.3s", who->org);
	}
	freshness_list(w->srv->freshness, x->cohort, x->region, freshness_done, x);
}

/* ---- pages ------------------------------------------------------------------ */

static const struct web_asset *asset_named(const char *name)
{
	for (int i = 0; i < web_n_assets; i++)
		if (strcmp(web_assets[i].name, name) == 0)
			return &web_assets[i];
	return NULL;
}

static void send_asset(struct evhttp_request *req, const struct web_asset *a)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	send_security_headers(req);
	/* no inline script or style: a name in the data can never run */
	evhttp_add_header(hd, "Content-Security-Policy",
			  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
			  "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
	struct evbuffer *body = evbuffer_new();
	if (body)
		evbuffer_add_reference(body, a->body, strlen(a->body), NULL, NULL);
	exchange_send_text(req, 200, a->type, body);
	if (body)
		evbuffer_free(body);
}

static const char *page_of(enum role role)
{
	switch (role) {
	case ROLE_RMC:
		return "rmc.html";
	case ROLE_VO:
		return "vo.html";
	case ROLE_MBO:
		return "mbo.html";
	default:
		return "region.html"; /* projectteam and admin */
	}
}

/* GET /api/v1/whoami: who the certificate says the caller is, and the cohort
 * a page starts with (the one starting in mbo next; from August on, next
 * year's). */
static void send_whoami(struct web *w, struct evhttp_request *req, const struct identity *who)
{
	char now[32];
	civil_format_iso(clock_now(), now, sizeof now);
	int year = atoi(now), month = atoi(now + 5);
	send_security_headers(req);
	exchange_send_json(req, 200,
			   json_pack("{s:s, s:s, s:i, s:I}", "role", overstap_role_name(who->role), "organisation",
				     who->org, "cohort", month >= 8 ? year + 1 : year, "now", (json_int_t)clock_now()));
	(void)w;
}

/* ---- dispatch --------------------------------------------------------------- */

/* A browser sends Sec-Fetch-Site and Origin: a request another site made
 * (the client certificate goes along with it) is refused. */
static bool cross_site(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
		return true;
	const char *origin = evhttp_find_header(in, "Origin"), *host = evhttp_find_header(in, "Host");
	if (origin) {
		char want[300];
		snprintf(want, sizeof want, "https://%s", host ? host : "");
		if (strcmp(origin, want) != 0)
			return true;
	}
	return false;
}

static void api_route(struct web *w, struct evhttp_request *req, const struct identity *who, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
	if (strcmp(path, "/api/v1/whoami") == 0 && get) {
		send_whoami(w, req, who);
		return;
	}
	enum web_route list = WEB_PAGE;
	if (strcmp(path, "/api/v1/alerts") == 0 && get)
		list = WEB_ALERT_LIST;
	else if (strcmp(path, "/api/v1/pupils") == 0 && get)
		list = WEB_PUPIL_LIST;
	else if (strcmp(path, "/api/v1/freshness") == 0 && get)
		list = WEB_FRESHNESS;
	if (list != WEB_PAGE && !routes_web_allows(list, who->role)) {
		refuse(req, 403, ERR_PERMISSION_DENIED, "your role may not ask this");
		return;
	}
	bool ack = strcmp(path, "/api/v1/alerts/ack") == 0;
	bool pupil = strncmp(path, "/api/v1/pupils/", 15) == 0 && strlen(path + 15) <= 9;
	if (!(list != WEB_PAGE || (strcmp(path, "/api/v1/stats") == 0 && get) || (pupil && get) ||
	      (ack && method == EVHTTP_REQ_POST))) {
		refuse(req, ack || strcmp(path, "/api/v1/stats") == 0 || pupil ? 405 : 404, ERR_BAD_REQUEST,
		       "no such route (DESIGN §6.2)");
		return;
	}
	if (ack) {
		const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		if (!type || strncasecmp(type, "application/json", 16) != 0) {
			refuse(req, 415, ERR_BAD_REQUEST, "the body is application/json");
			return;
		}
	}
	struct exchange *x = exchange_new(req, w);
	if (!x) {
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	send_security_headers(req);
	if (list == WEB_ALERT_LIST)
		alerts_route(w, x, who);
	else if (list == WEB_PUPIL_LIST)
		pupils_route(w, x, who);
	else if (list == WEB_FRESHNESS)
		freshness_route(w, x, who);
	else if (ack)
		ack_route(w, x, who);
	else if (pupil)
		pupil_route(w, x, who, path + 15);
	else
		stats_route(w, x, who);
}

static void web_cb(struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	struct identity who;
	if (!request_identity(w, req, &who)) {
		refuse(req, 403, ERR_PERMISSION_DENIED, "a valid client certificate is required");
		return;
	}
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (!path)
		path = "/";
	if (cross_site(req)) {
		refuse(req, 403, ERR_PERMISSION_DENIED, "requests from another site are refused");
		return;
	}
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	if (strncmp(path, "/api/", 5) == 0) {
		api_route(w, req, &who, path);
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		refuse(req, 405, ERR_BAD_REQUEST, "pages are read with GET");
		return;
	}
	const struct web_asset *a = NULL;
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		a = asset_named(page_of(who.role));
	else if (strncmp(path, "/assets/", 8) == 0 && !strstr(path + 8, ".html"))
		a = asset_named(path + 8);
	if (!a) {
		refuse(req, 404, ERR_BAD_REQUEST, "no such page");
		return;
	}
	send_asset(req, a);
}

/* ---- life cycle ------------------------------------------------------------ */

struct web *web_new(struct server *srv, const char *hostport, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (!config_split_hostport(hostport, host, sizeof host, &port)) {
		snprintf(err, errlen, "https_listen '%s' is not host:port", hostport);
		return NULL;
	}
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, "web_conn", NULL, NULL, conn_free_cb);
	struct web *w = calloc(1, sizeof *w);
	if (!w || conn_index < 0) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->srv = srv;
	TAILQ_INIT(&w->conns);
	TAILQ_INIT(&w->handshakes);
	w->evh = evhttp_new(srv->base);
	w->ev_sweep = event_new(srv->base, -1, EV_PERSIST, sweep_cb, w);
	if (!w->evh || !w->ev_sweep || evhttp_bind_socket(w->evh, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "cannot listen on %s", hostport);
		web_free(w);
		return NULL;
	}
	struct timeval tv = { 0, WEB_SWEEP_MS * 1000 };
	event_add(w->ev_sweep, &tv);
	evhttp_set_bevcb(w->evh, bev_cb, w);
	evhttp_set_allowed_methods(w->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(w->evh, 16384);
	evhttp_set_max_body_size(w->evh, WEB_MAX_BODY);
	evhttp_set_timeout(w->evh, 30);
	evhttp_set_gencb(w->evh, web_cb, w);
	return w;
}

void web_stop(struct web *w)
{
	if (w)
		w->stopped = true;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	if (w->evh)
		evhttp_free(w->evh);
	/* what libevent finalizes later no longer reaches w */
	struct web_conn *c;
	TAILQ_FOREACH(c, &w->conns, link) {
		c->w = NULL;
		metrics.connections_open--;
	}
	if (w->ev_sweep)
		event_free(w->ev_sweep);
	free(w);
}
