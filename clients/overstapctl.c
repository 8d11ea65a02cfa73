/* overstapctl — operating overstapd (DESIGN §6.1).
 *
 * Talks to the daemon with an admin certificate (sweep, clock set, pupil), and
 * to PostgreSQL directly with blocking libpq for the reference data
 * (import-regions, import-duo-vo: idempotent upserts in one transaction) and
 * for verify, which rebuilds every pupil state from the event log with the
 * daemon's own pure merge (overstap.c, rules.c) and compares it with the live
 * states, and checks that every event, state and alert names a pupil row.
 * Never prints personal data except the pupil asked for by PGN.
 * Exit 0 ok, 1 the server refused or verify found differences, 2 usage,
 * file, connection or database errors.
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "client.h"
#include "config.h"
#include "overstap.h"
#include "refdata.h"
#include "render.h"
#include "rules.h"
#include "text.h"
#include "wire.h"

#define PROG "overstapctl"
#define FILE_MAX ((size_t)64 << 20)
#define FETCH_ROWS "5000"
#define MAX_SHOWN_DIFFS 200

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s COMMAND [options]\n"
		"\n"
		"With the daemon (admin certificate):\n"
		"  sweep --at YYYY-MM-DD[THH:MM:SS]    run every deadline sweep due by then\n"
		"  clock set YYYY-MM-DD[THH:MM:SS]     move the manual clock forward\n"
		"  pupil PGN --cohort C [--json]       a pupil's status, timeline and open alerts\n"
		"Times are UTC unless they carry an offset (Z, +02:00); unix seconds also work.\n"
		"\n"
		"With the database (--db CONNINFO, default: libpq's PG* environment variables):\n"
		"  import-regions FILE                 RMC regions, `code;naam`\n"
		"  import-duo-vo FILE                  DUO \"hoofdvestigingen vo\" (`;`, UTF-8 or Windows-1252):\n"
		"                                      schools (BRIN + vestiging 00), gemeenten, their region\n"
		"  audit PGN [--cohort C] [--json]     who saw the pupil's personal data, newest first\n"
		"  conflicts [--region R] [--cohort C] [--json]\n"
		"                                      pupils whose vo school has competing claims\n"
		"  verify [--config FILE] [--calendar MM-DD,MM-DD,MM-DD]\n"
		"                                      rebuild every pupil state from the event log and\n"
		"                                      compare with the live states, and check that\n"
		"                                      every event, state and alert names a pupil; the calendar\n"
		"                                      (aanmelddatum, zomer, teldatum) from the daemon's\n"
		"                                      config FILE (which also gives the conninfo), from\n"
		"                                      --calendar, else the defaults 04-01,08-01,10-01\n"
		"\n"
		"Connection options:\n"
		"%s"
		"  --help               this text\n"
		"\n"
		"Exit: 0 ok, 1 the server refused or verify found differences, 2 usage, file,\n"
		"connection or database errors.\n",
		PROG, CLIENT_OPTS_HELP);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", PROG);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", PROG);
	return 2;
}

/* ---- with the daemon ---------------------------------------------------------- */

/* One request, one reply. Returns the reply (caller frees) or NULL with the
 * exit code in *rc. */
static Overstap__V1__Envelope *call_daemon(const struct client_opts *copts, Overstap__V1__Envelope *env,
					   Overstap__V1__Envelope__BodyCase want, int *rc)
{
	char err[1400];
	struct client *c = client_new(copts, err, sizeof err);
	if (!c) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		*rc = 2;
		return NULL;
	}
	if (!client_connect(c)) {
		fprintf(stderr, "%s: %s\n", PROG, client_error(c));
		client_free(c);
		*rc = 2;
		return NULL;
	}
	Overstap__V1__Envelope *reply = client_call(c, env);
	if (!reply) {
		fprintf(stderr, "%s: %s\n", PROG, client_error(c));
		*rc = 2;
	} else if (reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		fprintf(stderr, "%s: the server refused: %s %s\n", PROG, reply->error->code, reply->error->message);
		*rc = 1;
		overstap__v1__envelope__free_unpacked(reply, NULL);
		reply = NULL;
	} else if (reply->body_case != want) {
		fprintf(stderr, "%s: unexpected reply from the server\n", PROG);
		*rc = 2;
		overstap__v1__envelope__free_unpacked(reply, NULL);
		reply = NULL;
	}
	client_close(c);
	client_free(c);
	return reply;
}

