/* pupil.c — PupilQuery / PupilReply (DESIGN §4.2, scopes of §4.3).
 *
 * Owns the one statement that reads a pupil's state, timeline and open alerts
 * on the read lane, with the caller's scope inside the query (DESIGN §5 "Who
 * may read a pupil") and the audit of the answer in the same statement.
 * Anything outside the scope, and a pupil that does not exist, get the same
 * PERMISSION_DENIED.
 */
#include "pupil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "ratelimit.h"
#include "overstap.h"
#include "server.h"
#include "request.h"
#include "store.h"

/* The events by which an mbo institution makes a pupil its applicant. */
#define APPLICATION_KINDS \
	"@EVENT_AANMELDING_ONTVANGEN@, @EVENT_AANGEMELD@, @EVENT_OVEREENKOMST_AANGEBODEN@, @EVENT_INGESCHREVEN@"

/* One row per fact, tagged: S(tate), E(vent), A(lert), with the caller's
 * read scope inside the query (DESIGN §5 "Who may read a pupil"): a vo school
 * the pupils whose vo school it is, an mbo institution those with an
 * application event from it, an RMC those of its region, admin all. The
 * answer is recorded in the audit by the same statement ($5 the daemon's
 * time). $1 pgn, $2 cohort, $3 role, $4 organisation. */
static const char SQL_PUPIL[] =
	"WITH s AS ("
	"  SELECT s.pupil_id, s.cohort, s.status, s.vo_school, s.woongemeente, "
	"         coalesce(overstap_region_of(s.woongemeente, s.vo_school), '') AS region "
	"  FROM pupil p JOIN pupil_state s ON s.pupil_id = p.id AND s.cohort = $2::int "
	"  WHERE p.pgn = $1::text AND ($3::text = 'admin' "
	"    OR ($3::text = 'vo' AND s.vo_school = $4::text) "
	"    OR ($3::text = 'mbo' AND EXISTS (SELECT 1 FROM event e WHERE e.pupil_id = s.pupil_id "
	"        AND e.cohort = s.cohort AND e.org = $4::text AND e.kind IN (" APPLICATION_KINDS "))) "
	"    OR ($3::text = 'rmc' AND overstap_region_of(s.woongemeente, s.vo_school) = $4::text))), "
	"aud AS (INSERT INTO audit (at, role, org, pupil_id, cohort, what) "
	"        SELECT $5::bigint, $3::text, $4::text, s.pupil_id, s.cohort, 'pupil_query' FROM s) "
	"SELECT 'S', s.status, s.vo_school, s.woongemeente, s.region, 0::bigint, 0::smallint, '', '' "
	"FROM s "
	"UNION ALL (SELECT 'E', 0, e.school, '', '', e.occurred_at, e.kind, e.crebo, e.event_id "
	"  FROM event e JOIN s ON e.pupil_id = s.pupil_id AND e.cohort = s.cohort "
	"  ORDER BY e.occurred_at, e.kind, e.org, e.event_id) "
	"UNION ALL (SELECT 'A', 0, '', '', '', a.id, 0::smallint, '', '' "
	"  FROM alert a JOIN s ON a.pupil_id = s.pupil_id AND a.cohort = s.cohort "
	"  WHERE a.resolved_at IS NULL "
	"    AND a.kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@) ORDER BY a.id)";

/* The pupils of a cohort a vo school or an mbo institution may read (the
 * same scope as SQL_PUPIL: a vo school its own, an mbo institution its
 * applicants), audited in the same statement, ordered by PGN; the last event
 * an mbo institution sees is its own. $1 limit, $2 cohort, $3 role, $4
 * organisation, $5 the daemon's time. */
static const char SQL_PUPIL_LIST[] =
	"WITH mine AS (SELECT DISTINCT e.pupil_id FROM event e WHERE $3::text = 'mbo' AND e.org = $4::text "
	"              AND e.cohort = $2::int AND e.kind IN (" APPLICATION_KINDS ")), "
	"s AS (SELECT st.* FROM (SELECT s.* FROM pupil_state s WHERE $3::text = 'vo' AND s.cohort = $2::int "
	"                        AND s.vo_school = $4::text "
	"                        UNION ALL SELECT s.* FROM pupil_state s JOIN mine m ON m.pupil_id = s.pupil_id "
	"                        WHERE s.cohort = $2::int) st JOIN pupil p ON p.id = st.pupil_id "
	"      WHERE p.pgn IS NOT NULL ORDER BY p.pgn LIMIT $1::int), "
	"aud AS (INSERT INTO audit (at, role, org, pupil_id, cohort, what) "
	"        SELECT $5::bigint, $3::text, $4::text, s.pupil_id, s.cohort, 'web' FROM s) "
	"SELECT p.pgn, coalesce(pd.name, ''), coalesce(pd.birth_date::text, ''), s.status, s.has_ddd, "
	"  encode(s.facts, 'hex'), "
	"  array_to_string(ARRAY(SELECT DISTINCT a.kind FROM alert a WHERE a.pupil_id = s.pupil_id "
	"   AND a.cohort = s.cohort AND a.resolved_at IS NULL "
	"   AND a.kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@) ORDER BY 1), ','), "
	"  coalesce(le.kind, 0), coalesce(le.occurred_at, 0), s.woongemeente, s.vo_school "
	"FROM s JOIN pupil p ON p.id = s.pupil_id "
	"LEFT JOIN LATERAL overstap_personal(s.pupil_id, s.cohort) pd ON true "
	"LEFT JOIN LATERAL (SELECT e.kind, e.occurred_at FROM event e WHERE e.pupil_id = s.pupil_id "
	"  AND e.cohort = s.cohort AND ($3::text <> 'mbo' OR e.org = $4::text) "
	"  ORDER BY e.occurred_at DESC, e.kind DESC LIMIT 1) le ON true "
	"ORDER BY p.pgn";

