/* sweeper.c — the deadline sweeps of DESIGN §5.1.
 *
 * Owns the timer for the next due (cohort, deadline) and the catch-up at
 * start-up. A sweep is one set-based statement built from the rule as data
 * (rules_sweep_for): it records itself in sweep_run (so it never runs twice,
 * also across instances), updates the matching states and raises their alerts
 * in the same transaction. Never a round trip per pupil. Cohorts considered:
 * year(now) - 2 .. year(now) + 1; pupils first seen after a deadline are
 * handled by ingest, which re-evaluates passed deadlines per event.
 */
#include "sweeper.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "clock.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rules.h"
#include "server.h"
#include "stats.h"
#include "store.h"

#define COHORTS_BEHIND 2
#define COHORTS_AHEAD 1
#define MAX_TIMER_SECS 3600

/* $1 cohort, $2 deadline name, $3 now, $4 statuses, $5 requires_left_vo,
 * $6 requires_registered, $7 recipients, $8 sets_status, $9 new status,
 * $10 alert kind, $11 reason */
static const char SQL_SWEEP[] =
	"WITH run AS (INSERT INTO sweep_run (cohort, deadline, ran_at, alerts) "
	"             VALUES ($1::int, $2::text, $3::bigint, 0) ON CONFLICT DO NOTHING RETURNING cohort), "
	/* the condition is checked on the row being updated itself, so a state an
	 * ingest transaction changed meanwhile is judged by its new value */
	"upd AS (UPDATE pupil_state s SET "
	"          status = CASE WHEN $8::bool THEN $9::smallint ELSE s.status END, "
	"          had_zomerlek = s.had_zomerlek OR $10::smallint = @ALERT_ZOMERLEK@, "
	"          had_niet_gestart = s.had_niet_gestart OR $10::smallint = @ALERT_NIET_GESTART@, "
	"          updated_at = $3::bigint, version = s.version + 1 "
	"        FROM run WHERE s.cohort = $1::int AND s.status = ANY($4::smallint[]) "
	"          AND (NOT $5::bool OR s.left_vo) AND (NOT $6::bool OR s.registered) "
	"        RETURNING s.pupil_id, s.cohort, s.woongemeente, s.vo_school, s.mbo_instelling, s.crebo, s.status), "
	"ins AS (INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, woongemeente, "
	"          status, mbo_instelling, crebo, reason, raised_at) "
	"        SELECT r.recipient, $10::smallint, m.pupil_id, m.cohort, r.alert_region, "
	"          m.vo_school, m.woongemeente, m.status, m.mbo_instelling, m.crebo, $11::text, $3::bigint "
	/* routed once per (woongemeente, vo school) of the sweep, not per pupil:
	 * a few thousand look-ups instead of one per alert (half the sweep's time) */
	"        FROM upd m JOIN (SELECT k.woongemeente, k.vo_school, x.recipient, x.alert_region "
	"                         FROM (SELECT DISTINCT woongemeente, vo_school FROM upd) AS k "
	"                         CROSS JOIN LATERAL overstap_alert_recipients($7::int, k.woongemeente, k.vo_school) AS x) AS r "
	"          ON r.woongemeente = m.woongemeente AND r.vo_school = m.vo_school "
	"        WHERE (SELECT overstap_alert_order(count(*)) FROM upd) "
	"        ON CONFLICT (pupil_id, cohort, kind, recipient) WHERE resolved_at IS NULL "
	"          AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@) DO NOTHING "
	"        RETURNING id, recipient) "
	"SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM upd), ins.recipient, count(*) "
	"FROM ins GROUP BY ins.recipient "
	"UNION ALL SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM upd), NULL, 0";

static const char SQL_SWEEP_COUNT[] =
	"UPDATE sweep_run SET alerts = $3::int WHERE cohort = $1::int AND deadline = $2::text";

/* Retention (DESIGN §5): the personal data and the audit of every expired
 * cohort are removed, and the PGN of pupils whose every cohort expired;
 * events, states and alerts stay (they refer to the surrogate id), so the
 * counts stay. $1 = the last expired cohort. */
static const char SQL_RETENTION[] =
	"WITH personal AS (DELETE FROM pupil_personal WHERE cohort <= $1::int RETURNING 1), "
	"     audited AS (DELETE FROM audit WHERE cohort <= $1::int RETURNING 1) "
	"UPDATE pupil p SET pgn = NULL "
	"WHERE p.pgn IS NOT NULL "
	"  AND EXISTS (SELECT 1 FROM pupil_state s WHERE s.pupil_id = p.id) "
	"  AND NOT EXISTS (SELECT 1 FROM pupil_state s WHERE s.pupil_id = p.id AND s.cohort > $1::int)";

