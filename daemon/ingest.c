/* ingest.c — from StatusBatch to BatchAck: batches, shards, acks.
 *
 * Owns the batches waiting for their acks, the queue of accepted but
 * uncommitted events and, per shard (events split by PGN, so two shards
 * never share a pupil), the scheduling of its one group transaction in
 * flight (grouptxn.c: the SQL, the merge, the rules). A group takes every
 * queued event of every session, up to max_group_events: on an idle shard
 * after commit_delay_ms (0 by default: at once, with whatever the loop read
 * in the same turn), else as soon as the group in flight returns — under
 * load, that group's time is the window. Each organisation's accepted,
 * uncommitted events are counted (orgload.h). Acks go out only after COMMIT returned, and so do the
 * figures' marks and the subscribers' wake-ups. Never a round trip per
 * event, never a blocking call. Callers: routes (submit), main, sweeper.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "errcodes.h"
#include "frame.h"
#include "grouptxn.h"
#include "grow.h"
#include "idpool.h"
#include "freshness.h"
#include "log.h"
#include "ratelimit.h"
#include "metrics.h"
#include "orgload.h"
#include "overstap.h"
#include "pupilcache.h"
#include "queue.h"
#include "request.h"
#include "server.h"
#include "session.h"
#include "statecache.h"
#include "stats.h"
#include "store.h"
#include "utf8.h"

/* States kept in memory for ingest (statecache.h): at most this many. */
#define STATE_CACHE_MAX (512u << 10)
/* PGN → pupil id (pupilcache.h): at most this many. */
#define PUPIL_CACHE_MAX (2u << 20)

/* One StatusBatch until its ack. */
struct batch {
	struct request *req; /* ended by the ack */
	struct orgload_entry *load; /* its organisation's uncommitted events */
	uint32_t n;
	uint32_t pending; /* results not yet known, +1 while updates are being queued */
	char org[OVERSTAP_ORG_MAX + 1];
	Overstap__V1__UpdateResult *results;
	Overstap__V1__UpdateResult **result_ptrs;
	char *id_arena;  /* event ids echoed in the ack, NUL-separated */
	char **messages; /* rejection messages, freed with the batch */
};

struct shard {
	struct ingest *top;
	struct server *srv;
	int lane;
	struct item *queued;
	size_t n_queued, cap_queued;
	struct event *ev_start;
	bool txn_busy;
	int64_t started_us;
	struct grouptxn *txn;
	/* pupil ids reserved for this shard: a block of its own, so the two
	 * shards' new rows fill index pages of their own, not the same last one */
	struct idpool ids;
};

struct ingest {
	struct server *srv;
	struct pupilcache pupils;
	struct statecache states;
	struct shard shards[INGEST_SHARDS];
};

/* ---- batches and acks ----------------------------------------------------- */

static void batch_free(struct batch *b)
{
	if (b->messages)
		for (uint32_t i = 0; i < b->n; i++)
			free(b->messages[i]);
	free(b->messages);
	free(b->results);
	free(b->result_ptrs);
	free(b->id_arena);
	free(b);
}

static void batch_send_ack(struct batch *b)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__BatchAck ack = OVERSTAP__V1__BATCH_ACK__INIT;
	ack.n_results = b->n;
	ack.results = b->result_ptrs;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_BATCH_ACK;
	env.batch_ack = &ack;
	request_answer(b->req, &env);
	batch_free(b);
}

static void batch_item_done(struct batch *b, uint32_t index, Overstap__V1__Result result, const char *code,
			    const char *message)
{
	Overstap__V1__UpdateResult *r = &b->results[index];
	r->result = result;
	r->error_code = (char *)code;
	r->error_message = (char *)message;
	if (--b->pending == 0)
		batch_send_ack(b);
}

