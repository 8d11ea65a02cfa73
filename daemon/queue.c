/* queue.c — delivery of the durable alert queues (DESIGN §5.1).
 *
 * Owns the subscriptions: one per session, on the queue its certificate names
 * (rmc:<region>, vo:<school>, projectteam:<region>). Alerts are leased to a
 * subscription in alert_id order (FOR UPDATE SKIP LOCKED, so two subscribers
 * never hold the same alert), at most max_in_flight unacked; an ack removes
 * them, a disconnect or an expired lease (ack_timeout) makes them deliverable
 * again. Also runs the ESCALATIE check. Wake-ups come from the commits that
 * raised the alerts (queue_notify), never from a polling loop; other instances
 * on the same database hear of them through NOTIFY overstap_alert.
 */
#include "queue.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "config.h"
#include "errcodes.h"
#include "log.h"
#include "metrics.h"
#include "overstap.h"
#include "rules.h"
#include "server.h"
#include "request.h"
#include "session.h"
#include "store.h"

#define DEFAULT_MAX_IN_FLIGHT 100
#define MAX_MAX_IN_FLIGHT 10000
#define ESCALATION_PERIOD_SECS 60
#define SUB_OUTPUT_HIGH_WATER (1u << 20)

/* The columns of an Alert (queue_row_to_alert), from d: alert rows with
 * `personal` (a PGN to show: not for the projectteam) and `pgn`, and pd:
 * overstap_personal() of the pupil. */
#define ALERT_COLUMNS \
	"d.id, d.kind, d.cohort, " \
	"CASE WHEN d.personal THEN d.pgn ELSE '' END, " \
	"CASE WHEN d.personal THEN coalesce(pd.name, '') ELSE '' END, " \
	"CASE WHEN d.personal THEN coalesce(pd.birth_date::text, '') ELSE '' END, " \
	"CASE WHEN d.recipient LIKE 'projectteam:%' THEN '' ELSE d.woongemeente END, " \
	"d.vo_school, d.status, d.mbo_instelling, d.crebo, d.raised_at, d.reason, " \
	"coalesce(d.resolves_alert_id, 0), d.region, coalesce(d.escalated_alert_id, 0)"

/* Leases the next deliverable alerts of a recipient and returns them with
 * the personal data they carry (none for the projectteam), recording every
 * delivery with a PGN — redeliveries too — in the audit in the same
 * statement ($6 role, $7 organisation of the subscriber). */
static const char SQL_LEASE[] =
	"WITH c AS (SELECT id FROM alert WHERE recipient = $1::text AND acked_at IS NULL "
	"           AND (lease_until IS NULL OR lease_until <= $2::bigint) "
	"           ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED), "
	"u AS (UPDATE alert a SET lease_until = $2::bigint + $4::bigint, lease_owner = $5::text, deliveries = deliveries + 1 "
	"      FROM c WHERE a.id = c.id RETURNING a.*), "
	"d AS (SELECT u.*, u.recipient NOT LIKE 'projectteam:%' AND p.pgn IS NOT NULL AS personal, p.pgn "
	"      FROM u LEFT JOIN pupil p ON p.id = u.pupil_id), "
	"aud AS (INSERT INTO audit (at, role, org, pupil_id, cohort, what) "
	"        SELECT $2::bigint, $6::text, $7::text, d.pupil_id, d.cohort, 'alert_delivery' FROM d WHERE d.personal) "
	"SELECT " ALERT_COLUMNS ", d.lease_until "
	"FROM d LEFT JOIN LATERAL overstap_personal(d.pupil_id, d.cohort) pd ON d.personal ORDER BY d.id";

static const char SQL_ACK[] =
	"UPDATE alert SET acked_at = $3::bigint, lease_until = NULL, lease_owner = NULL "
	"WHERE id = ANY($1::bigint[]) AND recipient = $2::text AND acked_at IS NULL RETURNING id";

/* A recipient's queue for a person (the HTTPS worklist), newest first, with
 * what the queue and the pupil's state say now; every row with a PGN audited
 * in the same statement. $1 recipient, $2 all (else only unacknowledged),
 * $3 limit, $4 the daemon's time, $5 role, $6 organisation. */