static int cmd_admin(const struct client_opts *copts, bool is_sweep, int64_t at)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__AdminRequest req = OVERSTAP__V1__ADMIN_REQUEST__INIT;
	Overstap__V1__Sweep sweep = OVERSTAP__V1__SWEEP__INIT;
	Overstap__V1__SetClock set = OVERSTAP__V1__SET_CLOCK__INIT;
	if (is_sweep) {
		sweep.at = at;
		req.op_case = OVERSTAP__V1__ADMIN_REQUEST__OP_SWEEP;
		req.sweep = &sweep;
	} else {
		set.at = at;
		req.op_case = OVERSTAP__V1__ADMIN_REQUEST__OP_SET_CLOCK;
		req.set_clock = &set;
	}
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REQUEST;
	env.admin_request = &req;
	int rc = 0;
	Overstap__V1__Envelope *reply = call_daemon(copts, &env, OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REPLY, &rc);
	if (!reply)
		return rc;
	const Overstap__V1__AdminReply *r = reply->admin_reply;
	if (is_sweep)
		/* the daemon's message already gives the count of this request's sweeps */
		if (r->message[0])
			printf("%s\n", r->message);
		else
			printf("sweep done; %u alerts raised\n", r->alerts_raised);
	else
		printf("%s\n", r->message[0] ? r->message : "clock set");
	overstap__v1__envelope__free_unpacked(reply, NULL);
	return 0;
}

static int cmd_pupil(const struct client_opts *copts, const char *pgn, uint32_t cohort, bool json)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__PupilQuery q = OVERSTAP__V1__PUPIL_QUERY__INIT;
	q.pgn = (char *)pgn;
	q.cohort = cohort;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY;
	env.pupil_query = &q;
	int rc = 0;
	Overstap__V1__Envelope *reply = call_daemon(copts, &env, OVERSTAP__V1__ENVELOPE__BODY_PUPIL_REPLY, &rc);
	if (!reply)
		return rc;
	if (json) {
		json_t *j = render_pupil_json(reply->pupil_reply, pgn, cohort);
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		if (s)
			printf("%s\n", s);
		else
			rc = 2;
		free(s);
		json_decref(j);
	} else {
		render_pupil_text(reply->pupil_reply, pgn, cohort, stdout);
	}
	overstap__v1__envelope__free_unpacked(reply, NULL);
	return rc;
}

/* ---- with the database ------------------------------------------------------------- */

static PGconn *db_connect(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "%s: database: %s", PROG, PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	PQsetClientEncoding(pg, "UTF8");
	return pg;
}

static bool db_ok(PGconn *pg, PGresult *res, const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return true;
	}
	fprintf(stderr, "%s: database, %s: %s", PROG, what, PQerrorMessage(pg));
	PQclear(res);
	return false;
}

static bool db_exec(PGconn *pg, const char *sql)
{
	return db_ok(pg, PQexec(pg, sql), sql);
}

static bool read_ref(const char *path, struct refdata *r, bool duo)
{
	char err[1400];
	size_t len;
	char *data = text_read_file(path, FILE_MAX, &len, err, sizeof err);
	if (!data) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return false;
	}
	bool ok = duo ? refdata_parse_duo_vo(r, data, len) : refdata_parse_regions(r, data, len);
	free(data);
	if (r->converted)
		fprintf(stderr, "%s: %s is not UTF-8; read it as Windows-1252\n", PROG, path);
	for (size_t i = 0; i < r->n_errors; i++)
		fprintf(stderr, "%s:%lu: %s\n", path, r->errors[i].line, r->errors[i].message);
	if (r->total_errors > r->n_errors)
		fprintf(stderr, "%s: ... and %zu more errors\n", PROG, r->total_errors - r->n_errors);
	if (!ok)
		fprintf(stderr, "%s: %zu error%s in %s; nothing written\n", PROG, r->total_errors, r->total_errors == 1 ? "" : "s", path);
	return ok;
}

static const char SQL_REGION_UPSERT[] =
	"INSERT INTO region (code, naam) VALUES ($1, $2) "
	"ON CONFLICT (code) DO UPDATE SET naam = EXCLUDED.naam WHERE region.naam IS DISTINCT FROM EXCLUDED.naam";
/* a region named only by the DUO file: never overwrite a name import-regions gave */
static const char SQL_REGION_ENSURE[] =
	"INSERT INTO region (code, naam) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING";
