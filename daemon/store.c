/* store.c — the only code that talks to PostgreSQL.
 *
 * Owns the libpq connections (one per lane), the prepared statements, the job
 * queues and reconnection with back-off. Never blocks the event loop: connects
 * with PQconnectStart/PQconnectPoll, then runs non-blocking in pipeline mode,
 * reading on PQsocket() events. The one blocking call, store_migrate(), runs
 * before the loop starts. Callers: ingest (events), queue (alerts, sweeps),
 * stats and pupil queries.
 */
#include "store.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grow.h"
#include "log.h"
#include "sqlcodes.h"

#define MAX_TRANSIENT_ATTEMPTS 20

enum lane_state { LANE_DOWN, LANE_CONNECTING, LANE_PREPARING, LANE_READY };
/* What the step in flight is for. */
enum step_kind { STEP_IDLE, STEP_PREPARE, STEP_JOB, STEP_ROLLBACK };

struct lane {
	struct store *store;
	int index;
	PGconn *pg;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_retry;
	enum lane_state state;
	enum step_kind step;
	int query_index;
	bool step_failed;
	bool failure_transient;
	char failure[512];
	int backoff_ms;
	unsigned host_turn;        /* connect timeouts so far: the host list turned this far */
	TAILQ_HEAD(, store_job) queue;
	int queued;
	char *listen_sql;          /* "LISTEN channel", or NULL */
	store_notify_fn notify_fn;
	void *notify_arg;
};

struct statement {
	char *name;
	char *sql;
};

/* The conninfo's host lists (comma-separated, as libpq reads them), kept to
 * turn them after a connect timeout: lane_connect_start(). */
struct host_lists {
	char *host, *hostaddr, *port;
	int n;                     /* hosts: 0 or 1 when there is nothing to turn */
};

struct store {
	struct event_base *base;
	char *conninfo;
	struct host_lists hosts;
	int reconnect_max_ms;
	struct lane lanes[LANE_COUNT];
	struct statement *stmts;
	int n_stmts;
	store_state_fn on_state;
	void *state_arg;
	bool up;
};

/* How long a connect waits for the server's next word before it gives up
 * (and turns the host list: lane_connect_start()); at start-up, libpq's
 * connect_timeout a host (store_migrate()). */
#define CONNECT_WAIT_S 10

static const char *const lane_names[LANE_COUNT] = { "ingest0", "ingest1", "queue", "read" };

static void lane_connect(struct lane *lane);
static void lane_pump(struct lane *lane);
static void lane_io(evutil_socket_t fd, short what, void *arg);

/* ---- up/down bookkeeping ------------------------------------------------ */

static void store_update_up(struct store *store)
{
	bool up = true;
	for (int i = 0; i < LANE_COUNT; i++)
		if (store->lanes[i].state != LANE_READY)
			up = false;
	if (up != store->up) {
		store->up = up;
		log_info("store", "database=%s", up ? "up" : "down");
		if (store->on_state)
			store->on_state(up, store->state_arg);
	}
}

bool store_is_up(const struct store *store)
{
	return store->up;
}

int store_backlog(const struct store *store, enum store_lane lane)
{
	return store->lanes[lane].queued;
}

/* ---- connection lifecycle ----------------------------------------------- */

static void lane_free_events(struct lane *lane)
{
	if (lane->ev_read) {
		event_free(lane->ev_read);
		lane->ev_read = NULL;
	}
	if (lane->ev_write) {
		event_free(lane->ev_write);
		lane->ev_write = NULL;
	}
}

static void lane_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lane_connect(arg);
}

/* The connection is gone: keep every job, reset the one in flight, and try
 * again after the back-off. */
static void lane_down(struct lane *lane, const char *why)
{
	struct store *store = lane->store;
	if (lane->state == LANE_READY || lane->state == LANE_PREPARING)
		log_warn("store", "lane=%s connection lost: %s", lane_names[lane->index], why);
	else
		log_debug("store", "lane=%s connect failed: %s", lane_names[lane->index], why);
	lane_free_events(lane);
	if (lane->pg) {
		PQfinish(lane->pg);
		lane->pg = NULL;
	}
	if (lane->step == STEP_JOB || lane->step == STEP_ROLLBACK) {
		struct store_job *job = TAILQ_FIRST(&lane->queue);
		if (job) {
			job->step = 0;
			job->ops->reset(job);
		}
	}
	lane->step = STEP_IDLE;
	lane->state = LANE_DOWN;
	store_update_up(store);
	if (lane->backoff_ms == 0)
		lane->backoff_ms = 50;
	else if (lane->backoff_ms < store->reconnect_max_ms)
		lane->backoff_ms = lane->backoff_ms * 2 > store->reconnect_max_ms ? store->reconnect_max_ms
										  : lane->backoff_ms * 2;
	struct timeval tv = { lane->backoff_ms / 1000, (lane->backoff_ms % 1000) * 1000 };
	evtimer_add(lane->ev_retry, &tv);
}

