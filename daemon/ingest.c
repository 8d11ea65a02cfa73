/* ingest.c — from StatusBatch to committed events, states and alerts.
 *
 * Owns the queue of accepted-but-uncommitted events and, per shard (events
 * split by PGN, so two shards never share a pupil), the one group transaction
 * in flight on its ingest lane. A group takes every queued event of every
 * session (up to max_group_events) and costs two round trips:
 *   step 0: BEGIN; insert unknown pupils; insert events (ON CONFLICT =
 *           duplicate); read the states with their version (only those the
 *           state cache does not hold)
 *   step 1: merge (overstap) and evaluate rules in C; write states if their
 *           version is unchanged (else 40001 and the group runs again),
 *           personal data, resolved and raised alerts; COMMIT
 * Acks go out in finish(), after COMMIT returned; only then do the pupil ids
 * and states the group learned enter the caches (a rolled-back group leaves
 * nothing behind). Never a round trip per
 * event, never a blocking call. Callers: session (submit).
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "keymap.h"
#include "log.h"
#include "metrics.h"
#include "overstap.h"
#include "queue.h"
#include "rules.h"
#include "server.h"
#include "request.h"
#include "statecache.h"
#include "utf8.h"
#include "stats.h"
#include "store.h"

/* ---- SQL ------------------------------------------------------------------ */

static const char SQL_PUPILS[] =
	"WITH input AS (SELECT DISTINCT unnest($1::text[]) AS pgn), "
	"ins AS (INSERT INTO pupil (pgn) SELECT pgn FROM input ORDER BY pgn "
	"        ON CONFLICT (pgn) DO NOTHING RETURNING id, pgn) "
	"SELECT id, pgn FROM ins UNION ALL SELECT p.id, p.pgn FROM pupil p JOIN input USING (pgn)";

/* Pupil ids the daemon knows (its PGN cache) come along in $17 (NULL when
 * unknown): only unknown pupils are looked up by PGN, so a warm group reads no
 * pupil rows at all. The pupils statement before it in the same transaction
 * has created every unknown one. */
static const char SQL_EVENTS[] =
	"INSERT INTO event (org, event_id, pupil_id, cohort, kind, occurred_at, received_at, school, "
	"  woongemeente, vo_soort, bestemming, crebo, mbo_instelling, niveau, leerweg, reason) "
	"SELECT u.org, u.event_id, coalesce(u.pid, (SELECT p.id FROM pupil p WHERE p.pgn = u.pgn)), u.cohort, "
	"  u.kind, u.occurred_at, $7::bigint, u.school, "
	"  u.woongemeente, u.vo_soort, u.bestemming, u.crebo, u.mbo_instelling, u.niveau, u.leerweg, u.reason "
	"FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::smallint[], $6::bigint[], "
	"  $8::text[], $9::text[], $10::smallint[], $11::smallint[], $12::text[], $13::text[], "
	"  $14::smallint[], $15::smallint[], $16::text[], $17::bigint[]) "
	"  AS u(org, event_id, pgn, cohort, kind, occurred_at, school, woongemeente, vo_soort, "
	"       bestemming, crebo, mbo_instelling, niveau, leerweg, reason, pid) "
	"ON CONFLICT (org, event_id) DO NOTHING "
	"RETURNING org, event_id";

static const char SQL_STATES[] =
	"SELECT x.pid, x.pgn, s.cohort, s.facts, s.had_zomerlek, s.had_niet_gestart, s.version "
	"FROM (SELECT coalesce(u.pid, (SELECT p.id FROM pupil p WHERE p.pgn = u.pgn)) AS pid, u.pgn, u.cohort "
	"      FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(pgn, cohort, pid)) x "
	"JOIN pupil_state s ON s.pupil_id = x.pid AND s.cohort = x.cohort";

/* Writes the merged states; each row only if its version is still the one we
 * read (0: we saw no row), else overstap_expect() fails the transaction with a
 * serialization failure and the whole group runs again. */
static const char SQL_UPSERT_STATES[] =
	"WITH up AS ("
	"INSERT INTO pupil_state (pupil_id, cohort, facts, status, registered, left_vo, has_ddd, "
	"  vo_school, vo_soort, woongemeente, mbo_instelling, first_aangemeld_at, had_zomerlek, "
	"  had_niet_gestart, updated_at, crebo, version) "
	"SELECT u.pupil_id, u.cohort, decode(u.facts, 'hex'), u.status, u.registered, u.left_vo, "
	"  u.has_ddd, u.vo_school, u.vo_soort, u.woongemeente, u.mbo_instelling, u.first_aangemeld_at, "
	"  u.had_zomerlek, u.had_niet_gestart, $15::bigint, u.crebo, u.version + 1 "
	"FROM unnest($1::bigint[], $2::int[], $3::text[], $4::smallint[], $5::bool[], $6::bool[], "
	"  $7::bool[], $8::text[], $9::smallint[], $10::text[], $11::text[], $12::bigint[], "
	"  $13::bool[], $14::bool[], $16::text[], $17::bigint[]) "
	"  AS u(pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort, "
	"       woongemeente, mbo_instelling, first_aangemeld_at, had_zomerlek, had_niet_gestart, crebo, "
	"       version) "
	"ON CONFLICT (pupil_id, cohort) DO UPDATE SET facts = EXCLUDED.facts, status = EXCLUDED.status, "
	"  registered = EXCLUDED.registered, left_vo = EXCLUDED.left_vo, has_ddd = EXCLUDED.has_ddd, "
	"  vo_school = EXCLUDED.vo_school, vo_soort = EXCLUDED.vo_soort, crebo = EXCLUDED.crebo, "
	"  woongemeente = EXCLUDED.woongemeente, mbo_instelling = EXCLUDED.mbo_instelling, "
	"  first_aangemeld_at = EXCLUDED.first_aangemeld_at, had_zomerlek = EXCLUDED.had_zomerlek, "
	"  had_niet_gestart = EXCLUDED.had_niet_gestart, updated_at = EXCLUDED.updated_at, "
	"  version = EXCLUDED.version "
	"WHERE pupil_state.version = EXCLUDED.version - 1 "
	"RETURNING 1) "
	"SELECT overstap_expect($18::int, (SELECT count(*) FROM up)::int)";

/* Personal data: a vo registration sets it when newer than what is there; an
 * mbo report only fills it for a pupil no vo school described. */
static const char SQL_PERSONAL[] =
	"UPDATE pupil p SET name = u.name, birth_date = NULLIF(u.birth_date, '')::date, "
	"  personal_at = CASE WHEN u.is_reg THEN u.at ELSE p.personal_at END "
	"FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bool[]) "
	"  AS u(pupil_id, name, birth_date, at, is_reg) "
	"WHERE p.id = u.pupil_id AND ((u.is_reg AND u.at >= p.personal_at) "
	"  OR (NOT u.is_reg AND p.personal_at = 0 AND p.name IS NULL))";

