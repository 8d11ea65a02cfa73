/* grouptxn.c — one group transaction of ingest (grouptxn.h).
 *
 * Owns the group in flight on one shard: its items, deduplicated by
 * (org, event_id) and sorted into one pupil_group per (pupil, cohort); the
 * set-based statements and their parameter sets (one struct per statement,
 * its columns named in the statement's $n order); the merge and rule
 * evaluation per pupil (overstap.c, rules.c, both pure) between the two
 * round trips; and what the group learned, kept for the caches until COMMIT
 * returns. Never a round trip per event, never a blocking call.
 * Caller: ingest.c.
 */
#include "grouptxn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "grow.h"
#include "idpool.h"
#include "keymap.h"
#include "log.h"
#include "metrics.h"
#include "pupilcache.h"
#include "statecache.h"
#include "store.h"

/* ---- SQL and its parameter sets -------------------------------------------- */

/* A statement's array parameters, by name and as col[] in $n order. */
#define PARAMS(name, n, ...)                                                                         \
	struct name {                                                                                \
		union {                                                                              \
			struct {                                                                     \
				struct pgbin __VA_ARGS__;                                              \
			};                                                                           \
			struct pgbin col[n];                                                         \
		};                                                                                   \
	};                                                                                           \
	_Static_assert(sizeof(struct name) == (n) * sizeof(struct pgbin), #name " has " #n " columns")

#define N_COLS(p) ((int)(sizeof(p) / sizeof(struct pgbin)))

/* $1 pgn: the pupils the PGN cache does not know (inserted when new). */
PARAMS(pupil_params, 1, pgn);
static const char SQL_PUPILS[] =
	"WITH input AS (SELECT DISTINCT unnest($1::text[]) AS pgn), "
	"ins AS (INSERT INTO pupil (pgn) SELECT pgn FROM input ORDER BY pgn "
	"        ON CONFLICT (pgn) DO NOTHING RETURNING id, pgn) "
	"SELECT id, pgn, true FROM ins UNION ALL "
	/* one index probe per PGN, whatever the planner thinks of the tables'
	 * sizes (LIMIT keeps the subquery from being flattened into a join) */
	"SELECT p.id, p.pgn, false FROM input i CROSS JOIN LATERAL "
	"  (SELECT p.id, p.pgn FROM pupil p WHERE p.pgn = i.pgn LIMIT 1) p";

/* The event row's columns and the event parameter arrays as rows (u), shared
 * by the two-step and the speculative insert. */
#define EVENT_COLUMNS                                                                         \
	"(org, event_id, pupil_id, cohort, kind, occurred_at, received_at, school, woongemeente, " \
	"vo_soort, bestemming, crebo, mbo_instelling, niveau, leerweg, reason) "
#define EVENT_VALUES_TAIL \
	"  u.woongemeente, u.vo_soort, u.bestemming, u.crebo, u.mbo_instelling, u.niveau, u.leerweg, u.reason "
#define EVENT_ROWS                                                                                        \
	"FROM (SELECT unnest($1::text[]) AS org, unnest($2::text[]) AS event_id, unnest($3::text[]) "      \
	"  AS pgn, unnest($4::int[]) AS cohort, unnest($5::smallint[]) AS kind, unnest($6::bigint[]) "     \
	"  AS occurred_at, unnest($7::text[]) AS school, unnest($8::text[]) AS woongemeente, "            \
	"  unnest($9::smallint[]) AS vo_soort, unnest($10::smallint[]) AS bestemming, "                    \
	"  unnest($11::text[]) AS crebo, unnest($12::text[]) AS mbo_instelling, "                          \
	"  unnest($13::smallint[]) AS niveau, unnest($14::smallint[]) AS leerweg, "                        \
	"  unnest($15::text[]) AS reason, unnest($16::bigint[]) AS pid) AS u "
/* Every first occurrence of an (org, event_id); $17 received_at. The pupil
 * id comes along when known (NULL otherwise): only unknown pupils are looked
 * up by PGN, so a warm group reads no pupil rows at all. The pupils
 * statement before it in the same transaction created every unknown one.
 * What comes back was inserted; what is missing is a duplicate. */
PARAMS(event_params, 16, org, event_id, pgn, cohort, kind, occurred_at, school, woongemeente, vo_soort, bestemming,
       crebo, mbo_instelling, niveau, leerweg, reason, pupil_id);
static const char SQL_EVENTS[] =
	"INSERT INTO event " EVENT_COLUMNS
	"SELECT u.org, u.event_id, coalesce(u.pid, (SELECT p.id FROM pupil p WHERE p.pgn = u.pgn)), "
	"  u.cohort, u.kind, u.occurred_at, $17::bigint, u.school, "
	EVENT_VALUES_TAIL
	EVENT_ROWS
	"ON CONFLICT (org, event_id) DO NOTHING "
	"RETURNING org, event_id";

/* The speculative group (one round trip; see send_speculative): the new
 * pupils with the ids reserved for them ($3 how many), and every first
 * occurrence with its pupil id ($17 received_at, $18 how many; the PGN
 * column is sent for the layout's sake and not read). Each fails the
 * transaction with a serialization failure when the database knew better
 * (a pupil it had, an event it had: overstap_guess(), sql/007), and the
 * group runs again in two steps. ON CONFLICT rather than a unique violation:
 * that error would write the PGN or the event id into the server's log. */
PARAMS(new_pupil_params, 2, pupil_id, pgn);
static const char SQL_NEW_PUPILS[] =
	"WITH ins AS (INSERT INTO pupil (id, pgn) SELECT unnest($1::bigint[]), unnest($2::text[]) "
	"             ON CONFLICT (pgn) DO NOTHING RETURNING 1) "
	"SELECT overstap_guess('pupils', $3::int, (SELECT count(*) FROM ins)::int)";
static const char SQL_NEW_EVENTS[] =
	"WITH ins AS (INSERT INTO event " EVENT_COLUMNS
	"SELECT u.org, u.event_id, u.pid, u.cohort, u.kind, u.occurred_at, $17::bigint, u.school, "
	EVENT_VALUES_TAIL
	EVENT_ROWS
	"ON CONFLICT (org, event_id) DO NOTHING "
	"RETURNING 1) "
	"SELECT overstap_guess('events', $18::int, (SELECT count(*) FROM ins)::int)";

/* A block of pupil ids for the pool (idpool.h): $1 how many. */
static const char SQL_RESERVE_IDS[] = "SELECT nextval('pupil_id_seq') FROM generate_series(1, $1::int)";

/* The states of the pupil groups the state cache does not hold, with their
 * version (binary results). */
PARAMS(state_read_params, 3, pgn, cohort, pupil_id);
static const char SQL_STATES[] =
	"SELECT x.pid, x.pgn, s.cohort, s.facts, s.had_zomerlek, s.had_niet_gestart, s.version "
	"FROM (SELECT coalesce(u.pid, (SELECT p.id FROM pupil p WHERE p.pgn = u.pgn)) AS pid, u.pgn, u.cohort "
	"      FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(pgn, cohort, pid) OFFSET 0) x "
	/* an index probe per pupil group (OFFSET and LIMIT keep the planner
	 * from flattening them into a join): a generic plan once hashed the
	 * whole state table for every group, a scan that grows with the table */
	"CROSS JOIN LATERAL (SELECT s.cohort, s.facts, s.had_zomerlek, s.had_niet_gestart, s.version "
	"  FROM pupil_state s WHERE s.pupil_id = x.pid AND s.cohort = x.cohort LIMIT 1) s";

/* The state row's columns and the state parameter arrays as the rows to
 * write ($18 updated_at, the version one up), shared by the upsert and the
 * plain insert. */
#define STATE_COLUMNS                                                                               \
	"(pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort, "           \
	"woongemeente, mbo_instelling, first_aangemeld_at, had_zomerlek, had_niet_gestart, updated_at, " \
	"crebo, version, competing) "
#define STATE_ROWS                                                                                   \
	"SELECT u.pupil_id, u.cohort, u.facts, u.status, u.registered, u.left_vo, u.has_ddd, "            \
	"  u.vo_school, u.vo_soort, u.woongemeente, u.mbo_instelling, u.first_aangemeld_at, "             \
	"  u.had_zomerlek, u.had_niet_gestart, $18::bigint, u.crebo, u.version + 1, u.competing "         \
	"FROM (SELECT unnest($1::bigint[]) AS pupil_id, unnest($2::int[]) AS cohort, "                    \
	"  unnest($3::bytea[]) AS facts, unnest($4::smallint[]) AS status, unnest($5::bool[]) AS "        \
	"  registered, unnest($6::bool[]) AS left_vo, unnest($7::bool[]) AS has_ddd, "                    \
	"  unnest($8::text[]) AS vo_school, unnest($9::smallint[]) AS vo_soort, unnest($10::text[]) "      \
	"  AS woongemeente, unnest($11::text[]) AS mbo_instelling, unnest($12::bigint[]) AS "             \
	"  first_aangemeld_at, unnest($13::bool[]) AS had_zomerlek, unnest($14::bool[]) AS "              \
	"  had_niet_gestart, unnest($15::text[]) AS crebo, unnest($16::bigint[]) AS version, "            \
	"  unnest($17::text[]) AS competing) AS u"
/* The merged states, $18 now, $19 how many; each row only if its version is
 * still the one read (0: none was), else overstap_expect() fails the
 * transaction with a serialization failure and the whole group runs again. */
PARAMS(state_write_params, 17, pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort,
       woongemeente, mbo_instelling, first_aangemeld_at, had_zomerlek, had_niet_gestart, crebo, version, competing);
static const char SQL_UPSERT_STATES[] =
	"WITH up AS (INSERT INTO pupil_state " STATE_COLUMNS
	STATE_ROWS " "
	"ON CONFLICT (pupil_id, cohort) DO UPDATE SET facts = EXCLUDED.facts, status = "
	"  EXCLUDED.status, registered = EXCLUDED.registered, left_vo = EXCLUDED.left_vo, has_ddd = "
	"  EXCLUDED.has_ddd, vo_school = EXCLUDED.vo_school, vo_soort = EXCLUDED.vo_soort, crebo = "
	"  EXCLUDED.crebo, woongemeente = EXCLUDED.woongemeente, mbo_instelling = "
	"  EXCLUDED.mbo_instelling, first_aangemeld_at = EXCLUDED.first_aangemeld_at, had_zomerlek = "
	"  EXCLUDED.had_zomerlek, had_niet_gestart = EXCLUDED.had_niet_gestart, updated_at = "
	"  EXCLUDED.updated_at, version = EXCLUDED.version, competing = EXCLUDED.competing "
	"WHERE pupil_state.version = EXCLUDED.version - 1 "
	"RETURNING 1) "
	"SELECT overstap_expect($19::int, (SELECT count(*) FROM up)::int)";

/* Personal data per source (sql/004): each school's own latest
 * registration, each institution's own latest report, one row per (pupil,
 * cohort, source) in a statement (the group picked it with
 * overstap_personal_wins()), kept when it is later — on an equal moment, the
 * larger name and birth date, bytewise: the same rule, so arrival order does
 * not matter. Whose data a pupil shows is overstap_personal()'s to say. */
PARAMS(personal_params, 7, pupil_id, cohort, source, is_reg, name, birth_date, at);
static const char SQL_PERSONAL[] =
	"INSERT INTO pupil_personal AS pp (pupil_id, cohort, source, is_registration, name, "
	"  birth_date, at) "
	"SELECT u.pupil_id, u.cohort, u.source, u.is_reg, NULLIF(u.name, ''), "
	"  NULLIF(u.birth_date, '')::date, u.at "
	"FROM (SELECT unnest($1::bigint[]) AS pupil_id, unnest($2::int[]) AS cohort, "
	"  unnest($3::text[]) AS source, unnest($4::bool[]) AS is_reg, unnest($5::text[]) AS name, "
	"  unnest($6::text[]) AS birth_date, unnest($7::bigint[]) AS at) AS u "
	"ON CONFLICT (pupil_id, cohort, source) DO UPDATE SET name = EXCLUDED.name, birth_date = "
	"  EXCLUDED.birth_date, at = EXCLUDED.at, is_registration = EXCLUDED.is_registration "
	"WHERE EXCLUDED.at > pp.at OR (EXCLUDED.at = pp.at AND (coalesce(EXCLUDED.name, '') COLLATE "
	"  \"C\", coalesce(EXCLUDED.birth_date::text, '') COLLATE \"C\") > (coalesce(pp.name, '') "
	"  COLLATE \"C\", coalesce(pp.birth_date::text, '') COLLATE \"C\"))";

/* The states and personal data of the pupils a speculative group creates:
 * none can exist (their ids are new), so plain inserts, without the
 * conflict checks of the upserts above. Same parameters. */
static const char SQL_INSERT_STATES[] =
	"INSERT INTO pupil_state " STATE_COLUMNS
	STATE_ROWS;
static const char SQL_INSERT_PERSONAL[] =
	"INSERT INTO pupil_personal (pupil_id, cohort, source, is_registration, name, birth_date, at) "
	"SELECT u.pupil_id, u.cohort, u.source, u.is_reg, NULLIF(u.name, ''), "
	"  NULLIF(u.birth_date, '')::date, u.at "
	"FROM (SELECT unnest($1::bigint[]) AS pupil_id, unnest($2::int[]) AS cohort, "
	"  unnest($3::text[]) AS source, unnest($4::bool[]) AS is_reg, unnest($5::text[]) AS name, "
	"  unnest($6::text[]) AS birth_date, unnest($7::bigint[]) AS at) AS u";

/* OPGELOST, $4 now, $5 reason: resolve every open alert of these pupils and
 * cohorts and tell each recipient, naming the alert it resolves. */
PARAMS(resolve_params, 3, pupil_id, cohort, status);
static const char SQL_RESOLVE[] =
	"WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::smallint[]) "
	"           AS u(pupil_id, cohort, status)), "
	"r AS (UPDATE alert a SET resolved_at = $4::bigint FROM u "
	"      WHERE a.pupil_id = u.pupil_id AND a.cohort = u.cohort AND a.resolved_at IS NULL "
	"        AND a.kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@, @ALERT_ESCALATIE@) "
	"      RETURNING a.id, a.recipient, a.pupil_id, a.cohort, a.region, a.vo_school, "
	"        a.woongemeente, a.mbo_instelling, a.crebo, u.status) "
	"INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, woongemeente, status, "
	"  mbo_instelling, crebo, reason, raised_at, resolves_alert_id) "
	"SELECT recipient, @ALERT_OPGELOST@, pupil_id, cohort, region, vo_school, woongemeente, status, mbo_instelling, "
	"  crebo, $5::text, $4::bigint, id FROM r "
	"WHERE (SELECT overstap_alert_order(count(*)) FROM r) "
	"RETURNING id, recipient, kind";

/* Raise alerts, $11 now, routed by overstap_alert_recipients() (sql/003,
 * the one routing the sweeps use too); at most one open per (pupil, cohort,
 * kind, recipient) by the partial unique index. Like every statement that
 * inserts alerts it takes overstap_alert_order() first
 * (sql/002_alert_order.sql): ids in commit order, so a queue is delivered in
 * alert_id order. */
PARAMS(raise_params, 10, pupil_id, cohort, kind, rcpt, status, woongemeente, vo_school, mbo_instelling, crebo,
       reason);
static const char SQL_RAISE[] =
	"INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, woongemeente, "
	"  status, mbo_instelling, crebo, reason, raised_at) "
	"SELECT r.recipient, u.kind, u.pupil_id, u.cohort, r.alert_region, u.vo_school, "
	"  u.woongemeente, u.status, u.mbo_instelling, u.crebo, u.reason, $11::bigint "
	"FROM (SELECT unnest($1::bigint[]) AS pupil_id, unnest($2::int[]) AS cohort, "
	"  unnest($3::smallint[]) AS kind, unnest($4::int[]) AS rcpt, unnest($5::smallint[]) AS "
	"  status, unnest($6::text[]) AS woongemeente, unnest($7::text[]) AS vo_school, "
	"  unnest($8::text[]) AS mbo_instelling, unnest($9::text[]) AS crebo, unnest($10::text[]) AS "
	"  reason) AS u "
	"CROSS JOIN LATERAL overstap_alert_recipients(u.rcpt, u.woongemeente, u.vo_school) AS r "
	"WHERE (SELECT overstap_alert_order(1)) "
	"ON CONFLICT (pupil_id, cohort, kind, recipient) "
	"WHERE resolved_at IS NULL AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, "
	"  @ALERT_GEEN_AANMELDING@) DO NOTHING "
	"RETURNING id, recipient, kind";

/* What the vo schools delivered (DESIGN §5.1 SCHOOL_STIL, §6.2 freshness):
 * per (school, cohort) the events accepted in this group, $4 the day
 * (received_at / 86400), $5 now, $6 the writer (instance/shard). Each writer
 * adds to its own rows only, so two shards never wait for each other's
 * locks; readers add the writers up (freshness.c). Sent before the
 * statements that raise or resolve alerts: row locks before the alert order
 * lock. */
PARAMS(delivery_params, 3, school, cohort, events);
static const char SQL_DELIVERY[] =
	"INSERT INTO school_day AS d (school, cohort, day, writer, events, last_at) "
	"SELECT u.school, u.cohort, $4::int, $6::text, u.events, $5::bigint "
	"FROM (SELECT unnest($1::text[]) AS school, unnest($2::int[]) AS cohort, unnest($3::int[]) "
	"  AS events) AS u "
	"ON CONFLICT (school, cohort, day, writer) DO UPDATE SET events = d.events + "
	"  EXCLUDED.events, last_at = GREATEST(d.last_at, EXCLUDED.last_at)";

void grouptxn_register(struct store *st)
{
	store_register(st, "ingest_pupils", SQL_PUPILS);
	store_register(st, "ingest_new_pupils", SQL_NEW_PUPILS);
	store_register(st, "ingest_new_events", SQL_NEW_EVENTS);
	store_register(st, "ingest_reserve_ids", SQL_RESERVE_IDS);
	store_register(st, "ingest_insert_states", SQL_INSERT_STATES);
	store_register(st, "ingest_insert_personal", SQL_INSERT_PERSONAL);
	store_register(st, "ingest_events", SQL_EVENTS);
	store_register(st, "ingest_delivery", SQL_DELIVERY);
	store_register(st, "ingest_states", SQL_STATES);
	store_register(st, "ingest_upsert_states", SQL_UPSERT_STATES);
	store_register(st, "ingest_personal", SQL_PERSONAL);
	store_register(st, "ingest_resolve", SQL_RESOLVE);
	store_register(st, "ingest_raise", SQL_RAISE);
}

/* ---- the group in flight ----------------------------------------------------- */

/* The events of one pupil in one cohort, and its stored state. */
struct pupil_group {
	uint32_t start, count; /* into order[] */
	int64_t pupil_id;      /* 0 until known */
	bool exists;           /* a stored state was found */
	bool had_zomerlek, had_niet_gestart;
	int64_t version;               /* of the stored state; 0 when there is none */
	uint32_t facts_off, facts_len; /* the stored facts in facts[] */
};

/* A state the group wrote: into the state cache after COMMIT. */
struct written {
	int64_t pupil_id;
	uint32_t cohort;
	int64_t version;
	bool had_zomerlek, had_niet_gestart;
	uint32_t off, len; /* in wbytes[] */
};

/* A pupil id the group learned (its own insert, or a row it read): into the
 * PGN cache only after COMMIT, for a rolled-back insert leaves no row. */
struct learned {
	uint32_t key;
	int64_t id;
};

struct touched {
	uint32_t cohort;
	char school[7];
};

/* Events a vo school delivered for a cohort in this group. */
struct delivered {
	uint32_t cohort;
	char school[7];
	uint32_t events;
};

struct grouptxn {
	struct store_job job; /* first: the store hands it back */
	const struct rules_calendar *cal;
	struct pupilcache *pupils;
	struct statecache *states;
	struct idpool *ids;
	grouptxn_done_fn done;
	void *done_arg;
	int64_t now; /* the daemon's time when the step was sent */
	/* the items and their grouping */
	struct item *items;
	size_t n_items, cap_items;
	uint32_t *order; /* first occurrences, sorted by (pgn, cohort) */
	size_t n_order, cap_order;
	struct pupil_group *groups;
	size_t n_groups, cap_groups;
	char *keys; /* org\0event_id\0 per item */
	size_t keys_len, keys_cap;
	uint32_t *key_off;
	size_t cap_key_off;
	struct keymap event_map; /* org\0event_id → item */
	/* what the database said, per attempt */
	uint8_t *facts;
	size_t facts_len, facts_cap;
	struct learned *learned;
	size_t n_learned, cap_learned;
	/* what step 1 wrote, per attempt */
	struct written *written;
	size_t n_written, cap_written;
	uint8_t *wbytes;
	size_t wbytes_len, wbytes_cap;
	struct touched *touched;
	size_t n_touched, cap_touched;
	struct delivered *delivered;
	size_t n_delivered, cap_delivered;
	char writer[64]; /* its rows of school_day: instance/shard */
	char (*wake)[80];
	size_t n_wake, cap_wake;
	uint64_t raised[ALERT_KIND_MAX + 1];
	/* statement parameters and the indexes of their results in the step */
	struct pupil_params p_pupils;
	struct event_params p_events;
	struct state_read_params p_read;
	struct state_write_params p_write, p_write_new; /* upserts; plain inserts for new pupils */
	struct personal_params p_personal, p_personal_new;
	struct resolve_params p_resolve;
	struct raise_params p_raise;
	struct delivery_params p_delivery;
	struct new_pupil_params p_new;
	int q_reserve, q_pupils, q_events, q_states, q_resolve, q_raise;
	/* the attempt in flight: one round trip on what the caches know (the
	 * pupils they do not know are new, the events are new), or two steps */
	bool speculative;
	bool may_speculate;    /* no speculative attempt failed since the last group that would have passed */
	bool misses_were_new;  /* a two-step attempt: every pupil the caches did not know was new */
	bool reserving;        /* this attempt fetches a block of ids */
	size_t n_unknown;      /* distinct PGNs the PGN cache does not know */
	size_t n_uncached;     /* groups of known pupils whose state is not cached */
	bool oom; /* out of memory building a step: the group fails, clients resend */
};

static void cols_init(struct pgbin *col, int n)
{
	for (int i = 0; i < n; i++)
		pgbin_init(&col[i]);
}

static void cols_reset(struct pgbin *col, int n)
{
	for (int i = 0; i < n; i++)
		pgbin_reset(&col[i]);
}

static void cols_free(struct pgbin *col, int n)
{
	for (int i = 0; i < n; i++)
		pgbin_free(&col[i]);
}

#define EACH_PARAMS(t, fn)                                                                           \
	do {                                                                                         \
		fn((t)->p_pupils.col, N_COLS((t)->p_pupils));                                        \
		fn((t)->p_events.col, N_COLS((t)->p_events));                                        \
		fn((t)->p_read.col, N_COLS((t)->p_read));                                            \
		fn((t)->p_write.col, N_COLS((t)->p_write));                                          \
		fn((t)->p_write_new.col, N_COLS((t)->p_write_new));                                  \
		fn((t)->p_personal.col, N_COLS((t)->p_personal));                                    \
		fn((t)->p_personal_new.col, N_COLS((t)->p_personal_new));                            \
		fn((t)->p_resolve.col, N_COLS((t)->p_resolve));                                      \
		fn((t)->p_raise.col, N_COLS((t)->p_raise));                                          \
		fn((t)->p_delivery.col, N_COLS((t)->p_delivery));                                    \
		fn((t)->p_new.col, N_COLS((t)->p_new));                                              \
	} while (0)

/* Sends a prepared statement: its array columns in $n order (binary, every
 * one with the same number of values), then scalars (text). */
static bool send_cols(struct store_job *job, const char *stmt, struct pgbin *col, int n_cols,
		      const char *const *scalars, int n_scalars, bool binary_result)
{
	const char *params[24];
	int lengths[24], formats[24];
	CHECK(n_cols + n_scalars <= (int)(sizeof params / sizeof params[0]));
	for (int i = 0; i < n_cols; i++) {
		CHECK(col[i].count == col[0].count); /* one row per index: our own bookkeeping */
		params[i] = pgbin_value(&col[i], &lengths[i]);
		formats[i] = 1;
	}
	for (int i = 0; i < n_scalars; i++) {
		params[n_cols + i] = scalars[i];
		lengths[n_cols + i] = 0;
		formats[n_cols + i] = 0;
	}
	return store_send_formats(job, stmt, n_cols + n_scalars, params, lengths, formats, binary_result);
}

static struct grouptxn *txn_of(struct store_job *job)
{
	return (struct grouptxn *)job; /* job is the first member */
}

static const struct item *group_item(const struct grouptxn *t, const struct pupil_group *g, uint32_t k)
{
	return &t->items[t->order[g->start + k]];
}

/* ---- grouping ---------------------------------------------------------------- */

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct item *items = arg;
	const struct item *x = &items[*(const uint32_t *)a], *y = &items[*(const uint32_t *)b];
	int c = strcmp(x->ev.pgn, y->ev.pgn);
	if (c)
		return c;
	return x->ev.cohort < y->ev.cohort ? -1 : x->ev.cohort > y->ev.cohort;
}

