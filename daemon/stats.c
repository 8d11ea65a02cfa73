/* stats.c — the projectteam's completion percentages (DESIGN §5.2).
 *
 * Owns the figures per cohort, grouping and vo school, and the pure
 * arithmetic of a row: percentages of the overstappers, and the small-cell
 * rule. Scope: a projectteam sees its own region only, admin any region or the
 * nation. Callers: session (StatsQuery), http (/api/v1/stats, the dashboard).
 *
 * The counts are computed from the indexed state table (never the event log),
 * per vo school, and kept: ingest marks the (cohort, school) of every state it
 * commits, a sweep the whole cohort, and a query recomputes only the marked
 * schools (one statement) before it adds the rows of the region or the nation
 * up. So a region answers from memory when nothing changed, and an event acked
 * a moment ago is in the next answer: its mark was made before its ack.
 * Another instance's writes are not marked here; [server] stats_cache_ttl
 * bounds how old kept figures may get (0 = recompute every query).
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "errcodes.h"
#include "config.h"
#include "keymap.h"
#include "log.h"
#include "ratelimit.h"
#include "replay.h"
#include "overstap.h"
#include "rules.h"
#include "server.h"
#include "request.h"
#include "store.h"

/* Overstappers: pupils a vo school registered; their region is that of the
 * school's gemeente. Counted per (vo school, group key): $1 cohort,
 * $2 aanmelddatum, [$3 the schools]. The state rows are aggregated first, and
 * only the aggregates are joined to their labels. Columns: school, its region,
 * key, label, then the ten counts. */
#define CELLS_COUNTS(INNER_KEY)                                                                      \
	"SELECT s.vo_school AS sch, " INNER_KEY " AS k, count(*) AS n, "                                 \
	"  count(*) FILTER (WHERE s.status <> @STATUS_GEEN_KEUZE@) AS keuze, "                          \
	"  count(*) FILTER (WHERE s.status = @STATUS_AANGEMELD@) AS am, "                               \
	"  count(*) FILTER (WHERE s.first_aangemeld_at > 0 AND s.first_aangemeld_at < $2::bigint) AS ot, " \
	"  count(*) FILTER (WHERE s.status = @STATUS_GEPLAATST@) AS gp, "                               \
	"  count(*) FILTER (WHERE s.status = @STATUS_INGESCHREVEN@) AS ig, "                            \
	"  count(*) FILTER (WHERE s.status = @STATUS_ANDERE_BESTEMMING@) AS ab, "                       \
	"  count(*) FILTER (WHERE s.has_ddd) AS ddd, "                                                  \
	"  count(*) FILTER (WHERE s.had_zomerlek) AS zl, count(*) FILTER (WHERE s.had_niet_gestart) AS ng " \
	"FROM pupil_state s WHERE s.cohort = $1::int AND s.registered "
#define CELLS_HEAD(INNER_KEY) "WITH a AS (" CELLS_COUNTS(INNER_KEY)
/* The peildatum (DESIGN §5.2): the states no write touched after $3 as they
 * are, plus the cells of the replayed ones (replay.c) in $5..$16; $4 the
 * region ('' = all). Same columns as the others. */
#define CELLS_ASOF(INNER_KEY)                                                                        \
	"WITH a0 AS (" CELLS_COUNTS(INNER_KEY) "AND s.updated_at <= $3::bigint "                         \
	"  AND ($4::text = '' OR s.vo_school = ANY (ARRAY(SELECT sc.code FROM school sc "                \
	"       JOIN gemeente g ON g.code = sc.gemeente WHERE g.region = $4::text))) GROUP BY 1, 2 "   \
	"  UNION ALL SELECT * FROM unnest($5::text[], $6::text[], $7::bigint[], $8::bigint[], "         \
	"    $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], "  \
	"    $15::bigint[], $16::bigint[])), "                                                         \
	"a AS (SELECT sch, k, sum(n) AS n, sum(keuze) AS keuze, sum(am) AS am, sum(ot) AS ot, "          \
	"  sum(gp) AS gp, sum(ig) AS ig, sum(ab) AS ab, sum(ddd) AS ddd, sum(zl) AS zl, sum(ng) AS ng "  \
	"  FROM a0 GROUP BY 1, 2) "
#define CELLS_ALL "GROUP BY 1, 2) "
#define CELLS_SOME "AND s.vo_school = ANY ($3::text[]) GROUP BY 1, 2) "
#define CELLS_REGION                                                                                 \
	"AND s.vo_school = ANY (ARRAY(SELECT sc.code FROM school sc JOIN gemeente g ON g.code = sc.gemeente " \
	"  WHERE g.region = $3::text)) GROUP BY 1, 2) "