void pupil_register(struct server *srv)
{
	store_register(srv->store, "pupil_query", SQL_PUPIL);
	store_register(srv->store, "pupil_list", SQL_PUPIL_LIST);
}

void pupil_list(struct server *srv, const struct identity *who, uint32_t cohort, int limit, store_result_fn done,
		void *arg)
{
	if (who->role != ROLE_VO && who->role != ROLE_MBO) {
		done(NULL, "only a vo school or an mbo institution has a list of its pupils", arg);
		return;
	}
	char lim[16], coh[16], now[24];
	snprintf(lim, sizeof lim, "%d", limit);
	snprintf(coh, sizeof coh, "%u", cohort);
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *params[5] = { lim, coh, overstap_role_name(who->role), who->org, now };
	store_query(srv->store, LANE_READ, "pupil_list", 5, params, false, done, arg);
}

static int cmp_entry(const void *a, const void *b)
{
	const Overstap__V1__TimelineEntry *x = *(Overstap__V1__TimelineEntry *const *)a;
	const Overstap__V1__TimelineEntry *y = *(Overstap__V1__TimelineEntry *const *)b;
	if (x->occurred_at != y->occurred_at)
		return x->occurred_at < y->occurred_at ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

static void pupil_done(const PGresult *res, const char *error, void *arg)
{
	struct request *req = arg;
	if (!res) {
		request_error(req, ERR_INTERNAL, error ? error : "query failed");
		return;
	}
	int rows = PQntuples(res), srow = -1;
	for (int r = 0; r < rows && srow < 0; r++)
		if (PQgetvalue(res, r, 0)[0] == 'S')
			srow = r;
	if (srow < 0) {
		static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(20, 10000);
		unsigned long missed;
		if (ratelimit_allow_key(&rl, overstap_role_name(req->who.role), req->who.org, clock_mono_us() / 1000,
					&missed))
			log_warn("pupil", "session=%llu role=%s org=%s pupil query denied (not in scope or unknown) "
				 "suppressed_before=%lu",
				 (unsigned long long)req->conn_id, overstap_role_name(req->who.role), req->who.org, missed);
		request_error(req, ERR_PERMISSION_DENIED, "no pupil with this PGN and cohort within your scope");
		return;
	}
	Overstap__V1__PupilReply reply = OVERSTAP__V1__PUPIL_REPLY__INIT;
	Overstap__V1__TimelineEntry *entries = calloc((size_t)rows, sizeof *entries);
	Overstap__V1__TimelineEntry **eptrs = calloc((size_t)rows, sizeof *eptrs);
	uint64_t *alerts = calloc((size_t)rows, sizeof *alerts);
	if (!entries || !eptrs || !alerts) {
		request_error(req, ERR_INTERNAL, "out of memory");
		free(entries);
		free(eptrs);
		free(alerts);
		return;
	}
	reply.status = (Overstap__V1__Status)atoi(PQgetvalue(res, srow, 1));
	reply.vo_school = PQgetvalue(res, srow, 2);
	reply.woongemeente = PQgetvalue(res, srow, 3);
	reply.region = PQgetvalue(res, srow, 4);
	for (int r = 0; r < rows; r++) {
		char tag = PQgetvalue(res, r, 0)[0];
		if (tag == 'E') {
			Overstap__V1__TimelineEntry *e = &entries[reply.n_timeline];
			overstap__v1__timeline_entry__init(e);
			e->occurred_at = strtoll(PQgetvalue(res, r, 5), NULL, 10);
			e->kind = (Overstap__V1__EventKind)atoi(PQgetvalue(res, r, 6));
			e->school = PQgetvalue(res, r, 2);
			e->crebo = PQgetvalue(res, r, 7);
			eptrs[reply.n_timeline++] = e;
		} else if (tag == 'A') {
			alerts[reply.n_open_alert_ids++] = (uint64_t)strtoull(PQgetvalue(res, r, 5), NULL, 10);
		}
	}
	/* the statement orders each part; keep the timeline's order explicit */
	qsort(eptrs, reply.n_timeline, sizeof *eptrs, cmp_entry);
	reply.timeline = eptrs;
	reply.open_alert_ids = alerts;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PUPIL_REPLY;
	env.pupil_reply = &reply;
	request_answer(req, &env);
	free(entries);
	free(eptrs);
	free(alerts);
}

void pupil_query(struct server *srv, struct request *req, const Overstap__V1__PupilQuery *q)
{
	const struct identity *who = &req->who;
	if (!overstap_pgn_is_valid(q->pgn)) {
		request_error(req, ERR_BAD_PGN, "pgn must be 9 digits: a BSN or an onderwijsnummer");
		return;
	}
	if (!overstap_cohort_is_year(q->cohort)) {
		request_error(req, ERR_BAD_COHORT, "cohort must be a year");
		return;
	}
	char cohort[16], now[24];
	snprintf(cohort, sizeof cohort, "%u", q->cohort);
	snprintf(now, sizeof now, "%lld", (long long)clock_now());
	const char *params[5] = { q->pgn, cohort, overstap_role_name(who->role), who->org, now };
	store_query(srv->store, LANE_READ, "pupil_query", 5, params, false, pupil_done, req);
}