static const char SQL_LIST[] =
	"WITH l AS (SELECT a.* FROM alert a WHERE a.recipient = $1::text AND ($2::boolean OR a.acked_at IS NULL) "
	"           ORDER BY a.id DESC LIMIT $3::int), "
	"d AS (SELECT l.*, l.recipient NOT LIKE 'projectteam:%' AND p.pgn IS NOT NULL AS personal, p.pgn "
	"      FROM l LEFT JOIN pupil p ON p.id = l.pupil_id), "
	"aud AS (INSERT INTO audit (at, role, org, pupil_id, cohort, what) "
	"        SELECT $4::bigint, $5::text, $6::text, d.pupil_id, d.cohort, 'web' FROM d WHERE d.personal) "
	"SELECT " ALERT_COLUMNS ", coalesce(d.acked_at, 0), coalesce(d.resolved_at, 0), coalesce(d.escalated_at, 0), "
	"  d.deliveries, CASE WHEN d.personal THEN coalesce(st.status, 0) ELSE 0 END "
	"FROM d LEFT JOIN LATERAL overstap_personal(d.pupil_id, d.cohort) pd ON d.personal "
	"LEFT JOIN pupil_state st ON st.pupil_id = d.pupil_id AND st.cohort = d.cohort ORDER BY d.id DESC";

static const char SQL_RELEASE[] =
	"UPDATE alert SET lease_until = NULL, lease_owner = NULL "
	"WHERE lease_owner = $1::text AND acked_at IS NULL";

static const char SQL_RELEASE_INSTANCE[] =
	"UPDATE alert SET lease_until = NULL, lease_owner = NULL "
	"WHERE lease_owner LIKE $1::text AND acked_at IS NULL";

/* ESCALATIE: an open RMC alert (ZOMERLEK, NIET_GESTART) unacked for
 * escalate_after goes to the projectteam of its region, without personal data. */
static const char SQL_ESCALATE[] =
	"WITH e AS (UPDATE alert SET escalated_at = $1::bigint "
	"           WHERE acked_at IS NULL AND escalated_at IS NULL AND resolved_at IS NULL "
	"             AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@) AND recipient LIKE 'rmc:%' "
	"             AND region <> '' "
	"             AND raised_at <= $1::bigint - $2::bigint "
	"           RETURNING id, kind, pupil_id, cohort, region, vo_school, status) "
	"INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, status, reason, "
	"  raised_at, escalated_alert_id) "
	"SELECT 'projectteam:' || region, @ALERT_ESCALATIE@, pupil_id, cohort, region, vo_school, status, "
	"  CASE kind WHEN @ALERT_ZOMERLEK@ THEN $3::text ELSE $4::text END, "
	"  $1::bigint, id FROM e WHERE (SELECT overstap_alert_order(count(*)) FROM e) "
	"RETURNING id, recipient, kind";

struct sub {
	LIST_ENTRY(sub) link;
	struct queue *q;
	struct session *s;
	char recipient[80];
	struct identity who;             /* the subscriber, for the audit of deliveries */
	char owner[CONFIG_STR_MAX + 24]; /* lease owner: instance:session */
	uint32_t max_in_flight;
	uint32_t in_flight;
	/* delivered and unacked: id and lease expiry, to recount on expiry */
	uint64_t *ids;
	int64_t *lease_until;
	uint32_t n_ids, cap_ids;
	bool fetching;
	bool again;  /* woken while a fetch ran */
	bool closed; /* session gone; freed when the fetch returns */
	struct event *ev_lease;
};

struct queue {
	struct server *srv;
	LIST_HEAD(, sub) subs;
	struct event *ev_escalate;
	/* recipients woken here, to announce to other instances (NOTIFY) */
	struct pgarray announce;
	struct event *ev_announce;
	bool escalating;
	bool escalate_again;
	bool started;
};

static void sub_fetch(struct sub *sub);

/* ---- subscriptions -------------------------------------------------------- */

