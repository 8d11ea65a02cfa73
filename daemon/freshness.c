/* freshness.c — the SCHOOL_STIL rule and the freshness of schools (freshness.h).
 *
 * Owns the periodic check (one set-based statement: every school whose last
 * delivery for a cohort in its season lies silent_after back gets one
 * alert), the resolution when such a school delivers again (a statement per
 * wake-up, not per event: ingest reports deliveries after each commit and
 * only schools with an open SCHOOL_STIL wake it), and the freshness query.
 * The open SCHOOL_STIL alerts are known here from the last check; another
 * instance's are learnt at the next one (at most 10 minutes).
 */
#include "freshness.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "grow.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rules.h"
#include "server.h"
#include "store.h"

#define FRESHNESS_PERIOD_SECS 600

/* The rule (DESIGN §5.1): $1 the cohorts in season, $2 now, $3 silent_after.
 * Only schools that delivered for the cohort; the region is the school's
 * (no school region, no alert: there is no projectteam to tell). */
static const char SQL_CHECK[] =
	"WITH last AS (SELECT d.school, d.cohort, max(d.last_at) AS last_at FROM school_day d "
	"              WHERE d.cohort = ANY ($1::int[]) GROUP BY 1, 2), "
	"silent AS (SELECT l.*, overstap_region_of('', l.school) AS region FROM last l "
	"           WHERE l.last_at <= $2::bigint - $3::bigint "
	"             AND NOT EXISTS (SELECT 1 FROM alert a WHERE a.kind = @ALERT_SCHOOL_STIL@ "
	"                             AND a.resolved_at IS NULL AND a.vo_school = l.school AND a.cohort = l.cohort)), "
	"ins AS (INSERT INTO alert (recipient, kind, cohort, region, vo_school, reason, raised_at) "
	"        SELECT 'projectteam:' || s.region, @ALERT_SCHOOL_STIL@, s.cohort, s.region, s.school, "
	"          'geen gegevens meer ontvangen sinds ' || "
	"          to_char(to_timestamp(s.last_at) AT TIME ZONE 'Europe/Amsterdam', 'DD-MM-YYYY'), $2::bigint "
	"        FROM silent s WHERE s.region IS NOT NULL "
	"          AND (SELECT overstap_alert_order(count(*)) FROM silent) "
	"        ON CONFLICT (vo_school, cohort) WHERE kind = @ALERT_SCHOOL_STIL@ AND resolved_at IS NULL "
	"        DO NOTHING RETURNING recipient) "
	"SELECT recipient, count(*) FROM ins GROUP BY 1";

static const char SQL_OPEN[] =
	"SELECT vo_school, cohort FROM alert WHERE kind = @ALERT_SCHOOL_STIL@ AND resolved_at IS NULL";

/* OPGELOST for every open SCHOOL_STIL whose school delivered after it was
 * raised: $1 now, $2 reason. */
static const char SQL_RESOLVE[] =
	"WITH r AS (UPDATE alert a SET resolved_at = $1::bigint "
	"           WHERE a.kind = @ALERT_SCHOOL_STIL@ AND a.resolved_at IS NULL "
	"             AND EXISTS (SELECT 1 FROM school_day d WHERE d.school = a.vo_school AND d.cohort = a.cohort "
	"                         AND d.last_at > a.raised_at) "
	"           RETURNING a.id, a.recipient, a.cohort, a.region, a.vo_school) "
	"INSERT INTO alert (recipient, kind, cohort, region, vo_school, reason, raised_at, resolves_alert_id) "
	"SELECT r.recipient, @ALERT_OPGELOST@, r.cohort, r.region, r.vo_school, $2::text, $1::bigint, r.id FROM r "
	"WHERE (SELECT overstap_alert_order(count(*)) FROM r) "
	"RETURNING recipient";

/* $1 cohort, $2 region ('' = all), $3 today (day number), $4 now,
 * $5 silent_after, $6 in season. */