/* The key org\0event_id of every item, built once (survives retries). */
static bool build_keys(struct grouptxn *t)
{
	t->keys_len = 0;
	if (!GROW(t->key_off, t->cap_key_off, t->n_items, 1024))
		return false;
	for (size_t i = 0; i < t->n_items; i++) {
		const struct item *it = &t->items[i];
		size_t ol = strlen(it->org), el = strlen(it->ev.event_id);
		if (!GROW(t->keys, t->keys_cap, t->keys_len + ol + el + 2, 65536))
			return false;
		t->key_off[i] = (uint32_t)t->keys_len;
		memcpy(t->keys + t->keys_len, it->org, ol + 1);
		memcpy(t->keys + t->keys_len + ol + 1, it->ev.event_id, el + 1);
		t->keys_len += ol + el + 2;
	}
	return true;
}

/* Dedups (org, event_id) within the group and groups first occurrences by
 * (pgn, cohort). */
static bool group_items(struct grouptxn *t)
{
	keymap_clear(&t->event_map);
	if (!build_keys(t) || !GROW(t->order, t->cap_order, t->n_items, 1024))
		return false;
	t->n_order = 0;
	for (size_t i = 0; i < t->n_items; i++) {
		struct item *it = &t->items[i];
		const char *key = t->keys + t->key_off[i];
		size_t ol = strlen(key);
		size_t klen = ol + 1 + strlen(key + ol + 1);
		bool existed;
		it->first = keymap_put(&t->event_map, key, klen, (uint32_t)i, &existed);
		if (!existed)
			t->order[t->n_order++] = (uint32_t)i;
	}
	qsort_r(t->order, t->n_order, sizeof *t->order, cmp_order, t->items);
	t->n_groups = 0;
	for (size_t k = 0; k < t->n_order; k++) {
		const struct item *it = &t->items[t->order[k]];
		if (k > 0) {
			const struct item *prev = &t->items[t->order[k - 1]];
			if (strcmp(prev->ev.pgn, it->ev.pgn) == 0 && prev->ev.cohort == it->ev.cohort) {
				t->groups[t->n_groups - 1].count++;
				continue;
			}
		}
		if (!GROW(t->groups, t->cap_groups, t->n_groups + 1, 1024))
			return false;
		t->groups[t->n_groups++] = (struct pupil_group){ .start = (uint32_t)k, .count = 1 };
	}
	return true;
}

