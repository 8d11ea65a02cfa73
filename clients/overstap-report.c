/* overstap-report — the completion percentages of DESIGN §5.2 beside their
 * targets (DESIGN §6.1), as an aligned table, CSV or JSON.
 *
 * One StatsQuery, one StatsReply. A projectteam certificate sees its own
 * region; an admin certificate any region (--region) or the nation.
 * Exit 0 shown, 1 the server refused, 2 usage or connection errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "overstap.h"
#include "render.h"
#include "wire.h"

#define PROG "overstap-report"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --cohort C [options]\n"
		"The percentages in beeld, definitief and ddd of cohort C beside their targets.\n"
		"\n"
		"  --cohort C           the cohort year (required)\n"
		"  --by G               region, vo_school, woongemeente, mbo_instelling or vo_soort (region)\n"
		"  --format F           table, csv or json (table)\n"
		"  --region R           two-digit RMC region (admin certificate; a projectteam sees its own)\n"
		"%s"
		"  --help               this text\n"
		"\n"
		"Exit: 0 shown, 1 the server refused, 2 usage or connection errors.\n",
		PROG, CLIENT_OPTS_HELP);
}

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

int main(int argc, char **argv)
{
	struct client_opts copts;
	client_opts_init(&copts, PROG);
	long cohort = 0;
	int by = OVERSTAP__V1__GROUP_BY__GROUP_BY_REGION;
	enum format fmt = FMT_TABLE;
	const char *region = "";
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "cohort", 1, NULL, 'c' },
		{ "by", 1, NULL, 'b' },
		{ "format", 1, NULL, 'f' },
		{ "region", 1, NULL, 'r' },
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
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__StatsQuery q = OVERSTAP__V1__STATS_QUERY__INIT;
	q.cohort = (uint32_t)cohort;
	q.group_by = (Overstap__V1__GroupBy)by;
	q.region = (char *)region;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY;
	env.stats_query = &q;
	Overstap__V1__Envelope *reply = client_call(c, &env);
	int rc = 0;
	if (!reply) {
		fprintf(stderr, "%s: %s\n", PROG, client_error(c));
		rc = 2;
	} else if (reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		fprintf(stderr, "%s: the server refused: %s %s\n", PROG, reply->error->code, reply->error->message);
		rc = 1;
	} else if (reply->body_case != OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY) {
		fprintf(stderr, "%s: the server answered with something else than a StatsReply\n", PROG);
		rc = 2;
	} else {
		struct report_meta m = { (unsigned)cohort, wire_group_by_name(by), region };
		switch (fmt) {
		case FMT_TABLE:
			render_stats_table(reply->stats_reply, &m, stdout);
			break;
		case FMT_CSV:
			render_stats_csv(reply->stats_reply, stdout);
			break;
		case FMT_JSON: {
			json_t *j = render_stats_json(reply->stats_reply, &m);
			char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
			if (s)
				printf("%s\n", s);
			else {
				fprintf(stderr, "%s: cannot write JSON\n", PROG);
				rc = 2;
			}
			free(s);
			json_decref(j);
			break;
		}
		}
		if (fflush(stdout) != 0) {
			fprintf(stderr, "%s: writing standard output failed\n", PROG);
			rc = 2;
		}
	}
	if (reply)
		overstap__v1__envelope__free_unpacked(reply, NULL);
	client_close(c);
	client_free(c);
	return rc;
}