static void sub_free(struct sub *sub)
{
	if (sub->ev_lease)
		event_free(sub->ev_lease);
	session_unref(sub->s);
	free(sub->ids);
	free(sub->lease_until);
	free(sub);
}

static void sub_track(struct sub *sub, uint64_t id, int64_t until)
{
	for (uint32_t i = 0; i < sub->n_ids; i++) {
		if (sub->ids[i] == id) {
			sub->lease_until[i] = until;
			return;
		}
	}
	if (sub->n_ids == sub->cap_ids) {
		uint32_t cap = sub->cap_ids ? sub->cap_ids * 2 : 64;
		uint64_t *ids = realloc(sub->ids, cap * sizeof *ids);
		if (ids)
			sub->ids = ids;
		int64_t *lu = realloc(sub->lease_until, cap * sizeof *lu);
		if (lu)
			sub->lease_until = lu;
		if (!ids || !lu)
			return;
		sub->cap_ids = cap;
	}
	sub->ids[sub->n_ids] = id;
	sub->lease_until[sub->n_ids] = until;
	sub->n_ids++;
	sub->in_flight = sub->n_ids;
}

static void sub_untrack(struct sub *sub, uint64_t id)
{
	for (uint32_t i = 0; i < sub->n_ids; i++) {
		if (sub->ids[i] == id) {
			sub->n_ids--;
			sub->ids[i] = sub->ids[sub->n_ids];
			sub->lease_until[i] = sub->lease_until[sub->n_ids];
			break;
		}
	}
	sub->in_flight = sub->n_ids;
}

/* Forgets leases that ran out (their alerts are deliverable again) and arms
 * the timer for the next one. Time is the daemon's clock. */
static void sub_expire_leases(struct sub *sub)
{
	int64_t now = clock_now();
	int64_t next = 0;
	for (uint32_t i = 0; i < sub->n_ids;) {
		if (sub->lease_until[i] <= now) {
			sub->n_ids--;
			sub->ids[i] = sub->ids[sub->n_ids];
			sub->lease_until[i] = sub->lease_until[sub->n_ids];
			continue;
		}
		if (!next || sub->lease_until[i] < next)
			next = sub->lease_until[i];
		i++;
	}
	sub->in_flight = sub->n_ids;
	if (next && clock_mode() == CLOCK_SYSTEM) {
		struct timeval tv = { (time_t)(next - now), 0 };
		evtimer_add(sub->ev_lease, &tv);
	}
}

static void sub_lease_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sub *sub = arg;
	sub_expire_leases(sub);
	sub_fetch(sub);
}

static void queue_session_closed(void *arg, struct session *s);
static void queue_session_writable(void *arg, struct session *s);

/* How the queue follows a subscribed session. */
static const struct session_listener sub_listener = {
	.closed = queue_session_closed,
	.writable = queue_session_writable,
};

static struct sub *sub_of(struct session *s)
{
	return session_listener_arg(s, &sub_listener);
}

static const char *recipient_prefix(enum role role)
{
	switch (role) {
	case ROLE_RMC:
		return "rmc";
	case ROLE_VO:
		return "vo";
	case ROLE_PROJECTTEAM:
		return "projectteam";
	default:
		return NULL;
	}
}

/* ---- delivery ------------------------------------------------------------- */

void queue_row_to_alert(const PGresult *res, int r, Overstap__V1__Alert *a)
{
	a->alert_id = strtoull(PQgetvalue(res, r, 0), NULL, 10);
	a->kind = (Overstap__V1__AlertKind)atoi(PQgetvalue(res, r, 1));
	a->cohort = (uint32_t)strtoul(PQgetvalue(res, r, 2), NULL, 10);
	a->pgn = PQgetvalue(res, r, 3);
	a->name = PQgetvalue(res, r, 4);
	a->birth_date = PQgetvalue(res, r, 5);
	a->woongemeente = PQgetvalue(res, r, 6);
	a->vo_school = PQgetvalue(res, r, 7);
	a->status = (Overstap__V1__Status)atoi(PQgetvalue(res, r, 8));
	a->mbo_instelling = PQgetvalue(res, r, 9);
	a->crebo = PQgetvalue(res, r, 10);
	a->raised_at = strtoll(PQgetvalue(res, r, 11), NULL, 10);
	a->reason = PQgetvalue(res, r, 12);
	a->resolves_alert_id = strtoull(PQgetvalue(res, r, 13), NULL, 10);
	a->region = PQgetvalue(res, r, 14);
	a->escalated_alert_id = strtoull(PQgetvalue(res, r, 15), NULL, 10);
}

