/* store.h — the only code that talks to PostgreSQL.
 *
 * A few libpq connections ("lanes"), each non-blocking in pipeline mode and
 * driven by the event loop. Modules register prepared statements once and hand
 * the store jobs: a job is one transaction made of steps; each step sends its
 * queries back to back and ends with one sync, so a step costs one round trip.
 * Transient failures (connection lost, deadlock, serialization) reset the job
 * and run it again from its first step once the lane is back; the job itself
 * never sees a half-done transaction.
 */
#ifndef OVERSTAP_STORE_H
#define OVERSTAP_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct store;

/* Lanes: ingest writes never queue behind reads, and the other way round. */
#define STORE_INGEST_LANES 2

/* The event loop's priorities (main: event_base_priority_init): a lane's
 * socket is served before the sessions' in the same turn of the loop, so a
 * COMMIT that returned acks its batches and starts the next group before the
 * loop decodes what more the sessions sent. */
#define STORE_PRIORITIES 2
#define STORE_PRIORITY_LANE 0 /* every other event: the default, 1 */

enum store_lane {
	LANE_INGEST = 0, /* group-committed events: LANE_INGEST + shard */
	LANE_QUEUE = STORE_INGEST_LANES, /* alert delivery, acks, sweeps, escalation */
	LANE_READ,       /* stats and pupil queries */
	LANE_COUNT,
};

struct store_job;

enum store_step { STEP_DONE = 0, STEP_MORE, STEP_RETRY };

struct store_job_ops {
	const char *name;
	/* Send the queries of step job->step with store_send(). false: give up
	 * (the job is finished with ok=false). */
	bool (*send_step)(struct store_job *job);
	/* One successful result of query `index` (0-based within the step). */
	void (*on_result)(struct store_job *job, int index, const PGresult *res);
	/* Every query of the step succeeded. Returns STEP_MORE when another step
	 * follows (the store then calls send_step with step+1), STEP_DONE, or
	 * STEP_RETRY to roll back and run the whole job again (e.g. a row another
	 * instance committed meanwhile). */
	enum store_step (*step_done)(struct store_job *job);
	/* The job will run again from step 0: forget partial results. */
	void (*reset)(struct store_job *job);
	/* Done: ok, or failed for good with a message. May free the job. */
	void (*finish)(struct store_job *job, bool ok, const char *error);
	/* Optional: the attempt in flight is speculative, a guess the database
	 * may prove wrong. Whatever makes it fail, the job runs again from step
	 * 0 (reset() sees attempts > 0 and guesses no more); logged as info. */
	bool (*speculative)(const struct store_job *job);
};

struct store_job {
	const struct store_job_ops *ops;
	int step;
	int attempts;
	struct store *store;  /* set by store_submit */
	int lane;
	TAILQ_ENTRY(store_job) link;
};

struct store_config {
	const char *conninfo;
	int reconnect_max_ms;
};

/* Called when the database goes away (up=false) or comes back (up=true). */
typedef void (*store_state_fn)(bool up, void *arg);
/* A NOTIFY on a channel the store LISTENs to: its payload. */
typedef void (*store_notify_fn)(const char *payload, void *arg);

struct store *store_new(struct event_base *base, const struct store_config *cfg,
			store_state_fn on_state, void *arg);
void store_free(struct store *store);
/* At shutdown, after the loop has stopped: finishes every queued or in-flight
 * job with ok=false ("shutting down") so its owner frees it. Nothing of an
 * uncommitted transaction was acked, so nothing is lost. */
void store_abandon(struct store *store);

/* Registers a prepared statement; all statements are prepared on every lane
 * when it connects. Call before store_start(). */
void store_register(struct store *store, const char *name, const char *sql);
/* LISTENs to `channel` on `lane` (again after every reconnect) and calls fn
 * with each notification's payload. Call before store_start(). */
void store_listen(struct store *store, enum store_lane lane, const char *channel, store_notify_fn fn, void *arg);
/* Starts connecting every lane (non-blocking). */
void store_start(struct store *store);

void store_submit(struct store *store, enum store_lane lane, struct store_job *job);
bool store_is_up(const struct store *store);
/* Jobs queued or running on a lane. */
int store_backlog(const struct store *store, enum store_lane lane);