/* OPGELOST: resolve every open alert of these pupils and cohorts and tell
 * each recipient, naming the alert it resolves. */
static const char SQL_RESOLVE[] =
	"WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::smallint[]) "
	"           AS u(pupil_id, cohort, status)), "
	"r AS (UPDATE alert a SET resolved_at = $4::bigint FROM u "
	"      WHERE a.pupil_id = u.pupil_id AND a.cohort = u.cohort AND a.resolved_at IS NULL "
	"        AND a.kind IN (1, 2, 3, 4) "
	"      RETURNING a.id, a.recipient, a.pupil_id, a.cohort, a.region, a.vo_school, "
	"        a.woongemeente, a.mbo_instelling, a.crebo, u.status) "
	"INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, woongemeente, status, "
	"  mbo_instelling, crebo, reason, raised_at, resolves_alert_id) "
	"SELECT recipient, 5, pupil_id, cohort, region, vo_school, woongemeente, status, mbo_instelling, "
	"  crebo, 'alsnog geplaatst of andere bestemming', $4::bigint, id FROM r "
	"WHERE (SELECT overstap_alert_order(count(*)) FROM r) "
	"RETURNING id, recipient, kind";

/* Raise alerts, routed: rmc:<region of woongemeente, else of the vo school's
 * gemeente> and vo:<school>; at most one open per (pupil, cohort, kind,
 * recipient) by the partial unique index. Like every statement that inserts
 * alerts, it takes overstap_alert_order() first (sql/002_alert_order.sql): ids
 * in commit order, so a queue is delivered in alert_id order. */
static const char SQL_RAISE[] =
	"INSERT INTO alert (recipient, kind, pupil_id, cohort, region, vo_school, woongemeente, status, "
	"  mbo_instelling, crebo, reason, raised_at) "
	"SELECT r.recipient, u.kind, u.pupil_id, u.cohort, coalesce(gw.region, gs.region, ''), "
	"  u.vo_school, u.woongemeente, u.status, u.mbo_instelling, u.crebo, u.reason, $11::bigint "
	"FROM unnest($1::bigint[], $2::int[], $3::smallint[], $4::int[], $5::smallint[], $6::text[], "
	"  $7::text[], $8::text[], $9::text[], $10::text[]) "
	"  AS u(pupil_id, cohort, kind, rcpt, status, woongemeente, vo_school, mbo_instelling, crebo, reason) "
	"LEFT JOIN gemeente gw ON gw.code = u.woongemeente "
	"LEFT JOIN school sc ON sc.code = u.vo_school "
	"LEFT JOIN gemeente gs ON gs.code = sc.gemeente "
	"CROSS JOIN LATERAL (VALUES "
	"  (CASE WHEN u.rcpt & 1 <> 0 AND coalesce(gw.region, gs.region) IS NOT NULL "
	"        THEN 'rmc:' || coalesce(gw.region, gs.region) END), "
	"  (CASE WHEN u.rcpt & 2 <> 0 AND u.vo_school <> '' THEN 'vo:' || u.vo_school END)) AS r(recipient) "
	"WHERE r.recipient IS NOT NULL AND (SELECT overstap_alert_order(1)) "
	"ON CONFLICT (pupil_id, cohort, kind, recipient) WHERE resolved_at IS NULL AND kind IN (1, 2, 3) "
	"DO NOTHING "
	"RETURNING id, recipient, kind";

/* ---- data ----------------------------------------------------------------- */

struct batch {
	struct request *req; /* ended by the ack */
	uint32_t n;
	uint32_t pending;
	char org[OVERSTAP_ORG_MAX + 1];
	Overstap__V1__UpdateResult *results;
	Overstap__V1__UpdateResult **result_ptrs;
	char *id_arena; /* event ids echoed in the ack, NUL-separated */
	char **messages; /* rejection messages, freed with the batch */
};

enum item_outcome { ITEM_PENDING = 0, ITEM_INSERTED, ITEM_DUPLICATE };

struct item {
	struct batch *batch;
	uint32_t index;
	uint32_t first; /* index of the first item with the same (org, event_id) */
	uint8_t outcome;
	struct overstap_event ev;
};

struct group {
	uint32_t start, count; /* into txn.order */
	int64_t pupil_id;
	bool exists;
	bool had_zomerlek, had_niet_gestart;
	int64_t version; /* of the stored state; 0 when there is none */
	uint32_t facts_off, facts_len; /* old facts in txn.facts */
};

/* A state written by the group in flight: into the state cache after COMMIT. */
struct written {
	int64_t pupil_id;
	uint32_t cohort;
	int64_t version;
	bool had_zomerlek, had_niet_gestart;
	uint32_t off, len; /* in shard.wbytes */
};

/* A pupil id the group in flight learned (its own insert, or a row it read):
 * into the PGN cache only after COMMIT, for a rolled-back insert leaves no row. */
struct learned {
	uint32_t key;
	int64_t id;
};

/* States kept in memory for ingest (statecache.h): at most this many. */
#define STATE_CACHE_MAX (512u << 10)

/* PGN → pupil id: ids never change, so a known pupil costs no statement. */
#define PUPIL_CACHE_MAX (2u << 20)

struct pupil_cache {
	uint32_t *keys; /* the PGN as a number; 0 = empty (000000000 is no PGN) */
	int64_t *ids;
	size_t cap, count;
};

#define N_ARRAYS 34 /* step 0: 0-1 states, 2-16 events, 17 pupils, 18 state pupil ids,
                       * 19 event pupil ids; step 1: 0-13, 32-33 states,
                       * 14-18 personal data, 19-28 raised, 29-31 resolved */

struct shard {
	struct server *srv;
	struct pupil_cache *cache; /* shared by the shards */
	struct statecache *states; /* shared by the shards */
	struct written *written;
	size_t n_written, cap_written;
	uint8_t *wbytes;
	size_t wbytes_len, wbytes_cap;
	struct learned *learned;
	size_t n_learned, cap_learned;
	int lane;
	struct item *queued;
	size_t n_queued, cap_queued;
	struct event *ev_start;
	bool txn_busy;
	/* the group in flight */
	struct store_job job;
	struct item *items;
	size_t n_items, cap_items;
	uint32_t *order; /* first occurrences sorted by (pgn, cohort) */
	size_t n_order;
	struct group *groups;
	size_t n_groups, cap_groups;
	uint8_t *facts;
	size_t facts_len, facts_cap;
	char *keys; /* org\0event_id\0 per item */
	size_t keys_len, keys_cap;
	uint32_t *key_off;
	struct keymap event_map; /* org\0event_id → item */
	int q_pupils, q_events, q_states; /* step 0 query indexes, -1 if not sent */
	struct pgarray a[N_ARRAYS];
	int q_resolve, q_raise; /* query indexes in step 1, -1 if not sent */
	int64_t started_us;
	int64_t now;
	/* recipients to wake after commit */
	char (*wake)[80];
	size_t n_wake, cap_wake;
	/* (cohort, vo school) of every state written: their figures are marked after commit */
	struct touched {
		uint32_t cohort;
		char school[7];
	} *touched;
	size_t n_touched, cap_touched;
};

