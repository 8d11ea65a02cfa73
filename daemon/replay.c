/* replay.c — states at a moment, for the peildatum (replay.h).
 *
 * Owns the replay jobs: the list of pupils to replay (one statement), then
 * slices of REPLAY_SLICE pupils (one statement each: their events received
 * by the moment and their alerts raised by then, ordered by pupil), folded
 * in C by the same merge and status rules as ingest. Never blocks: each
 * slice is a store query, and the loop runs other work between them.
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "config.h"
#include "keymap.h"
#include "log.h"
#include "overstap.h"
#include "rules.h"
#include "server.h"

#define REPLAY_SLICE 1000
#define REPLAY_MAX_RUNNING 2

/* The cohort's pupils whose state was written after $2 (so it may have been
 * another then). */
static const char SQL_PUPILS_ALL[] =
	"SELECT s.pupil_id FROM pupil_state s WHERE s.cohort = $1::int AND s.updated_at > $2::bigint ORDER BY 1";

/* The same, of region $3: those a school of the region sent anything about
 * (its vo school then is one of them) — the schools' own events by the
 * event key (org, event_id), those an admin sent for them by the few
 * organisations that are no school (a loose scan of the key: one index
 * descent per organisation). */
static const char SQL_PUPILS_REGION[] =
	"WITH RECURSIVE orgs(org) AS (SELECT min(org) FROM event "
	"  UNION ALL SELECT (SELECT min(e.org) FROM event e WHERE e.org > orgs.org) FROM orgs WHERE orgs.org IS NOT NULL), "
	"rs AS (SELECT ARRAY(SELECT sc.code FROM school sc JOIN gemeente g ON g.code = sc.gemeente "
	"                    WHERE g.region = $3::text) AS codes), "
	"cand AS (SELECT e.pupil_id FROM event e, rs WHERE e.org = ANY (rs.codes) AND e.cohort = $1::int "
	"  UNION SELECT e.pupil_id FROM event e, rs WHERE e.cohort = $1::int AND e.school = ANY (rs.codes) "
	"    AND e.org IN (SELECT org FROM orgs WHERE org IS NOT NULL AND org !~ '^[0-9]{2}[A-Z]{2}([0-9]{2})?$')) "
	"SELECT s.pupil_id FROM pupil_state s JOIN cand c ON c.pupil_id = s.pupil_id "
	"WHERE s.cohort = $1::int AND s.updated_at > $2::bigint ORDER BY 1";

/* One slice: $1 the pupils, $2 cohort, $3 the moment. 'E' rows: an event
 * received by then (OVERSTAP_EVENT_COLUMNS from column 2); 'A' rows: a
 * ZOMERLEK or NIET_GESTART raised by then (kind in column 4). */
static const char SQL_SLICE[] =
	"SELECT 'E', e.pupil_id, e.cohort, e.event_id, e.kind, e.occurred_at, e.school, e.woongemeente, "
	"  e.vo_soort, e.bestemming, e.crebo, e.mbo_instelling, e.niveau, e.leerweg, e.reason "
	"FROM event e WHERE e.pupil_id = ANY ($1::bigint[]) AND e.cohort = $2::int AND e.received_at <= $3::bigint "
	"UNION ALL "
	"SELECT DISTINCT 'A', a.pupil_id, a.cohort, '', a.kind, 0, '', '', 0, 0, '', '', 0, 0, '' "
	"FROM alert a WHERE a.pupil_id = ANY ($1::bigint[]) AND a.cohort = $2::int AND a.raised_at <= $3::bigint "
	"  AND a.kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@) "
	"ORDER BY 2, 1 DESC";

static const char SQL_HORIZON_SET[] =
	"INSERT INTO log_horizon (starts_at) VALUES ($1::bigint) ON CONFLICT DO NOTHING";
static const char SQL_HORIZON_GET[] = "SELECT starts_at FROM log_horizon";

struct cell {
	uint32_t counts[REPLAY_N_COUNTS];
};