static void send_alert(struct sub *sub, const PGresult *res, int r)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Alert a = OVERSTAP__V1__ALERT__INIT;
	queue_row_to_alert(res, r, &a);
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT;
	env.alert = &a;
	session_send(sub->s, &env);
	sub_track(sub, a.alert_id, strtoll(PQgetvalue(res, r, QUEUE_N_ALERT_COLUMNS), NULL, 10));
	metrics.alerts_delivered++;
}

static void fetch_done(const PGresult *res, const char *error, void *arg)
{
	struct sub *sub = arg;
	sub->fetching = false;
	if (sub->closed) {
		/* the session went away meanwhile: give its fresh leases back */
		if (res && PQntuples(res) > 0) {
			const char *params[1] = { sub->owner };
			store_query(sub->q->srv->store, LANE_QUEUE, "queue_release", 1, params, false, NULL, NULL);
		}
		sub_free(sub);
		return;
	}
	if (!res) {
		log_error("queue", "recipient=%s fetch failed: %s", sub->recipient, error);
		return;
	}
	int rows = PQntuples(res);
	for (int r = 0; r < rows; r++)
		send_alert(sub, res, r);
	if (rows > 0)
		log_debug("queue", "recipient=%s session=%llu delivered=%d in_flight=%u", sub->recipient,
			  (unsigned long long)session_id(sub->s), rows, sub->in_flight);
	sub_expire_leases(sub);
	if (sub->again) {
		sub->again = false;
		sub_fetch(sub);
	}
}

static void sub_fetch(struct sub *sub)
{
	if (sub->closed)
		return;
	if (sub->fetching) {
		sub->again = true;
		return;
	}
	if (sub->in_flight >= sub->max_in_flight || session_output_pending(sub->s) > SUB_OUTPUT_HIGH_WATER)
		return;
	struct queue *q = sub->q;
	char now[24], limit[16], timeout[24];
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	snprintf(limit, sizeof limit, "%u", sub->max_in_flight - sub->in_flight);
	snprintf(timeout, sizeof timeout, "%lld", (long long)q->srv->cfg->ack_timeout);
	const char *params[7] = { sub->recipient, now, limit, timeout, sub->owner, overstap_role_name(sub->who.role),
				  sub->who.org };
	sub->fetching = true;
	store_query(q->srv->store, LANE_QUEUE, "queue_lease", 7, params, false, fetch_done, sub);
}

void queue_subscribe(struct queue *q, struct request *req, const Overstap__V1__Subscribe *msg)
{
	struct session *s = req->session;
	const struct identity *who = &req->who;
	const char *prefix = recipient_prefix(who->role);
	if (!prefix) {
		request_error(req, ERR_PERMISSION_DENIED, "this role has no alert queue");
		return;
	}
	if (!s) {
		request_error(req, ERR_BAD_REQUEST, "a subscription needs a protobuf session");
		return;
	}
	uint32_t max = msg->max_in_flight ? msg->max_in_flight : DEFAULT_MAX_IN_FLIGHT;
	if (max > MAX_MAX_IN_FLIGHT)
		max = MAX_MAX_IN_FLIGHT;
	struct sub *sub = sub_of(s);
	if (sub) { /* a second Subscribe changes the window */
		sub->max_in_flight = max;
		sub_fetch(sub);
		request_end(req);
		return;
	}
	sub = calloc(1, sizeof *sub);
	if (!sub || !(sub->ev_lease = evtimer_new(q->srv->base, sub_lease_cb, sub))) {
		free(sub);
		request_error(req, ERR_INTERNAL, "out of memory");
		return;
	}
	sub->q = q;
	sub->s = s;
	session_ref(s);
	snprintf(sub->recipient, sizeof sub->recipient, "%s:%s", prefix, who->org);
	sub->who = *who;
	snprintf(sub->owner, sizeof sub->owner, "%s:%llu", q->srv->cfg->instance,
		 (unsigned long long)session_id(s));
	sub->max_in_flight = max;
	LIST_INSERT_HEAD(&q->subs, sub, link);
	session_listen(s, &sub_listener, sub);
	log_info("queue", "session=%llu recipient=%s subscribed max_in_flight=%u", (unsigned long long)session_id(s),
		 sub->recipient, max);
	sub_fetch(sub);
	request_end(req);
}