struct ingest {
	struct server *srv;
	struct pupil_cache cache;
	struct statecache states;
	struct shard shards[INGEST_SHARDS];
};

/* ---- batches and acks ----------------------------------------------------- */

static void batch_send_ack(struct batch *b)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__BatchAck ack = OVERSTAP__V1__BATCH_ACK__INIT;
	ack.n_results = b->n;
	ack.results = b->result_ptrs;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_BATCH_ACK;
	env.batch_ack = &ack;
	request_answer(b->req, &env);
	for (uint32_t i = 0; i < b->n; i++)
		free(b->messages[i]);
	free(b->messages);
	free(b->results);
	free(b->result_ptrs);
	free(b->id_arena);
	free(b);
}

static void batch_item_done(struct batch *b, uint32_t index, Overstap__V1__Result result,
			    const char *code, const char *message)
{
	Overstap__V1__UpdateResult *r = &b->results[index];
	r->result = result;
	r->error_code = (char *)code;
	r->error_message = (char *)message;
	if (--b->pending == 0)
		batch_send_ack(b);
}

/* ---- queueing ------------------------------------------------------------- */

static void ingest_start_cb(evutil_socket_t fd, short what, void *arg);

static struct item *queue_item(struct shard *ing)
{
	if (ing->n_queued == ing->cap_queued) {
		size_t cap = ing->cap_queued ? ing->cap_queued * 2 : 1024;
		struct item *p = realloc(ing->queued, cap * sizeof *p);
		if (!p)
			return NULL;
		ing->queued = p;
		ing->cap_queued = cap;
	}
	return &ing->queued[ing->n_queued++];
}

static void schedule_group(struct shard *ing)
{
	if (ing->txn_busy || ing->n_queued == 0 || event_pending(ing->ev_start, EV_TIMEOUT, NULL))
		return;
	int64_t delay_ms = ing->srv->cfg->commit_delay_ms;
	if ((int64_t)ing->n_queued >= ing->srv->cfg->max_group_events)
		delay_ms = 0;
	struct timeval tv = { 0, (suseconds_t)(delay_ms * 1000) };
	event_add(ing->ev_start, &tv);
}

static void to_update_in(const Overstap__V1__StatusUpdate *u, struct overstap_update_in *in)
{
	in->event_id = u->event_id;
	in->pgn = u->pgn;
	in->occurred_at = u->occurred_at;
	in->kind = (int)u->kind;
	in->cohort = u->cohort;
	in->school = u->school;
	in->woongemeente = u->woongemeente;
	in->vo_soort = (int)u->vo_soort;
	in->birth_date = u->birth_date;
	in->name = u->name;
	in->bestemming = (int)u->bestemming;
	in->crebo = u->crebo;
	in->mbo_instelling = u->mbo_instelling;
	in->niveau = u->niveau;
	in->leerweg = (int)u->leerweg;
	in->reason = u->reason;
}

/* The shard of a pupil: by PGN, so one pupil's events always meet in the
 * same lane and two lanes never write the same state. */
static int shard_of(const char *pgn)
{
	uint32_t k = 0;
	for (int i = 0; i < 9; i++) {
		if (pgn[i] < '0' || pgn[i] > '9')
			return 0; /* will be rejected by validation */
		k = k * 10 + (uint32_t)(pgn[i] - '0');
	}
	return pgn[9] == '\0' ? (int)(k % INGEST_SHARDS) : 0;
}

void ingest_submit(struct ingest *top, struct request *req, const Overstap__V1__StatusBatch *msg)
{
	if (msg->n_updates > INGEST_MAX_BATCH) {
		char text[96];
		snprintf(text, sizeof text, "a StatusBatch holds at most %d updates, this one %zu",
			 INGEST_MAX_BATCH, msg->n_updates);
		request_error(req, ERR_BAD_REQUEST, text);
		return;
	}
	const struct identity *who = &req->who;
	struct batch *b = calloc(1, sizeof *b);
	size_t arena = 0;
	for (size_t i = 0; i < msg->n_updates; i++) {
		size_t len = strnlen(msg->updates[i]->event_id, OVERSTAP_EVENT_ID_MAX + 1);
		arena += (len <= OVERSTAP_EVENT_ID_MAX ? len : 0) + 1;
	}
	if (b) {
		b->results = calloc(msg->n_updates ? msg->n_updates : 1, sizeof *b->results);
		b->result_ptrs = calloc(msg->n_updates ? msg->n_updates : 1, sizeof *b->result_ptrs);
		b->id_arena = malloc(arena ? arena : 1);
		b->messages = calloc(msg->n_updates ? msg->n_updates : 1, sizeof *b->messages);
	}
	if (!b || !b->results || !b->result_ptrs || !b->id_arena || !b->messages) {
		if (b) {
			free(b->messages);
			free(b->results);
			free(b->result_ptrs);
			free(b->id_arena);
		}
		free(b);
		request_error(req, ERR_INTERNAL, "out of memory, send again later");
		return;
	}
	b->req = req;
	b->n = (uint32_t)msg->n_updates;
	b->pending = b->n + 1; /* +1 until every update is queued */
	snprintf(b->org, sizeof b->org, "%s", who->org);
	histogram_observe(&metrics.batch_size, (double)b->n);
	int64_t now = clock_now();
	char *id = b->id_arena;
	for (uint32_t i = 0; i < b->n; i++) {
		const Overstap__V1__StatusUpdate *u = msg->updates[i];
		Overstap__V1__UpdateResult *r = &b->results[i];
		overstap__v1__update_result__init(r);
		b->result_ptrs[i] = r;
		/* echo the event id when it can be echoed as a valid string */
		size_t len = strnlen(u->event_id, OVERSTAP_EVENT_ID_MAX + 1);
		if (len <= OVERSTAP_EVENT_ID_MAX && utf8_valid(u->event_id, len, NULL)) {
			memcpy(id, u->event_id, len);
		} else {
			len = 0;
		}
		id[len] = '\0';
		r->event_id = id;
		id += len + 1;
		struct overstap_update_in in;
		to_update_in(u, &in);
		struct shard *ing = &top->shards[shard_of(u->pgn)];
		struct item *it = queue_item(ing);
		struct overstap_error err;
		if (!it) {
			metrics.events_rejected++;
			batch_item_done(b, i, OVERSTAP__V1__RESULT__RESULT_REJECTED, ERR_INTERNAL,
					"out of memory, send again later");
			continue;
		}
		if (!overstap_validate_update(&in, who, now, &it->ev, &err)) {
			ing->n_queued--;
			metrics.events_rejected++;
			/* the message lives in the result until the ack is sent */
			char *m = strdup(err.message);
			b->messages[i] = m;
			log_debug("ingest", "session=%llu org=%s rejected code=%s", (unsigned long long)req->conn_id,
				  who->org, err.code);
			if (strcmp(err.code, ERR_PERMISSION_DENIED) == 0)
				log_warn("ingest", "session=%llu role=%s org=%s update denied: %s",
					 (unsigned long long)req->conn_id, overstap_role_name(who->role), who->org,
					 err.message);
			batch_item_done(b, i, OVERSTAP__V1__RESULT__RESULT_REJECTED, err.code,
					m ? m : "invalid update");
			continue;
		}
		it->batch = b;
		it->index = i;
		it->outcome = ITEM_PENDING;
	}
	if (--b->pending == 0) {
		batch_send_ack(b);
		return;
	}
	for (int k = 0; k < INGEST_SHARDS; k++)
		schedule_group(&top->shards[k]);
}