struct replay_job {
	TAILQ_ENTRY(replay_job) link;
	struct replay *rp;
	uint32_t cohort;
	int64_t as_of;
	char region[4];
	Overstap__V1__GroupBy by;
	replay_done_fn done;
	void *arg;
	int64_t *pupils; /* to replay, ascending */
	size_t n_pupils, next;
	/* (school \0 key) → cells[] */
	struct keymap index;
	char **names;
	struct cell *cells;
	size_t n_cells, cap_cells;
	struct replay_cells out;
};
TAILQ_HEAD(replay_queue, replay_job);

struct replay {
	struct server *srv;
	int64_t horizon;
	struct replay_queue waiting;
	int running;
};

static void job_next_slice(struct replay_job *j);
static void run_waiting(struct replay *rp);

static void job_free(struct replay_job *j)
{
	for (size_t i = 0; i < j->n_cells; i++)
		free(j->names[i]);
	free(j->names);
	free(j->cells);
	free(j->pupils);
	keymap_free(&j->index);
	pgarray_free(&j->out.school);
	pgarray_free(&j->out.key);
	for (int k = 0; k < REPLAY_N_COUNTS; k++)
		pgarray_free(&j->out.counts[k]);
	free(j);
}

static void job_end(struct replay_job *j, const char *error)
{
	struct replay *rp = j->rp;
	if (error) {
		j->done(j->arg, NULL, error);
	} else {
		for (size_t i = 0; i < j->n_cells; i++) {
			pgarray_add_text(&j->out.school, j->names[i]);
			pgarray_add_text(&j->out.key, j->names[i] + strlen(j->names[i]) + 1);
			for (int k = 0; k < REPLAY_N_COUNTS; k++)
				pgarray_add_int(&j->out.counts[k], j->cells[i].counts[k]);
		}
		j->out.pupils = (uint32_t)j->n_pupils;
		j->done(j->arg, &j->out, NULL);
	}
	job_free(j);
	rp->running--;
	run_waiting(rp);
}

/* The cell of (school, key), made when new; NULL when out of memory. */
static struct cell *cell_of(struct replay_job *j, const char *school, const char *key)
{
	char name[64];
	size_t ls = strlen(school), lk = strlen(key);
	if (ls + lk + 2 > sizeof name)
		return NULL;
	memcpy(name, school, ls + 1);
	memcpy(name + ls + 1, key, lk + 1);
	if (j->n_cells == j->cap_cells) {
		size_t cap = j->cap_cells ? j->cap_cells * 2 : 64;
		struct cell *c = realloc(j->cells, cap * sizeof *c);
		if (c)
			j->cells = c;
		char **n = realloc(j->names, cap * sizeof *n);
		if (n)
			j->names = n;
		if (!c || !n)
			return NULL;
		j->cap_cells = cap;
	}
	char *copy = malloc(ls + lk + 2);
	if (!copy)
		return NULL;
	memcpy(copy, name, ls + lk + 2);
	bool existed = false;
	uint32_t at = keymap_put(&j->index, copy, ls + lk + 1, (uint32_t)j->n_cells, &existed);
	if (existed) {
		free(copy);
		return &j->cells[at];
	}
	j->names[j->n_cells] = copy;
	memset(&j->cells[j->n_cells], 0, sizeof j->cells[0]);
	return &j->cells[j->n_cells++];
}

/* A replayed pupil counts like a state row in the stats statement: only
 * registered pupils, keyed as that grouping keys them (stats.c). */