static const char SQL_SWEEPS_DONE[] =
	"SELECT cohort, deadline FROM sweep_run WHERE cohort BETWEEN $1::int AND $2::int";

struct pending_reply {
	sweeper_done_fn done;
	void *arg;
	int64_t at;
	uint32_t alerts;
	struct pending_reply *next;
};

struct sweep_job {
	struct store_job job;
	struct sweeper *sw;
	uint32_t cohort;
	enum deadline deadline;
	int64_t at; /* the moment it runs for ("now" of the sweep) */
	bool ran;
	uint32_t alerts;
	uint32_t matched;
	char (*wake)[80];
	int n_wake;
};

struct sweeper {
	struct server *srv;
	struct event *ev_timer;
	struct event *ev_retention;
	int last_expired; /* retention done up to this cohort */
	bool started;
	bool busy; /* a listing or a sweep is running */
	bool again;
	int64_t run_until; /* run sweeps due at or before this */
	/* sweeps known to have run, for the cohorts in view */
	struct {
		uint32_t cohort;
		int deadline;
	} done[64];
	int n_done;
	struct pending_reply *replies;
};

static void sweeper_next(struct sweeper *sw);
static void sweeper_retention(struct sweeper *sw);

static bool has_run(const struct sweeper *sw, uint32_t cohort, int d)
{
	for (int i = 0; i < sw->n_done; i++)
		if (sw->done[i].cohort == cohort && sw->done[i].deadline == d)
			return true;
	return false;
}

static void mark_run(struct sweeper *sw, uint32_t cohort, int d)
{
	if (!has_run(sw, cohort, d) && sw->n_done < (int)(sizeof sw->done / sizeof sw->done[0])) {
		sw->done[sw->n_done].cohort = cohort;
		sw->done[sw->n_done].deadline = d;
		sw->n_done++;
	}
}

static int deadline_index(const char *name)
{
	for (int d = 0; d < DEADLINE_COUNT; d++)
		if (strcmp(name, rules_deadline_name((enum deadline)d)) == 0)
			return d;
	return -1;
}

/* Answers every waiting AdminRequest.sweep: called when no sweep due by the
 * latest requested moment is left, or when one failed. */
static void answer_replies(struct sweeper *sw, bool ok, const char *error)
{
	while (sw->replies) {
		struct pending_reply *r = sw->replies;
		sw->replies = r->next;
		char msg[128];
		if (ok)
			snprintf(msg, sizeof msg, "every sweep due by then has run; %u alerts raised", r->alerts);
		r->done(r->arg, ok, ok ? msg : error, r->alerts);
		free(r);
	}
}

/* ---- one sweep ------------------------------------------------------------ */

static bool sweep_send(struct store_job *job)
{
	struct sweep_job *j = (struct sweep_job *)job;
	const struct rules_sweep *rule = rules_sweep_for(j->deadline);
	char cohort[16], now[24], recipients[8], new_status[8], kind[8], alerts[16];
	snprintf(cohort, sizeof cohort, "%u", j->cohort);
	snprintf(now, sizeof now, "%lld", (long long)j->at);
	if (job->step == 1) {
		snprintf(alerts, sizeof alerts, "%u", j->alerts);
		const char *p[3] = { cohort, rules_deadline_name(j->deadline), alerts };
		return store_send(job, "sweep_count", 3, p, false) && store_send_sql(job, "COMMIT");
	}
	struct pgarray statuses;
	pgarray_init(&statuses);
	for (int st = 0; st < STATUS_COUNT; st++)
		if (rule->status_mask & (1u << st))
			pgarray_add_int(&statuses, st);
	snprintf(recipients, sizeof recipients, "%u", rule->recipients);
	snprintf(new_status, sizeof new_status, "%d", (int)rule->new_status);
	snprintf(kind, sizeof kind, "%d", (int)rule->kind);
	const char *p[11] = { cohort,
			      rules_deadline_name(j->deadline),
			      now,
			      pgarray_literal(&statuses),
			      rule->requires_left_vo ? "t" : "f",
			      rule->requires_registered ? "t" : "f",
			      recipients,
			      rule->sets_status ? "t" : "f",
			      new_status,
			      kind,
			      rule->reason };
	bool ok = store_send_sql(job, "BEGIN") && store_send(job, "sweep_run", 11, p, false);
	pgarray_free(&statuses);
	return ok;
}