/* ---- the group transaction ------------------------------------------------ */

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct item *items = arg;
	const struct item *x = &items[*(const uint32_t *)a], *y = &items[*(const uint32_t *)b];
	int c = strcmp(x->ev.pgn, y->ev.pgn);
	if (c)
		return c;
	return x->ev.cohort < y->ev.cohort ? -1 : x->ev.cohort > y->ev.cohort;
}

static void txn_reserve_keys(struct shard *ing, size_t extra)
{
	if (ing->keys_len + extra <= ing->keys_cap)
		return;
	size_t cap = ing->keys_cap ? ing->keys_cap : 65536;
	while (cap < ing->keys_len + extra)
		cap *= 2;
	char *p = realloc(ing->keys, cap);
	if (!p)
		abort();
	ing->keys = p;
	ing->keys_cap = cap;
}

/* Dedups (org, event_id) within the group and groups first occurrences by
 * (pgn, cohort). Keys are built once and survive resets. */
static void txn_prepare(struct shard *ing)
{
	keymap_clear(&ing->event_map);
	ing->keys_len = 0;
	free(ing->key_off);
	ing->key_off = malloc(ing->n_items * sizeof *ing->key_off);
	free(ing->order);
	ing->order = malloc(ing->n_items * sizeof *ing->order);
	if (!ing->key_off || !ing->order)
		abort();
	for (size_t i = 0; i < ing->n_items; i++) {
		struct item *it = &ing->items[i];
		size_t ol = strlen(it->batch->org), el = strlen(it->ev.event_id);
		txn_reserve_keys(ing, ol + el + 2);
		ing->key_off[i] = (uint32_t)ing->keys_len;
		memcpy(ing->keys + ing->keys_len, it->batch->org, ol + 1);
		memcpy(ing->keys + ing->keys_len + ol + 1, it->ev.event_id, el + 1);
		ing->keys_len += ol + el + 2;
	}
	/* keys are stable now (no more realloc): map them */
	ing->n_order = 0;
	for (size_t i = 0; i < ing->n_items; i++) {
		struct item *it = &ing->items[i];
		const char *key = ing->keys + ing->key_off[i];
		size_t klen = strlen(key) + 1 + strlen(key + strlen(key) + 1);
		bool existed;
		it->first = keymap_put(&ing->event_map, key, klen, (uint32_t)i, &existed);
		if (!existed)
			ing->order[ing->n_order++] = (uint32_t)i;
	}
	qsort_r(ing->order, ing->n_order, sizeof *ing->order, cmp_order, ing->items);
	ing->n_groups = 0;
	for (size_t k = 0; k < ing->n_order; k++) {
		const struct item *it = &ing->items[ing->order[k]];
		if (k > 0) {
			const struct item *prev = &ing->items[ing->order[k - 1]];
			if (strcmp(prev->ev.pgn, it->ev.pgn) == 0 && prev->ev.cohort == it->ev.cohort) {
				ing->groups[ing->n_groups - 1].count++;
				continue;
			}
		}
		if (ing->n_groups == ing->cap_groups) {
			size_t cap = ing->cap_groups ? ing->cap_groups * 2 : 1024;
			struct group *g = realloc(ing->groups, cap * sizeof *g);
			if (!g)
				abort();
			ing->groups = g;
			ing->cap_groups = cap;
		}
		struct group *g = &ing->groups[ing->n_groups++];
		memset(g, 0, sizeof *g);
		g->start = (uint32_t)k;
		g->count = 1;
	}
}

static void txn_reset(struct store_job *job)
{
	struct shard *ing = (struct shard *)((char *)job - offsetof(struct shard, job));
	for (size_t i = 0; i < ing->n_items; i++)
		ing->items[i].outcome = ITEM_PENDING;
	for (size_t g = 0; g < ing->n_groups; g++) {
		ing->groups[g].pupil_id = 0;
		ing->groups[g].exists = false;
		ing->groups[g].had_zomerlek = ing->groups[g].had_niet_gestart = false;
		ing->groups[g].version = 0;
	}
	ing->facts_len = 0;
	ing->n_wake = 0;
	ing->n_written = ing->wbytes_len = 0;
	ing->n_learned = 0;
	/* a retry (a serialization failure: a state changed under us): nothing
	 * kept is to be trusted */
	if (job->attempts > 0)
		statecache_clear(ing->states);
}

static struct shard *job_ingest(struct store_job *job)
{
	return (struct shard *)((char *)job - offsetof(struct shard, job));
}

static const struct item *group_item(const struct shard *ing, const struct group *g, uint32_t k)
{
	return &ing->items[ing->order[g->start + k]];
}