#define CELLS_SELECT(KEY, LABEL, JOIN)                                                               \
	"SELECT a.sch, coalesce(g.region, ''), " KEY ", " LABEL ", n, keuze, am, ot, gp, ig, ab, ddd, zl, ng " \
	"FROM a LEFT JOIN school sc ON sc.code = a.sch LEFT JOIN gemeente g ON g.code = sc.gemeente " JOIN
#define GROUPING(NAME, INNER_KEY, KEY, LABEL, JOIN)                                                  \
	{ NAME, "stats_" NAME, "stats_" NAME "_some", "stats_" NAME "_region", "stats_" NAME "_asof", \
	  CELLS_HEAD(INNER_KEY) CELLS_ALL CELLS_SELECT(KEY, LABEL, JOIN),                             \
	  CELLS_HEAD(INNER_KEY) CELLS_SOME CELLS_SELECT(KEY, LABEL, JOIN),                            \
	  CELLS_HEAD(INNER_KEY) CELLS_REGION CELLS_SELECT(KEY, LABEL, JOIN),                          \
	  CELLS_ASOF(INNER_KEY) CELLS_SELECT(KEY, LABEL, JOIN) }

static const struct {
	const char *name;
	const char *stmt;        /* every school */
	const char *stmt_some;   /* the schools in $3 */
	const char *stmt_region; /* the schools of region $3 */
	const char *stmt_asof;   /* on a peildatum */
	const char *sql;
	const char *sql_some;
	const char *sql_region;
	const char *sql_asof;
} groupings[] = {
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION] = GROUPING("region", "''", "coalesce(g.region, '')",
		"coalesce(r.naam, '')", "LEFT JOIN region r ON r.code = g.region"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SCHOOL] = GROUPING("vo_school", "''", "a.sch",
		"coalesce(sc.naam, '')", ""),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_WOONGEMEENTE] = GROUPING("woongemeente", "s.woongemeente", "a.k",
		"coalesce(gk.naam, '')", "LEFT JOIN gemeente gk ON gk.code = a.k"),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_MBO_INSTELLING] = GROUPING("mbo_instelling", "s.mbo_instelling", "a.k",
		"a.k", ""),
	[OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SOORT] = GROUPING("vo_soort", "s.vo_soort::text", "a.k", "''", ""),
};
#define N_GROUPINGS (sizeof groupings / sizeof groupings[0])
#define N_COUNTS 10
#define CACHE_COHORTS 8

static const char *const vo_soort_names[] = { "", "VMBO_BB", "VMBO_KB", "VMBO_GL", "VMBO_TL",
					      "HAVO", "VWO", "VSO", "PRO", "ISK" };

/* The counts of one group key within one school. */
struct cell {
	char *key;
	char *label;
	uint32_t counts[N_COUNTS];
};

struct school_cells {
	char code[8];
	char region[4];   /* "" until a computation told it */
	uint64_t marked;  /* cohort generation of its last change */
	uint32_t clean;   /* bit per grouping: cells[] are current */
	size_t n[N_GROUPINGS];
	struct cell *cells[N_GROUPINGS];
};

struct cohort_figures {
	uint32_t cohort;
	uint64_t gen;      /* +1 per mark */
	uint64_t epoch;    /* +1 per invalidation: older computations are not kept */
	uint32_t complete; /* bit per grouping: every school with pupils is in schools[] */
	uint64_t region_complete[N_GROUPINGS]; /* bit per region number: all its schools are */
	int64_t filled_at; /* clock_mono_us() of the first computation kept since the last clear */
	uint64_t used;
	struct school_cells **schools;
	size_t n_schools, cap_schools;
	struct keymap index; /* code → schools[]; keys point into the (stable) entries */
};

/* An answer on a peildatum, kept: for a moment far enough back nothing can
 * change it any more (every event received later has a later received_at). */
#define ASOF_CACHE 256
#define ASOF_SETTLED_SECS 60
struct asof_entry {
	uint32_t cohort;
	int by;
	char region[4];
	bool is_admin;
	int64_t as_of;
	uint8_t *packed; /* the StatsReply; NULL: empty slot */
	size_t len;
	uint64_t used;
};