static const char SQL_GEMEENTE_UPSERT[] =
	"INSERT INTO gemeente (code, naam, region) VALUES ($1, $2, NULLIF($3, '')) "
	"ON CONFLICT (code) DO UPDATE SET naam = EXCLUDED.naam, region = EXCLUDED.region "
	"WHERE (gemeente.naam, gemeente.region) IS DISTINCT FROM (EXCLUDED.naam, EXCLUDED.region)";
static const char SQL_SCHOOL_UPSERT[] =
	"INSERT INTO school (code, brin, naam, gemeente, structuur) VALUES ($1, $2, $3, $4, $5) "
	"ON CONFLICT (code) DO UPDATE SET brin = EXCLUDED.brin, naam = EXCLUDED.naam, "
	"  gemeente = EXCLUDED.gemeente, structuur = EXCLUDED.structuur "
	"WHERE (school.brin, school.naam, school.gemeente, school.structuur) IS DISTINCT FROM "
	"  (EXCLUDED.brin, EXCLUDED.naam, EXCLUDED.gemeente, EXCLUDED.structuur)";

/* Runs a prepared upsert per row; counts rows that changed. */
static bool upsert(PGconn *pg, const char *name, int nparams, const char *const *params, long *changed)
{
	PGresult *res = PQexecPrepared(pg, name, nparams, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: database, %s: %s", PROG, name, PQerrorMessage(pg));
		PQclear(res);
		return false;
	}
	*changed += atol(PQcmdTuples(res));
	PQclear(res);
	return true;
}

static bool prepare(PGconn *pg, const char *name, const char *sql, int n)
{
	return db_ok(pg, PQprepare(pg, name, sql, n, NULL), name);
}

static int cmd_import(const char *conninfo, const char *path, bool duo)
{
	struct refdata r;
	refdata_init(&r);
	if (!read_ref(path, &r, duo)) {
		refdata_free(&r);
		return 2;
	}
	PGconn *pg = db_connect(conninfo);
	if (!pg) {
		refdata_free(&r);
		return 2;
	}
	long ch_regions = 0, ch_gemeenten = 0, ch_schools = 0;
	bool ok = db_exec(pg, "BEGIN") && prepare(pg, "region", duo ? SQL_REGION_ENSURE : SQL_REGION_UPSERT, 2) &&
		  prepare(pg, "gemeente", SQL_GEMEENTE_UPSERT, 3) && prepare(pg, "school", SQL_SCHOOL_UPSERT, 5);
	for (size_t i = 0; ok && i < r.n_regions; i++) {
		const char *p[2] = { r.regions[i].code, r.regions[i].naam };
		ok = upsert(pg, "region", 2, p, &ch_regions);
	}
	for (size_t i = 0; ok && i < r.n_gemeenten; i++) {
		const char *p[3] = { r.gemeenten[i].code, r.gemeenten[i].naam, r.gemeenten[i].region };
		ok = upsert(pg, "gemeente", 3, p, &ch_gemeenten);
	}
	for (size_t i = 0; ok && i < r.n_schools; i++) {
		const struct ref_school *s = &r.schools[i];
		const char *p[5] = { s->code, s->brin, s->naam, s->gemeente, s->structuur };
		ok = upsert(pg, "school", 5, p, &ch_schools);
	}
	ok = ok && db_exec(pg, "COMMIT");
	if (ok && duo)
		printf("schools %zu (%ld new or changed), gemeenten %zu (%ld new or changed), regions %zu (%ld new)\n",
		       r.n_schools, ch_schools, r.n_gemeenten, ch_gemeenten, r.n_regions, ch_regions);
	else if (ok)
		printf("regions %zu (%ld new or changed)\n", r.n_regions, ch_regions);
	else
		fprintf(stderr, "%s: nothing written\n", PROG);
	PQfinish(pg);
	refdata_free(&r);
	return ok ? 0 : 2;
}

/* ---- verify ---------------------------------------------------------------------------- */

/* A server-side cursor read FETCH_ROWS rows at a time, in one snapshot. */
struct cursor {
	PGconn *pg;
	const char *name;
	PGresult *res;
	int row, rows;
	bool eof;
	bool failed;
};