static bool count_pupil(struct replay_job *j, const struct pupil_state *st, bool zomerlek, bool niet_gestart)
{
	if (!overstap_is_registered(st))
		return true;
	const struct rules_calendar *cal = &j->rp->srv->cfg->calendar;
	enum status status = rules_status_at(cal, st, j->as_of);
	char key[16] = "";
	switch (j->by) {
	case OVERSTAP__V1__GROUP_BY__GROUP_BY_WOONGEMEENTE:
		snprintf(key, sizeof key, "%s", overstap_woongemeente(st));
		break;
	case OVERSTAP__V1__GROUP_BY__GROUP_BY_MBO_INSTELLING:
		snprintf(key, sizeof key, "%s", overstap_mbo_instelling(st));
		break;
	case OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SOORT:
		snprintf(key, sizeof key, "%d", (int)st->vo_soort);
		break;
	default:
		break;
	}
	struct cell *c = cell_of(j, st->vo_school, key);
	if (!c)
		return false;
	int64_t aanmeld = rules_deadline_at(cal, j->cohort, DEADLINE_AANMELDDATUM);
	c->counts[0]++;
	c->counts[1] += status != STATUS_GEEN_KEUZE;
	c->counts[2] += status == STATUS_AANGEMELD;
	c->counts[3] += st->first_aangemeld_at > 0 && st->first_aangemeld_at < aanmeld;
	c->counts[4] += status == STATUS_GEPLAATST;
	c->counts[5] += status == STATUS_INGESCHREVEN;
	c->counts[6] += status == STATUS_ANDERE_BESTEMMING;
	c->counts[7] += overstap_has_ddd(st);
	c->counts[8] += zomerlek;
	c->counts[9] += niet_gestart;
	return true;
}

static void slice_done(const PGresult *res, const char *error, void *arg)
{
	struct replay_job *j = arg;
	if (!res) {
		job_end(j, error ? error : "the replay failed");
		return;
	}
	static struct pupil_state st; /* large; the loop is single-threaded */
	int rows = PQntuples(res);
	for (int r = 0; r < rows;) {
		int64_t pupil = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		bool zomerlek = false, niet_gestart = false;
		overstap_state_init(&st, j->cohort);
		for (; r < rows && strtoll(PQgetvalue(res, r, 1), NULL, 10) == pupil; r++) {
			if (PQgetvalue(res, r, 0)[0] == 'A') {
				int kind = atoi(PQgetvalue(res, r, 4));
				zomerlek |= kind == ALERT_ZOMERLEK;
				niet_gestart |= kind == ALERT_NIET_GESTART;
				continue;
			}
			const char *col[OVERSTAP_EVENT_COLUMNS];
			for (int c = 0; c < OVERSTAP_EVENT_COLUMNS; c++)
				col[c] = PQgetvalue(res, r, 2 + c);
			struct overstap_event ev;
			overstap_event_from_columns(&ev, col);
			overstap_state_apply(&st, &ev);
		}
		if (!count_pupil(j, &st, zomerlek, niet_gestart)) {
			job_end(j, "out of memory");
			return;
		}
	}
	job_next_slice(j);
}

static void job_next_slice(struct replay_job *j)
{
	if (j->next >= j->n_pupils) {
		job_end(j, NULL);
		return;
	}
	struct pgarray ids;
	pgarray_init(&ids);
	for (size_t i = 0; i < REPLAY_SLICE && j->next < j->n_pupils; i++)
		pgarray_add_int(&ids, j->pupils[j->next++]);
	char cohort[16], at[24];
	snprintf(cohort, sizeof cohort, "%u", j->cohort);
	snprintf(at, sizeof at, "%lld", (long long)j->as_of);
	const char *p[3] = { pgarray_literal(&ids), cohort, at };
	store_query(j->rp->srv->store, LANE_READ, "replay_slice", 3, p, false, slice_done, j);
	pgarray_free(&ids);
}

static void pupils_done(const PGresult *res, const char *error, void *arg)
{
	struct replay_job *j = arg;
	if (!res) {
		job_end(j, error ? error : "the replay failed");
		return;
	}
	int n = PQntuples(res);
	j->pupils = malloc(((size_t)n + 1) * sizeof *j->pupils);
	if (!j->pupils) {
		job_end(j, "out of memory");
		return;
	}
	for (int r = 0; r < n; r++)
		j->pupils[r] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	j->n_pupils = (size_t)n;
	job_next_slice(j);
}