struct stats {
	struct server *srv;
	struct cohort_figures *cohorts[CACHE_COHORTS];
	uint64_t uses;
	struct asof_entry asof[ASOF_CACHE];
	uint64_t asof_uses;
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

void stats_suppress(struct stats_supp *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rows[i].suppressed = rows[i].overstappers < STATS_SMALL_CELL;
	for (size_t i = 0; i < n; i++) {
		/* once per group: at its first row */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(rows[j].group, rows[i].group) == 0;
		if (seen)
			continue;
		size_t count = 0;
		uint64_t sum = 0;
		for (size_t j = i; j < n; j++)
			if (rows[j].suppressed && strcmp(rows[j].group, rows[i].group) == 0) {
				count++;
				sum += rows[j].overstappers;
			}
		/* a lone suppressed row, or a few that hold fewer than five together,
		 * would follow from the others and the region: the smallest others
		 * go with them, one at a time */
		while (count > 0 && (count < 2 || sum < STATS_SMALL_CELL)) {
			size_t pick = n;
			for (size_t j = i; j < n; j++) {
				if (rows[j].suppressed || strcmp(rows[j].group, rows[i].group) != 0)
					continue;
				if (pick == n || rows[j].overstappers < rows[pick].overstappers ||
				    (rows[j].overstappers == rows[pick].overstappers && strcmp(rows[j].key, rows[pick].key) < 0))
					pick = j;
			}
			if (pick == n)
				break; /* every row of the group is suppressed */
			rows[pick].suppressed = true;
			count++;
			sum += rows[pick].overstappers;
		}
	}
}

void stats_row_finish(Overstap__V1__StatsRow *row, bool below_region, bool is_admin)
{
	if (row->suppressed || (below_region && !is_admin && row->overstappers < STATS_SMALL_CELL)) {
		row->suppressed = true;
		row->overstappers = row->met_keuze = row->aangemeld = row->aangemeld_op_tijd = 0;
		row->geplaatst = row->ingeschreven = row->andere_bestemming = row->ddd = 0;
		row->zomerlek = row->niet_gestart = 0;
	}
	row->in_beeld_pct = pct(row->met_keuze, row->overstappers);
	row->definitief_pct = pct(row->ingeschreven + row->andere_bestemming, row->overstappers);
	row->ddd_pct = pct(row->ddd, row->overstappers);
}

/* ---- kept figures ---------------------------------------------------------- */

static void cells_free(struct school_cells *sc, size_t g)
{
	for (size_t i = 0; i < sc->n[g]; i++) {
		free(sc->cells[g][i].key);
		free(sc->cells[g][i].label);
	}
	free(sc->cells[g]);
	sc->cells[g] = NULL;
	sc->n[g] = 0;
}

static void cohort_clear(struct cohort_figures *cf)
{
	for (size_t i = 0; i < cf->n_schools; i++) {
		for (size_t g = 0; g < N_GROUPINGS; g++)
			cells_free(cf->schools[i], g);
		free(cf->schools[i]);
	}
	free(cf->schools);
	cf->schools = NULL;
	cf->n_schools = cf->cap_schools = 0;
	keymap_clear(&cf->index);
	cf->complete = 0;
	memset(cf->region_complete, 0, sizeof cf->region_complete);
	cf->filled_at = 0;
	cf->epoch++;
}

static void cohort_free(struct cohort_figures *cf)
{
	if (!cf)
		return;
	cohort_clear(cf);
	keymap_free(&cf->index);
	free(cf);
}

/* The figures of a cohort; created (evicting the least used) when absent and
 * create is set. */
static struct cohort_figures *cohort_get(struct stats *st, uint32_t cohort, bool create)
{
	int slot = -1;
	for (int i = 0; i < CACHE_COHORTS; i++) {
		struct cohort_figures *cf = st->cohorts[i];
		if (cf && cf->cohort == cohort) {
			if (create)
				cf->used = ++st->uses;
			return cf;
		}
		if (!cf && slot < 0)
			slot = i;
	}
	if (!create)
		return NULL;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < CACHE_COHORTS; i++)
			if (st->cohorts[i]->used < st->cohorts[slot]->used)
				slot = i;
		cohort_free(st->cohorts[slot]);
		st->cohorts[slot] = NULL;
	}
	struct cohort_figures *cf = calloc(1, sizeof *cf);
	if (!cf)
		return NULL;
	cf->cohort = cohort;
	cf->used = ++st->uses;
	keymap_init(&cf->index);
	st->cohorts[slot] = cf;
	return cf;
}