static bool cursor_row(struct cursor *c)
{
	if (c->eof || c->failed)
		return false;
	if (c->res && c->row < c->rows)
		return true;
	if (c->res)
		PQclear(c->res);
	char sql[64];
	snprintf(sql, sizeof sql, "FETCH " FETCH_ROWS " FROM %s", c->name);
	c->res = PQexec(c->pg, sql);
	if (PQresultStatus(c->res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s: database, %s: %s", PROG, sql, PQerrorMessage(c->pg));
		c->failed = true;
		return false;
	}
	c->rows = PQntuples(c->res);
	c->row = 0;
	if (c->rows == 0)
		c->eof = true;
	return !c->eof;
}

static const char *cv(const struct cursor *c, int col)
{
	return PQgetvalue(c->res, c->row, col);
}

static int64_t cv_i64(const struct cursor *c, int col)
{
	return strtoll(cv(c, col), NULL, 10);
}

/* (pupil_id, cohort) of the current row of c. */
static int key_cmp(int64_t p1, int64_t c1, int64_t p2, int64_t c2)
{
	if (p1 != p2)
		return p1 < p2 ? -1 : 1;
	return c1 < c2 ? -1 : c1 > c2 ? 1 : 0;
}

/* The event of the current row of the event cursor (columns: pupil_id,
 * cohort, then the rest of OVERSTAP_EVENT_COLUMNS' order). */
static void event_from_row(const struct cursor *c, struct overstap_event *ev)
{
	const char *col[OVERSTAP_EVENT_COLUMNS];
	for (int i = 0; i < OVERSTAP_EVENT_COLUMNS; i++)
		col[i] = cv(c, i + 1);
	overstap_event_from_columns(ev, col);
}

struct verify {
	const struct rules_calendar *cal;
	long checked, differ, shown;
};

static void diff(struct verify *v, int64_t pupil_id, int64_t cohort, bool *first, const char *fmt, const char *a,
		 const char *b)
{
	if (*first) {
		v->differ++;
		*first = false;
	}
	if (v->shown >= MAX_SHOWN_DIFFS)
		return;
	v->shown++;
	printf("pupil_id=%lld cohort=%lld: ", (long long)pupil_id, (long long)cohort);
	printf(fmt, a, b);
	putchar('\n');
}

/* Compares a rebuilt state (NULL: no events) with the stored row of st (NULL: none). */
static void compare(struct verify *v, int64_t pupil_id, int64_t cohort, const struct pupil_state *rebuilt,
		    const struct cursor *st)
{
	bool first = true;
	v->checked++;
	if (!st) {
		diff(v, pupil_id, cohort, &first, "%s%sevents but no stored state", "", "");
		return;
	}
	if (!rebuilt) {
		diff(v, pupil_id, cohort, &first, "%s%sa stored state but no events", "", "");
		return;
	}
	/* columns: pupil_id 0, cohort 1, facts 2, status 3, registered 4, left_vo 5, has_ddd 6,
	 * vo_school 7, vo_soort 8, woongemeente 9, mbo_instelling 10, crebo 11,
	 * first_aangemeld_at 12, updated_at 13, competing 14 */
	uint8_t enc[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = overstap_state_encode(rebuilt, enc, sizeof enc);
	size_t flen = 0;
	unsigned char *facts = PQunescapeBytea((const unsigned char *)cv(st, 2), &flen);
	if (!facts || flen != n || memcmp(facts, enc, n) != 0)
		diff(v, pupil_id, cohort, &first, "facts differ from the rebuilt state%s%s", "", "");
	PQfreemem(facts);
	int64_t updated_at = cv_i64(st, 13);
	/* ingest derives the status at the time of the write; the teldatum sweep
	 * sets the same value at its own time: both are the status at updated_at */
	enum status want = rules_status_at(v->cal, rebuilt, updated_at);
	enum status have = (enum status)cv_i64(st, 3);
	if (want != have)
		diff(v, pupil_id, cohort, &first, "status stored %s, rebuilt %s",
		     wire_enum_label(WIRE_ENUM_STATUS, (int)have), wire_enum_label(WIRE_ENUM_STATUS, (int)want));
	struct {
		const char *name;
		bool have, want;
	} flags[] = {
		{ "registered", cv(st, 4)[0] == 't', overstap_is_registered(rebuilt) },
		{ "left_vo", cv(st, 5)[0] == 't', overstap_has_left_vo(rebuilt) },
		{ "has_ddd", cv(st, 6)[0] == 't', overstap_has_ddd(rebuilt) },
	};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (flags[i].have != flags[i].want)
			diff(v, pupil_id, cohort, &first, "%s stored %s", flags[i].name,
			     flags[i].have ? "true, rebuilt false" : "false, rebuilt true");
	const char *instelling = overstap_mbo_instelling(rebuilt);
	char vo_soort[16], first_am[24], competing[OVERSTAP_MAX_VO_SCHOOLS * 7 + 1];
	overstap_competing_claims(rebuilt, competing, sizeof competing);
	snprintf(vo_soort, sizeof vo_soort, "%d", rebuilt->vo_soort);
	snprintf(first_am, sizeof first_am, "%lld", (long long)rebuilt->first_aangemeld_at);
	struct {
		const char *name;
		const char *have, *want;
	} cols[] = {
		{ "vo_school", cv(st, 7), rebuilt->vo_school },
		{ "vo_soort", cv(st, 8), vo_soort },
		{ "woongemeente", cv(st, 9), overstap_woongemeente(rebuilt) },
		{ "mbo_instelling", cv(st, 10), instelling },
		{ "crebo", cv(st, 11), overstap_crebo(rebuilt, instelling) },
		{ "first_aangemeld_at", cv(st, 12), first_am },
		{ "competing", cv(st, 14), competing },
	};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
		if (strcmp(cols[i].have, cols[i].want) != 0) {
			char fmt[96];
			snprintf(fmt, sizeof fmt, "%s stored '%%s', rebuilt '%%s'", cols[i].name);
			diff(v, pupil_id, cohort, &first, fmt, cols[i].have, cols[i].want);
		}
	}
}

/* "04-01,08-01,10-01" → the three deadlines, in order. */
static bool parse_calendar(const char *s, struct rules_calendar *cal)
{
	int m[DEADLINE_COUNT], d[DEADLINE_COUNT], used = 0;
	if (sscanf(s, "%2d-%2d,%2d-%2d,%2d-%2d%n", &m[0], &d[0], &m[1], &d[1], &m[2], &d[2], &used) != 6 ||
	    s[used] != '\0')
		return false;
	for (int k = 0; k < DEADLINE_COUNT; k++) {
		char date[16];
		snprintf(date, sizeof date, "2001-%02d-%02d", m[k], d[k]); /* not a leap year: no 02-29 */
		if (!wire_date_valid(date) || (k > 0 && m[k] * 100 + d[k] <= m[k - 1] * 100 + d[k - 1]))
			return false;
		cal->month[k] = m[k];
		cal->day[k] = d[k];
	}
	return true;
}

/* Events, states and alerts whose pupil_id names no pupil row (the schema has
 * no foreign keys on these hot tables: this is where their absence is
 * checked). Prints one line per table that has any; returns their sum. */
static long count_orphans(PGconn *pg, bool *ok)
{
	static const char *const tables[] = { "event", "pupil_state", "alert" };
	long total = 0;
	for (size_t i = 0; i < sizeof tables / sizeof *tables && *ok; i++) {
		char sql[200];
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM %s x WHERE NOT EXISTS (SELECT 1 FROM pupil p WHERE p.id = x.pupil_id)",
			 tables[i]);
		PGresult *res = PQexec(pg, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*ok = db_ok(pg, res, sql);
			return total;
		}
		long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (n > 0)
			printf("%s: %ld rows name a pupil_id that is not in pupil\n", tables[i], n);
		total += n;
	}
	return total;
}