/* Binary search of a pupil group by (pgn, cohort). */
static struct pupil_group *find_group(struct grouptxn *t, const char *pgn, uint32_t cohort)
{
	size_t lo = 0, hi = t->n_groups;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct item *it = group_item(t, &t->groups[mid], 0);
		int c = strcmp(it->ev.pgn, pgn);
		if (c == 0)
			c = it->ev.cohort < cohort ? -1 : it->ev.cohort > cohort;
		if (c == 0)
			return &t->groups[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- step 0: pupils, events, states ------------------------------------------ */

/* Appends stored facts; returns their offset (t->oom when out of memory). */
static uint32_t facts_append(struct grouptxn *t, const void *bytes, size_t len)
{
	if (!GROW(t->facts, t->facts_cap, t->facts_len + len, 65536)) {
		t->oom = true;
		return 0;
	}
	memcpy(t->facts + t->facts_len, bytes, len);
	uint32_t off = (uint32_t)t->facts_len;
	t->facts_len += len;
	return off;
}

/* Per pupil group: its id from the PGN cache and its state from the state
 * cache (no SELECT: the write checks its version); counts what they do not
 * know: PGNs (n_unknown) and states of known pupils (n_uncached). */
static void lookup_groups(struct grouptxn *t)
{
	const char *prev_pgn = "";
	t->n_unknown = t->n_uncached = 0;
	for (size_t gi = 0; gi < t->n_groups; gi++) {
		struct pupil_group *g = &t->groups[gi];
		const struct item *it = group_item(t, g, 0);
		int64_t id = pupilcache_get(t->pupils, pupilcache_key(it->ev.pgn));
		g->pupil_id = id;
		const struct statecache_entry *known = id ? statecache_get(t->states, id, it->ev.cohort) : NULL;
		if (known) {
			g->exists = true;
			g->version = known->version;
			g->had_zomerlek = known->had_zomerlek;
			g->had_niet_gestart = known->had_niet_gestart;
			g->facts_len = known->facts_len;
			g->facts_off = facts_append(t, known->facts, known->facts_len);
		} else if (id) {
			t->n_uncached++;
		}
		if (!id && strcmp(prev_pgn, it->ev.pgn) != 0)
			t->n_unknown++;
		prev_pgn = it->ev.pgn;
	}
}

/* The two-step attempt: a row to read per group the caches do not know, a
 * PGN to look up or insert per unknown pupil. */
static void build_state_reads(struct grouptxn *t)
{
	const char *prev_pgn = "";
	for (size_t gi = 0; gi < t->n_groups; gi++) {
		struct pupil_group *g = &t->groups[gi];
		const struct item *it = group_item(t, g, 0);
		if (!g->exists) {
			pgbin_add_text(&t->p_read.pgn, it->ev.pgn);
			pgbin_add_int4(&t->p_read.cohort, (int32_t)it->ev.cohort);
			if (g->pupil_id)
				pgbin_add_int8(&t->p_read.pupil_id, g->pupil_id);
			else
				pgbin_add_null(&t->p_read.pupil_id, PGBIN_INT8);
		}
		if (!g->pupil_id && strcmp(prev_pgn, it->ev.pgn) != 0)
			pgbin_add_text(&t->p_pupils.pgn, it->ev.pgn);
		prev_pgn = it->ev.pgn;
	}
}

/* Every first occurrence, with its pupil id as its group knows it (groups
 * cover order[] in sequence). */
static void build_events(struct grouptxn *t)
{
	struct event_params *e = &t->p_events;
	for (size_t gi = 0; gi < t->n_groups; gi++) {
		const struct pupil_group *g = &t->groups[gi];
		for (uint32_t k = 0; k < g->count; k++) {
			const struct item *it = group_item(t, g, k);
			const struct overstap_event *ev = &it->ev;
			pgbin_add_text(&e->org, it->org);
			pgbin_add_text(&e->event_id, ev->event_id);
			pgbin_add_text(&e->pgn, ev->pgn);
			pgbin_add_int4(&e->cohort, (int32_t)ev->cohort);
			pgbin_add_int2(&e->kind, (int16_t)ev->kind);
			pgbin_add_int8(&e->occurred_at, ev->occurred_at);
			pgbin_add_text(&e->school, ev->school);
			pgbin_add_text(&e->woongemeente, ev->woongemeente);
			pgbin_add_int2(&e->vo_soort, (int16_t)ev->vo_soort);
			pgbin_add_int2(&e->bestemming, (int16_t)ev->bestemming);
			pgbin_add_text(&e->crebo, ev->crebo);
			pgbin_add_text(&e->mbo_instelling, ev->mbo_instelling);
			pgbin_add_int2(&e->niveau, (int16_t)ev->niveau);
			pgbin_add_int2(&e->leerweg, (int16_t)ev->leerweg);
			pgbin_add_text(&e->reason, ev->reason);
			if (g->pupil_id)
				pgbin_add_int8(&e->pupil_id, g->pupil_id);
			else
				pgbin_add_null(&e->pupil_id, PGBIN_INT8);
		}
	}
}

/* A block of ids for the pool, first in the step (before anything can fail
 * it) when the pool runs low; query index q. */
static bool send_reserve(struct grouptxn *t, struct store_job *job, int *q)
{
	t->q_reserve = -1;
	t->reserving = idpool_wants_block(t->ids);
	if (!t->reserving)
		return true;
	char n[16];
	snprintf(n, sizeof n, "%d", IDPOOL_BLOCK);
	const char *p[1] = { n };
	t->q_reserve = (*q)++;
	return store_send(job, "ingest_reserve_ids", 1, p, true);
}

static bool send_step0(struct grouptxn *t, struct store_job *job)
{
	EACH_PARAMS(t, cols_reset);
	build_state_reads(t);
	build_events(t);
	if (t->oom)
		return false;
	char received[24];
	snprintf(received, sizeof received, "%lld", (long long)t->now);
	const char *events_scalars[1] = { received };
	int q = 1;
	bool ok = store_send_sql(job, "BEGIN") && send_reserve(t, job, &q);
	t->q_pupils = t->q_states = -1;
	t->misses_were_new = true;
	if (t->p_pupils.pgn.count > 0) {
		ok = ok && send_cols(job, "ingest_pupils", t->p_pupils.col, N_COLS(t->p_pupils), NULL, 0, false);
		t->q_pupils = q++;
	}
	ok = ok && send_cols(job, "ingest_events", t->p_events.col, N_COLS(t->p_events), events_scalars, 1, false);
	t->q_events = q++;
	if (t->p_read.pgn.count > 0) {
		ok = ok && send_cols(job, "ingest_states", t->p_read.col, N_COLS(t->p_read), NULL, 0, true);
		t->q_states = q++;
	}
	return ok;
}

static void learned_add(struct grouptxn *t, uint32_t key, int64_t id)
{
	if (!GROW(t->learned, t->cap_learned, t->n_learned + 1, 1024))
		return; /* a cache: doing without is fine */
	t->learned[t->n_learned++] = (struct learned){ key, id };
}

/* pupils: id, pgn — for every cohort group of that pgn (groups sort by pgn) */
static void on_pupils(struct grouptxn *t, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		const char *pgn = PQgetvalue(res, r, 1);
		if (PQgetvalue(res, r, 2)[0] != 't')
			t->misses_were_new = false; /* a pupil the database had */
		uint32_t key = pupilcache_key(pgn);
		if (key)
			learned_add(t, key, id);
		size_t lo = 0, hi = t->n_groups;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(group_item(t, &t->groups[mid], 0)->ev.pgn, pgn) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t at = lo; at < t->n_groups && strcmp(group_item(t, &t->groups[at], 0)->ev.pgn, pgn) == 0;
		     at++)
			t->groups[at].pupil_id = id;
	}
}