/* A batch with room for n results and the ids they echo; NULL when out of memory. */
static struct batch *batch_new(struct request *req, const Overstap__V1__StatusBatch *msg)
{
	size_t n = msg->n_updates, arena = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = strnlen(msg->updates[i]->event_id, OVERSTAP_EVENT_ID_MAX + 1);
		arena += (len <= OVERSTAP_EVENT_ID_MAX ? len : 0) + 1;
	}
	struct batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->n = (uint32_t)n;
	b->results = calloc(n ? n : 1, sizeof *b->results);
	b->result_ptrs = calloc(n ? n : 1, sizeof *b->result_ptrs);
	b->id_arena = malloc(arena ? arena : 1);
	b->messages = calloc(n ? n : 1, sizeof *b->messages);
	if (!b->results || !b->result_ptrs || !b->id_arena || !b->messages) {
		batch_free(b);
		return NULL;
	}
	b->req = req;
	b->pending = b->n + 1; /* +1 until every update is queued */
	snprintf(b->org, sizeof b->org, "%s", req->who.org);
	/* every result echoes its event id when that is a valid string */
	char *id = b->id_arena;
	for (uint32_t i = 0; i < b->n; i++) {
		const char *eid = msg->updates[i]->event_id;
		size_t len = strnlen(eid, OVERSTAP_EVENT_ID_MAX + 1);
		if (len > OVERSTAP_EVENT_ID_MAX || !utf8_valid(eid, len, NULL))
			len = 0;
		memcpy(id, eid, len);
		id[len] = '\0';
		overstap__v1__update_result__init(&b->results[i]);
		b->results[i].event_id = id;
		b->result_ptrs[i] = &b->results[i];
		id += len + 1;
	}
	return b;
}

/* ---- queueing ------------------------------------------------------------- */

static void ingest_start_cb(evutil_socket_t fd, short what, void *arg);

static struct item *queue_item(struct shard *sh)
{
	if (!GROW(sh->queued, sh->cap_queued, sh->n_queued + 1, 1024))
		return NULL;
	return &sh->queued[sh->n_queued++];
}

static void schedule_group(struct shard *sh)
{
	if (sh->txn_busy || sh->n_queued == 0 || event_pending(sh->ev_start, EV_TIMEOUT, NULL))
		return;
	int64_t delay_ms = sh->srv->cfg->commit_delay_ms;
	if ((int64_t)sh->n_queued >= sh->srv->cfg->max_group_events)
		delay_ms = 0;
	struct timeval tv = { 0, (suseconds_t)(delay_ms * 1000) };
	event_add(sh->ev_start, &tv);
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
	return (int)(pupilcache_key(pgn) % INGEST_SHARDS); /* an invalid PGN: 0, and rejected */
}

/* What the sessions' budget counts (max_queued_events): every accepted event
 * not yet committed. Sessions waiting for it read again when it drops. */
static void count_events(struct ingest *top)
{
	struct server *srv = top->srv;
	srv->events_queued = ingest_in_flight(top);
	if (!TAILQ_EMPTY(&srv->budget_waiters))
		session_budget_freed(srv);
}