static int cmd_verify(const char *conninfo, const char *config_path, const char *calendar)
{
	static struct config cfg;
	config_defaults(&cfg);
	if (config_path) {
		char err[1400];
		if (!config_load(config_path, &cfg, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", PROG, err);
			return 2;
		}
	}
	if (calendar && !parse_calendar(calendar, &cfg.calendar))
		return usage_error("--calendar '%s' is not three dates MM-DD,MM-DD,MM-DD in order "
				   "(aanmelddatum, zomer, teldatum)",
				   calendar);
	PGconn *pg = db_connect(conninfo ? conninfo : (config_path ? cfg.conninfo : NULL));
	if (!pg)
		return 2;
	struct verify v = { .cal = &cfg.calendar };
	struct cursor ev = { .pg = pg, .name = "ev" }, st = { .pg = pg, .name = "st" };
	bool ok = db_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") &&
		  db_exec(pg, "DECLARE ev NO SCROLL CURSOR FOR SELECT pupil_id, cohort, event_id, kind, "
			      "occurred_at, school, woongemeente, vo_soort, bestemming, crebo, mbo_instelling, "
			      "niveau, leerweg, reason FROM event ORDER BY pupil_id, cohort") &&
		  db_exec(pg, "DECLARE st NO SCROLL CURSOR FOR SELECT pupil_id, cohort, facts, status, registered, "
			      "left_vo, has_ddd, vo_school, vo_soort, woongemeente, mbo_instelling, crebo, "
			      "first_aangemeld_at, updated_at, competing FROM pupil_state ORDER BY pupil_id, cohort");
	long orphans = ok ? count_orphans(pg, &ok) : 0;
	while (ok) {
		bool has_ev = cursor_row(&ev), has_st = cursor_row(&st);
		if (ev.failed || st.failed) {
			ok = false;
			break;
		}
		if (!has_ev && !has_st)
			break;
		int64_t kp, kc;
		int cmp = !has_ev ? 1 : !has_st ? -1 : key_cmp(cv_i64(&ev, 0), cv_i64(&ev, 1), cv_i64(&st, 0), cv_i64(&st, 1));
		if (cmp <= 0) {
			kp = cv_i64(&ev, 0);
			kc = cv_i64(&ev, 1);
		} else {
			kp = cv_i64(&st, 0);
			kc = cv_i64(&st, 1);
		}
		struct pupil_state rebuilt;
		bool have_events = cmp <= 0;
		if (have_events) {
			overstap_state_init(&rebuilt, (uint32_t)kc);
			while (cursor_row(&ev) && cv_i64(&ev, 0) == kp && cv_i64(&ev, 1) == kc) {
				struct overstap_event e;
				event_from_row(&ev, &e);
				overstap_state_apply(&rebuilt, &e);
				ev.row++;
			}
			if (ev.failed) {
				ok = false;
				break;
			}
		}
		bool have_state = cmp >= 0;
		compare(&v, kp, kc, have_events ? &rebuilt : NULL, have_state ? &st : NULL);
		if (have_state)
			st.row++;
	}
	if (ev.res)
		PQclear(ev.res);
	if (st.res)
		PQclear(st.res);
	if (ok)
		db_exec(pg, "COMMIT");
	PQfinish(pg);
	if (!ok)
		return 2;
	if (v.shown < v.differ)
		printf("... (first %d differences shown)\n", MAX_SHOWN_DIFFS);
	printf("checked %ld pupil states, %ld differ\n", v.checked, v.differ);
	return v.differ || orphans ? 1 : 0;
}

/* ---- audit and conflicts ---------------------------------------------------------------- */

static bool is_time_column(const char *name)
{
	size_t n = strlen(name);
	return n > 3 && strcmp(name + n - 3, "_at") == 0;
}

/* Rows of a query as an aligned table (text) or one JSON object per line,
 * the given columns (at most 8); columns whose name ends in "_at" are unix
 * times shown as ISO 8601 in the table. */
static int print_rows(PGresult *res, const char *const *cols, int ncols, bool json)
{
	int rows = PQntuples(res);
	if (json) {
		for (int r = 0; r < rows; r++) {
			json_t *o = json_object();
			for (int c = 0; c < ncols; c++) {
				const char *v = PQgetvalue(res, r, c);
				bool number = is_time_column(cols[c]) || strcmp(cols[c], "cohort") == 0 ||
					      strcmp(cols[c], "pupil_id") == 0;
				json_object_set_new(o, cols[c], number ? json_integer(strtoll(v, NULL, 10)) : json_string(v));
			}
			if (!render_json_line(o, stdout))
				return 2;
		}
		return 0;
	}
	enum table_align align[8];
	for (int c = 0; c < ncols && c < 8; c++)
		align[c] = TABLE_LEFT;
	struct table t;
	if (!table_init(&t, (size_t)ncols, cols, align))
		return 2;
	for (int r = 0; r < rows; r++) {
		char when[8][32]; /* one per column: a row may have several times */
		const char *cells[8];
		for (int c = 0; c < ncols && c < 8; c++) {
			cells[c] = PQgetvalue(res, r, c);
			if (is_time_column(cols[c])) {
				civil_format_iso(strtoll(cells[c], NULL, 10), when[c], sizeof when[c]);
				cells[c] = when[c];
			}
		}
		if (!table_add_row(&t, cells)) {
			table_free(&t);
			return 2;
		}
	}
	table_print(&t, stdout);
	table_free(&t);
	return 0;
}

/* Runs a query with two text parameters and prints its rows (print_rows);
 * *nrows gets how many there were, -1 when there was no answer (said why).
 * The exit code: 0, or 2 when the database or the output failed. */
static int query_rows(const char *conninfo, const char *what, const char *sql, const char *const params[2],
		      const char *const *cols, int ncols, bool json, int *nrows)
{
	*nrows = -1;
	PGconn *pg = db_connect(conninfo);
	if (!pg)
		return 2;
	PGresult *res = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
	int rc = 2;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_ok(pg, res, what); /* says why, frees it */
	} else {
		rc = print_rows(res, cols, ncols, json);
		*nrows = PQntuples(res);
		PQclear(res);
	}
	PQfinish(pg);
	return rc;
}