static const char SQL_LIST[] =
	"WITH d AS (SELECT school, max(last_at) AS last_at, "
	"             coalesce(sum(events) FILTER (WHERE day > $3::int - 14), 0) AS recent "
	"           FROM school_day WHERE cohort = $1::int GROUP BY school), "
	"s AS (SELECT sc.code AS school FROM school sc JOIN gemeente g ON g.code = sc.gemeente "
	"      WHERE $2::text = '' OR g.region = $2::text "
	"      UNION SELECT d.school FROM d WHERE $2::text = '' OR overstap_region_of('', d.school) = $2::text) "
	"SELECT s.school, coalesce(sc.naam, ''), coalesce(d.last_at, 0), coalesce(d.recent, 0), "
	"  $6::boolean AND d.last_at IS NOT NULL AND d.last_at <= $4::bigint - $5::bigint, "
	"  EXISTS (SELECT 1 FROM alert a WHERE a.kind = @ALERT_SCHOOL_STIL@ AND a.resolved_at IS NULL "
	"          AND a.cohort = $1::int AND a.vo_school = s.school), "
	"  (SELECT count(*) FROM pupil_state ps WHERE ps.cohort = $1::int AND ps.competing <> '' "
	"   AND (ps.vo_school = s.school OR ',' || ps.competing || ',' LIKE '%,' || s.school || ',%')) "
	"FROM s LEFT JOIN d ON d.school = s.school LEFT JOIN school sc ON sc.code = s.school ORDER BY 1";

struct open_alert {
	uint32_t cohort;
	char school[8];
};

struct freshness {
	struct server *srv;
	struct event *ev_period;
	struct event *ev_resolve;
	bool started;
	bool checking, check_again;
	bool resolving, resolve_again;
	struct open_alert *open;
	size_t n_open, cap_open;
};

static void check(struct freshness *f);
static void resolve(struct freshness *f);

static void opened(const PGresult *res, const char *error, void *arg)
{
	struct freshness *f = arg;
	if (!res) {
		log_warn("freshness", "open SCHOOL_STIL alerts unknown: %s", error);
		return;
	}
	int n = PQntuples(res);
	if (!GROW(f->open, f->cap_open, (size_t)n, 64)) {
		f->n_open = 0;
		return;
	}
	f->n_open = 0;
	for (int r = 0; r < n; r++) {
		snprintf(f->open[r].school, sizeof f->open[r].school, "%s", PQgetvalue(res, r, 0));
		f->open[r].cohort = (uint32_t)strtoul(PQgetvalue(res, r, 1), NULL, 10);
		f->n_open++;
	}
}

static void checked(const PGresult *res, const char *error, void *arg)
{
	struct freshness *f = arg;
	f->checking = false;
	if (!res) {
		log_error("freshness", "SCHOOL_STIL check failed: %s", error);
	} else {
		for (int r = 0; r < PQntuples(res); r++) {
			long n = strtol(PQgetvalue(res, r, 1), NULL, 10);
			metrics.alerts_raised[ALERT_SCHOOL_STIL] += (uint64_t)n;
			log_info("freshness", "recipient=%s school_stil_raised=%ld", PQgetvalue(res, r, 0), n);
			queue_notify(f->srv->queue, PQgetvalue(res, r, 0));
		}
	}
	store_query(f->srv->store, LANE_QUEUE, "freshness_open", 0, NULL, false, opened, f);
	if (f->check_again) {
		f->check_again = false;
		check(f);
	}
}

static void check(struct freshness *f)
{
	if (!f->started)
		return;
	if (f->checking) {
		f->check_again = true;
		return;
	}
	int64_t now = clock_now();
	uint32_t cohorts[2];
	size_t n = rules_school_stil_cohorts(&f->srv->cfg->calendar, now, cohorts);
	char list[48], now_s[24], silent[24];
	if (n == 0)
		snprintf(list, sizeof list, "{}");
	else if (n == 1)
		snprintf(list, sizeof list, "{%u}", cohorts[0]);
	else
		snprintf(list, sizeof list, "{%u,%u}", cohorts[0], cohorts[1]);
	snprintf(now_s, sizeof now_s, "%lld", (long long)now);
	snprintf(silent, sizeof silent, "%lld", (long long)f->srv->cfg->silent_after);
	const char *p[3] = { list, now_s, silent };
	f->checking = true;
	store_query(f->srv->store, LANE_QUEUE, "freshness_check", 3, p, false, checked, f);
}