static void job_begin(struct replay_job *j)
{
	char cohort[16], at[24];
	snprintf(cohort, sizeof cohort, "%u", j->cohort);
	snprintf(at, sizeof at, "%lld", (long long)j->as_of);
	const char *p[3] = { cohort, at, j->region };
	if (j->region[0])
		store_query(j->rp->srv->store, LANE_READ, "replay_pupils_region", 3, p, false, pupils_done, j);
	else
		store_query(j->rp->srv->store, LANE_READ, "replay_pupils", 2, p, false, pupils_done, j);
}

static void run_waiting(struct replay *rp)
{
	while (rp->running < REPLAY_MAX_RUNNING && !TAILQ_EMPTY(&rp->waiting)) {
		struct replay_job *j = TAILQ_FIRST(&rp->waiting);
		TAILQ_REMOVE(&rp->waiting, j, link);
		rp->running++;
		job_begin(j);
	}
}

void replay_run(struct replay *rp, uint32_t cohort, int64_t as_of, const char *region, Overstap__V1__GroupBy by,
		replay_done_fn done, void *arg)
{
	struct replay_job *j = calloc(1, sizeof *j);
	if (!j) {
		done(arg, NULL, "out of memory");
		return;
	}
	j->rp = rp;
	j->cohort = cohort;
	j->as_of = as_of;
	snprintf(j->region, sizeof j->region, "%.3s", region);
	j->by = by;
	j->done = done;
	j->arg = arg;
	keymap_init(&j->index);
	pgarray_init(&j->out.school);
	pgarray_init(&j->out.key);
	for (int k = 0; k < REPLAY_N_COUNTS; k++)
		pgarray_init(&j->out.counts[k]);
	TAILQ_INSERT_TAIL(&rp->waiting, j, link);
	run_waiting(rp);
}

/* ---- the log horizon ------------------------------------------------------- */

static void horizon_read(const PGresult *res, const char *error, void *arg)
{
	struct replay *rp = arg;
	if (!res || PQntuples(res) != 1) {
		log_error("replay", "log horizon unknown: %s", error ? error : "no row");
		return;
	}
	rp->horizon = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

static void horizon_set(const PGresult *res, const char *error, void *arg)
{
	struct replay *rp = arg;
	if (!res)
		log_error("replay", "log horizon not recorded: %s", error);
	store_query(rp->srv->store, LANE_READ, "replay_horizon_get", 0, NULL, false, horizon_read, rp);
}

void replay_start(struct replay *rp)
{
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *p[1] = { now };
	store_query(rp->srv->store, LANE_QUEUE, "replay_horizon_set", 1, p, false, horizon_set, rp);
}

int64_t replay_horizon(const struct replay *rp)
{
	return rp->horizon;
}

struct replay *replay_new(struct server *srv)
{
	struct replay *rp = calloc(1, sizeof *rp);
	if (!rp)
		return NULL;
	rp->srv = srv;
	rp->horizon = INT64_MAX;
	TAILQ_INIT(&rp->waiting);
	return rp;
}

void replay_register(struct replay *rp)
{
	store_register(rp->srv->store, "replay_pupils", SQL_PUPILS_ALL);
	store_register(rp->srv->store, "replay_pupils_region", SQL_PUPILS_REGION);
	store_register(rp->srv->store, "replay_slice", SQL_SLICE);
	store_register(rp->srv->store, "replay_horizon_set", SQL_HORIZON_SET);
	store_register(rp->srv->store, "replay_horizon_get", SQL_HORIZON_GET);
}

void replay_free(struct replay *rp)
{
	if (!rp)
		return;
	struct replay_job *j;
	while ((j = TAILQ_FIRST(&rp->waiting))) {
		TAILQ_REMOVE(&rp->waiting, j, link);
		j->done(j->arg, NULL, "shutting down");
		job_free(j);
	}
	free(rp);
}