/* Who saw a pupil's personal data (the AVG right of access), newest first. */
static int cmd_audit(const char *conninfo, const char *pgn, uint32_t cohort, bool json)
{
	static const char *const cols[] = { "read_at", "role", "organisation", "cohort", "what", "pupil_id" };
	char c[16];
	snprintf(c, sizeof c, "%u", cohort);
	const char *params[2] = { pgn, c };
	int n, rc = query_rows(conninfo, "audit",
			       "SELECT a.at, a.role, a.org, a.cohort, a.what, a.pupil_id FROM audit a "
			       "JOIN pupil p ON p.id = a.pupil_id WHERE p.pgn = $1 AND ($2::int = 0 OR a.cohort = $2::int) "
			       "ORDER BY a.id DESC",
			       params, cols, 6, json, &n);
	if (!json && n == 0)
		fprintf(stderr, "%s: nobody has read pupil %s%s%s\n", PROG, pgn, cohort ? " in cohort " : "",
			cohort ? c : "");
	return rc;
}

/* Pupils whose vo school has competing claims (DESIGN §5): a data-quality
 * finding for the projectteam. No personal data: the surrogate id. */
static int cmd_conflicts(const char *conninfo, const char *region, uint32_t cohort, bool json)
{
	static const char *const cols[] = { "pupil_id", "cohort", "vo_school", "competing", "region", "updated_at" };
	char c[16];
	snprintf(c, sizeof c, "%u", cohort);
	const char *params[2] = { region ? region : "", c };
	int n, rc = query_rows(conninfo, "conflicts",
			       "SELECT s.pupil_id, s.cohort, s.vo_school, s.competing, "
			       "  coalesce(overstap_region_of(s.woongemeente, s.vo_school), '') AS region, s.updated_at "
			       "FROM pupil_state s WHERE s.competing <> '' AND ($2::int = 0 OR s.cohort = $2::int) "
			       "  AND ($1 = '' OR overstap_region_of(s.woongemeente, s.vo_school) = $1) "
			       "ORDER BY s.cohort, s.vo_school, s.pupil_id",
			       params, cols, 6, json, &n);
	if (!json && n >= 0)
		fprintf(stderr, "%s: %d pupils with competing claims\n", PROG, n);
	return rc;
}