struct ack {
	struct queue *q;
	struct request *req;
	char recipient[80];
};

static void ack_done(const PGresult *res, const char *error, void *arg)
{
	struct ack *ack = arg;
	struct request *req = ack->req;
	if (!res) {
		log_error("queue", "recipient=%s ack failed: %s", ack->recipient, error);
		if (!req->session)
			request_error(req, ERR_INTERNAL, "the acknowledgement was not stored; try again");
		else
			request_end(req);
		free(ack);
		return;
	}
	/* every subscription of this queue here forgets the acked ids: an alert
	 * acked from a browser no longer holds a slot of the overstap-rmc that
	 * leased it */
	int n = PQntuples(res);
	uint64_t *ids = calloc((size_t)n + 1, sizeof *ids);
	for (int r = 0; r < n; r++) {
		uint64_t id = strtoull(PQgetvalue(res, r, 0), NULL, 10);
		if (ids)
			ids[r] = id;
		metrics.alerts_acked++;
		struct sub *sub;
		LIST_FOREACH(sub, &ack->q->subs, link)
			if (!sub->closed && strcmp(sub->recipient, ack->recipient) == 0)
				sub_untrack(sub, id);
	}
	struct sub *sub;
	LIST_FOREACH(sub, &ack->q->subs, link)
		if (!sub->closed && strcmp(sub->recipient, ack->recipient) == 0)
			sub_fetch(sub);
	if (!req->session && ids) {
		/* HTTPS: the answer is an AlertAck of the ids that were acknowledged now */
		Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
		Overstap__V1__AlertAck done = OVERSTAP__V1__ALERT_ACK__INIT;
		done.n_alert_ids = (size_t)n;
		done.alert_ids = ids;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK;
		env.alert_ack = &done;
		request_answer(req, &env);
	} else if (!req->session) {
		request_error(req, ERR_INTERNAL, "out of memory");
	} else {
		request_end(req);
	}
	free(ids);
	free(ack);
}

void queue_ack(struct queue *q, struct request *req, const Overstap__V1__AlertAck *msg)
{
	/* a protobuf session acks on its subscription; an HTTPS request (no
	 * session) on the queue its certificate names */
	struct sub *sub = req->session ? sub_of(req->session) : NULL;
	char recipient[80];
	if (sub) {
		snprintf(recipient, sizeof recipient, "%s", sub->recipient);
	} else if (req->session) {
		request_error(req, ERR_BAD_REQUEST, "AlertAck before Subscribe");
		return;
	} else if (!queue_recipient_of(&req->who, recipient, sizeof recipient)) {
		request_error(req, ERR_PERMISSION_DENIED, "this role has no alert queue");
		return;
	}
	if (msg->n_alert_ids > MAX_MAX_IN_FLIGHT) {
		request_error(req, ERR_BAD_REQUEST, "too many alert ids in one AlertAck (at most 10000)");
		return;
	}
	if (msg->n_alert_ids == 0 && req->session) {
		request_end(req);
		return;
	}
	struct ack *ack = calloc(1, sizeof *ack);
	if (!ack) {
		request_error(req, ERR_INTERNAL, "out of memory");
		return;
	}
	ack->q = q;
	ack->req = req;
	snprintf(ack->recipient, sizeof ack->recipient, "%s", recipient);
	struct pgarray ids;
	pgarray_init(&ids);
	for (size_t i = 0; i < msg->n_alert_ids; i++)
		pgarray_add_int(&ids, (int64_t)(msg->alert_ids[i] > INT64_MAX ? 0 : msg->alert_ids[i]));
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *params[3] = { pgarray_literal(&ids), recipient, now };
	store_query(q->srv->store, LANE_QUEUE, "queue_ack", 3, params, false, ack_done, ack);
	pgarray_free(&ids);
}

