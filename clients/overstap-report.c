/* overstap-report — the completion percentages of DESIGN §5.2 beside their
 * targets (DESIGN §6.1), as an aligned table, CSV or JSON.
 *
 * StatsQuery and StatsReply, on a peildatum (--as-of) too; --compare-previous
 * asks twice (cohort C, and C-1 a year earlier), --trend once per week and
 * cohort. A projectteam certificate sees its own region; an admin
 * certificate any region (--region) or the nation.
 * Exit 0 shown, 1 the server refused, 2 usage or connection errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "overstap.h"
#include "render.h"
#include "rules.h"
#include "wire.h"

#define PROG "overstap-report"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --cohort C [options]\n"
		"The percentages in beeld, definitief and ddd of cohort C beside their targets and milestones.\n"
		"\n"
		"  --cohort C           the cohort year (required)\n"
		"  --by G               region, vo_school, woongemeente, mbo_instelling or vo_soort (region)\n"
		"  --format F           table, csv or json (table)\n"
		"  --region R           two-digit RMC region (admin certificate; a projectteam sees its own)\n"
		"  --as-of WHEN         the figures as the daemon knew them then (the peildatum): a date\n"
		"                       YYYY-MM-DD (00:00 Europe/Amsterdam), an ISO 8601 moment or unix seconds\n"
		"  --compare-previous   beside them the previous cohort on the same date a year earlier\n"
		"  --trend              weekly points of in beeld, aangemeld, geplaatst, definitief and ddd\n"
		"                       from 1 September until the peildatum (or now), and the previous cohort's\n"
		"%s"
		"  --help               this text\n"
		"\n"
		"Exit: 0 shown, 1 the server refused, 2 usage or connection errors.\n",
		PROG, CLIENT_OPTS_HELP);
}

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct query {
	struct client *c;
	uint32_t cohort;
	int by;
	const char *region;
	int64_t as_of; /* 0 = now */
};

/* One StatsQuery. Returns the reply (the caller frees it) or NULL with *rc
 * set (1 refused, with the Error in *refusal when asked for; 2 otherwise). */
static Overstap__V1__Envelope *ask(const struct query *q, uint32_t cohort, int by, int64_t as_of, int *rc,
				   bool quiet_refusal)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__StatsQuery sq = OVERSTAP__V1__STATS_QUERY__INIT;
	sq.cohort = cohort;
	sq.group_by = (Overstap__V1__GroupBy)by;
	sq.region = (char *)q->region;
	sq.as_of = as_of;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY;
	env.stats_query = &sq;
	Overstap__V1__Envelope *reply = client_call(q->c, &env);
	if (!reply) {
		fprintf(stderr, "%s: %s\n", PROG, client_error(q->c));
		*rc = 2;
		return NULL;
	}
	if (reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY)
		return reply;
	if (reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		if (!quiet_refusal)
			fprintf(stderr, "%s: the server refused: %s %s\n", PROG, reply->error->code, reply->error->message);
		*rc = 1;
		if (quiet_refusal)
			return reply; /* the caller reads the Error */
	} else {
		fprintf(stderr, "%s: the server answered with something else than a StatsReply\n", PROG);
		*rc = 2;
	}
	overstap__v1__envelope__free_unpacked(reply, NULL);
	return NULL;
}

static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s) {
		fprintf(stderr, "%s: cannot write JSON\n", PROG);
		return 2;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}

/* The region totals, for the milestones: the reply itself when it is by
 * region, else a second query by region. */
static Overstap__V1__Envelope *totals_for(const struct query *q, Overstap__V1__Envelope *reply, int64_t as_of)
{
	int rc = 0;
	if (q->by == OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION || reply->stats_reply->n_milestones == 0)
		return NULL;
	return ask(q, q->cohort, OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION, as_of, &rc, false);
}