static struct school_cells *school_get(struct cohort_figures *cf, const char *code, bool create)
{
	size_t len = strnlen(code, 7);
	uint32_t at;
	if (keymap_get(&cf->index, code, len, &at))
		return cf->schools[at];
	if (!create)
		return NULL;
	if (cf->n_schools == cf->cap_schools) {
		size_t cap = cf->cap_schools ? cf->cap_schools * 2 : 64;
		struct school_cells **p = realloc(cf->schools, cap * sizeof *p);
		if (!p)
			return NULL;
		cf->schools = p;
		cf->cap_schools = cap;
	}
	struct school_cells *sc = calloc(1, sizeof *sc);
	if (!sc)
		return NULL;
	memcpy(sc->code, code, len);
	cf->schools[cf->n_schools] = sc;
	keymap_put(&cf->index, sc->code, len, (uint32_t)cf->n_schools, NULL);
	cf->n_schools++;
	return sc;
}

void stats_mark(struct stats *st, uint32_t cohort, const char *vo_school)
{
	struct cohort_figures *cf = cohort_get(st, cohort, false);
	if (!cf || !vo_school[0])
		return;
	struct school_cells *sc = school_get(cf, vo_school, true);
	if (!sc) {
		cohort_clear(cf); /* out of memory: forget, recompute later */
		return;
	}
	sc->marked = ++cf->gen;
	sc->clean = 0;
}

void stats_invalidate(struct stats *st, uint32_t cohort)
{
	struct cohort_figures *cf = cohort_get(st, cohort, false);
	if (cf)
		cohort_clear(cf);
}

/* ---- one computation -------------------------------------------------------- */

/* Gets a computation's reply (valid during the call only) or an error. */
typedef void (*stats_done_fn)(const Overstap__V1__StatsReply *reply, const char *error, void *arg);

struct compute_req {
	struct stats *st;
	uint32_t cohort;
	Overstap__V1__GroupBy by;
	char region[4];
	bool is_admin;
	stats_done_fn done;
	void *arg;
	uint64_t gen, epoch; /* of the cohort when the statement was sent */
	bool all;            /* every school, not only the marked ones */
	bool whole_region;   /* every school of the region */
	char **asked;        /* the schools asked for, when !all */
	size_t n_asked;
};

static void req_free(struct compute_req *req)
{
	for (size_t i = 0; i < req->n_asked; i++)
		free(req->asked[i]);
	free(req->asked);
	free(req);
}

/* "39" → 39; the caller checked two digits. */
static int region_number(const char *region)
{
	return (region[0] - '0') * 10 + (region[1] - '0');
}

static bool region_cacheable(const char *region)
{
	return strlen(region) == 2 && region[0] >= '0' && region[0] <= '5' && region[1] >= '0' && region[1] <= '9' &&
	       region_number(region) < 64;
}

/* Stores a computation's rows in the kept figures (when no invalidation came
 * in between). A school marked after the statement was sent stays unclean:
 * its rows are still good enough for this answer, which was asked before
 * that change. Returns false when out of memory. */
static bool keep_result(struct compute_req *req, struct cohort_figures *cf, const PGresult *res)
{
	size_t g = (size_t)req->by;
	uint32_t bit = 1u << g;
	int n = PQntuples(res);
	/* the schools this computation covers start empty */
	if (req->all) {
		for (size_t i = 0; i < cf->n_schools; i++)
			cells_free(cf->schools[i], g);
	} else if (req->whole_region) {
		for (size_t i = 0; i < cf->n_schools; i++)
			if (strcmp(cf->schools[i]->region, req->region) == 0)
				cells_free(cf->schools[i], g);
	} else {
		for (size_t i = 0; i < req->n_asked; i++) {
			struct school_cells *sc = school_get(cf, req->asked[i], false);
			if (sc)
				cells_free(sc, g);
		}
	}
	for (int r = 0; r < n; r++) {
		struct school_cells *sc = school_get(cf, PQgetvalue(res, r, 0), true);
		if (!sc)
			return false;
		snprintf(sc->region, sizeof sc->region, "%s", PQgetvalue(res, r, 1));
		struct cell *cells = realloc(sc->cells[g], (sc->n[g] + 1) * sizeof *cells);
		if (!cells)
			return false;
		sc->cells[g] = cells;
		struct cell *c = &cells[sc->n[g]];
		c->key = strdup(PQgetvalue(res, r, 2));
		c->label = strdup(PQgetvalue(res, r, 3));
		if (!c->key || !c->label) {
			free(c->key);
			free(c->label);
			return false;
		}
		for (int k = 0; k < N_COUNTS; k++)
			c->counts[k] = (uint32_t)strtoul(PQgetvalue(res, r, 4 + k), NULL, 10);
		sc->n[g]++;
	}
	if (!cf->filled_at)
		cf->filled_at = clock_mono_us();
	if (req->all) {
		for (size_t i = 0; i < cf->n_schools; i++)
			if (cf->schools[i]->marked <= req->gen)
				cf->schools[i]->clean |= bit;
		cf->complete |= bit;
	} else if (req->whole_region) {
		for (size_t i = 0; i < cf->n_schools; i++) {
			struct school_cells *sc = cf->schools[i];
			if (strcmp(sc->region, req->region) == 0 && sc->marked <= req->gen)
				sc->clean |= bit;
		}
		if (region_cacheable(req->region))
			cf->region_complete[g] |= 1ull << region_number(req->region);
	} else {
		for (size_t i = 0; i < req->n_asked; i++) {
			struct school_cells *sc = school_get(cf, req->asked[i], false);
			if (sc && sc->marked <= req->gen)
				sc->clean |= bit;
		}
	}
	return true;
}