static void lane_flush(struct lane *lane)
{
	int r = PQflush(lane->pg);
	if (r < 0) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	if (r == 1 && lane->ev_write)
		event_add(lane->ev_write, NULL);
}

static void lane_begin_prepare(struct lane *lane)
{
	struct store *store = lane->store;
	lane->state = LANE_PREPARING;
	lane->step = STEP_PREPARE;
	lane->query_index = 0;
	lane->step_failed = false;
	for (int i = 0; i < store->n_stmts; i++) {
		if (!PQsendPrepare(lane->pg, store->stmts[i].name, store->stmts[i].sql, 0, NULL)) {
			lane_down(lane, PQerrorMessage(lane->pg));
			return;
		}
	}
	if (lane->listen_sql && !PQsendQueryParams(lane->pg, lane->listen_sql, 0, NULL, NULL, NULL, NULL, 0)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	if (!PQpipelineSync(lane->pg)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	lane_flush(lane);
}

/* A lane's socket event, at the lanes' priority (store.h); NULL when out of memory. */
static struct event *lane_event_new(struct lane *lane, int fd, short what)
{
	struct event *ev = event_new(lane->store->base, fd, what, lane_io, lane);
	if (ev)
		event_priority_set(ev, STORE_PRIORITY_LANE);
	return ev;
}

static void lane_connected(struct lane *lane)
{
	lane_free_events(lane);
	if (PQsetnonblocking(lane->pg, 1) != 0 || !PQenterPipelineMode(lane->pg)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	int fd = PQsocket(lane->pg);
	lane->ev_read = lane_event_new(lane, fd, EV_READ | EV_PERSIST);
	lane->ev_write = lane_event_new(lane, fd, EV_WRITE);
	if (!lane->ev_read || !lane->ev_write) {
		lane_down(lane, "out of memory for the socket's events");
		return;
	}
	event_add(lane->ev_read, NULL);
	log_debug("store", "lane=%s connected", lane_names[lane->index]);
	lane_begin_prepare(lane);
}

/* Drives PQconnectPoll; the socket may change between calls, so the event is
 * made anew each time we wait. */
static void lane_poll_connect(struct lane *lane)
{
	PostgresPollingStatusType st = PQconnectPoll(lane->pg);
	lane_free_events(lane);
	short what;
	switch (st) {
	case PGRES_POLLING_OK:
		lane_connected(lane);
		return;
	case PGRES_POLLING_FAILED:
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	case PGRES_POLLING_READING:
		what = EV_READ;
		break;
	default:
		what = EV_WRITE;
		break;
	}
	lane->ev_read = lane_event_new(lane, PQsocket(lane->pg), what);
	if (!lane->ev_read) {
		lane_down(lane, "out of memory for the socket's event");
		return;
	}
	struct timeval tv = { CONNECT_WAIT_S, 0 };
	event_add(lane->ev_read, &tv);
}

/* ---- several hosts, one of them silent -------------------------------------
 *
 * With host=A,B libpq tries B when A refuses. A host that is gone from the
 * network (no refusal, only silence) holds PQconnectPoll() until the lane's
 * connect timeout, and the next attempt would begin with A again, for ever.
 * So each connect timeout turns the lane's host list one place: the next
 * attempt begins with B and still tries A last. */

static int list_count(const char *list)
{
	if (!list || !list[0])
		return 0;
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

bool store_turn_list(const char *list, unsigned by, char *out, size_t outlen)
{
	int n = list_count(list);
	size_t len = list ? strlen(list) : 0;
	if (len + 1 > outlen)
		return false;
	if (n <= 1) {
		memcpy(out, list ? list : "", len + 1);
		return true;
	}
	/* the entries from the by-th on, then the ones before it */
	const char *start = list;
	for (unsigned k = by % (unsigned)n; k > 0; k--)
		start = strchr(start, ',') + 1;
	size_t tail = len - (size_t)(start - list);
	memcpy(out, start, tail);
	if (start != list) {
		out[tail] = ',';
		memcpy(out + tail + 1, list, (size_t)(start - list) - 1);
	}
	out[len] = '\0';
	return true;
}

static void hosts_read(struct host_lists *h, const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		char **slot = strcmp(o->keyword, "host") == 0 ? &h->host
			      : strcmp(o->keyword, "hostaddr") == 0 ? &h->hostaddr
			      : strcmp(o->keyword, "port") == 0 ? &h->port : NULL;
		if (slot && o->val && o->val[0])
			*slot = strdup(o->val);
	}
	PQconninfoFree(opts);
	int nh = list_count(h->host), na = list_count(h->hostaddr);
	h->n = nh > na ? nh : na;
}

static void hosts_free(struct host_lists *h)
{
	free(h->host);
	free(h->hostaddr);
	free(h->port);
}

static PGconn *lane_connect_start(struct lane *lane)
{
	const struct store *store = lane->store;
	const struct host_lists *h = &store->hosts;
	unsigned by = h->n > 1 ? lane->host_turn % (unsigned)h->n : 0;
	if (by == 0)
		return PQconnectStart(store->conninfo);
	/* the conninfo, then the turned lists over its own (libpq: later wins) */
	const char *kw[5] = { "dbname" }, *val[5] = { store->conninfo };
	char *turned[3] = { NULL, NULL, NULL };
	const char *names[3] = { "host", "hostaddr", "port" };
	const char *lists[3] = { h->host, h->hostaddr, h->port };
	int k = 1;
	for (int i = 0; i < 3; i++) {
		if (list_count(lists[i]) != h->n)
			continue; /* one port for every host: nothing to turn */
		size_t cap = strlen(lists[i]) + 1;
		turned[i] = malloc(cap);
		if (turned[i] && store_turn_list(lists[i], by, turned[i], cap)) {
			kw[k] = names[i];
			val[k++] = turned[i];
		}
	}
	kw[k] = NULL;
	val[k] = NULL;
	PGconn *pg = PQconnectStartParams(kw, val, 1);
	for (int i = 0; i < 3; i++)
		free(turned[i]);
	return pg;
}

static void lane_connect(struct lane *lane)
{
	lane->pg = lane_connect_start(lane);
	if (!lane->pg) {
		lane_down(lane, "out of memory");
		return;
	}
	if (PQstatus(lane->pg) == CONNECTION_BAD) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	PQsetNoticeProcessor(lane->pg, log_notice_processor, (void *)lane_names[lane->index]);
	lane->state = LANE_CONNECTING;
	lane_poll_connect(lane);
}

/* ---- steps and results -------------------------------------------------- */

static bool sqlstate_is_transient(const char *state)
{
	if (!state)
		return true; /* no SQLSTATE: a client-side or connection error */
	return strncmp(state, "40", 2) == 0 || strncmp(state, "08", 2) == 0 ||
	       strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0;
}

static void lane_record_failure(struct lane *lane, const PGresult *res)
{
	if (lane->step_failed)
		return;
	lane->step_failed = true;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	lane->failure_transient = sqlstate_is_transient(state);
	snprintf(lane->failure, sizeof lane->failure, "%s (query %d, sqlstate %s)",
		 PQresultErrorMessage(res), lane->query_index, state ? state : "-");
	char *nl = strchr(lane->failure, '\n');
	while (nl) {
		*nl = ' ';
		nl = strchr(nl, '\n');
	}
}

static void lane_start_step(struct lane *lane)
{
	struct store_job *job = TAILQ_FIRST(&lane->queue);
	lane->step = STEP_JOB;
	lane->query_index = 0;
	lane->step_failed = false;
	if (!job->ops->send_step(job)) {
		/* A local failure before anything was sent for this step: the
		 * connection may hold earlier steps' open transaction. */
		lane->step_failed = true;
		lane->failure_transient = false;
		snprintf(lane->failure, sizeof lane->failure, "job %s could not send step %d: %s",
			 job->ops->name, job->step, PQerrorMessage(lane->pg));
	}
	if (!PQpipelineSync(lane->pg)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	lane_flush(lane);
}

static void lane_send_rollback(struct lane *lane)
{
	lane->step = STEP_ROLLBACK;
	lane->query_index = 0;
	if (!PQsendQueryParams(lane->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(lane->pg)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	lane_flush(lane);
}

/* The failed job: run again (transient) or finish with the error. */
static void lane_job_failed(struct lane *lane)
{
	struct store_job *job = TAILQ_FIRST(&lane->queue);
	lane->step = STEP_IDLE;
	bool speculative = job->ops->speculative && job->ops->speculative(job);
	job->attempts++;
	if ((lane->failure_transient || speculative) && job->attempts < MAX_TRANSIENT_ATTEMPTS) {
		if (speculative)
			log_info("store", "lane=%s job=%s speculative attempt failed, running it again: %s",
				 lane_names[lane->index], job->ops->name, lane->failure);
		else
			log_warn("store", "lane=%s job=%s attempt=%d retrying: %s", lane_names[lane->index],
				 job->ops->name, job->attempts, lane->failure);
		job->step = 0;
		job->ops->reset(job);
		lane_pump(lane);
		return;
	}
	log_error("store", "lane=%s job=%s failed: %s", lane_names[lane->index], job->ops->name,
		  lane->failure);
	TAILQ_REMOVE(&lane->queue, job, link);
	lane->queued--;
	job->ops->finish(job, false, lane->failure);
	lane_pump(lane);
}

static void lane_step_complete(struct lane *lane)
{
	switch (lane->step) {
	case STEP_PREPARE:
		lane->step = STEP_IDLE;
		if (lane->step_failed) {
			log_error("store", "lane=%s prepare failed: %s", lane_names[lane->index], lane->failure);
			lane_down(lane, "prepare failed");
			return;
		}
		lane->state = LANE_READY;
		lane->backoff_ms = 0;
		store_update_up(lane->store);
		lane_pump(lane);
		return;
	case STEP_ROLLBACK:
		lane_job_failed(lane);
		return;
	case STEP_JOB:
		break;
	default:
		return;
	}
	struct store_job *job = TAILQ_FIRST(&lane->queue);
	if (lane->step_failed) {
		PGTransactionStatusType ts = PQtransactionStatus(lane->pg);
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
			lane_send_rollback(lane);
		else
			lane_job_failed(lane);
		return;
	}
	enum store_step next = job->ops->step_done(job);
	if (next == STEP_MORE) {
		job->step++;
		lane_start_step(lane);
		return;
	}
	if (next == STEP_RETRY) {
		lane->step_failed = true;
		lane->failure_transient = true;
		snprintf(lane->failure, sizeof lane->failure, "job %s asked to run again", job->ops->name);
		if (PQtransactionStatus(lane->pg) == PQTRANS_IDLE)
			lane_job_failed(lane);
		else
			lane_send_rollback(lane);
		return;
	}
	lane->step = STEP_IDLE;
	TAILQ_REMOVE(&lane->queue, job, link);
	lane->queued--;
	job->ops->finish(job, true, NULL);
	lane_pump(lane);
}

static void lane_deliver_notifies(struct lane *lane)
{
	PGnotify *n;
	while (lane->pg && (n = PQnotifies(lane->pg)) != NULL) {
		if (lane->notify_fn && n->extra)
			lane->notify_fn(n->extra, lane->notify_arg);
		PQfreemem(n);
	}
}

static void lane_read_results(struct lane *lane)
{
	if (!PQconsumeInput(lane->pg)) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	lane_deliver_notifies(lane);
	while (lane->step != STEP_IDLE && !PQisBusy(lane->pg)) {
		PGresult *res = PQgetResult(lane->pg);
		if (!res) {
			lane->query_index++;
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			lane_step_complete(lane);
			return; /* lane_step_complete may have started the next step */
		}
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (lane->step == STEP_JOB && !lane->step_failed) {
				struct store_job *job = TAILQ_FIRST(&lane->queue);
				job->ops->on_result(job, lane->query_index, res);
			}
		} else if (st != PGRES_PIPELINE_ABORTED) {
			lane_record_failure(lane, res);
		}
		PQclear(res);
	}
	if (PQstatus(lane->pg) == CONNECTION_BAD) {
		lane_down(lane, PQerrorMessage(lane->pg));
		return;
	}
	lane_deliver_notifies(lane);
}

static void lane_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct lane *lane = arg;
	if (lane->state == LANE_CONNECTING) {
		if (what & EV_TIMEOUT) {
			lane->host_turn++; /* the next attempt begins with the next host */
			log_warn("store", "lane=%s connect timed out after %d s%s", lane_names[lane->index],
				 CONNECT_WAIT_S,
				 lane->store->hosts.n > 1 ? ": the next attempt begins with the next host" : "");
			lane_down(lane, "connect timed out");
			return;
		}
		lane_poll_connect(lane);
		return;
	}
	if (!lane->pg)
		return;
	if (what & EV_WRITE) {
		lane_flush(lane);
		if (!lane->pg)
			return;
	}
	if (what & EV_READ)
		lane_read_results(lane);
}

/* Starts the next job when the lane is ready and idle. */
static void lane_pump(struct lane *lane)
{
	if (lane->state != LANE_READY || lane->step != STEP_IDLE)
		return;
	if (TAILQ_EMPTY(&lane->queue))
		return;
	lane_start_step(lane);
}

/* ---- public API --------------------------------------------------------- */

struct store *store_new(struct event_base *base, const struct store_config *cfg,
			store_state_fn on_state, void *arg)
{
	struct store *store = calloc(1, sizeof *store);
	if (!store)
		return NULL;
	store->base = base;
	store->conninfo = strdup(cfg->conninfo);
	hosts_read(&store->hosts, cfg->conninfo);
	store->reconnect_max_ms = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 5000;
	store->on_state = on_state;
	store->state_arg = arg;
	for (int i = 0; i < LANE_COUNT; i++) {
		struct lane *lane = &store->lanes[i];
		lane->store = store;
		lane->index = i;
		TAILQ_INIT(&lane->queue);
		lane->ev_retry = evtimer_new(base, lane_retry_cb, lane);
	}
	return store;
}

void store_abandon(struct store *store)
{
	for (int i = 0; i < LANE_COUNT; i++) {
		struct lane *lane = &store->lanes[i];
		struct store_job *job;
		while ((job = TAILQ_FIRST(&lane->queue)) != NULL) {
			TAILQ_REMOVE(&lane->queue, job, link);
			lane->queued--;
			/* Not committed: PostgreSQL rolls the open transaction back
			 * when the connection closes, and nothing was acked. */
			job->ops->finish(job, false, "shutting down");
		}
	}
}

void store_free(struct store *store)
{
	if (!store)
		return;
	for (int i = 0; i < LANE_COUNT; i++) {
		struct lane *lane = &store->lanes[i];
		lane_free_events(lane);
		if (lane->ev_retry)
			event_free(lane->ev_retry);
		if (lane->pg)
			PQfinish(lane->pg);
		free(lane->listen_sql);
	}
	for (int i = 0; i < store->n_stmts; i++) {
		free(store->stmts[i].name);
		free(store->stmts[i].sql);
	}
	free(store->stmts);
	free(store->conninfo);
	hosts_free(&store->hosts);
	free(store);
}

void store_register(struct store *store, const char *name, const char *sql)
{
	char bad[64];
	char *text = sqlcodes_expand(sql, bad, sizeof bad);
	if (!text)
		log_error("store", "statement=%s names an unknown code %s", name, bad);
	CHECK(text != NULL); /* our own SQL, at start-up */
	struct statement *s = realloc(store->stmts, sizeof *s * (size_t)(store->n_stmts + 1));
	char *copy = strdup(name);
	CHECK(s != NULL && copy != NULL); /* start-up only: out of memory before serving anything */
	store->stmts = s;
	s[store->n_stmts].name = copy;
	s[store->n_stmts].sql = text;
	store->n_stmts++;
}

void store_listen(struct store *store, enum store_lane lane_no, const char *channel, store_notify_fn fn, void *arg)
{
	struct lane *lane = &store->lanes[lane_no];
	char sql[128];
	snprintf(sql, sizeof sql, "LISTEN %s", channel);
	free(lane->listen_sql);
	lane->listen_sql = strdup(sql);
	lane->notify_fn = fn;
	lane->notify_arg = arg;
}

void store_start(struct store *store)
{
	for (int i = 0; i < LANE_COUNT; i++)
		lane_connect(&store->lanes[i]);
}

void store_submit(struct store *store, enum store_lane lane_no, struct store_job *job)
{
	struct lane *lane = &store->lanes[lane_no];
	job->store = store;
	job->lane = lane_no;
	job->step = 0;
	job->attempts = 0;
	TAILQ_INSERT_TAIL(&lane->queue, job, link);
	lane->queued++;
	lane_pump(lane);
}

static PGconn *job_conn(struct store_job *job)
{
	return job->store->lanes[job->lane].pg;
}

bool store_send(struct store_job *job, const char *stmt, int nparams, const char *const *values,
		bool binary_result)
{
	return PQsendQueryPrepared(job_conn(job), stmt, nparams, values, NULL, NULL,
				   binary_result ? 1 : 0) == 1;
}

bool store_send_formats(struct store_job *job, const char *stmt, int nparams, const char *const *values,
			const int *lengths, const int *formats, bool binary_result)
{
	return PQsendQueryPrepared(job_conn(job), stmt, nparams, values, lengths, formats, binary_result ? 1 : 0) ==
	       1;
}

bool store_send_sql(struct store_job *job, const char *sql)
{
	return PQsendQueryParams(job_conn(job), sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
}

/* ---- one-statement jobs ----------------------------------------------- */

#define QUERY_MAX_PARAMS 16

struct query_job {
	struct store_job job;
	char *stmt;
	int nparams;
	char *values[QUERY_MAX_PARAMS];
	bool binary;
	bool delivered;
	store_result_fn done;
	void *arg;
};

static void query_free(struct query_job *q)
{
	free(q->stmt);
	for (int i = 0; i < q->nparams; i++)
		free(q->values[i]);
	free(q);
}

static bool query_send(struct store_job *job)
{
	struct query_job *q = (struct query_job *)job;
	return store_send(job, q->stmt, q->nparams, (const char *const *)q->values, q->binary);
}

static void query_on_result(struct store_job *job, int index, const PGresult *res)
{
	struct query_job *q = (struct query_job *)job;
	if (index == 0 && !q->delivered) {
		q->delivered = true;
		if (q->done)
			q->done(res, NULL, q->arg);
	}
}

static enum store_step query_step_done(struct store_job *job)
{
	(void)job;
	return STEP_DONE;
}

static void query_reset(struct store_job *job)
{
	(void)job;
}

static void query_finish(struct store_job *job, bool ok, const char *error)
{
	struct query_job *q = (struct query_job *)job;
	if (!ok && !q->delivered && q->done)
		q->done(NULL, error, q->arg);
	query_free(q);
}

static const struct store_job_ops query_ops = {
	.name = "query",
	.send_step = query_send,
	.on_result = query_on_result,
	.step_done = query_step_done,
	.reset = query_reset,
	.finish = query_finish,
};

void store_query(struct store *store, enum store_lane lane, const char *stmt, int nparams,
		 const char *const *values, bool binary_result, store_result_fn done, void *arg)
{
	struct query_job *q = calloc(1, sizeof *q);
	if (!q || nparams > QUERY_MAX_PARAMS || !(q->stmt = strdup(stmt))) {
		free(q);
		if (done)
			done(NULL, "out of memory", arg);
		return;
	}
	q->job.ops = &query_ops;
	q->nparams = nparams;
	q->binary = binary_result;
	q->done = done;
	q->arg = arg;
	for (int i = 0; i < nparams; i++) {
		if (values[i] && !(q->values[i] = strdup(values[i]))) {
			q->nparams = i;
			query_free(q);
			if (done)
				done(NULL, "out of memory", arg);
			return;
		}
	}
	store_submit(store, lane, &q->job);
}

/* ---- text arrays -------------------------------------------------------- */

void pgarray_init(struct pgarray *a)
{
	memset(a, 0, sizeof *a);
}

void pgarray_reset(struct pgarray *a)
{
	a->len = 0;
	a->count = 0;
}

void pgarray_free(struct pgarray *a)
{
	free(a->buf);
	pgarray_init(a);
}

static void pgarray_reserve(struct pgarray *a, size_t extra)
{
	if (!GROW(a->buf, a->cap, a->len + extra + 3, 256))
		abort(); /* out of memory: nothing sensible to do mid-transaction */
}

static void pgarray_sep(struct pgarray *a)
{
	if (a->len == 0)
		a->buf[a->len++] = '{';
	else
		a->buf[a->len++] = ',';
	a->count++;
}

void pgarray_add_text(struct pgarray *a, const char *s)
{
	size_t n = strlen(s);
	pgarray_reserve(a, 2 * n + 4);
	pgarray_sep(a);
	a->buf[a->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			a->buf[a->len++] = '\\';
		a->buf[a->len++] = s[i];
	}
	a->buf[a->len++] = '"';
}

void pgarray_add_int(struct pgarray *a, int64_t v)
{
	pgarray_reserve(a, 24);
	pgarray_sep(a);
	a->len += (size_t)snprintf(a->buf + a->len, 22, "%lld", (long long)v);
}

void pgarray_add_bool(struct pgarray *a, bool v)
{
	pgarray_reserve(a, 2);
	pgarray_sep(a);
	a->buf[a->len++] = v ? 't' : 'f';
}

void pgarray_add_null(struct pgarray *a)
{
	pgarray_reserve(a, 5);
	pgarray_sep(a);
	memcpy(a->buf + a->len, "NULL", 4);
	a->len += 4;
}

const char *pgarray_literal(struct pgarray *a)
{
	pgarray_reserve(a, 2);
	if (a->len == 0) {
		a->buf[0] = '{';
		a->buf[1] = '}';
		a->buf[2] = '\0';
		return a->buf;
	}
	a->buf[a->len] = '}';
	a->buf[a->len + 1] = '\0';
	return a->buf;
}

/* ---- binary arrays ------------------------------------------------------- */

#define PGBIN_HEADER 20 /* ndim, flags, element type, length, lower bound */

void pgbin_init(struct pgbin *a)
{
	memset(a, 0, sizeof *a);
}

void pgbin_reset(struct pgbin *a)
{
	a->len = PGBIN_HEADER;
	a->count = 0;
	a->type = PGBIN_NONE;
	a->has_null = false;
}

void pgbin_free(struct pgbin *a)
{
	free(a->buf);
	pgbin_init(a);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Room for one element of n bytes (and its length word), of this type. */
static uint8_t *pgbin_element(struct pgbin *a, enum pgbin_type type, size_t n)
{
	CHECK(a->type == PGBIN_NONE || a->type == type); /* one type per column: our own code */
	CHECK(n <= INT32_MAX);
	a->type = type;
	if (a->len < PGBIN_HEADER)
		a->len = PGBIN_HEADER;
	if (!GROW(a->buf, a->cap, a->len + 4 + n, 1024))
		abort(); /* out of memory: nothing sensible to do mid-transaction */
	put32(a->buf + a->len, (uint32_t)n);
	uint8_t *p = a->buf + a->len + 4;
	a->len += 4 + n;
	a->count++;
	return p;
}

void pgbin_add_bytea(struct pgbin *a, const void *p, size_t n)
{
	memcpy(pgbin_element(a, PGBIN_BYTEA, n), p, n);
}

void pgbin_add_text(struct pgbin *a, const char *s)
{
	size_t n = strlen(s);
	memcpy(pgbin_element(a, PGBIN_TEXT, n), s, n);
}

void pgbin_add_int2(struct pgbin *a, int16_t v)
{
	uint8_t *p = pgbin_element(a, PGBIN_INT2, 2);
	p[0] = (uint8_t)((uint16_t)v >> 8);
	p[1] = (uint8_t)v;
}

void pgbin_add_int4(struct pgbin *a, int32_t v)
{
	put32(pgbin_element(a, PGBIN_INT4, 4), (uint32_t)v);
}

void pgbin_add_int8(struct pgbin *a, int64_t v)
{
	uint8_t *p = pgbin_element(a, PGBIN_INT8, 8);
	put32(p, (uint32_t)((uint64_t)v >> 32));
	put32(p + 4, (uint32_t)v);
}

void pgbin_add_bool(struct pgbin *a, bool v)
{
	*pgbin_element(a, PGBIN_BOOL, 1) = v ? 1 : 0;
}

void pgbin_add_null(struct pgbin *a, enum pgbin_type type)
{
	pgbin_element(a, type, 0);
	a->len -= 4;
	put32(a->buf + a->len, 0xffffffffu); /* length -1: NULL */
	a->len += 4;
	a->has_null = true;
}

const char *pgbin_value(struct pgbin *a, int *len)
{
	CHECK(a->count > 0 && a->len <= INT32_MAX);
	put32(a->buf, 1);
	put32(a->buf + 4, a->has_null ? 1 : 0);
	put32(a->buf + 8, (uint32_t)a->type);
	put32(a->buf + 12, (uint32_t)a->count);
	put32(a->buf + 16, 1);
	*len = (int)a->len;
	return (const char *)a->buf;
}

/* ---- binary results ----------------------------------------------------- */

int64_t store_get_int8(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
	if (PQgetlength(res, row, col) != 8)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

int32_t store_get_int4(const PGresult *res, int row, int col)
{
	uint32_t v;
	if (PQgetlength(res, row, col) != 4)
		return 0;
	memcpy(&v, PQgetvalue(res, row, col), 4);
	return (int32_t)ntohl(v);
}

int16_t store_get_int2(const PGresult *res, int row, int col)
{
	uint16_t v;
	if (PQgetlength(res, row, col) != 2)
		return 0;
	memcpy(&v, PQgetvalue(res, row, col), 2);
	return (int16_t)ntohs(v);
}

bool store_get_bool(const PGresult *res, int row, int col)
{
	return PQgetlength(res, row, col) == 1 && PQgetvalue(res, row, col)[0] != 0;
}

/* ---- migrations (start-up only, blocking) ------------------------------- */

struct migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct migration store_migrations[];
extern const int store_n_migrations;

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/* The numbers the database's rows were written with must be this binary's:
 * records every code once (code_value, sql/003) and compares. */
static bool check_codes(PGconn *pg, char *err, size_t errlen)
{
	size_t n;
	const struct sql_code *codes = sqlcodes_all(&n);
	for (size_t i = 0; i < n; i++) {
		char value[16];
		snprintf(value, sizeof value, "%d", codes[i].value);
		const char *params[2] = { codes[i].name, value };
		PGresult *res = PQexecParams(pg,
					     "WITH ins AS (INSERT INTO code_value (name, value) VALUES ($1, $2::int) "
					     "ON CONFLICT (name) DO NOTHING RETURNING value) "
					     "SELECT value FROM ins UNION ALL SELECT value FROM code_value WHERE name = $1",
					     2, NULL, params, NULL, NULL, 0);
		bool same = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) >= 1 &&
			    strcmp(PQgetvalue(res, 0, 0), value) == 0;
		if (!same) {
			snprintf(err, errlen, "code %s is %s in this database but %s in this binary (or: %s)",
				 codes[i].name, PQntuples(res) ? PQgetvalue(res, 0, 0) : "?", value,
				 PQresultErrorMessage(res));
			PQclear(res);
			return false;
		}
		PQclear(res);
	}
	return true;
}

bool store_migrate(const char *conninfo, char *err, size_t errlen)
{
	/* a silent host would hold start-up for ever: CONNECT_WAIT_S a host
	 * unless the conninfo says otherwise (its own value comes later and wins) */
	char wait_s[16];
	snprintf(wait_s, sizeof wait_s, "%d", CONNECT_WAIT_S);
	const char *kw[] = { "connect_timeout", "dbname", NULL };
	const char *val[] = { wait_s, conninfo, NULL };
	PGconn *pg = PQconnectdbParams(kw, val, 1);
	if (pg)
		PQsetNoticeProcessor(pg, log_notice_processor, (void *)"migrate");
	bool ok = false;
	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
		goto done;
	}
	if (!exec_ok(pg, "SET client_min_messages = warning", err, errlen) ||
	    !exec_ok(pg, "SELECT pg_advisory_lock(7443001)", err, errlen) ||
	    !exec_ok(pg,
		     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
		     "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		     err, errlen))
		goto done;
	for (int i = 0; i < store_n_migrations; i++) {
		const struct migration *m = &store_migrations[i];
		char version[16];
		snprintf(version, sizeof version, "%d", m->version);
		const char *params[2] = { version, m->name };
		PGresult *res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1",
					     1, NULL, params, NULL, NULL, 0);
		bool applied = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		PQclear(res);
		if (applied)
			continue;
		char bad[64];
		char *sql = sqlcodes_expand(m->sql, bad, sizeof bad);
		if (!sql) {
			snprintf(err, errlen, "migration %s names an unknown code %s", m->name, bad);
			goto done;
		}
		bool begun = exec_ok(pg, "BEGIN", err, errlen);
		bool applied_ok = begun && exec_ok(pg, sql, err, errlen);
		free(sql);
		if (!begun)
			goto done;
		if (!applied_ok) {
			char detail[512];
			snprintf(detail, sizeof detail, "%s", err);
			snprintf(err, errlen, "migration %s failed: %s", m->name, detail);
			PQclear(PQexec(pg, "ROLLBACK"));
			goto done;
		}
		res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				   2, NULL, params, NULL, NULL, 0);
		bool inserted = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (!inserted || !exec_ok(pg, "COMMIT", err, errlen)) {
			snprintf(err, errlen, "migration %s could not be recorded", m->name);
			goto done;
		}
		log_info("store", "migration=%s applied", m->name);
	}
	ok = check_codes(pg, err, errlen) && exec_ok(pg, "SELECT pg_advisory_unlock(7443001)", err, errlen);
done:
	PQfinish(pg);
	return ok;
}