static int show_report(const struct query *q, enum format fmt)
{
	int rc = 0;
	Overstap__V1__Envelope *reply = ask(q, q->cohort, q->by, q->as_of, &rc, false);
	if (!reply)
		return rc;
	struct report_meta m = { q->cohort, wire_group_by_name(q->by), q->region, q->as_of };
	Overstap__V1__Envelope *totals = totals_for(q, reply, q->as_of);
	const Overstap__V1__StatsReply *tr = totals ? totals->stats_reply : reply->stats_reply;
	int64_t moment = q->as_of ? q->as_of : (int64_t)time(NULL);
	switch (fmt) {
	case FMT_TABLE:
		render_stats_table(reply->stats_reply, &m, stdout);
		render_milestones_text(tr, moment, stdout);
		break;
	case FMT_CSV:
		render_stats_csv(reply->stats_reply, stdout);
		break;
	case FMT_JSON: {
		json_t *j = render_stats_json(reply->stats_reply, &m);
		json_object_set_new(j, "milestones", render_milestones_json(tr, moment));
		rc = print_json(j);
		break;
	}
	}
	if (totals)
		overstap__v1__envelope__free_unpacked(totals, NULL);
	overstap__v1__envelope__free_unpacked(reply, NULL);
	return rc;
}

/* --compare-previous: cohort C at the peildatum beside C-1 a year earlier. */
static int show_compare(const struct query *q, enum format fmt)
{
	int rc = 0;
	int64_t at = q->as_of ? q->as_of : (int64_t)time(NULL);
	Overstap__V1__Envelope *cur = ask(q, q->cohort, q->by, q->as_of, &rc, false);
	if (!cur)
		return rc;
	int64_t prev_at = rules_year_earlier(at);
	Overstap__V1__Envelope *prev = ask(q, q->cohort - 1, q->by, prev_at, &rc, false);
	if (!prev) {
		overstap__v1__envelope__free_unpacked(cur, NULL);
		return rc;
	}
	struct report_meta m = { q->cohort, wire_group_by_name(q->by), q->region, at };
	struct report_meta pm = { q->cohort - 1, wire_group_by_name(q->by), q->region, prev_at };
	switch (fmt) {
	case FMT_TABLE:
		render_compare_table(cur->stats_reply, &m, prev->stats_reply, &pm, stdout);
		break;
	case FMT_CSV:
		render_compare_csv(cur->stats_reply, prev->stats_reply, stdout);
		break;
	case FMT_JSON:
		rc = print_json(json_pack("{s:o, s:o}", "current", render_stats_json(cur->stats_reply, &m), "previous",
					  render_stats_json(prev->stats_reply, &pm)));
		break;
	}
	overstap__v1__envelope__free_unpacked(cur, NULL);
	overstap__v1__envelope__free_unpacked(prev, NULL);
	return rc;
}

/* One point of the trend: the region totals of a cohort at a moment; false
 * when the daemon has no figures for it (AS_OF_UNAVAILABLE; a moment after
 * its clock sets *future). */
static bool trend_point(const struct query *q, uint32_t cohort, int64_t at, struct trend_figures *out, bool *future,
			int *rc)
{
	int r = 0;
	Overstap__V1__Envelope *reply = ask(q, cohort, OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION, at, &r, true);
	if (!reply) {
		*rc = r;
		return false;
	}
	bool ok = reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY;
	if (ok)
		render_trend_figures(reply->stats_reply, out);
	else if (strcmp(reply->error->code, "BAD_REQUEST") == 0)
		*future = true;
	else if (strcmp(reply->error->code, "AS_OF_UNAVAILABLE") != 0) {
		fprintf(stderr, "%s: the server refused: %s %s\n", PROG, reply->error->code, reply->error->message);
		*rc = 1;
	}
	overstap__v1__envelope__free_unpacked(reply, NULL);
	return ok;
}

/* --trend: every week from 1 September of C-1 until the peildatum (or now,
 * at most the teldatum 1 October of C), cohort C and cohort C-1 a year
 * earlier. */
static int show_trend(const struct query *q, enum format fmt)
{
	int64_t start = rules_local_midnight((int64_t)q->cohort - 1, 9, 1);
	int64_t end = q->as_of ? q->as_of : (int64_t)time(NULL);
	int64_t last = rules_local_midnight((int64_t)q->cohort, 10, 1);
	if (end > last)
		end = last;
	struct trend_point *pts = calloc(60, sizeof *pts);
	size_t n = 0;
	int rc = pts ? 0 : 2;
	bool future = false;
	for (int64_t at = start; pts && at <= end && n < 60 && !future && rc == 0; at += 7 * 86400, n++) {
		pts[n].at = at;
		pts[n].have[0] = trend_point(q, q->cohort, at, &pts[n].fig[0], &future, &rc);
		bool prev_future = false;
		pts[n].have[1] = trend_point(q, q->cohort - 1, rules_year_earlier(at), &pts[n].fig[1], &prev_future, &rc);
		if (future)
			break;
	}
	if (rc == 0 && pts) {
		if (fmt == FMT_JSON)
			rc = print_json(render_trend_json(q->cohort, pts, n));
		else if (fmt == FMT_CSV)
			render_trend_csv(pts, n, stdout);
		else
			render_trend_table(q->cohort, pts, n, stdout);
	}
	free(pts);
	return rc;
}

