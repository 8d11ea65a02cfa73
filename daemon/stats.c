/* stats.c — the projectteam's completion percentages (DESIGN §5.2).
 *
 * Owns one aggregate statement per grouping over the indexed state table
 * (never the event log) and the pure arithmetic of a row: percentages of the
 * overstappers, and the small-cell rule. Scope: a projectteam sees its own
 * region only, admin any region or the nation. Callers: session (StatsQuery),
 * http (/api/v1/stats and the dashboard).
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "overstap.h"
#include "rules.h"
#include "server.h"
#include "session.h"
#include "store.h"

/* Overstappers: pupils a vo school registered; their region is that of the
 * school's gemeente. $1 cohort, $2 region ('' = all), $3 aanmelddatum.
 * The state rows are aggregated first, and only the aggregates are joined to
 * their labels. Each grouping has two statements: the nation (a scan of the
 * cohort) and one region (the region's schools, then the index on
 * (cohort, vo_school)); one statement with "$2 = '' OR ..." would get a generic
 * plan that scans the whole cohort for a region too. */
#define STATS_AGG_HEAD(INNER_KEY)                                                                    \
	"WITH a AS (SELECT " INNER_KEY " AS k, count(*) AS n, "                                          \
	"  count(*) FILTER (WHERE s.status <> 1) AS keuze, count(*) FILTER (WHERE s.status = 3) AS am, " \
	"  count(*) FILTER (WHERE s.first_aangemeld_at > 0 AND s.first_aangemeld_at < $3::bigint) AS ot, " \
	"  count(*) FILTER (WHERE s.status = 4) AS gp, count(*) FILTER (WHERE s.status = 5) AS ig, "    \
	"  count(*) FILTER (WHERE s.status = 6) AS ab, count(*) FILTER (WHERE s.has_ddd) AS ddd, "      \
	"  count(*) FILTER (WHERE s.had_zomerlek) AS zl, count(*) FILTER (WHERE s.had_niet_gestart) AS ng " \
	"FROM pupil_state s WHERE s.cohort = $1::int AND s.registered "
#define STATS_NATION "AND $2::text = '' GROUP BY 1) "
#define STATS_REGION                                                                                 \
	"AND s.vo_school = ANY (ARRAY(SELECT sc.code FROM school sc JOIN gemeente g ON g.code = sc.gemeente " \
	"  WHERE g.region = $2::text)) GROUP BY 1) "
#define STATS_SUMS "sum(n), sum(keuze), sum(am), sum(ot), sum(gp), sum(ig), sum(ab), sum(ddd), sum(zl), sum(ng) "
#define GROUPING(NAME, KEY, TAIL)                                                                    \
	{ NAME, "stats_" NAME, "stats_" NAME "_region", STATS_AGG_HEAD(KEY) STATS_NATION TAIL,          \
	  STATS_AGG_HEAD(KEY) STATS_REGION TAIL }

static const struct {
	const char *name;
	const char *stmt;        /* the nation */
	const char *stmt_region; /* one region */
	const char *sql;
	const char *sql_region;
} groupings[] = {
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION] = GROUPING("region", "s.vo_school",
		"SELECT coalesce(g.region, ''), coalesce(r.naam, ''), " STATS_SUMS
		"FROM a LEFT JOIN school sc ON sc.code = a.k LEFT JOIN gemeente g ON g.code = sc.gemeente "
		"LEFT JOIN region r ON r.code = g.region GROUP BY 1, 2 ORDER BY 1"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SCHOOL] = GROUPING("vo_school", "s.vo_school",
		"SELECT a.k, coalesce(sc.naam, ''), " STATS_SUMS
		"FROM a LEFT JOIN school sc ON sc.code = a.k GROUP BY 1, 2 ORDER BY 1"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_WOONGEMEENTE] = GROUPING("woongemeente", "s.woongemeente",
		"SELECT a.k, coalesce(g.naam, ''), " STATS_SUMS
		"FROM a LEFT JOIN gemeente g ON g.code = a.k GROUP BY 1, 2 ORDER BY 1"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_MBO_INSTELLING] = GROUPING("mbo_instelling", "s.mbo_instelling",
		"SELECT a.k, a.k, " STATS_SUMS "FROM a GROUP BY 1, 2 ORDER BY 1"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SOORT] = GROUPING("vo_soort", "s.vo_soort::text",
		"SELECT a.k, '', " STATS_SUMS "FROM a GROUP BY 1, 2 ORDER BY 1"),
};
#define N_GROUPINGS (sizeof groupings / sizeof groupings[0])