/* One update: validated, then queued on its shard or answered at once. */
static void submit_update(struct ingest *top, struct batch *b, uint32_t i, const Overstap__V1__StatusUpdate *u,
			  int64_t now)
{
	const struct identity *who = &b->req->who;
	if (b->req->scan && frame_scan_update_has_nul(b->req->scan, i)) {
		metrics.events_rejected++;
		batch_item_done(b, i, OVERSTAP__V1__RESULT__RESULT_REJECTED, ERR_BAD_STRING,
				"a text field holds a NUL byte");
		return;
	}
	struct overstap_update_in in;
	to_update_in(u, &in);
	struct shard *sh = &top->shards[shard_of(u->pgn)];
	struct item *it = queue_item(sh);
	if (!it) {
		metrics.events_rejected++;
		log_error("ingest", "session=%llu out of memory queueing an update", (unsigned long long)b->req->conn_id);
		batch_item_done(b, i, OVERSTAP__V1__RESULT__RESULT_REJECTED, ERR_INTERNAL,
				"out of memory, send again later");
		return;
	}
	struct overstap_error err;
	if (!overstap_validate_update(&in, who, now, &it->ev, &err)) {
		sh->n_queued--;
		metrics.events_rejected++;
		/* the message lives in the result until the ack is sent */
		char *m = strdup(err.message);
		b->messages[i] = m;
		log_debug("ingest", "session=%llu org=%s rejected code=%s", (unsigned long long)b->req->conn_id,
			  who->org, err.code);
		static struct ratelimit_keyed rl = RATELIMIT_KEYED_INIT(20, 10000);
		unsigned long missed;
		if (strcmp(err.code, ERR_PERMISSION_DENIED) == 0 &&
		    ratelimit_allow_key(&rl, overstap_role_name(who->role), who->org, clock_mono_us() / 1000, &missed))
			log_warn("ingest", "session=%llu role=%s org=%s update denied: %s suppressed_before=%lu",
				 (unsigned long long)b->req->conn_id, overstap_role_name(who->role), who->org,
				 err.message, missed);
		batch_item_done(b, i, OVERSTAP__V1__RESULT__RESULT_REJECTED, err.code, m ? m : "invalid update");
		return;
	}
	it->batch = b;
	it->load = b->load;
	b->load->queued++;
	it->org = b->org;
	it->index = i;
	it->outcome = ITEM_PENDING;
}

void ingest_submit(struct ingest *top, struct request *req, const Overstap__V1__StatusBatch *msg)
{
	if (msg->n_updates > INGEST_MAX_BATCH) {
		char text[96];
		snprintf(text, sizeof text, "a StatusBatch holds at most %d updates, this one %zu", INGEST_MAX_BATCH,
			 msg->n_updates);
		request_error(req, ERR_BAD_REQUEST, text);
		return;
	}
	struct orgload_entry *load = orgload_entry(top->srv->org_load, &req->who);
	struct batch *b = load ? batch_new(req, msg) : NULL;
	if (!b) {
		log_error("ingest", "session=%llu out of memory for a batch of %zu", (unsigned long long)req->conn_id,
			  msg->n_updates);
		request_error(req, ERR_INTERNAL, "out of memory, send again later");
		return;
	}
	b->load = load;
	histogram_observe(&metrics.batch_size, (double)b->n);
	int64_t now = clock_now();
	for (uint32_t i = 0; i < b->n; i++)
		submit_update(top, b, i, msg->updates[i], now);
	if (--b->pending == 0) {
		batch_send_ack(b);
		return;
	}
	count_events(top);
	for (int k = 0; k < INGEST_SHARDS; k++)
		schedule_group(&top->shards[k]);
}

/* ---- a group: start and finish ---------------------------------------------- */

static void start_group(struct shard *sh);

static void mark_touched(void *arg, uint32_t cohort, const char *school)
{
	stats_mark(((struct shard *)arg)->srv->stats, cohort, school);
}

static void delivered(void *arg, uint32_t cohort, const char *school)
{
	freshness_delivered(((struct shard *)arg)->srv->freshness, cohort, school);
}

static void wake(void *arg, const char *recipient)
{
	queue_notify(((struct shard *)arg)->srv->queue, recipient);
}