int main(int argc, char **argv)
{
	struct client_opts copts;
	client_opts_init(&copts, PROG);
	long cohort = 0;
	int by = OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	enum format fmt = FMT_TABLE;
	const char *region = "";
	int64_t as_of = 0;
	bool compare = false, trend = false;
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "cohort", 1, NULL, 'c' },
		{ "by", 1, NULL, 'b' },
		{ "format", 1, NULL, 'f' },
		{ "region", 1, NULL, 'r' },
		{ "as-of", 1, NULL, 'a' },
		{ "compare-previous", 0, NULL, 'p' },
		{ "trend", 0, NULL, 't' },
		{ "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[1400];
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'c':
			if (!client_parse_long(optarg, OVERSTAP_COHORT_MIN, OVERSTAP_COHORT_MAX, &cohort)) {
				fprintf(stderr, "%s: --cohort must be a year from %d to %d (the year the pupils "
						"start in mbo), not '%s'\n",
					PROG, OVERSTAP_COHORT_MIN, OVERSTAP_COHORT_MAX, optarg);
				return 2;
			}
			break;
		case 'b':
			if (!wire_group_by_parse(optarg, &by)) {
				fprintf(stderr, "%s: --by must be region, vo_school, woongemeente, mbo_instelling or "
						"vo_soort, not '%s'\n",
					PROG, optarg);
				return 2;
			}
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = FMT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = FMT_CSV;
			else if (strcmp(optarg, "json") == 0)
				fmt = FMT_JSON;
			else {
				fprintf(stderr, "%s: --format must be table, csv or json, not '%s'\n", PROG, optarg);
				return 2;
			}
			break;
		case 'r':
			if (strlen(optarg) != 2 || optarg[0] < '0' || optarg[0] > '9' || optarg[1] < '0' ||
			    optarg[1] > '9') {
				fprintf(stderr, "%s: --region must be a two-digit RMC region code (39), not '%s'\n", PROG,
					optarg);
				return 2;
			}
			region = optarg;
			break;
		case 'a':
			if (!rules_parse_moment(optarg, &as_of) || as_of <= 0) {
				fprintf(stderr, "%s: --as-of must be a date (YYYY-MM-DD), an ISO 8601 moment or unix "
						"seconds, not '%s'\n",
					PROG, optarg);
				return 2;
			}
			break;
		case 'p':
			compare = true;
			break;
		case 't':
			trend = true;
			break;
		default:
			if (!client_opts_getopt(&copts, ch, optarg))
				return 2;
			break;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", PROG, argv[optind], PROG);
		return 2;
	}
	if (!cohort) {
		fprintf(stderr, "%s: which cohort? (--cohort C)\nTry '%s --help'.\n", PROG, PROG);
		return 2;
	}
	if (compare && trend) {
		fprintf(stderr, "%s: --trend already shows the previous cohort; use one of --trend and "
				"--compare-previous\n",
			PROG);
		return 2;
	}
	struct client *c = client_new(&copts, err, sizeof err);
	if (!c) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return 2;
	}
	if (!client_connect(c)) {
		fprintf(stderr, "%s: %s\n", PROG, client_error(c));
		client_free(c);
		return 2;
	}
	struct query qy = { c, (uint32_t)cohort, by, region, as_of };
	int rc = trend ? show_trend(&qy, fmt) : compare ? show_compare(&qy, fmt) : show_report(&qy, fmt);
	if (rc == 0 && fflush(stdout) != 0) {
		fprintf(stderr, "%s: writing standard output failed\n", PROG);
		rc = 2;
	}
	client_close(c);
	client_free(c);
	return rc;
}