static const char *const vo_soort_names[] = { "", "VMBO_BB", "VMBO_KB", "VMBO_GL", "VMBO_TL",
					      "HAVO", "VWO", "VSO", "PRO", "ISK" };

struct stats {
	struct server *srv;
};

bool stats_group_by_parse(const char *s, Overstap__V1__GroupBy *out)
{
	for (size_t i = 1; i < N_GROUPINGS; i++) {
		if (strcmp(s, groupings[i].name) == 0) {
			*out = (Overstap__V1__GroupBy)i;
			return true;
		}
	}
	return false;
}

const char *stats_group_by_name(Overstap__V1__GroupBy by)
{
	return (size_t)by < N_GROUPINGS && by > 0 ? groupings[by].name : "";
}

static double pct(uint32_t part, uint32_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

void stats_row_finish(Overstap__V1__StatsRow *row, bool below_region, bool is_admin)
{
	if (below_region && !is_admin && row->overstappers < STATS_SMALL_CELL) {
		row->suppressed = true;
		row->overstappers = row->met_keuze = row->aangemeld = row->aangemeld_op_tijd = 0;
		row->geplaatst = row->ingeschreven = row->andere_bestemming = row->ddd = 0;
		row->zomerlek = row->niet_gestart = 0;
	}
	row->in_beeld_pct = pct(row->met_keuze, row->overstappers);
	row->definitief_pct = pct(row->ingeschreven + row->andere_bestemming, row->overstappers);
	row->ddd_pct = pct(row->ddd, row->overstappers);
}

struct compute_req {
	struct stats *st;
	uint32_t cohort;
	Overstap__V1__GroupBy by;
	bool is_admin;
	stats_done_fn done;
	void *arg;
};

static void computed(const PGresult *res, const char *error, void *arg)
{
	struct compute_req *req = arg;
	if (!res) {
		req->done(NULL, error ? error : "query failed", req->arg);
		free(req);
		return;
	}
	int n = PQntuples(res);
	Overstap__V1__StatsRow *rows = calloc((size_t)(n ? n : 1), sizeof *rows);
	Overstap__V1__StatsRow **ptrs = calloc((size_t)(n ? n : 1), sizeof *ptrs);
	if (!rows || !ptrs) {
		free(rows);
		free(ptrs);
		req->done(NULL, "out of memory", req->arg);
		free(req);
		return;
	}
	bool below_region = req->by != OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	for (int r = 0; r < n; r++) {
		Overstap__V1__StatsRow *row = &rows[r];
		overstap__v1__stats_row__init(row);
		row->key = PQgetvalue(res, r, 0);
		row->label = PQgetvalue(res, r, 1);
		if (req->by == OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SOORT) {
			int v = atoi(row->key);
			row->key = row->label = (char *)(v >= 0 && v <= 9 ? vo_soort_names[v] : "");
		}
		uint32_t *counts[] = { &row->overstappers, &row->met_keuze, &row->aangemeld,
				       &row->aangemeld_op_tijd, &row->geplaatst, &row->ingeschreven,
				       &row->andere_bestemming, &row->ddd, &row->zomerlek, &row->niet_gestart };
		for (int c = 0; c < 10; c++)
			*counts[c] = (uint32_t)strtoul(PQgetvalue(res, r, 2 + c), NULL, 10);
		stats_row_finish(row, below_region, req->is_admin);
		ptrs[r] = row;
	}
	Overstap__V1__StatsReply reply = OVERSTAP__V1__STATS_REPLY__INIT;
	Overstap__V1__Targets targets = OVERSTAP__V1__TARGETS__INIT;
	struct targets t = config_targets_for(req->st->srv->cfg, req->cohort);
	targets.in_beeld_pct = t.in_beeld_pct;
	targets.definitief_pct = t.definitief_pct;
	targets.ddd_pct = t.ddd_pct;
	reply.targets = &targets;
	reply.n_rows = (size_t)n;
	reply.rows = ptrs;
	req->done(&reply, NULL, req->arg);
	free(rows);
	free(ptrs);
	free(req);
}

void stats_compute(struct stats *st, uint32_t cohort, Overstap__V1__GroupBy by, const char *region,
		   bool is_admin, stats_done_fn done, void *arg)
{
	if (by == OVERSTAP__V1__GROUP_BY__GROUP_BY_UNSPECIFIED)
		by = OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	if ((size_t)by >= N_GROUPINGS) {
		done(NULL, "unknown group_by", arg);
		return;
	}
	struct compute_req *req = malloc(sizeof *req);
	if (!req) {
		done(NULL, "out of memory", arg);
		return;
	}
	*req = (struct compute_req){ st, cohort, by, is_admin, done, arg };
	char c[16], aanmeld[24];
	snprintf(c, sizeof c, "%u", cohort);
	snprintf(aanmeld, sizeof aanmeld, "%lld",
		 (long long)rules_deadline_at(&st->srv->cfg->calendar, cohort, DEADLINE_AANMELDDATUM));
	const char *params[3] = { c, region, aanmeld };
	store_query(st->srv->store, LANE_READ, region[0] ? groupings[by].stmt_region : groupings[by].stmt, 3,
		    params, false, computed, req);
}

struct query_req {
	struct session *s;
	uint64_t seq;
};

static void query_done(const Overstap__V1__StatsReply *reply, const char *error, void *arg)
{
	struct query_req *req = arg;
	if (!reply) {
		session_send_error(req->s, req->seq, "INTERNAL", error);
	} else {
		Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = req->seq;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY;
		env.stats_reply = (Overstap__V1__StatsReply *)reply;
		session_send(req->s, &env);
	}
	session_unref(req->s);
	free(req);
}

static bool region_is_valid(const char *r)
{
	return strlen(r) == 2 && r[0] >= '0' && r[0] <= '9' && r[1] >= '0' && r[1] <= '9';
}

void stats_query(struct stats *st, struct session *s, uint64_t seq, const Overstap__V1__StatsQuery *q)
{
	const struct identity *who = session_identity(s);
	bool is_admin = who->role == ROLE_ADMIN;
	const char *region = q->region;
	if (q->cohort < 1990 || q->cohort > 2200) {
		session_send_error(s, seq, ERR_BAD_COHORT, "cohort must be a year");
		return;
	}
	if ((size_t)q->group_by >= N_GROUPINGS) {
		session_send_error(s, seq, ERR_BAD_REQUEST, "unknown group_by");
		return;
	}
	if (!is_admin) {
		/* projectteam: its own region, whatever it asks */
		if (region[0] && strcmp(region, who->org) != 0) {
			log_warn("stats", "session=%llu role=%s org=%s denied region=%s", (unsigned long long)session_id(s),
				 overstap_role_name(who->role), who->org, region);
			session_send_error(s, seq, ERR_PERMISSION_DENIED, "a projectteam sees its own region only");
			return;
		}
		region = who->org;
	} else if (region[0] && !region_is_valid(region)) {
		session_send_error(s, seq, ERR_BAD_REQUEST, "region is a two-digit RMC region code");
		return;
	}
	struct query_req *req = malloc(sizeof *req);
	if (!req) {
		session_send_error(s, seq, "INTERNAL", "out of memory");
		return;
	}
	req->s = s;
	req->seq = seq;
	session_ref(s);
	stats_compute(st, q->cohort, q->group_by, region, is_admin, query_done, req);
}

struct stats *stats_new(struct server *srv)
{
	struct stats *st = calloc(1, sizeof *st);
	if (st)
		st->srv = srv;
	return st;
}

void stats_register(struct stats *st)
{
	for (size_t i = 1; i < N_GROUPINGS; i++) {
		store_register(st->srv->store, groupings[i].stmt, groupings[i].sql);
		store_register(st->srv->store, groupings[i].stmt_region, groupings[i].sql_region);
	}
}

void stats_free(struct stats *st)
{
	free(st);
}