struct out_row {
	const char *key, *label;
	const char *group; /* the region its small cells are judged in */
	uint32_t counts[N_COUNTS];
};

static int out_row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct out_row *)a)->key, ((const struct out_row *)b)->key);
}

/* Adds up the kept cells of the region (or the nation) by key and answers. */
static void answer(struct compute_req *req, struct cohort_figures *cf)
{
	size_t g = (size_t)req->by;
	size_t cap = 0;
	for (size_t i = 0; i < cf->n_schools; i++)
		cap += cf->schools[i]->n[g];
	struct out_row *out = calloc(cap ? cap : 1, sizeof *out);
	struct keymap keys;
	keymap_init(&keys);
	size_t n = 0;
	for (size_t i = 0; out && i < cf->n_schools; i++) {
		const struct school_cells *sc = cf->schools[i];
		if (req->region[0] && strcmp(sc->region, req->region) != 0)
			continue;
		for (size_t j = 0; j < sc->n[g]; j++) {
			const struct cell *c = &sc->cells[g][j];
			bool existed = false;
			uint32_t at = keymap_put(&keys, c->key, strlen(c->key), (uint32_t)n, &existed);
			if (!existed) {
				out[n].key = c->key;
				out[n].label = c->label;
				/* a school's row belongs to its region; other groupings
				 * to the region asked for, or the nation */
				out[n].group = req->by == OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SCHOOL ? sc->region : req->region;
				n++;
			}
			for (int k = 0; k < N_COUNTS; k++)
				out[at].counts[k] += c->counts[k];
		}
	}
	keymap_free(&keys);
	Overstap__V1__StatsRow *rows = calloc(n ? n : 1, sizeof *rows);
	Overstap__V1__StatsRow **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	struct stats_supp *supp = calloc(n ? n : 1, sizeof *supp);
	if (!out || !rows || !ptrs || !supp) {
		free(out);
		free(rows);
		free(ptrs);
		free(supp);
		req->done(NULL, "out of memory", req->arg);
		return;
	}
	qsort(out, n, sizeof *out, out_row_cmp);
	bool below_region = req->by != OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	for (size_t r = 0; r < n; r++)
		supp[r] = (struct stats_supp){ out[r].counts[0], out[r].key, out[r].group, false };
	if (below_region && !req->is_admin)
		stats_suppress(supp, n); /* DESIGN §5.2: small cells, and what would give them away */
	for (size_t r = 0; r < n; r++) {
		Overstap__V1__StatsRow *row = &rows[r];
		overstap__v1__stats_row__init(row);
		row->key = (char *)out[r].key;
		row->label = (char *)out[r].label;
		if (req->by == OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SOORT) {
			int v = atoi(row->key);
			row->key = row->label = (char *)(v >= 0 && v <= 9 ? vo_soort_names[v] : "");
		}
		uint32_t *counts[] = { &row->overstappers, &row->met_keuze, &row->aangemeld,
				       &row->aangemeld_op_tijd, &row->geplaatst, &row->ingeschreven,
				       &row->andere_bestemming, &row->ddd, &row->zomerlek, &row->niet_gestart };
		for (int c = 0; c < N_COUNTS; c++)
			*counts[c] = out[r].counts[c];
		row->suppressed = supp[r].suppressed;
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
	reply.n_rows = n;
	reply.rows = ptrs;
	const struct config *cfg = req->st->srv->cfg;
	Overstap__V1__Milestone ms[CONFIG_MAX_MILESTONES], *msp[CONFIG_MAX_MILESTONES];
	char dates[CONFIG_MAX_MILESTONES][16];
	for (int i = 0; i < cfg->n_milestones; i++) {
		overstap__v1__milestone__init(&ms[i]);
		ms[i].figure = (char *)rules_figure_name(cfg->milestones[i].figure);
		ms[i].pct = cfg->milestones[i].pct;
		ms[i].at = config_milestone_at(&cfg->milestones[i], req->cohort);
		snprintf(dates[i], sizeof dates[i], "%04d-%02d-%02d",
			 (int)req->cohort - (cfg->milestones[i].month >= 9 ? 1 : 0), cfg->milestones[i].month,
			 cfg->milestones[i].day);
		ms[i].date = dates[i];
		msp[i] = &ms[i];
	}
	reply.n_milestones = (size_t)cfg->n_milestones;
	reply.milestones = msp;
	req->done(&reply, NULL, req->arg);
	free(out);
	free(supp);
	free(rows);
	free(ptrs);
}

/* Answers from rows that are not kept (every school, in figures of their
 * own), then frees req. */
static void answer_apart(struct compute_req *req, const PGresult *res)
{
	struct cohort_figures tmp = { .cohort = req->cohort };
	keymap_init(&tmp.index);
	req->all = true;
	req->gen = 0;
	if (keep_result(req, &tmp, res))
		answer(req, &tmp);
	else
		req->done(NULL, "out of memory", req->arg);
	cohort_clear(&tmp);
	keymap_free(&tmp.index);
	req_free(req);
}

static void computed(const PGresult *res, const char *error, void *arg)
{
	struct compute_req *req = arg;
	if (!res) {
		req->done(NULL, error ? error : "query failed", req->arg);
		req_free(req);
		return;
	}
	struct cohort_figures *cf = cohort_get(req->st, req->cohort, true);
	if (cf && cf->epoch != req->epoch) {
		/* invalidated meanwhile (a sweep): these rows answer this question,
		 * in figures of their own, and are not kept */
		answer_apart(req, res);
		return;
	}
	if (!cf || !keep_result(req, cf, res)) {
		if (cf)
			cohort_clear(cf);
		req->done(NULL, "out of memory", req->arg);
		req_free(req);
		return;
	}
	answer(req, cf);
	req_free(req);
}

/* The figures themselves: done gets the reply (valid during the call only) or
 * an error. region "" = national. */
static void stats_compute(struct stats *st, uint32_t cohort, Overstap__V1__GroupBy by, const char *region,
			  bool is_admin, stats_done_fn done, void *arg)
{
	if (by == OVERSTAP__V1__GROUP_BY__GROUP_BY_UNSPECIFIED)
		by = OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	if ((size_t)by >= N_GROUPINGS) {
		done(NULL, "unknown group_by", arg);
		return;
	}
	struct compute_req *req = calloc(1, sizeof *req);
	struct cohort_figures *cf = cohort_get(st, cohort, true);
	if (!req || !cf) {
		free(req);
		done(NULL, "out of memory", arg);
		return;
	}
	int64_t ttl_us = st->srv->cfg->stats_cache_ttl * 1000000LL;
	if (cf->filled_at && clock_mono_us() - cf->filled_at >= ttl_us)
		cohort_clear(cf); /* too old: another instance may have written */
	*req = (struct compute_req){ .st = st, .cohort = cohort, .by = by, .is_admin = is_admin, .done = done,
				     .arg = arg, .gen = cf->gen, .epoch = cf->epoch };
	snprintf(req->region, sizeof req->region, "%.3s", region);
	uint32_t bit = 1u << by;
	bool known = cf->complete & bit;
	if (!known && region[0])
		known = region_cacheable(region) && (cf->region_complete[by] & (1ull << region_number(region)));
	req->whole_region = !known && region[0];
	req->all = !known && !region[0];
	struct pgarray schools;
	pgarray_init(&schools);
	if (known) {
		for (size_t i = 0; i < cf->n_schools; i++) {
			const struct school_cells *sc = cf->schools[i];
			if (sc->clean & bit)
				continue;
			if (req->region[0] && sc->region[0] && strcmp(sc->region, req->region) != 0)
				continue;
			char **p = realloc(req->asked, (req->n_asked + 1) * sizeof *p);
			if (!p || !(p[req->n_asked] = strdup(sc->code))) {
				if (p)
					req->asked = p;
				pgarray_free(&schools);
				done(NULL, "out of memory", arg);
				req_free(req);
				return;
			}
			req->asked = p;
			req->n_asked++;
			pgarray_add_text(&schools, sc->code);
		}
		if (req->n_asked == 0) {
			pgarray_free(&schools);
			answer(req, cf);
			req_free(req);
			return;
		}
	}
	char c[16], aanmeld[24];
	snprintf(c, sizeof c, "%u", cohort);
	snprintf(aanmeld, sizeof aanmeld, "%lld",
		 (long long)rules_deadline_at(&st->srv->cfg->calendar, cohort, DEADLINE_AANMELDDATUM));
	const char *params[3] = { c, aanmeld, req->whole_region ? req->region : pgarray_literal(&schools) };
	const char *stmt = req->all ? groupings[by].stmt
			   : req->whole_region ? groupings[by].stmt_region : groupings[by].stmt_some;
	store_query(st->srv->store, LANE_READ, stmt, req->all ? 2 : 3, params, false, computed, req);
	pgarray_free(&schools);
}

static void query_done(const Overstap__V1__StatsReply *reply, const char *error, void *arg)
{
	struct request *req = arg;
	if (!reply) {
		request_error(req, ERR_INTERNAL, error);
		return;
	}
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY;
	env.stats_reply = (Overstap__V1__StatsReply *)reply;
	request_answer(req, &env);
}

/* ---- the peildatum (DESIGN §5.2) -------------------------------------------- */

static struct asof_entry *asof_find(struct stats *st, const struct compute_req *c, int64_t as_of)
{
	for (int i = 0; i < ASOF_CACHE; i++) {
		struct asof_entry *e = &st->asof[i];
		if (e->packed && e->cohort == c->cohort && e->by == (int)c->by && e->is_admin == c->is_admin &&
		    e->as_of == as_of && strcmp(e->region, c->region) == 0)
			return e;
	}
	return NULL;
}

static void asof_keep(struct stats *st, const struct compute_req *c, int64_t as_of,
		      const Overstap__V1__StatsReply *reply)
{
	struct asof_entry *victim = &st->asof[0];
	for (int i = 0; i < ASOF_CACHE && victim->packed; i++)
		if (!st->asof[i].packed || st->asof[i].used < victim->used)
			victim = &st->asof[i];
	size_t len = overstap__v1__stats_reply__get_packed_size(reply);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return;
	overstap__v1__stats_reply__pack(reply, buf);
	free(victim->packed);
	*victim = (struct asof_entry){ .cohort = c->cohort, .by = (int)c->by, .is_admin = c->is_admin,
				       .as_of = as_of, .packed = buf, .len = len, .used = ++st->asof_uses };
	snprintf(victim->region, sizeof victim->region, "%s", c->region);
}

struct asof_req {
	struct stats *st;
	struct request *req;
	struct compute_req key; /* cohort, by, region, is_admin */
	int64_t as_of;
};

static void asof_answered(const Overstap__V1__StatsReply *reply, const char *error, void *arg)
{
	struct asof_req *a = arg;
	if (reply && a->as_of <= clock_now() - ASOF_SETTLED_SECS)
		asof_keep(a->st, &a->key, a->as_of, reply);
	query_done(reply, error, a->req);
	free(a);
}

static void asof_computed(const PGresult *res, const char *error, void *arg)
{
	struct compute_req *req = arg;
	if (!res) {
		req->done(NULL, error ? error : "query failed", req->arg);
		req_free(req);
		return;
	}
	answer_apart(req, res);
}

struct asof_job {
	struct compute_req *req;
	int64_t as_of;
};

static void replayed(void *arg, const struct replay_cells *cells, const char *error)
{
	struct asof_job *job = arg;
	struct compute_req *req = job->req;
	int64_t as_of = job->as_of;
	free(job);
	if (!cells) {
		req->done(NULL, error, req->arg);
		req_free(req);
		return;
	}
	struct stats *st = req->st;
	char c[16], aanmeld[24], at[24];
	snprintf(c, sizeof c, "%u", req->cohort);
	snprintf(aanmeld, sizeof aanmeld, "%lld",
		 (long long)rules_deadline_at(&st->srv->cfg->calendar, req->cohort, DEADLINE_AANMELDDATUM));
	snprintf(at, sizeof at, "%lld", (long long)as_of);
	struct replay_cells *out = (struct replay_cells *)cells; /* the literals are built in place */
	const char *params[16] = { c, aanmeld, at, req->region, pgarray_literal(&out->school),
				   pgarray_literal(&out->key) };
	for (int k = 0; k < REPLAY_N_COUNTS; k++)
		params[6 + k] = pgarray_literal(&out->counts[k]);
	log_debug("stats", "cohort=%u as_of=%lld region=%s replayed_pupils=%u", req->cohort, (long long)as_of,
		  req->region[0] ? req->region : "-", cells->pupils);
	store_query(st->srv->store, LANE_READ, groupings[req->by].stmt_asof, 16, params, false, asof_computed, req);
}

/* StatsQuery.as_of: the figures as the daemon knew them then. */
static void stats_query_asof(struct stats *st, struct request *req, const Overstap__V1__StatsQuery *q,
			     const char *region, bool is_admin)
{
	int64_t now = clock_now(), horizon = replay_horizon(st->srv->replay);
	if (q->as_of < 0 || q->as_of > now) {
		request_error(req, ERR_BAD_REQUEST, "as_of lies after the daemon's clock: figures of the future do not exist");
		return;
	}
	if (q->as_of < horizon) {
		char when[32] = "?";
		if (horizon != INT64_MAX)
			civil_format_iso(horizon, when, sizeof when);
		char msg[160];
		snprintf(msg, sizeof msg, "no exact figures for that moment: this database holds every event from %s on",
			 when);
		request_error(req, ERR_AS_OF_UNAVAILABLE, msg);
		return;
	}
	Overstap__V1__GroupBy by = q->group_by ? q->group_by : OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	struct asof_req *a = calloc(1, sizeof *a);
	struct compute_req *c = calloc(1, sizeof *c);
	struct asof_job *job = calloc(1, sizeof *job);
	if (!a || !c || !job) {
		free(a);
		free(c);
		free(job);
		request_error(req, ERR_INTERNAL, "out of memory");
		return;
	}
	*c = (struct compute_req){ .st = st, .cohort = q->cohort, .by = by, .is_admin = is_admin,
				   .done = asof_answered, .arg = a };
	snprintf(c->region, sizeof c->region, "%.3s", region);
	*a = (struct asof_req){ .st = st, .req = req, .key = *c, .as_of = q->as_of };
	const struct asof_entry *hit = asof_find(st, c, q->as_of);
	Overstap__V1__StatsReply *kept =
		hit ? overstap__v1__stats_reply__unpack(NULL, hit->len, hit->packed) : NULL;
	if (kept) {
		st->asof[hit - st->asof].used = ++st->asof_uses;
		query_done(kept, NULL, req);
		overstap__v1__stats_reply__free_unpacked(kept, NULL);
		free(a);
		free(c);
		free(job);
		return;
	}
	job->req = c;
	job->as_of = q->as_of;
	replay_run(st->srv->replay, q->cohort, q->as_of, c->region, by, replayed, job);
}

void stats_query(struct stats *st, struct request *req, const Overstap__V1__StatsQuery *q)
{
	const struct identity *who = &req->who;
	bool is_admin = who->role == ROLE_ADMIN;
	const char *region = q->region;
	if (!overstap_cohort_is_year(q->cohort)) {
		request_error(req, ERR_BAD_COHORT, "cohort must be a year");
		return;
	}
	if ((size_t)q->group_by >= N_GROUPINGS) {
		request_error(req, ERR_BAD_REQUEST, "unknown group_by");
		return;
	}
	if (who->role == ROLE_PROJECTTEAM) {
		/* projectteam: its own region, whatever it asks */
		if (region[0] && strcmp(region, who->org) != 0) {
			static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(20, 10000);
			unsigned long missed;
			if (ratelimit_allow_key(&rl, overstap_role_name(who->role), who->org, clock_mono_us() / 1000,
						&missed))
				log_warn("stats", "session=%llu role=%s org=%s denied region=%s suppressed_before=%lu",
					 (unsigned long long)req->conn_id, overstap_role_name(who->role), who->org, region,
					 missed);
			request_error(req, ERR_PERMISSION_DENIED, "a projectteam sees its own region only");
			return;
		}
		region = who->org;
	} else if (!is_admin && who->role != ROLE_PUBLIC) {
		request_error(req, ERR_PERMISSION_DENIED, "figures are for the projectteam and admin");
		return;
	} else if (region[0] && !overstap_region_is_valid(region)) {
		request_error(req, ERR_BAD_REQUEST, "region is a two-digit RMC region code");
		return;
	}
	if (q->as_of != 0) {
		stats_query_asof(st, req, q, region, is_admin);
		return;
	}
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
		store_register(st->srv->store, groupings[i].stmt_some, groupings[i].sql_some);
		store_register(st->srv->store, groupings[i].stmt_region, groupings[i].sql_region);
		store_register(st->srv->store, groupings[i].stmt_asof, groupings[i].sql_asof);
	}
}

void stats_free(struct stats *st)
{
	if (!st)
		return;
	for (int i = 0; i < CACHE_COHORTS; i++)
		cohort_free(st->cohorts[i]);
	for (int i = 0; i < ASOF_CACHE; i++)
		free(st->asof[i].packed);
	free(st);
}