/* ---- arguments ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct client_opts copts;
	client_opts_init(&copts, PROG);
	const char *at_text = NULL, *cohort_text = NULL, *db = NULL, *config_path = NULL, *calendar = NULL;
	const char *region = NULL;
	bool json = false;
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "at", 1, NULL, 'a' },
		{ "cohort", 1, NULL, 'c' },
		{ "json", 0, NULL, 'j' },
		{ "db", 1, NULL, 'd' },
		{ "config", 1, NULL, 'f' },
		{ "calendar", 1, NULL, 'k' },
		{ "region", 1, NULL, 'r' },
		{ "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'a': at_text = optarg; break;
		case 'c': cohort_text = optarg; break;
		case 'j': json = true; break;
		case 'd': db = optarg; break;
		case 'f': config_path = optarg; break;
		case 'k': calendar = optarg; break;
		case 'r': region = optarg; break;
		default:
			if (!client_opts_getopt(&copts, ch, optarg))
				return 2;
			break;
		}
	}
	int nargs = argc - optind;
	char **args = argv + optind;
	if (nargs == 0)
		return usage_error("which command? (sweep, clock set, pupil, import-regions, import-duo-vo, audit, "
				   "conflicts, verify)%s", "");
	const char *cmd = args[0];
	bool daemon_cmd = strcmp(cmd, "sweep") == 0 || strcmp(cmd, "clock") == 0 || strcmp(cmd, "pupil") == 0;
	bool db_cmd = strcmp(cmd, "import-regions") == 0 || strcmp(cmd, "import-duo-vo") == 0 ||
		      strcmp(cmd, "verify") == 0 || strcmp(cmd, "audit") == 0 || strcmp(cmd, "conflicts") == 0;
	bool takes_cohort = strcmp(cmd, "pupil") == 0 || strcmp(cmd, "audit") == 0 || strcmp(cmd, "conflicts") == 0;
	if (!daemon_cmd && !db_cmd)
		return usage_error("unknown command '%s'", cmd);
	/* options that do not belong to the command are mistakes, not ignored */
	if (at_text && strcmp(cmd, "sweep") != 0)
		return usage_error("--at belongs to sweep, not to %s", cmd);
	if ((cohort_text || json) && !takes_cohort)
		return usage_error("--cohort and --json belong to pupil, audit and conflicts, not to %s", cmd);
	if (region && strcmp(cmd, "conflicts") != 0)
		return usage_error("--region belongs to conflicts, not to %s", cmd);
	if (region && !overstap_region_is_valid(region))
		return usage_error("--region is a two-digit RMC region code, not '%s'", region);
	long cohort_given = 0;
	if (cohort_text && !client_parse_long(cohort_text, OVERSTAP_COHORT_MIN, OVERSTAP_COHORT_MAX, &cohort_given))
		return usage_error("--cohort must be a year from " STR(OVERSTAP_COHORT_MIN) " to " STR(
					   OVERSTAP_COHORT_MAX) ", not '%s'", cohort_text);
	if (db && !db_cmd)
		return usage_error("--db belongs to import-regions, import-duo-vo, audit, conflicts and verify, not to %s",
				   cmd);
	if ((config_path || calendar) && strcmp(cmd, "verify") != 0)
		return usage_error("--config and --calendar belong to verify, not to %s", cmd);

	if (strcmp(cmd, "sweep") == 0) {
		int64_t at;
		if (nargs != 1)
			return usage_error("sweep takes no arguments besides --at (got '%s')", args[1]);
		if (!at_text)
			return usage_error("sweep needs --at YYYY-MM-DD[THH:MM:SS]%s", "");
		if (!wire_time_parse(at_text, &at))
			return usage_error("--at '%s' is not a date or time (YYYY-MM-DD[THH:MM:SS])", at_text);
		return cmd_admin(&copts, true, at);
	}
	if (strcmp(cmd, "clock") == 0) {
		int64_t at;
		if (nargs != 3 || strcmp(args[1], "set") != 0)
			return usage_error("usage: clock set YYYY-MM-DD[THH:MM:SS]%s", "");
		if (!wire_time_parse(args[2], &at))
			return usage_error("'%s' is not a date or time (YYYY-MM-DD[THH:MM:SS])", args[2]);
		return cmd_admin(&copts, false, at);
	}
	if (strcmp(cmd, "pupil") == 0) {
		if (nargs != 2)
			return usage_error("usage: pupil PGN --cohort C [--json]%s", "");
		const char *pgn = args[1];
		if (strlen(pgn) != 9 || strspn(pgn, "0123456789") != 9)
			return usage_error("PGN must be 9 digits, not '%s'", pgn);
		if (!cohort_text)
			return usage_error("pupil needs --cohort C%s", "");
		long cohort;
		if (!client_parse_long(cohort_text, OVERSTAP_COHORT_MIN, OVERSTAP_COHORT_MAX, &cohort))
			return usage_error("--cohort must be a year from " STR(OVERSTAP_COHORT_MIN) " to " STR(
						   OVERSTAP_COHORT_MAX) ", not '%s'", cohort_text);
		return cmd_pupil(&copts, pgn, (uint32_t)cohort, json);
	}
	if (strcmp(cmd, "verify") == 0) {
		if (nargs != 1)
			return usage_error("verify takes no arguments (got '%s')", args[1]);
		return cmd_verify(db, config_path, calendar);
	}
	if (strcmp(cmd, "audit") == 0) {
		if (nargs != 2 || strlen(args[1]) != 9 || strspn(args[1], "0123456789") != 9)
			return usage_error("usage: audit PGN [--cohort C] [--json] (PGN: 9 digits)%s", "");
		return cmd_audit(db, args[1], (uint32_t)cohort_given, json);
	}
	if (strcmp(cmd, "conflicts") == 0) {
		if (nargs != 1)
			return usage_error("conflicts takes no arguments besides --region and --cohort (got '%s')", args[1]);
		return cmd_conflicts(db, region, (uint32_t)cohort_given, json);
	}
	if (nargs != 2)
		return usage_error("usage: %s FILE [--db CONNINFO]", cmd);
	return cmd_import(db, args[1], strcmp(cmd, "import-duo-vo") == 0);
}