static void sweep_on_result(struct store_job *job, int index, const PGresult *res)
{
	struct sweep_job *j = (struct sweep_job *)job;
	if (job->step != 0 || index != 1)
		return;
	int rows = PQntuples(res);
	free(j->wake);
	j->wake = calloc((size_t)(rows ? rows : 1), sizeof *j->wake);
	j->n_wake = 0;
	j->alerts = 0;
	for (int r = 0; r < rows; r++) {
		j->ran = atoi(PQgetvalue(res, r, 0)) > 0;
		j->matched = (uint32_t)atoi(PQgetvalue(res, r, 1));
		if (!PQgetisnull(res, r, 2) && j->wake) {
			snprintf(j->wake[j->n_wake++], 80, "%s", PQgetvalue(res, r, 2));
			j->alerts += (uint32_t)atoi(PQgetvalue(res, r, 3));
		}
	}
}

static enum store_step sweep_step_done(struct store_job *job)
{
	return job->step == 0 ? STEP_MORE : STEP_DONE;
}

static void sweep_reset(struct store_job *job)
{
	struct sweep_job *j = (struct sweep_job *)job;
	j->ran = false;
	j->alerts = 0;
	j->n_wake = 0;
}

static void sweep_finish(struct store_job *job, bool ok, const char *error)
{
	struct sweep_job *j = (struct sweep_job *)job;
	struct sweeper *sw = j->sw;
	sw->busy = false;
	if (ok) {
		mark_run(sw, j->cohort, j->deadline);
		if (j->ran) {
			char at[32];
			civil_format_iso(rules_deadline_at(&sw->srv->cfg->calendar, j->cohort, j->deadline), at, sizeof at);
			log_info("sweeper", "sweep=%s cohort=%u due=%s matched=%u alerts=%u",
				 rules_deadline_name(j->deadline), j->cohort, at, j->matched, j->alerts);
			metrics.alerts_raised[rules_sweep_for(j->deadline)->kind] += j->alerts;
			for (struct pending_reply *r = sw->replies; r; r = r->next)
				r->alerts += j->alerts;
		}
		for (int i = 0; i < j->n_wake; i++)
			queue_notify(sw->srv->queue, j->wake[i]);
		if (j->alerts)
			queue_escalate(sw->srv->queue);
		if (j->matched) {
			stats_invalidate(sw->srv->stats, j->cohort);
			ingest_forget_states(sw->srv->ingest, j->cohort);
		}
	} else {
		log_error("sweeper", "sweep=%s cohort=%u failed: %s", rules_deadline_name(j->deadline), j->cohort,
			  error);
		answer_replies(sw, false, error);
	}
	free(j->wake);
	free(j);
	if (ok)
		sweeper_next(sw);
}

static const struct store_job_ops sweep_ops = {
	.name = "sweep",
	.send_step = sweep_send,
	.on_result = sweep_on_result,
	.step_done = sweep_step_done,
	.reset = sweep_reset,
	.finish = sweep_finish,
};

/* ---- scheduling ----------------------------------------------------------- */

/* Starts the earliest sweep due by run_until that has not run; when none is
 * left, answers waiting admin requests and arms the timer for the next. */
static void sweeper_next(struct sweeper *sw)
{
	if (sw->busy || !sw->started)
		return;
	const struct rules_calendar *cal = &sw->srv->cfg->calendar;
	int64_t now = clock_now();
	int64_t until = sw->run_until > now ? sw->run_until : now;
	int y = (int)civil_year_of(until);
	uint32_t best_cohort = 0;
	int best_d = -1;
	int64_t best_at = 0, next_at = 0;
	for (uint32_t c = (uint32_t)(y - COHORTS_BEHIND); c <= (uint32_t)(y + COHORTS_AHEAD); c++) {
		for (int d = 0; d < DEADLINE_COUNT; d++) {
			int64_t at = rules_deadline_at(cal, c, (enum deadline)d);
			if (has_run(sw, c, d))
				continue;
			if (at <= until) {
				if (best_d < 0 || at < best_at) {
					best_cohort = c;
					best_d = d;
					best_at = at;
				}
			} else if (!next_at || at < next_at) {
				next_at = at;
			}
		}
	}
	if (best_d < 0) {
		answer_replies(sw, true, NULL);
		if (clock_mode() == CLOCK_SYSTEM && next_at) {
			int64_t wait = next_at - now;
			if (wait > MAX_TIMER_SECS)
				wait = MAX_TIMER_SECS;
			struct timeval tv = { (time_t)(wait > 0 ? wait : 1), 0 };
			evtimer_add(sw->ev_timer, &tv);
		}
		return;
	}
	struct sweep_job *j = calloc(1, sizeof *j);
	if (!j) {
		/* try again in a second rather than leave the sweep unscheduled */
		log_error("sweeper", "out of memory starting sweep=%s cohort=%u; trying again in 1 s",
			  rules_deadline_name((enum deadline)best_d), best_cohort);
		struct timeval tv = { 1, 0 };
		evtimer_add(sw->ev_timer, &tv);
		return;
	}
	j->job.ops = &sweep_ops;
	j->sw = sw;
	j->cohort = best_cohort;
	j->deadline = (enum deadline)best_d;
	/* a sweep run ahead of the clock (AdminRequest.sweep) evaluates at its due
	 * moment; otherwise at now */
	j->at = now > best_at ? now : best_at;
	sw->busy = true;
	store_submit(sw->srv->store, LANE_QUEUE, &j->job);
}