/* events inserted: org, event_id */
static void on_events(struct grouptxn *t, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		const char *org = PQgetvalue(res, r, 0), *eid = PQgetvalue(res, r, 1);
		char key[OVERSTAP_ORG_MAX + OVERSTAP_EVENT_ID_MAX + 2];
		size_t ol = strlen(org), el = strlen(eid);
		if (ol > OVERSTAP_ORG_MAX || el > OVERSTAP_EVENT_ID_MAX)
			continue;
		memcpy(key, org, ol + 1);
		memcpy(key + ol + 1, eid, el);
		uint32_t idx;
		if (keymap_get(&t->event_map, key, ol + 1 + el, &idx))
			t->items[idx].outcome = ITEM_INSERTED;
	}
}

/* states: id, pgn, cohort, facts, flags, version (binary) */
static void on_states(struct grouptxn *t, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		char pgn[10];
		if (PQgetlength(res, r, 1) != 9)
			continue;
		memcpy(pgn, PQgetvalue(res, r, 1), 9);
		pgn[9] = '\0';
		struct pupil_group *g = find_group(t, pgn, (uint32_t)store_get_int4(res, r, 2));
		if (!g)
			continue;
		size_t flen = (size_t)PQgetlength(res, r, 3);
		g->facts_off = facts_append(t, PQgetvalue(res, r, 3), flen);
		g->facts_len = (uint32_t)flen;
		g->exists = true;
		g->had_zomerlek = store_get_bool(res, r, 4);
		g->had_niet_gestart = store_get_bool(res, r, 5);
		g->version = store_get_int8(res, r, 6);
	}
}