static void resolved(const PGresult *res, const char *error, void *arg)
{
	struct freshness *f = arg;
	f->resolving = false;
	if (!res) {
		log_error("freshness", "SCHOOL_STIL resolution failed: %s", error);
	} else {
		for (int r = 0; r < PQntuples(res); r++) {
			metrics.alerts_raised[ALERT_OPGELOST]++;
			queue_notify(f->srv->queue, PQgetvalue(res, r, 0));
		}
		store_query(f->srv->store, LANE_QUEUE, "freshness_open", 0, NULL, false, opened, f);
	}
	if (f->resolve_again) {
		f->resolve_again = false;
		resolve(f);
	}
}

static void resolve(struct freshness *f)
{
	if (f->resolving) {
		f->resolve_again = true;
		return;
	}
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *p[2] = { now, "de school levert weer gegevens aan" };
	f->resolving = true;
	store_query(f->srv->store, LANE_QUEUE, "freshness_resolve", 2, p, false, resolved, f);
}

static void resolve_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	resolve(arg);
}

void freshness_delivered(struct freshness *f, uint32_t cohort, const char *school)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_open; i++) {
		if (f->open[i].cohort == cohort && strcmp(f->open[i].school, school) == 0) {
			/* once per loop turn, however many groups delivered */
			event_active(f->ev_resolve, EV_TIMEOUT, 0);
			return;
		}
	}
}

static void period_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	check(arg);
}

void freshness_start(struct freshness *f)
{
	f->started = true;
	check(f);
	if (clock_mode() == CLOCK_SYSTEM) {
		struct timeval tv = { FRESHNESS_PERIOD_SECS, 0 };
		event_add(f->ev_period, &tv);
	}
}

void freshness_clock_changed(struct freshness *f)
{
	check(f);
}

void freshness_list(struct freshness *f, uint32_t cohort, const char *region, store_result_fn done, void *arg)
{
	int64_t now = clock_now();
	char c[16], today[24], now_s[24], silent[24];
	snprintf(c, sizeof c, "%u", cohort);
	snprintf(today, sizeof today, "%lld", (long long)(now / 86400));
	snprintf(now_s, sizeof now_s, "%lld", (long long)now);
	snprintf(silent, sizeof silent, "%lld", (long long)f->srv->cfg->silent_after);
	const char *season = rules_school_stil_season(&f->srv->cfg->calendar, cohort, now) ? "true" : "false";
	const char *p[6] = { c, region, today, now_s, silent, season };
	store_query(f->srv->store, LANE_READ, "freshness_list", 6, p, false, done, arg);
}

struct freshness *freshness_new(struct server *srv)
{
	struct freshness *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->srv = srv;
	f->ev_period = event_new(srv->base, -1, EV_PERSIST, period_cb, f);
	f->ev_resolve = event_new(srv->base, -1, 0, resolve_cb, f);
	if (!f->ev_period || !f->ev_resolve) {
		freshness_free(f);
		return NULL;
	}
	return f;
}

void freshness_register(struct freshness *f)
{
	store_register(f->srv->store, "freshness_check", SQL_CHECK);
	store_register(f->srv->store, "freshness_open", SQL_OPEN);
	store_register(f->srv->store, "freshness_resolve", SQL_RESOLVE);
	store_register(f->srv->store, "freshness_list", SQL_LIST);
}

void freshness_free(struct freshness *f)
{
	if (!f)
		return;
	if (f->ev_period)
		event_free(f->ev_period);
	if (f->ev_resolve)
		event_free(f->ev_resolve);
	free(f->open);
	free(f);
}