static void listed(const PGresult *res, const char *error, void *arg)
{
	struct sweeper *sw = arg;
	sw->busy = false;
	if (!res) {
		log_error("sweeper", "cannot read sweep_run: %s", error);
		return;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		int d = deadline_index(PQgetvalue(res, r, 1));
		if (d >= 0)
			mark_run(sw, (uint32_t)atoi(PQgetvalue(res, r, 0)), d);
	}
	sw->started = true;
	sweeper_next(sw);
	sweeper_retention(sw);
	struct timeval day = { 86400, 0 };
	event_add(sw->ev_retention, &day);
}

/* ---- retention ------------------------------------------------------------ */

static void retention_done(const PGresult *res, const char *error, void *arg)
{
	(void)arg;
	if (!res)
		log_error("sweeper", "retention failed: %s", error);
	else if (atoi(PQcmdTuples((PGresult *)res)) > 0)
		log_info("sweeper", "retention removed_personal_data=%s", PQcmdTuples((PGresult *)res));
}

/* The last cohort C whose start (C-08-01) lies personal_data_years before now. */
static void sweeper_retention(struct sweeper *sw)
{
	int64_t now = clock_now();
	int years = (int)sw->srv->cfg->personal_data_years;
	int y = (int)civil_year_of(now);
	int expired = y - years;
	if (rules_deadline_at(&sw->srv->cfg->calendar, (uint32_t)y, DEADLINE_ZOMER) > now)
		expired--; /* cohort y - years starts (C-08-01) later this year */
	if (expired <= sw->last_expired)
		return;
	sw->last_expired = expired;
	char c[16];
	snprintf(c, sizeof c, "%d", expired);
	const char *p[1] = { c };
	store_query(sw->srv->store, LANE_QUEUE, "retention", 1, p, false, retention_done, sw);
}

static void retention_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweeper_retention(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweeper_next(arg);
}

void sweeper_start(struct sweeper *sw)
{
	int y = (int)civil_year_of(clock_now());
	char lo[16], hi[16];
	snprintf(lo, sizeof lo, "%d", y - COHORTS_BEHIND - 1);
	snprintf(hi, sizeof hi, "%d", y + COHORTS_AHEAD + 1);
	const char *p[2] = { lo, hi };
	sw->busy = true;
	store_query(sw->srv->store, LANE_QUEUE, "sweeps_done", 2, p, false, listed, sw);
}

void sweeper_run_until(struct sweeper *sw, int64_t at, sweeper_done_fn done, void *arg)
{
	if (done) {
		struct pending_reply *r = calloc(1, sizeof *r);
		if (!r) {
			done(arg, false, "out of memory", 0);
			return;
		}
		r->done = done;
		r->arg = arg;
		r->at = at;
		r->next = sw->replies;
		sw->replies = r;
	}
	if (at > sw->run_until)
		sw->run_until = at;
	if (!sw->busy)
		sweeper_next(sw);
}

void sweeper_clock_changed(struct sweeper *sw)
{
	evtimer_del(sw->ev_timer);
	sweeper_next(sw);
	if (sw->started)
		sweeper_retention(sw);
}

struct sweeper *sweeper_new(struct server *srv)
{
	struct sweeper *sw = calloc(1, sizeof *sw);
	if (!sw)
		return NULL;
	sw->srv = srv;
	sw->ev_timer = evtimer_new(srv->base, timer_cb, sw);
	sw->ev_retention = event_new(srv->base, -1, EV_PERSIST, retention_cb, sw);
	return sw;
}

void sweeper_register(struct sweeper *sw)
{
	store_register(sw->srv->store, "sweep_run", SQL_SWEEP);
	store_register(sw->srv->store, "sweep_count", SQL_SWEEP_COUNT);
	store_register(sw->srv->store, "sweeps_done", SQL_SWEEPS_DONE);
	store_register(sw->srv->store, "retention", SQL_RETENTION);
}

void sweeper_free(struct sweeper *sw)
{
	if (!sw)
		return;
	answer_replies(sw, false, "shutting down");
	event_free(sw->ev_timer);
	event_free(sw->ev_retention);
	free(sw);
}