/* ---- step 1: merge, rules, writes, COMMIT ------------------------------------- */

static void wake_add(struct grouptxn *t, const char *recipient)
{
	for (size_t i = 0; i < t->n_wake; i++)
		if (strcmp(t->wake[i], recipient) == 0)
			return;
	if (!GROW(t->wake, t->cap_wake, t->n_wake + 1, 16)) {
		/* committed anyway: its subscribers hear of it at their next
		 * wake-up or lease expiry */
		log_error("ingest", "out of memory: recipient=%s not woken", recipient);
		return;
	}
	snprintf(t->wake[t->n_wake++], sizeof t->wake[0], "%s", recipient);
}

static void touched_add(struct grouptxn *t, uint32_t cohort, const char *school)
{
	if (!school[0])
		return;
	if (t->n_touched > 0) {
		const struct touched *last = &t->touched[t->n_touched - 1];
		if (last->cohort == cohort && strcmp(last->school, school) == 0)
			return;
	}
	if (!GROW(t->touched, t->cap_touched, t->n_touched + 1, 256)) {
		t->oom = true; /* figures would stay stale: fail the group rather */
		return;
	}
	t->touched[t->n_touched].cohort = cohort;
	snprintf(t->touched[t->n_touched].school, sizeof t->touched[0].school, "%s", school);
	t->n_touched++;
}

static int delivered_cmp(const void *a, const void *b)
{
	const struct delivered *x = a, *y = b;
	int c = strcmp(x->school, y->school);
	return c ? c : (x->cohort > y->cohort) - (x->cohort < y->cohort);
}

/* The (school, cohort) pairs of the vo events inserted in this attempt,
 * sorted (the rows of school_day are locked in one order). */
static void collect_deliveries(struct grouptxn *t)
{
	t->n_delivered = 0;
	for (size_t i = 0; i < t->n_items; i++) {
		const struct item *it = &t->items[i];
		if (it->first != i || it->outcome != ITEM_INSERTED || !overstap_kind_is_vo(it->ev.kind))
			continue;
		size_t k = 0;
		while (k < t->n_delivered &&
		       (t->delivered[k].cohort != it->ev.cohort || strcmp(t->delivered[k].school, it->ev.school) != 0))
			k++;
		if (k == t->n_delivered) {
			if (!GROW(t->delivered, t->cap_delivered, t->n_delivered + 1, 64)) {
				t->oom = true;
				return;
			}
			t->delivered[k].cohort = it->ev.cohort;
			snprintf(t->delivered[k].school, sizeof t->delivered[k].school, "%s", it->ev.school);
			t->delivered[k].events = 0;
			t->n_delivered++;
		}
		t->delivered[k].events++;
	}
	if (t->n_delivered > 1)
		qsort(t->delivered, t->n_delivered, sizeof *t->delivered, delivered_cmp);
	for (size_t k = 0; k < t->n_delivered; k++) {
		pgbin_add_text(&t->p_delivery.school, t->delivered[k].school);
		pgbin_add_int4(&t->p_delivery.cohort, (int32_t)t->delivered[k].cohort);
		pgbin_add_int4(&t->p_delivery.events, (int32_t)t->delivered[k].events);
	}
}