/* Binary search of a group by (pgn, cohort). */
static struct group *find_group(struct shard *ing, const char *pgn, uint32_t cohort)
{
	size_t lo = 0, hi = ing->n_groups;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct item *it = group_item(ing, &ing->groups[mid], 0);
		int c = strcmp(it->ev.pgn, pgn);
		if (c == 0)
			c = it->ev.cohort < cohort ? -1 : it->ev.cohort > cohort;
		if (c == 0)
			return &ing->groups[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint32_t pgn_key(const char *pgn)
{
	uint32_t k = 0;
	for (int i = 0; i < 9; i++)
		k = k * 10 + (uint32_t)(pgn[i] - '0');
	return k;
}

static int64_t cache_get(const struct pupil_cache *c, uint32_t key)
{
	if (!c->cap)
		return 0;
	for (size_t i = (key * 2654435761u) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (c->keys[i] == key)
			return c->ids[i];
		if (c->keys[i] == 0)
			return 0;
	}
}

static void cache_put(struct pupil_cache *c, uint32_t key, int64_t id)
{
	if (key == 0 || id <= 0)
		return;
	if ((c->count + 1) * 2 > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		if (c->count >= PUPIL_CACHE_MAX)
			cap = c->cap; /* full: start over rather than grow */
		uint32_t *ok = c->keys;
		int64_t *oi = c->ids;
		size_t ocap = c->cap;
		c->keys = calloc(cap, sizeof *c->keys);
		c->ids = calloc(cap, sizeof *c->ids);
		if (!c->keys || !c->ids) {
			free(c->keys);
			free(c->ids);
			c->keys = ok;
			c->ids = oi;
			return; /* a cache: doing without is fine */
		}
		c->cap = cap;
		c->count = 0;
		if (cap != ocap || c->count < PUPIL_CACHE_MAX)
			for (size_t i = 0; i < ocap && cap != ocap; i++)
				if (ok[i])
					cache_put(c, ok[i], oi[i]);
		free(ok);
		free(oi);
	}
	for (size_t i = (key * 2654435761u) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (c->keys[i] == key)
			return;
		if (c->keys[i] == 0) {
			c->keys[i] = key;
			c->ids[i] = id;
			c->count++;
			return;
		}
	}
}

/* Makes room for `need` bytes in a growing byte buffer; false when out of memory. */
static bool bytes_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 65536;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return false;
	*buf = p;
	*cap = n;
	return true;
}

/* Appends old facts to the group's buffer; returns their offset. */
static uint32_t facts_append(struct shard *ing, const void *bytes, size_t len)
{
	if (!bytes_reserve(&ing->facts, &ing->facts_cap, ing->facts_len + len))
		abort(); /* out of memory in the middle of a group */
	memcpy(ing->facts + ing->facts_len, bytes, len);
	uint32_t off = (uint32_t)ing->facts_len;
	ing->facts_len += len;
	return off;
}

static bool send_step0(struct shard *ing, struct store_job *job)
{
	struct pgarray *a = ing->a;
	for (int i = 0; i < N_ARRAYS; i++)
		pgarray_reset(&a[i]);
	/* states: one entry per group; pupils: the PGNs not in the cache */
	const char *prev_pgn = "";
	for (size_t g = 0; g < ing->n_groups; g++) {
		const struct item *it = group_item(ing, &ing->groups[g], 0);
		int64_t id = cache_get(ing->cache, pgn_key(it->ev.pgn));
		ing->groups[g].pupil_id = id;
		const struct statecache_entry *known = id ? statecache_get(ing->states, id, it->ev.cohort) : NULL;
		if (known) {
			/* the state we committed last: no SELECT (the write checks its version) */
			struct group *gr = &ing->groups[g];
			gr->exists = true;
			gr->version = known->version;
			gr->had_zomerlek = known->had_zomerlek;
			gr->had_niet_gestart = known->had_niet_gestart;
			gr->facts_len = known->facts_len;
			gr->facts_off = facts_append(ing, known->facts, known->facts_len);
		} else {
			pgarray_add_text(&a[0], it->ev.pgn);
			pgarray_add_int(&a[1], it->ev.cohort);
			if (id)
				pgarray_add_int(&a[18], id);
			else
				pgarray_add_null(&a[18]);
		}
		if (!id && strcmp(prev_pgn, it->ev.pgn) != 0)
			pgarray_add_text(&a[17], it->ev.pgn);
		prev_pgn = it->ev.pgn;
	}
	const char *pupils[1] = { pgarray_literal(&a[17]) };
	const char *states[3] = { pgarray_literal(&a[0]), pgarray_literal(&a[1]), pgarray_literal(&a[18]) };
	/* events: every first occurrence */
	struct pgarray *e = &a[2];
	for (size_t k = 0; k < ing->n_order; k++) {
		const struct item *it = &ing->items[ing->order[k]];
		const struct overstap_event *ev = &it->ev;
		pgarray_add_text(&e[0], it->batch->org);
		pgarray_add_text(&e[1], ev->event_id);
		pgarray_add_text(&e[2], ev->pgn);
		pgarray_add_int(&e[3], ev->cohort);
		pgarray_add_int(&e[4], ev->kind);
		pgarray_add_int(&e[5], ev->occurred_at);
		pgarray_add_text(&e[6], ev->school);
		pgarray_add_text(&e[7], ev->woongemeente);
		pgarray_add_int(&e[8], ev->vo_soort);
		pgarray_add_int(&e[9], ev->bestemming);
		pgarray_add_text(&e[10], ev->crebo);
		pgarray_add_text(&e[11], ev->mbo_instelling);
		pgarray_add_int(&e[12], ev->niveau);
		pgarray_add_int(&e[13], ev->leerweg);
	}
	/* each event's pupil id as its group found it (groups cover order[] in sequence) */
	for (size_t g = 0; g < ing->n_groups; g++)
		for (uint32_t k = 0; k < ing->groups[g].count; k++) {
			if (ing->groups[g].pupil_id)
				pgarray_add_int(&a[19], ing->groups[g].pupil_id);
			else
				pgarray_add_null(&a[19]);
		}
	for (size_t k = 0; k < ing->n_order; k++)
		pgarray_add_text(&e[14], ing->items[ing->order[k]].ev.reason);
	char received[24];
	snprintf(received, sizeof received, "%lld", (long long)ing->now);
	const char *events[17] = {
		pgarray_literal(&e[0]),  pgarray_literal(&e[1]),  pgarray_literal(&e[2]),
		pgarray_literal(&e[3]),  pgarray_literal(&e[4]),  pgarray_literal(&e[5]),
		received,		 pgarray_literal(&e[6]),  pgarray_literal(&e[7]),
		pgarray_literal(&e[8]),  pgarray_literal(&e[9]),  pgarray_literal(&e[10]),
		pgarray_literal(&e[11]), pgarray_literal(&e[12]), pgarray_literal(&e[13]),
		pgarray_literal(&e[14]), pgarray_literal(&a[19]),
	};
	int q = 1;
	bool ok = store_send_sql(job, "BEGIN");
	ing->q_pupils = -1;
	if (a[17].count > 0) {
		ok = ok && store_send(job, "ingest_pupils", 1, pupils, false);
		ing->q_pupils = q++;
	}
	ok = ok && store_send(job, "ingest_events", 17, events, false);
	ing->q_events = q++;
	ing->q_states = -1;
	if (a[0].count > 0) {
		ok = ok && store_send(job, "ingest_states", 3, states, true);
		ing->q_states = q++;
	}
	return ok;
}

static void learned_add(struct shard *ing, uint32_t key, int64_t id)
{
	if (ing->n_learned == ing->cap_learned) {
		size_t cap = ing->cap_learned ? ing->cap_learned * 2 : 1024;
		struct learned *p = realloc(ing->learned, cap * sizeof *p);
		if (!p)
			return; /* a cache: doing without is fine */
		ing->learned = p;
		ing->cap_learned = cap;
	}
	ing->learned[ing->n_learned++] = (struct learned){ key, id };
}

static void on_result_step0(struct shard *ing, int index, const PGresult *res)
{
	int rows = PQntuples(res);
	if (index == ing->q_pupils) { /* pupils: id, pgn */
		for (int r = 0; r < rows; r++) {
			int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
			const char *pgn = PQgetvalue(res, r, 1);
			if (strlen(pgn) == 9)
				learned_add(ing, pgn_key(pgn), id);
			/* every cohort group of this pgn (groups sort by pgn, then cohort) */
			size_t lo = 0, hi = ing->n_groups;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (strcmp(group_item(ing, &ing->groups[mid], 0)->ev.pgn, pgn) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (size_t at = lo; at < ing->n_groups && strcmp(group_item(ing, &ing->groups[at], 0)->ev.pgn, pgn) == 0; at++)
				ing->groups[at].pupil_id = id;
		}
	} else if (index == ing->q_events) { /* events inserted: org, event_id */
		for (int r = 0; r < rows; r++) {
			const char *org = PQgetvalue(res, r, 0), *eid = PQgetvalue(res, r, 1);
			char key[OVERSTAP_ORG_MAX + OVERSTAP_EVENT_ID_MAX + 2];
			size_t ol = strlen(org), el = strlen(eid);
			if (ol > OVERSTAP_ORG_MAX || el > OVERSTAP_EVENT_ID_MAX)
				continue;
			memcpy(key, org, ol + 1);
			memcpy(key + ol + 1, eid, el);
			uint32_t idx;
			if (keymap_get(&ing->event_map, key, ol + 1 + el, &idx))
				ing->items[idx].outcome = ITEM_INSERTED;
		}
	} else if (index == ing->q_states) { /* states: id, pgn, cohort, facts, flags, version (binary) */
		for (int r = 0; r < rows; r++) {
			char pgn[10];
			int len = PQgetlength(res, r, 1);
			if (len != 9)
				continue;
			memcpy(pgn, PQgetvalue(res, r, 1), 9);
			pgn[9] = '\0';
			struct group *g = find_group(ing, pgn, (uint32_t)store_get_int4(res, r, 2));
			if (!g)
				continue;
			size_t flen = (size_t)PQgetlength(res, r, 3);
			g->facts_off = facts_append(ing, PQgetvalue(res, r, 3), flen);
			g->facts_len = (uint32_t)flen;
			g->exists = true;
			g->had_zomerlek = store_get_bool(res, r, 4);
			g->had_niet_gestart = store_get_bool(res, r, 5);
			g->version = store_get_int8(res, r, 6);
		}
	}
}

static void wake_add(struct shard *ing, const char *recipient)
{
	for (size_t i = 0; i < ing->n_wake; i++)
		if (strcmp(ing->wake[i], recipient) == 0)
			return;
	if (ing->n_wake == ing->cap_wake) {
		size_t cap = ing->cap_wake ? ing->cap_wake * 2 : 16;
		char(*p)[80] = realloc(ing->wake, cap * sizeof *p);
		if (!p)
			return;
		ing->wake = p;
		ing->cap_wake = cap;
	}
	snprintf(ing->wake[ing->n_wake++], 80, "%s", recipient);
}

static void touched_add(struct shard *ing, uint32_t cohort, const char *school)
{
	if (!school[0])
		return;
	if (ing->n_touched > 0) {
		const struct touched *last = &ing->touched[ing->n_touched - 1];
		if (last->cohort == cohort && strcmp(last->school, school) == 0)
			return;
	}
	if (ing->n_touched == ing->cap_touched) {
		size_t cap = ing->cap_touched ? ing->cap_touched * 2 : 256;
		struct touched *p = realloc(ing->touched, cap * sizeof *p);
		if (!p) {
			stats_invalidate(ing->srv->stats, cohort); /* cannot remember it: forget the cohort */
			return;
		}
		ing->touched = p;
		ing->cap_touched = cap;
	}
	ing->touched[ing->n_touched].cohort = cohort;
	snprintf(ing->touched[ing->n_touched].school, sizeof ing->touched[0].school, "%s", school);
	ing->n_touched++;
}

static const char *alert_reason(enum alert_kind kind, enum status st)
{
	switch (kind) {
	case ALERT_ZOMERLEK:
		return st == STATUS_ZONDER_PLEK ? "vo verlaten, geen actieve aanmelding in het mbo meer"
						: "vo verlaten zonder aanmelding in het mbo";
	case ALERT_NIET_GESTART:
		return "aangemeld of geplaatst, niet gestart";
	case ALERT_GEEN_AANMELDING:
		return "geen aanmelding in het mbo op de aanmelddatum";
	default:
		return "";
	}
}

/* The crebo to show with an alert: that of the institution overstap names,
 * else the keuze's. */
static const char *state_crebo(const struct pupil_state *st, const char *instelling)
{
	for (int i = 0; i < st->n_mbo; i++)
		if (strcmp(st->mbo[i].instelling, instelling) == 0 && st->mbo[i].crebo[0])
			return st->mbo[i].crebo;
	return st->keuze_crebo;
}

static void written_add(struct shard *ing, int64_t pupil_id, uint32_t cohort, int64_t version, bool zl, bool ng,
			const uint8_t *facts, size_t len)
{
	if (ing->n_written == ing->cap_written) {
		size_t cap = ing->cap_written ? ing->cap_written * 2 : 1024;
		struct written *p = realloc(ing->written, cap * sizeof *p);
		if (!p)
			return; /* not kept: read from the database next time */
		ing->written = p;
		ing->cap_written = cap;
	}
	if (!bytes_reserve(&ing->wbytes, &ing->wbytes_cap, ing->wbytes_len + len))
		return;
	memcpy(ing->wbytes + ing->wbytes_len, facts, len);
	ing->written[ing->n_written++] = (struct written){ pupil_id, cohort, version, zl, ng,
							   (uint32_t)ing->wbytes_len, (uint32_t)len };
	ing->wbytes_len += len;
}

static bool send_step1(struct shard *ing, struct store_job *job)
{
	struct pgarray *a = ing->a;
	for (int i = 0; i < N_ARRAYS; i++)
		pgarray_reset(&a[i]);
	struct pgarray *p = &a[14], *r = &a[19], *v = &a[29];
	ing->n_touched = 0;
	ing->n_written = ing->wbytes_len = 0;
	const struct rules_calendar *cal = &ing->srv->cfg->calendar;
	int64_t now = ing->now;
	int n_states = 0;
	char hex[OVERSTAP_STATE_ENCODED_MAX * 2 + 1];
	uint8_t enc[OVERSTAP_STATE_ENCODED_MAX];
	for (size_t gi = 0; gi < ing->n_groups; gi++) {
		struct group *g = &ing->groups[gi];
		if (g->pupil_id == 0)
			continue; /* cannot happen: step_done checked */
		const struct item *first = group_item(ing, g, 0);
		struct pupil_state old, cur;
		overstap_state_init(&old, first->ev.cohort);
		if (g->exists && !overstap_state_decode(&old, ing->facts + g->facts_off, g->facts_len)) {
			log_error("ingest", "pupil_id=%lld cohort=%u stored state does not decode; rebuilding from this group",
				  (long long)g->pupil_id, first->ev.cohort);
			overstap_state_init(&old, first->ev.cohort);
		}
		cur = old;
		bool changed = !g->exists;
		bool any_new = false;
		const struct item *personal = NULL;
		for (uint32_t k = 0; k < g->count; k++) {
			const struct item *it = group_item(ing, g, k);
			if (it->outcome != ITEM_INSERTED)
				continue;
			any_new = true;
			if (overstap_state_apply(&cur, &it->ev))
				changed = true;
			bool is_reg = it->ev.kind == EVENT_OVERSTAPPER_GEREGISTREERD;
			if (is_reg || it->ev.name[0]) {
				if (!personal)
					personal = it;
				else {
					bool pr = personal->ev.kind == EVENT_OVERSTAPPER_GEREGISTREERD;
					if ((is_reg && !pr) || (is_reg == pr && it->ev.occurred_at > personal->ev.occurred_at))
						personal = it;
				}
			}
		}
		if (!any_new)
			continue;
		if (personal) {
			bool is_reg = personal->ev.kind == EVENT_OVERSTAPPER_GEREGISTREERD;
			pgarray_add_int(&p[0], g->pupil_id);
			pgarray_add_text(&p[1], personal->ev.name);
			pgarray_add_text(&p[2], personal->ev.birth_date);
			pgarray_add_int(&p[3], personal->ev.occurred_at);
			pgarray_add_bool(&p[4], is_reg);
		}
		if (!changed)
			continue;
		touched_add(ing, cur.cohort, cur.vo_school);
		if (strcmp(old.vo_school, cur.vo_school) != 0)
			touched_add(ing, old.cohort, old.vo_school);
		struct rules_outcome out;
		rules_evaluate(cal, &old, &cur, now, &out);
		enum status st = rules_status_at(cal, &cur, now);
		bool zomerlek = g->had_zomerlek, niet_gestart = g->had_niet_gestart;
		const char *instelling = overstap_mbo_instelling(&cur);
		const char *crebo = state_crebo(&cur, instelling);
		for (size_t i = 0; i < out.n_alerts; i++) {
			enum alert_kind kind = out.alerts[i].kind;
			if (kind == ALERT_ZOMERLEK)
				zomerlek = true;
			if (kind == ALERT_NIET_GESTART)
				niet_gestart = true;
			pgarray_add_int(&r[0], g->pupil_id);
			pgarray_add_int(&r[1], cur.cohort);
			pgarray_add_int(&r[2], kind);
			pgarray_add_int(&r[3], out.alerts[i].recipients);
			pgarray_add_int(&r[4], st);
			pgarray_add_text(&r[5], overstap_woongemeente(&cur));
			pgarray_add_text(&r[6], cur.vo_school);
			pgarray_add_text(&r[7], instelling);
			pgarray_add_text(&r[8], crebo);
			pgarray_add_text(&r[9], alert_reason(kind, st));
		}
		if (out.resolves_open) {
			pgarray_add_int(&v[0], g->pupil_id);
			pgarray_add_int(&v[1], cur.cohort);
			pgarray_add_int(&v[2], st);
		}
		size_t n = overstap_state_encode(&cur, enc, sizeof enc);
		static const char digits[] = "0123456789abcdef";
		for (size_t i = 0; i < n; i++) {
			hex[2 * i] = digits[enc[i] >> 4];
			hex[2 * i + 1] = digits[enc[i] & 15];
		}
		hex[2 * n] = '\0';
		pgarray_add_int(&a[0], g->pupil_id);
		pgarray_add_int(&a[1], cur.cohort);
		pgarray_add_text(&a[2], hex);
		pgarray_add_int(&a[3], st);
		pgarray_add_bool(&a[4], overstap_is_registered(&cur));
		pgarray_add_bool(&a[5], overstap_has_left_vo(&cur));
		pgarray_add_bool(&a[6], overstap_has_ddd(&cur));
		pgarray_add_text(&a[7], cur.vo_school);
		pgarray_add_int(&a[8], cur.vo_soort);
		pgarray_add_text(&a[9], overstap_woongemeente(&cur));
		pgarray_add_text(&a[10], instelling);
		pgarray_add_int(&a[11], cur.first_aangemeld_at);
		pgarray_add_bool(&a[12], zomerlek);
		pgarray_add_bool(&a[13], niet_gestart);
		pgarray_add_text(&a[32], crebo);
		pgarray_add_int(&a[33], g->exists ? g->version : 0);
		n_states++;
		written_add(ing, g->pupil_id, cur.cohort, (g->exists ? g->version : 0) + 1, zomerlek, niet_gestart, enc, n);
	}
	char nowtxt[24];
	snprintf(nowtxt, sizeof nowtxt, "%lld", (long long)now);
	int q = 0;
	bool ok = true;
	ing->q_resolve = ing->q_raise = -1;
	if (n_states > 0) {
		char expected[16];
		snprintf(expected, sizeof expected, "%d", n_states);
		const char *params[18];
		for (int i = 0; i < 14; i++)
			params[i] = pgarray_literal(&a[i]);
		params[14] = nowtxt;
		params[15] = pgarray_literal(&a[32]);
		params[16] = pgarray_literal(&a[33]);
		params[17] = expected;
		ok = ok && store_send(job, "ingest_upsert_states", 18, params, false);
		q++;
	}
	if (p[0].count > 0) {
		const char *params[5];
		for (int i = 0; i < 5; i++)
			params[i] = pgarray_literal(&p[i]);
		ok = ok && store_send(job, "ingest_personal", 5, params, false);
		q++;
	}
	if (v[0].count > 0) {
		const char *params[4] = { pgarray_literal(&v[0]), pgarray_literal(&v[1]), pgarray_literal(&v[2]),
					  nowtxt };
		ok = ok && store_send(job, "ingest_resolve", 4, params, false);
		ing->q_resolve = q++;
	}
	if (r[0].count > 0) {
		const char *params[11];
		for (int i = 0; i < 10; i++)
			params[i] = pgarray_literal(&r[i]);
		params[10] = nowtxt;
		ok = ok && store_send(job, "ingest_raise", 11, params, false);
		ing->q_raise = q++;
	}
	return ok && store_send_sql(job, "COMMIT");
}

static bool txn_send_step(struct store_job *job)
{
	struct shard *ing = job_ingest(job);
	if (job->step == 0) {
		ing->now = clock_now();
		return send_step0(ing, job);
	}
	ing->now = clock_now();
	return send_step1(ing, job);
}

static void txn_on_result(struct store_job *job, int index, const PGresult *res)
{
	struct shard *ing = job_ingest(job);
	if (job->step == 0) {
		on_result_step0(ing, index, res);
		return;
	}
	if (index == ing->q_resolve || index == ing->q_raise) {
		for (int r = 0; r < PQntuples(res); r++) {
			wake_add(ing, PQgetvalue(res, r, 1));
			int kind = atoi(PQgetvalue(res, r, 2));
			if (kind > 0 && kind < 6)
				metrics.alerts_raised[kind]++;
		}
	}
}

static enum store_step txn_step_done(struct store_job *job)
{
	struct shard *ing = job_ingest(job);
	if (job->step == 0) {
		for (size_t g = 0; g < ing->n_groups; g++) {
			if (ing->groups[g].pupil_id == 0) {
				/* another instance inserted this pupil after our snapshot */
				log_info("ingest", "pupil created concurrently; running the group again");
				return STEP_RETRY;
			}
		}
		return STEP_MORE;
	}
	return STEP_DONE;
}

static void ingest_start_group(struct shard *ing);

static void txn_finish(struct store_job *job, bool ok, const char *error)
{
	struct shard *ing = job_ingest(job);
	(void)error;
	double secs = (double)(clock_mono_us() - ing->started_us) / 1e6;
	if (ok) {
		metrics.commits++;
		histogram_observe(&metrics.commit_seconds, secs);
		histogram_observe(&metrics.group_size, (double)ing->n_items);
	} else {
		metrics.commit_failures++;
	}
	if (ok) {
		for (size_t i = 0; i < ing->n_learned; i++)
			cache_put(ing->cache, ing->learned[i].key, ing->learned[i].id);
		for (size_t i = 0; i < ing->n_written; i++) {
			const struct written *w = &ing->written[i];
			statecache_put(ing->states, w->pupil_id, w->cohort, w->version, w->had_zomerlek,
				       w->had_niet_gestart, ing->wbytes + w->off, w->len);
		}
	} else {
		statecache_clear(ing->states);
	}
	ing->n_written = ing->wbytes_len = 0;
	ing->n_learned = 0;
	if (ok)
		for (size_t i = 0; i < ing->n_touched; i++)
			stats_mark(ing->srv->stats, ing->touched[i].cohort, ing->touched[i].school);
	ing->n_touched = 0;
	/* alerts first: subscribers hear of them as soon as possible */
	if (ok)
		for (size_t i = 0; i < ing->n_wake; i++)
			queue_notify(ing->srv->queue, ing->wake[i]);
	for (size_t i = 0; i < ing->n_items; i++) {
		struct item *it = &ing->items[i];
		if (!ok) {
			metrics.events_rejected++;
			batch_item_done(it->batch, it->index, OVERSTAP__V1__RESULT__RESULT_REJECTED, ERR_INTERNAL,
					"the update could not be stored; send it again later");
			continue;
		}
		bool inserted = it->first == i && it->outcome == ITEM_INSERTED;
		if (inserted)
			metrics.events_accepted++;
		else
			metrics.events_duplicate++;
		batch_item_done(it->batch, it->index,
				inserted ? OVERSTAP__V1__RESULT__RESULT_ACCEPTED : OVERSTAP__V1__RESULT__RESULT_DUPLICATE,
				"", "");
	}
	log_debug("ingest", "group events=%zu groups=%zu ok=%d ms=%.1f", ing->n_items, ing->n_groups, ok,
		  secs * 1000);
	ing->n_items = 0;
	ing->txn_busy = false;
	if (ing->n_queued > 0)
		ingest_start_group(ing);
}

static const struct store_job_ops txn_ops = {
	.name = "ingest",
	.send_step = txn_send_step,
	.on_result = txn_on_result,
	.step_done = txn_step_done,
	.reset = txn_reset,
	.finish = txn_finish,
};

/* Moves up to max_group_events queued events into the group and submits it. */
static void ingest_start_group(struct shard *ing)
{
	if (ing->txn_busy || ing->n_queued == 0)
		return;
	size_t take = ing->n_queued;
	size_t max = (size_t)ing->srv->cfg->max_group_events;
	if (take > max)
		take = max;
	if (ing->cap_items < take) {
		struct item *p = realloc(ing->items, take * sizeof *p);
		if (!p)
			abort();
		ing->items = p;
		ing->cap_items = take;
	}
	memcpy(ing->items, ing->queued, take * sizeof *ing->items);
	memmove(ing->queued, ing->queued + take, (ing->n_queued - take) * sizeof *ing->queued);
	ing->n_queued -= take;
	ing->n_items = take;
	ing->txn_busy = true;
	ing->started_us = clock_mono_us();
	txn_prepare(ing);
	ing->job.attempts = 0;
	txn_reset(&ing->job);
	ing->job.ops = &txn_ops;
	store_submit(ing->srv->store, (enum store_lane)ing->lane, &ing->job);
}

static void ingest_start_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ingest_start_group(arg);
}

/* ---- life cycle ----------------------------------------------------------- */

static void shard_init(struct shard *ing, struct server *srv, struct pupil_cache *cache, struct statecache *states,
		       int lane)
{
	ing->srv = srv;
	ing->cache = cache;
	ing->states = states;
	ing->lane = lane;
	ing->ev_start = evtimer_new(srv->base, ingest_start_cb, ing);
	keymap_init(&ing->event_map);
	for (int i = 0; i < N_ARRAYS; i++)
		pgarray_init(&ing->a[i]);
}

static void shard_free(struct shard *ing)
{
	if (ing->ev_start)
		event_free(ing->ev_start);
	free(ing->queued);
	free(ing->items);
	free(ing->order);
	free(ing->groups);
	free(ing->facts);
	free(ing->keys);
	free(ing->key_off);
	free(ing->wake);
	free(ing->touched);
	free(ing->written);
	free(ing->wbytes);
	free(ing->learned);
	keymap_free(&ing->event_map);
	for (int i = 0; i < N_ARRAYS; i++)
		pgarray_free(&ing->a[i]);
}

struct ingest *ingest_new(struct server *srv)
{
	struct ingest *top = calloc(1, sizeof *top);
	if (!top)
		return NULL;
	statecache_init(&top->states, STATE_CACHE_MAX);
	for (int k = 0; k < INGEST_SHARDS; k++)
		shard_init(&top->shards[k], srv, &top->cache, &top->states, LANE_INGEST + k);
	top->srv = srv;
	return top;
}

void ingest_register(struct ingest *top)
{
	struct store *st = top->srv->store;
	store_register(st, "ingest_pupils", SQL_PUPILS);
	store_register(st, "ingest_events", SQL_EVENTS);
	store_register(st, "ingest_states", SQL_STATES);
	store_register(st, "ingest_upsert_states", SQL_UPSERT_STATES);
	store_register(st, "ingest_personal", SQL_PERSONAL);
	store_register(st, "ingest_resolve", SQL_RESOLVE);
	store_register(st, "ingest_raise", SQL_RAISE);
}

void ingest_forget_states(struct ingest *top, uint32_t cohort)
{
	statecache_forget_cohort(&top->states, cohort);
}

int ingest_in_flight(const struct ingest *top)
{
	int n = 0;
	for (int k = 0; k < INGEST_SHARDS; k++)
		n += (int)(top->shards[k].n_queued + top->shards[k].n_items);
	return n;
}

void ingest_free(struct ingest *top)
{
	if (!top)
		return;
	for (int k = 0; k < INGEST_SHARDS; k++)
		shard_free(&top->shards[k]);
	free(top->cache.keys);
	free(top->cache.ids);
	statecache_free(&top->states);
	free(top);
}