/* ---- the worklist (HTTPS) ------------------------------------------------- */

bool queue_recipient_of(const struct identity *who, char *out, size_t cap)
{
	const char *prefix = recipient_prefix(who->role);
	if (!prefix)
		return false;
	snprintf(out, cap, "%s:%s", prefix, who->org);
	return true;
}

void queue_list(struct queue *q, const struct identity *who, bool all, int limit, store_result_fn done, void *arg)
{
	char recipient[80], lim[16], now[24];
	if (!queue_recipient_of(who, recipient, sizeof recipient)) {
		done(NULL, "this role has no alert queue", arg);
		return;
	}
	snprintf(lim, sizeof lim, "%d", limit);
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *params[6] = { recipient, all ? "true" : "false", lim, now, overstap_role_name(who->role), who->org };
	store_query(q->srv->store, LANE_READ, "queue_list", 6, params, false, done, arg);
}

/* Other instances on the same database hear of new alerts through
 * NOTIFY overstap_alert, 'instance<TAB>recipient' (one statement per loop turn
 * for all recipients woken in it); each wakes its own subscribers. */
#define ALERT_CHANNEL "overstap_alert"

static const char SQL_ANNOUNCE[] =
	"SELECT pg_notify('" ALERT_CHANNEL "', $1::text || chr(9) || r) FROM unnest($2::text[]) AS r";

static void wake_local(struct queue *q, const char *recipient)
{
	struct sub *sub;
	LIST_FOREACH(sub, &q->subs, link)
		if (strcmp(sub->recipient, recipient) == 0)
			sub_fetch(sub);
}

static void announce_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue *q = arg;
	if (q->announce.count == 0)
		return;
	const char *params[2] = { q->srv->cfg->instance, pgarray_literal(&q->announce) };
	store_query(q->srv->store, LANE_QUEUE, "queue_announce", 2, params, false, NULL, NULL);
	pgarray_reset(&q->announce);
}

void queue_notify(struct queue *q, const char *recipient)
{
	wake_local(q, recipient);
	if (!q->ev_announce)
		return;
	if (q->announce.count == 0)
		event_active(q->ev_announce, EV_TIMEOUT, 0);
	pgarray_add_text(&q->announce, recipient);
}

static void heard_cb(const char *payload, void *arg)
{
	struct queue *q = arg;
	const char *tab = strchr(payload, '\t');
	if (!tab)
		return;
	size_t ilen = (size_t)(tab - payload);
	const char *me = q->srv->cfg->instance;
	if (ilen == strlen(me) && strncmp(payload, me, ilen) == 0)
		return; /* our own: woken already */
	wake_local(q, tab + 1);
}

struct released {
	struct queue *q;
	char recipient[80];
};

/* The leases of a closed subscription are free: another subscriber of the
 * same queue gets them now, not at its next ack or timeout. */
static void released_cb(const PGresult *res, const char *error, void *arg)
{
	struct released *r = arg;
	if (res)
		queue_notify(r->q, r->recipient);
	else
		log_warn("queue", "releasing the leases of recipient=%s failed: %s", r->recipient, error);
	free(r);
}

static void queue_session_closed(void *arg, struct session *s)
{
	struct sub *sub = arg;
	struct queue *q = sub->q;
	session_listen(s, NULL, NULL);
	LIST_REMOVE(sub, link);
	sub->closed = true;
	log_info("queue", "session=%llu recipient=%s unsubscribed in_flight=%u", (unsigned long long)session_id(s),
		 sub->recipient, sub->in_flight);
	/* what it held unacked is deliverable again at once */
	const char *params[1] = { sub->owner };
	struct released *r = calloc(1, sizeof *r);
	if (r) {
		r->q = q;
		snprintf(r->recipient, sizeof r->recipient, "%s", sub->recipient);
	}
	store_query(q->srv->store, LANE_QUEUE, "queue_release", 1, params, false, r ? released_cb : NULL, r);
	if (!sub->fetching)
		sub_free(sub);
}