static void written_add(struct grouptxn *t, int64_t pupil_id, uint32_t cohort, int64_t version, bool zl, bool ng,
			const uint8_t *facts, size_t len)
{
	if (!GROW(t->written, t->cap_written, t->n_written + 1, 1024) ||
	    !GROW(t->wbytes, t->wbytes_cap, t->wbytes_len + len, 65536))
		return; /* not kept: read from the database next time */
	memcpy(t->wbytes + t->wbytes_len, facts, len);
	t->written[t->n_written++] =
		(struct written){ pupil_id, cohort, version, zl, ng, (uint32_t)t->wbytes_len, (uint32_t)len };
	t->wbytes_len += len;
}

/* The stored state of a pupil group (empty when none, or when it does not
 * decode: then it is rebuilt from this group, and the log says so). */
static void stored_state(const struct grouptxn *t, const struct pupil_group *g, struct pupil_state *old)
{
	uint32_t cohort = group_item(t, g, 0)->ev.cohort;
	overstap_state_init(old, cohort);
	if (g->exists && !overstap_state_decode(old, t->facts + g->facts_off, g->facts_len)) {
		log_error("ingest", "pupil_id=%lld cohort=%u stored state does not decode; rebuilding from this group",
			  (long long)g->pupil_id, cohort);
		overstap_state_init(old, cohort);
	}
}

#define MAX_PERSONAL_SOURCES (OVERSTAP_MAX_VO_SCHOOLS + OVERSTAP_MAX_INSTELLINGEN)

/* Merges the group's new events into cur; personal[] gets, per source, the
 * event whose personal data wins. Returns whether any event is new. */
static bool merge_new_events(const struct grouptxn *t, const struct pupil_group *g, struct pupil_state *cur,
			     bool *changed, const struct item **personal, int *n_personal)
{
	bool any_new = false;
	*n_personal = 0;
	for (uint32_t k = 0; k < g->count; k++) {
		const struct item *it = group_item(t, g, k);
		if (it->outcome != ITEM_INSERTED)
			continue;
		any_new = true;
		if (overstap_state_apply(cur, &it->ev))
			*changed = true;
		if (!overstap_event_has_personal(&it->ev))
			continue;
		int at = 0;
		while (at < *n_personal && strcmp(personal[at]->ev.school, it->ev.school) != 0)
			at++;
		if (at == *n_personal) {
			if (at == MAX_PERSONAL_SOURCES)
				continue; /* more sources than a state keeps: none of them counts */
			personal[(*n_personal)++] = it;
		} else if (overstap_personal_wins(&it->ev, &personal[at]->ev)) {
			personal[at] = it;
		}
	}
	return any_new;
}

/* Whether a group's pupil is one this (speculative) attempt creates. */
static bool is_fresh(const struct grouptxn *t, const struct pupil_group *g)
{
	return t->speculative && !g->exists;
}

static void add_personal(struct grouptxn *t, const struct pupil_group *g, const struct overstap_event *ev)
{
	struct personal_params *p = is_fresh(t, g) ? &t->p_personal_new : &t->p_personal;
	int64_t pupil_id = g->pupil_id;
	pgbin_add_int8(&p->pupil_id, pupil_id);
	pgbin_add_int4(&p->cohort, (int32_t)ev->cohort);
	pgbin_add_text(&p->source, ev->school);
	pgbin_add_bool(&p->is_reg, ev->kind == EVENT_OVERSTAPPER_GEREGISTREERD);
	pgbin_add_text(&p->name, ev->name);
	pgbin_add_text(&p->birth_date, ev->birth_date);
	pgbin_add_int8(&p->at, ev->occurred_at);
}

/* The alerts rules_evaluate() decided for this pupil; updates the "had"
 * flags the statistics count. */
static void add_alerts(struct grouptxn *t, int64_t pupil_id, const struct pupil_state *cur, enum status st,
		       const struct rules_outcome *out, bool *zomerlek, bool *niet_gestart)
{
	struct raise_params *r = &t->p_raise;
	const char *instelling = overstap_mbo_instelling(cur);
	const char *crebo = overstap_crebo(cur, instelling);
	for (size_t i = 0; i < out->n_alerts; i++) {
		enum alert_kind kind = out->alerts[i].kind;
		*zomerlek |= kind == ALERT_ZOMERLEK;
		*niet_gestart |= kind == ALERT_NIET_GESTART;
		pgbin_add_int8(&r->pupil_id, pupil_id);
		pgbin_add_int4(&r->cohort, (int32_t)cur->cohort);
		pgbin_add_int2(&r->kind, (int16_t)kind);
		pgbin_add_int4(&r->rcpt, (int32_t)out->alerts[i].recipients);
		pgbin_add_int2(&r->status, (int16_t)st);
		pgbin_add_text(&r->woongemeente, overstap_woongemeente(cur));
		pgbin_add_text(&r->vo_school, cur->vo_school);
		pgbin_add_text(&r->mbo_instelling, instelling);
		pgbin_add_text(&r->crebo, crebo);
		pgbin_add_text(&r->reason, rules_alert_reason(kind, st));
	}
	if (out->resolves_open) {
		pgbin_add_int8(&t->p_resolve.pupil_id, pupil_id);
		pgbin_add_int4(&t->p_resolve.cohort, (int32_t)cur->cohort);
		pgbin_add_int2(&t->p_resolve.status, (int16_t)st);
	}
}

