/* stats.h — completion percentages for the projectteam (DESIGN §5.2).
 *
 * Answers StatsQuery (over TLS, and /api/v1/stats over HTTP: the same
 * request, see request.h) from figures per
 * vo school computed from the indexed state table (never the event log) and
 * kept until a commit marks the school. The arithmetic (percentages, small
 * cell suppression) is pure and lives in stats_row_finish().
 */
#ifndef OVERSTAP_STATS_H
#define OVERSTAP_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "overstap.pb-c.h"

struct server;
struct request;
struct stats;

#define STATS_SMALL_CELL 5

struct stats *stats_new(struct server *srv);
void stats_free(struct stats *st);
void stats_register(struct stats *st);
/* StatsQuery with the caller's scope; ends req with a StatsReply or an Error. */
void stats_query(struct stats *st, struct request *req, const Overstap__V1__StatsQuery *q);

/* A state of (cohort, vo_school) changed and is committed: its kept figures
 * are recomputed by the next query that needs them. */
void stats_mark(struct stats *st, uint32_t cohort, const char *vo_school);
/* Many states of a cohort changed (a sweep): forget its kept figures. */
void stats_invalidate(struct stats *st, uint32_t cohort);
/* "region", "vo_school", ... → GroupBy; false if unknown. */
bool stats_group_by_parse(const char *s, Overstap__V1__GroupBy *out);
const char *stats_group_by_name(Overstap__V1__GroupBy by);

/* Pure: fills the percentages of a row from its counts and applies the
 * small-cell rule (below region level, not admin, fewer than 5 overstappers;
 * or row->suppressed already set by stats_suppress): counts zeroed. */
void stats_row_finish(Overstap__V1__StatsRow *row, bool below_region, bool is_admin);

/* Pure: which rows of a reply below region level are suppressed (DESIGN
 * §5.2): those with fewer than 5 overstappers, and within each group (a
 * region's rows) the smallest others (fewest overstappers, then key) until
 * the suppressed ones number at least two and hold at least 5 together — or
 * all of the group is. No suppressed row follows from the others and the
 * group's total. */
struct stats_supp {
	uint32_t overstappers;
	const char *key;
	const char *group;
	bool suppressed; /* out */
};
void stats_suppress(struct stats_supp *rows, size_t n);

#endif
