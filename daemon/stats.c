/* stats.c — completion percentages (placeholder until the statistics issue lands). */
#include "stats.h"

#include <stdlib.h>

#include "session.h"

struct stats {
	struct server *srv;
};

struct stats *stats_new(struct server *srv)
{
	struct stats *st = calloc(1, sizeof *st);
	if (st)
		st->srv = srv;
	return st;
}
void stats_free(struct stats *st) { free(st); }
void stats_register(struct stats *st) { (void)st; }
void stats_query(struct stats *st, struct session *s, uint64_t seq, const Overstap__V1__StatsQuery *q)
{
	(void)st;
	(void)q;
	session_send_error(s, seq, "UNIMPLEMENTED", "StatsQuery is not implemented yet");
}
void stats_row_finish(Overstap__V1__StatsRow *row, bool below_region, bool is_admin)
{
	(void)row;
	(void)below_region;
	(void)is_admin;
}