/* Inside send_step: queue one prepared statement with text parameters (NULL
 * value = SQL NULL). binary_result asks for binary-format columns. */
bool store_send(struct store_job *job, const char *stmt, int nparams, const char *const *values,
		bool binary_result);
/* Inside send_step: the same with some parameters in binary format (formats[i]
 * = 1, lengths[i] its length; NULL formats: all text). */
bool store_send_formats(struct store_job *job, const char *stmt, int nparams, const char *const *values,
			const int *lengths, const int *formats, bool binary_result);
/* Inside send_step: an unprepared statement without parameters (BEGIN, COMMIT). */
bool store_send_sql(struct store_job *job, const char *sql);

/* Blocking, for start-up only (before the loop runs): applies the embedded
 * sql/ migrations not yet recorded in schema_migrations. Waits 10 s for each
 * host unless the conninfo sets connect_timeout. */
bool store_migrate(const char *conninfo, char *err, size_t errlen);

/* A libpq comma-separated list (host=A,B,C) turned by `by` places
 * (by 1: B,C,A); a list of one entry (or none) as it is. false when it does
 * not fit in outlen. A lane whose connect timed out begins with the next
 * host the next time: a silent host cannot hold it for ever. */
bool store_turn_list(const char *list, unsigned by, char *out, size_t outlen);

/* ---- text-array parameters for set-based statements (unnest) ------------- */
struct pgarray {
	char *buf;
	size_t len, cap;
	int count;
};
void pgarray_init(struct pgarray *a);
void pgarray_reset(struct pgarray *a);
void pgarray_free(struct pgarray *a);
void pgarray_add_text(struct pgarray *a, const char *s);
void pgarray_add_int(struct pgarray *a, int64_t v);
void pgarray_add_bool(struct pgarray *a, bool v);
void pgarray_add_null(struct pgarray *a);
/* The literal, "{...}", NUL-terminated; valid until the next add/reset. */
const char *pgarray_literal(struct pgarray *a);

/* ---- binary array parameters (array_recv: no text to parse) --------------
 * One array of one element type, set by the first value added (the SQL's
 * $n::TYPE[] must name the same type: PostgreSQL refuses another). */
enum pgbin_type { PGBIN_NONE = 0, PGBIN_BOOL = 16, PGBIN_BYTEA = 17, PGBIN_INT8 = 20, PGBIN_INT2 = 21,
		  PGBIN_INT4 = 23, PGBIN_TEXT = 25 };
struct pgbin {
	uint8_t *buf; /* a 20-byte header, then the elements */
	size_t len, cap;
	int count;
	enum pgbin_type type;
	bool has_null;
};
void pgbin_init(struct pgbin *a);
void pgbin_reset(struct pgbin *a);
void pgbin_free(struct pgbin *a);
void pgbin_add_text(struct pgbin *a, const char *s);
void pgbin_add_bytea(struct pgbin *a, const void *p, size_t n);
void pgbin_add_int2(struct pgbin *a, int16_t v);
void pgbin_add_int4(struct pgbin *a, int32_t v);
void pgbin_add_int8(struct pgbin *a, int64_t v);
void pgbin_add_bool(struct pgbin *a, bool v);
/* A NULL of the array's type (type: for a first value that is NULL). */
void pgbin_add_null(struct pgbin *a, enum pgbin_type type);
/* The array in binary format and its length; valid until the next add/reset.
 * At least one value must have been added. */
const char *pgbin_value(struct pgbin *a, int *len);

/* ---- reading binary results -------------------------------------------- */
int64_t store_get_int8(const PGresult *res, int row, int col);
int32_t store_get_int4(const PGresult *res, int row, int col);
int16_t store_get_int2(const PGresult *res, int row, int col);
bool store_get_bool(const PGresult *res, int row, int col);

#endif

/* ---- one-statement jobs --------------------------------------------------- */

/* Called with the result of one prepared statement (res == NULL and error set
 * when it failed for good). The result is valid only during the call. */
typedef void (*store_result_fn)(const PGresult *res, const char *error, void *arg);

/* Runs one prepared statement (its own implicit transaction) on a lane; the
 * parameters are copied. Retries transient failures like any job. */
void store_query(struct store *store, enum store_lane lane, const char *stmt, int nparams,
		 const char *const *values, bool binary_result, store_result_fn done, void *arg);