static void queue_session_writable(void *arg, struct session *s)
{
	(void)s;
	sub_fetch(arg);
}

/* ---- escalation ----------------------------------------------------------- */

static void escalate_done(const PGresult *res, const char *error, void *arg)
{
	struct queue *q = arg;
	q->escalating = false;
	if (q->escalate_again) {
		q->escalate_again = false;
		queue_escalate(q);
	}
	if (!res) {
		log_error("queue", "escalation check failed: %s", error);
		return;
	}
	int rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		metrics.alerts_raised[ALERT_ESCALATIE]++;
		queue_notify(q, PQgetvalue(res, r, 1));
	}
	if (rows)
		log_info("queue", "escalated=%d", rows);
}

void queue_escalate(struct queue *q)
{
	if (!q->started)
		return;
	if (q->escalating) {
		/* alerts raised meanwhile are seen by a second run right after */
		q->escalate_again = true;
		return;
	}
	char now[24], after[24];
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	snprintf(after, sizeof after, "%lld", (long long)q->srv->cfg->calendar.escalate_after);
	const char *params[4] = { now, after, rules_escalation_reason(ALERT_ZOMERLEK),
				  rules_escalation_reason(ALERT_NIET_GESTART) };
	q->escalating = true;
	store_query(q->srv->store, LANE_QUEUE, "queue_escalate", 4, params, false, escalate_done, q);
}

static void escalate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_escalate(arg);
}

void queue_clock_changed(struct queue *q)
{
	struct sub *sub, *next;
	for (sub = LIST_FIRST(&q->subs); sub; sub = next) {
		next = LIST_NEXT(sub, link);
		sub_expire_leases(sub);
		sub_fetch(sub);
	}
	queue_escalate(q);
}

/* ---- life cycle ----------------------------------------------------------- */

static void release_done(const PGresult *res, const char *error, void *arg)
{
	struct queue *q = arg;
	if (!res)
		log_error("queue", "releasing this instance's leases failed: %s", error);
	else if (atoi(PQcmdTuples((PGresult *)res)) > 0)
		log_info("queue", "released=%s leases of a previous run", PQcmdTuples((PGresult *)res));
	q->started = true;
	queue_escalate(q);
}

void queue_start(struct queue *q)
{
	char pattern[CONFIG_STR_MAX + 4];
	snprintf(pattern, sizeof pattern, "%s:%%", q->srv->cfg->instance);
	const char *params[1] = { pattern };
	store_query(q->srv->store, LANE_QUEUE, "queue_release_instance", 1, params, false, release_done, q);
	struct timeval tv = { ESCALATION_PERIOD_SECS, 0 };
	event_add(q->ev_escalate, &tv);
}

struct queue *queue_new(struct server *srv)
{
	struct queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->srv = srv;
	LIST_INIT(&q->subs);
	q->ev_escalate = event_new(srv->base, -1, EV_PERSIST, escalate_cb, q);
	q->ev_announce = event_new(srv->base, -1, 0, announce_cb, q);
	pgarray_init(&q->announce);
	return q;
}

void queue_register(struct queue *q)
{
	struct store *st = q->srv->store;
	store_register(st, "queue_lease", SQL_LEASE);
	store_register(st, "queue_ack", SQL_ACK);
	store_register(st, "queue_list", SQL_LIST);
	store_register(st, "queue_release", SQL_RELEASE);
	store_register(st, "queue_release_instance", SQL_RELEASE_INSTANCE);
	store_register(st, "queue_escalate", SQL_ESCALATE);
	store_register(st, "queue_announce", SQL_ANNOUNCE);
	store_listen(st, LANE_QUEUE, ALERT_CHANNEL, heard_cb, q);
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	struct sub *sub;
	while ((sub = LIST_FIRST(&q->subs))) {
		LIST_REMOVE(sub, link);
		sub_free(sub);
	}
	event_free(q->ev_escalate);
	if (q->ev_announce)
		event_free(q->ev_announce);
	pgarray_free(&q->announce);
	free(q);
}