/* The state row (facts and derived columns); kept for the state cache. */
static void add_state_write(struct grouptxn *t, const struct pupil_group *g, const struct pupil_state *cur,
			    enum status st, bool zomerlek, bool niet_gestart)
{
	uint8_t enc[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = overstap_state_encode(cur, enc, sizeof enc);
	CHECK(n > 0); /* a state always fits its encoding's maximum */
	const char *instelling = overstap_mbo_instelling(cur);
	struct state_write_params *w = is_fresh(t, g) ? &t->p_write_new : &t->p_write;
	pgbin_add_int8(&w->pupil_id, g->pupil_id);
	pgbin_add_int4(&w->cohort, (int32_t)cur->cohort);
	pgbin_add_bytea(&w->facts, enc, n);
	pgbin_add_int2(&w->status, (int16_t)st);
	pgbin_add_bool(&w->registered, overstap_is_registered(cur));
	pgbin_add_bool(&w->left_vo, overstap_has_left_vo(cur));
	pgbin_add_bool(&w->has_ddd, overstap_has_ddd(cur));
	pgbin_add_text(&w->vo_school, cur->vo_school);
	pgbin_add_int2(&w->vo_soort, (int16_t)cur->vo_soort);
	pgbin_add_text(&w->woongemeente, overstap_woongemeente(cur));
	pgbin_add_text(&w->mbo_instelling, instelling);
	pgbin_add_int8(&w->first_aangemeld_at, cur->first_aangemeld_at);
	pgbin_add_bool(&w->had_zomerlek, zomerlek);
	pgbin_add_bool(&w->had_niet_gestart, niet_gestart);
	pgbin_add_text(&w->crebo, overstap_crebo(cur, instelling));
	pgbin_add_int8(&w->version, g->exists ? g->version : 0);
	char competing[OVERSTAP_MAX_VO_SCHOOLS * 7 + 1];
	overstap_competing_claims(cur, competing, sizeof competing);
	pgbin_add_text(&w->competing, competing);
	written_add(t, g->pupil_id, cur->cohort, (g->exists ? g->version : 0) + 1, zomerlek, niet_gestart, enc, n);
}

/* One pupil group: merge, personal data, rules, state. */
static void merge_group(struct grouptxn *t, const struct pupil_group *g)
{
	CHECK(g->pupil_id != 0); /* step 0 found or made every pupil */
	struct pupil_state old, cur;
	stored_state(t, g, &old);
	cur = old;
	bool changed = !g->exists;
	const struct item *personal[MAX_PERSONAL_SOURCES];
	int n_personal;
	if (!merge_new_events(t, g, &cur, &changed, personal, &n_personal))
		return;
	for (int i = 0; i < n_personal; i++)
		add_personal(t, g, &personal[i]->ev);
	if (!changed)
		return;
	touched_add(t, cur.cohort, cur.vo_school);
	if (strcmp(old.vo_school, cur.vo_school) != 0)
		touched_add(t, old.cohort, old.vo_school);
	struct rules_outcome out;
	rules_evaluate(t->cal, &old, &cur, t->now, &out);
	enum status st = rules_status_at(t->cal, &cur, t->now);
	bool zomerlek = g->had_zomerlek, niet_gestart = g->had_niet_gestart;
	add_alerts(t, g->pupil_id, &cur, st, &out, &zomerlek, &niet_gestart);
	add_state_write(t, g, &cur, st, zomerlek, niet_gestart);
}

/* Merges every pupil group into the write statements' parameters. */
static void merge_all(struct grouptxn *t)
{
	cols_reset(t->p_write.col, N_COLS(t->p_write));
	cols_reset(t->p_write_new.col, N_COLS(t->p_write_new));
	cols_reset(t->p_personal.col, N_COLS(t->p_personal));
	cols_reset(t->p_personal_new.col, N_COLS(t->p_personal_new));
	cols_reset(t->p_resolve.col, N_COLS(t->p_resolve));
	cols_reset(t->p_raise.col, N_COLS(t->p_raise));
	cols_reset(t->p_delivery.col, N_COLS(t->p_delivery));
	t->n_touched = t->n_written = t->wbytes_len = 0;
	for (size_t gi = 0; gi < t->n_groups; gi++)
		merge_group(t, &t->groups[gi]);
	collect_deliveries(t);
}

/* The writes and COMMIT; their results are queries q, q+1, ... of the step. */
static bool send_writes(struct grouptxn *t, struct store_job *job, int q)
{
	char now[24], expected[16];
	snprintf(now, sizeof now, "%lld", (long long)t->now);
	snprintf(expected, sizeof expected, "%d", t->p_write.pupil_id.count);
	bool ok = true;
	t->q_resolve = t->q_raise = -1;
	if (t->p_write.pupil_id.count > 0) {
		const char *scalars[2] = { now, expected };
		ok = ok && send_cols(job, "ingest_upsert_states", t->p_write.col, N_COLS(t->p_write), scalars, 2, false);
		q++;
	}
	if (t->p_write_new.pupil_id.count > 0) {
		const char *scalars[1] = { now };
		ok = ok && send_cols(job, "ingest_insert_states", t->p_write_new.col, N_COLS(t->p_write_new), scalars,
				     1, false);
		q++;
	}
	if (t->p_personal.pupil_id.count > 0) {
		ok = ok && send_cols(job, "ingest_personal", t->p_personal.col, N_COLS(t->p_personal), NULL, 0, false);
		q++;
	}
	if (t->p_personal_new.pupil_id.count > 0) {
		ok = ok && send_cols(job, "ingest_insert_personal", t->p_personal_new.col, N_COLS(t->p_personal_new),
				     NULL, 0, false);
		q++;
	}
	if (t->n_delivered > 0) {
		char day[24];
		snprintf(day, sizeof day, "%lld", (long long)(t->now / 86400));
		const char *scalars[3] = { day, now, t->writer };
		ok = ok && send_cols(job, "ingest_delivery", t->p_delivery.col, N_COLS(t->p_delivery), scalars, 3, false);
		q++;
	}
	if (t->p_resolve.pupil_id.count > 0) {
		const char *scalars[2] = { now, rules_alert_reason(ALERT_OPGELOST, STATUS_UNSPECIFIED) };
		ok = ok && send_cols(job, "ingest_resolve", t->p_resolve.col, N_COLS(t->p_resolve), scalars, 2, false);
		t->q_resolve = q++;
	}
	if (t->p_raise.pupil_id.count > 0) {
		const char *scalars[1] = { now };
		ok = ok && send_cols(job, "ingest_raise", t->p_raise.col, N_COLS(t->p_raise), scalars, 1, false);
		t->q_raise = q++;
	}
	return ok && store_send_sql(job, "COMMIT");
}

static bool send_step1(struct grouptxn *t, struct store_job *job)
{
	merge_all(t);
	return !t->oom && send_writes(t, job, 0);
}

/* ---- the speculative group: one round trip ------------------------------------
 *
 * When every pupil of the group is either one the caches know with its state
 * (the write checks the version) or one the PGN cache has never seen, the
 * group guesses: the unknown pupils are new (ids from the pool, no state to
 * read) and every event is new. It merges before it sends anything and sends
 * it all at once, ending in COMMIT. The pupil and event inserts check the
 * guess (overstap_expect): a pupil or an event the database already had
 * fails the transaction, nothing of it stays, and the group runs again in two
 * steps as if it had never guessed. A guess that held gives exactly what the
 * two steps give: the same stored states (no pupil the database did not
 * have can have a state), every event inserted. */

static bool can_speculate(const struct grouptxn *t, const struct store_job *job)
{
	return job->attempts == 0 && t->may_speculate && t->n_uncached == 0 &&
	       t->n_unknown <= idpool_available(t->ids);
}

/* The pupils the PGN cache does not know get ids from the pool; the cohort
 * groups of one PGN (adjacent: groups sort by PGN) share one. */
static void assign_new_ids(struct grouptxn *t)
{
	const char *last_pgn = "";
	int64_t last_id = 0;
	for (size_t gi = 0; gi < t->n_groups; gi++) {
		struct pupil_group *g = &t->groups[gi];
		if (g->pupil_id)
			continue;
		const char *pgn = group_item(t, g, 0)->ev.pgn;
		if (!last_id || strcmp(last_pgn, pgn) != 0) {
			last_id = idpool_take(t->ids);
			last_pgn = pgn;
			pgbin_add_int8(&t->p_new.pupil_id, last_id);
			pgbin_add_text(&t->p_new.pgn, pgn);
			uint32_t key = pupilcache_key(pgn);
			if (key)
				learned_add(t, key, last_id);
		}
		g->pupil_id = last_id;
	}
}

static bool send_speculative(struct grouptxn *t, struct store_job *job)
{
	EACH_PARAMS(t, cols_reset);
	assign_new_ids(t);
	for (size_t i = 0; i < t->n_items; i++)
		if (t->items[i].first == i)
			t->items[i].outcome = ITEM_INSERTED;
	build_events(t);
	merge_all(t);
	if (t->oom)
		return false;
	char received[24], n_new[16], n_events[16];
	snprintf(received, sizeof received, "%lld", (long long)t->now);
	snprintf(n_new, sizeof n_new, "%d", t->p_new.pupil_id.count);
	snprintf(n_events, sizeof n_events, "%d", t->p_events.org.count);
	int q = 1;
	bool ok = store_send_sql(job, "BEGIN") && send_reserve(t, job, &q);
	if (t->p_new.pupil_id.count > 0) {
		const char *scalars[1] = { n_new };
		ok = ok && send_cols(job, "ingest_new_pupils", t->p_new.col, N_COLS(t->p_new), scalars, 1, false);
		q++;
	}
	const char *scalars[2] = { received, n_events };
	ok = ok && send_cols(job, "ingest_new_events", t->p_events.col, N_COLS(t->p_events), scalars, 2, false);
	q++;
	return ok && send_writes(t, job, q);
}

/* ---- the store job ---------------------------------------------------------- */

static bool txn_send_step(struct store_job *job)
{
	struct grouptxn *t = txn_of(job);
	t->now = clock_now();
	if (job->step != 0)
		return send_step1(t, job);
	lookup_groups(t);
	t->speculative = can_speculate(t, job);
	return t->speculative ? send_speculative(t, job) : send_step0(t, job);
}

/* reserved ids (binary int8) */
static void on_reserve(struct grouptxn *t, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++)
		idpool_add(t->ids, store_get_int8(res, r, 0));
	idpool_fetched(t->ids);
	t->reserving = false;
}