/* After COMMIT (ok) or for good (not ok): figures, subscribers, acks. */
static void group_done(void *arg, bool ok)
{
	struct shard *sh = arg;
	struct grouptxn *t = sh->txn;
	size_t n = grouptxn_count(t);
	double secs = (double)(clock_mono_us() - sh->started_us) / 1e6;
	if (ok) {
		metrics.commits++;
		histogram_observe(&metrics.commit_seconds, secs);
		histogram_observe(&metrics.group_size, (double)n);
		grouptxn_each_touched(t, mark_touched, sh);
		grouptxn_each_delivered(t, delivered, sh);
		grouptxn_each_woken(t, wake, sh); /* alerts first: subscribers hear as soon as can be */
	} else {
		metrics.commit_failures++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct item *it = grouptxn_item(t, i);
		((struct orgload_entry *)it->load)->queued--;
		if (!ok) {
			metrics.events_rejected++;
			batch_item_done(it->batch, it->index, OVERSTAP__V1__RESULT__RESULT_REJECTED, ERR_INTERNAL,
					"the update could not be stored; send it again later");
			continue;
		}
		bool inserted = grouptxn_item_inserted(t, i);
		if (inserted)
			metrics.events_accepted++;
		else
			metrics.events_duplicate++;
		batch_item_done(it->batch, it->index,
				inserted ? OVERSTAP__V1__RESULT__RESULT_ACCEPTED : OVERSTAP__V1__RESULT__RESULT_DUPLICATE,
				"", "");
	}
	log_debug("ingest", "group events=%zu pupils=%zu ok=%d ms=%.1f", n, grouptxn_pupils(t), ok, secs * 1000);
	sh->txn_busy = false;
	if (sh->n_queued > 0)
		start_group(sh);
	count_events(sh->top);
}

/* Moves up to max_group_events queued events into the group and submits it. */
static void start_group(struct shard *sh)
{
	if (sh->txn_busy || sh->n_queued == 0)
		return;
	size_t take = sh->n_queued, max = (size_t)sh->srv->cfg->max_group_events;
	if (take > max)
		take = max;
	if (!grouptxn_begin(sh->txn, sh->queued, take)) {
		/* nothing taken: try again shortly, the events stay queued */
		log_error("ingest", "out of memory starting a group of %zu events; retrying", take);
		struct timeval tv = { 0, 100000 };
		event_add(sh->ev_start, &tv);
		return;
	}
	memmove(sh->queued, sh->queued + take, (sh->n_queued - take) * sizeof *sh->queued);
	sh->n_queued -= take;
	sh->txn_busy = true;
	sh->started_us = clock_mono_us();
	store_submit(sh->srv->store, (enum store_lane)sh->lane, grouptxn_job(sh->txn));
}

static void ingest_start_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_group(arg);
}

/* ---- life cycle ----------------------------------------------------------- */

struct ingest *ingest_new(struct server *srv)
{
	struct ingest *top = calloc(1, sizeof *top);
	if (!top)
		return NULL;
	top->srv = srv;
	statecache_init(&top->states, STATE_CACHE_MAX);
	pupilcache_init(&top->pupils, PUPIL_CACHE_MAX);
	for (int k = 0; k < INGEST_SHARDS; k++) {
		struct shard *sh = &top->shards[k];
		sh->top = top;
		sh->srv = srv;
		sh->lane = LANE_INGEST + k;
		sh->ev_start = evtimer_new(srv->base, ingest_start_cb, sh);
		char writer[64];
		snprintf(writer, sizeof writer, "%.40s/%d", srv->cfg->instance, k);
		sh->txn = grouptxn_new(&srv->cfg->calendar, &top->pupils, &top->states, &sh->ids, writer, group_done,
					sh);
		if (!sh->ev_start || !sh->txn) {
			ingest_free(top);
			return NULL;
		}
	}
	return top;
}

void ingest_register(struct ingest *top)
{
	grouptxn_register(top->srv->store);
}

void ingest_forget_states(struct ingest *top, uint32_t cohort)
{
	statecache_forget_cohort(&top->states, cohort);
}

int ingest_in_flight(const struct ingest *top)
{
	int n = 0;
	for (int k = 0; k < INGEST_SHARDS; k++) {
		const struct shard *sh = &top->shards[k];
		n += (int)sh->n_queued + (sh->txn_busy ? (int)grouptxn_count(sh->txn) : 0);
	}
	return n;
}

void ingest_free(struct ingest *top)
{
	if (!top)
		return;
	for (int k = 0; k < INGEST_SHARDS; k++) {
		struct shard *sh = &top->shards[k];
		if (sh->ev_start)
			event_free(sh->ev_start);
		free(sh->queued);
		grouptxn_free(sh->txn);
		idpool_free(&sh->ids);
	}
	pupilcache_free(&top->pupils);
	statecache_free(&top->states);
	free(top);
}