static void txn_on_result(struct store_job *job, int index, const PGresult *res)
{
	struct grouptxn *t = txn_of(job);
	if (job->step == 0 && index == t->q_reserve) {
		on_reserve(t, res);
		return;
	}
	if (job->step == 0 && !t->speculative) {
		if (index == t->q_pupils)
			on_pupils(t, res);
		else if (index == t->q_events)
			on_events(t, res);
		else if (index == t->q_states)
			on_states(t, res);
		return;
	}
	if (index == t->q_resolve || index == t->q_raise) {
		for (int r = 0; r < PQntuples(res); r++) {
			wake_add(t, PQgetvalue(res, r, 1));
			int kind = atoi(PQgetvalue(res, r, 2));
			if (kind > 0 && kind <= ALERT_KIND_MAX)
				t->raised[kind]++;
		}
	}
}

static enum store_step txn_step_done(struct store_job *job)
{
	struct grouptxn *t = txn_of(job);
	if (job->step != 0 || t->speculative)
		return STEP_DONE;
	for (size_t g = 0; g < t->n_groups; g++) {
		if (t->groups[g].pupil_id == 0) {
			/* another instance inserted this pupil after our snapshot */
			log_info("ingest", "pupil created concurrently; running the group again");
			return STEP_RETRY;
		}
	}
	return STEP_MORE;
}

/* The group runs again from step 0: forget what the last attempt learned. */
static void txn_reset(struct store_job *job)
{
	struct grouptxn *t = txn_of(job);
	for (size_t i = 0; i < t->n_items; i++)
		t->items[i].outcome = ITEM_PENDING;
	for (size_t g = 0; g < t->n_groups; g++) {
		struct pupil_group *pg = &t->groups[g];
		pg->pupil_id = 0;
		pg->exists = pg->had_zomerlek = pg->had_niet_gestart = false;
		pg->version = 0;
	}
	t->facts_len = t->n_wake = t->n_written = t->wbytes_len = t->n_learned = t->n_touched = t->n_delivered = 0;
	memset(t->raised, 0, sizeof t->raised);
	t->oom = false;
	if (t->reserving) {
		idpool_fetched(t->ids); /* its block did not come: another group asks */
		t->reserving = false;
	}
	if (t->speculative) {
		/* the guess failed (or the attempt did not end): no more guessing
		 * until a two-step group shows it would have held; ids the attempt
		 * saw are not to be trusted either. The states are kept: most
		 * guesses fail on a known pupil or a resent event, and a stale
		 * state fails the two-step attempt too, which clears them. */
		t->may_speculate = false;
		idpool_clear(t->ids);
		t->speculative = false;
		return;
	}
	/* a retry (a serialization failure: a state changed under us): nothing
	 * kept is to be trusted */
	if (job->attempts > 0)
		statecache_clear(t->states);
}

/* Whether a first occurrence of the group was already stored. */
static bool has_duplicates(const struct grouptxn *t)
{
	for (size_t i = 0; i < t->n_items; i++)
		if (t->items[i].first == i && t->items[i].outcome != ITEM_INSERTED)
			return true;
	return false;
}

static bool txn_speculative(const struct store_job *job)
{
	return ((const struct grouptxn *)job)->speculative;
}

static void txn_finish(struct store_job *job, bool ok, const char *error)
{
	struct grouptxn *t = txn_of(job);
	if (!ok && t->oom)
		log_error("ingest", "out of memory in a group of %zu events: refused, clients send again", t->n_items);
	else if (!ok)
		log_debug("ingest", "group failed: %s", error ? error : "?");
	if (t->reserving) {
		idpool_fetched(t->ids);
		t->reserving = false;
	}
	if (ok && !t->speculative)
		t->may_speculate = t->misses_were_new && !has_duplicates(t);
	t->speculative = false; /* this group's attempts are over */
	if (ok) {
		for (size_t i = 0; i < t->n_learned; i++)
			pupilcache_put(t->pupils, t->learned[i].key, t->learned[i].id);
		for (size_t i = 0; i < t->n_written; i++) {
			const struct written *w = &t->written[i];
			statecache_put(t->states, w->pupil_id, w->cohort, w->version, w->had_zomerlek,
				       w->had_niet_gestart, t->wbytes + w->off, w->len);
		}
		for (int k = 1; k <= ALERT_KIND_MAX; k++)
			metrics.alerts_raised[k] += t->raised[k];
	} else {
		statecache_clear(t->states);
	}
	t->n_written = t->wbytes_len = t->n_learned = 0;
	t->done(t->done_arg, ok);
}

static const struct store_job_ops txn_ops = {
	.name = "ingest",
	.send_step = txn_send_step,
	.on_result = txn_on_result,
	.step_done = txn_step_done,
	.reset = txn_reset,
	.finish = txn_finish,
	.speculative = txn_speculative,
};

/* ---- life cycle and results --------------------------------------------------- */

struct grouptxn *grouptxn_new(const struct rules_calendar *cal, struct pupilcache *pupils,
			      struct statecache *states, struct idpool *ids, const char *writer, grouptxn_done_fn done,
			      void *arg)
{
	struct grouptxn *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->ids = ids;
	t->may_speculate = true;
	snprintf(t->writer, sizeof t->writer, "%s", writer);
	t->cal = cal;
	t->pupils = pupils;
	t->states = states;
	t->done = done;
	t->done_arg = arg;
	keymap_init(&t->event_map);
	EACH_PARAMS(t, cols_init);
	return t;
}

void grouptxn_free(struct grouptxn *t)
{
	if (!t)
		return;
	free(t->items);
	free(t->order);
	free(t->groups);
	free(t->keys);
	free(t->key_off);
	free(t->facts);
	free(t->learned);
	free(t->written);
	free(t->wbytes);
	free(t->touched);
	free(t->delivered);
	free(t->wake);
	keymap_free(&t->event_map);
	EACH_PARAMS(t, cols_free);
	free(t);
}

bool grouptxn_begin(struct grouptxn *t, const struct item *items, size_t n)
{
	if (!GROW(t->items, t->cap_items, n, 1024))
		return false;
	memcpy(t->items, items, n * sizeof *items);
	t->n_items = n;
	if (!group_items(t)) {
		t->n_items = 0;
		return false;
	}
	t->job.ops = &txn_ops;
	t->job.attempts = 0;
	t->job.step = 0;
	txn_reset(&t->job);
	return true;
}

struct store_job *grouptxn_job(struct grouptxn *t)
{
	return &t->job;
}

size_t grouptxn_count(const struct grouptxn *t)
{
	return t->n_items;
}

const struct item *grouptxn_item(const struct grouptxn *t, size_t i)
{
	return &t->items[i];
}

bool grouptxn_item_inserted(const struct grouptxn *t, size_t i)
{
	return t->items[i].first == i && t->items[i].outcome == ITEM_INSERTED;
}

void grouptxn_each_touched(const struct grouptxn *t, void (*fn)(void *arg, uint32_t cohort, const char *school),
			   void *arg)
{
	for (size_t i = 0; i < t->n_touched; i++)
		fn(arg, t->touched[i].cohort, t->touched[i].school);
}

void grouptxn_each_delivered(const struct grouptxn *t,
			     void (*fn)(void *arg, uint32_t cohort, const char *school), void *arg)
{
	for (size_t i = 0; i < t->n_delivered; i++)
		fn(arg, t->delivered[i].cohort, t->delivered[i].school);
}

void grouptxn_each_woken(const struct grouptxn *t, void (*fn)(void *arg, const char *recipient), void *arg)
{
	for (size_t i = 0; i < t->n_wake; i++)
		fn(arg, t->wake[i]);
}

size_t grouptxn_pupils(const struct grouptxn *t)
{
	return t->n_groups;
}
