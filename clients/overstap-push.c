/* overstap-push — sends the StatusUpdates of a CSV file to overstapd (DESIGN §6.1).
 *
 * Reads the whole file first (strict: a bad row stops everything before a
 * byte is sent), then sends StatusBatches, a few in flight, and resends what
 * was not acknowledged after a reconnect or a transient INTERNAL refusal.
 * Prints "accepted N, duplicate N, rejected N" and one line per rejection.
 * Exit 0 all taken, 1 the server rejected something, 2 usage, file or connection.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "errcodes.h"
#include "updcsv.h"
#include "wire.h"

#define PROG "overstap-push"
#define MAX_BATCH 10000 /* DESIGN §4.2 */
#define MAX_INTERNAL_RETRIES 5

enum outcome { OUT_NONE = 0, OUT_ACCEPTED, OUT_DUPLICATE, OUT_REJECTED };

struct result {
	enum outcome outcome;
	char *code;
	char *message;
};

enum batch_state { B_PENDING, B_IN_FLIGHT, B_DONE };

struct batch {
	size_t *idx; /* indexes into the file's updates */
	size_t n;
	enum batch_state state;
	uint64_t seq;
	int internal_retries;
};

struct push {
	struct updcsv csv;
	struct result *results;
	struct batch *batches;
	size_t n_batches, cap_batches;
	size_t done_updates;
	uint32_t max_frame;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options] FILE.csv\n"
		"Sends the StatusUpdates of FILE.csv (\"-\" = standard input) to overstapd.\n"
		"The header row names StatusUpdate fields: event_id,pgn,occurred_at,kind,cohort,school,\n"
		"woongemeente,vo_soort,birth_date,name,bestemming,crebo,mbo_instelling,niveau,leerweg,reason\n"
		"(any order; the first five are required). Enums by name without prefix (AANGEMELD) or\n"
		"number; occurred_at as unix seconds or ISO 8601 (2031-03-15, 2031-03-15T09:30:00+01:00).\n"
		"\n"
		"  --batch N            updates per StatusBatch (1000, at most 10000)\n"
		"  --window N           batches in flight (4)\n"
		"%s"
		"  --help               this text\n"
		"\n"
		"Prints \"accepted N, duplicate N, rejected N\", then \"event_id error_code message\" per\n"
		"rejected update. Exit: 0 every update accepted or duplicate, 1 the server rejected\n"
		"something, 2 usage, file or connection errors (nothing is sent when a row is bad).\n",
		PROG, CLIENT_OPTS_HELP);
}

static void set_result(struct push *p, size_t i, enum outcome o, const char *code, const char *message)
{
	struct result *r = &p->results[i];
	if (r->outcome == OUT_NONE)
		p->done_updates++;
	free(r->code);
	free(r->message);
	r->outcome = o;
	r->code = code ? strdup(code) : NULL;
	r->message = message ? strdup(message) : NULL;
}

static struct batch *add_batch(struct push *p, const size_t *idx, size_t n, int internal_retries)
{
	if (p->n_batches == p->cap_batches) {
		size_t cap = p->cap_batches ? p->cap_batches * 2 : 64;
		struct batch *b = realloc(p->batches, cap * sizeof *b);
		if (!b)
			return NULL;
		p->batches = b;
		p->cap_batches = cap;
	}
	struct batch *b = &p->batches[p->n_batches];
	b->idx = malloc((n ? n : 1) * sizeof *b->idx);
	if (!b->idx)
		return NULL;
	memcpy(b->idx, idx, n * sizeof *idx);
	b->n = n;
	b->state = B_PENDING;
	b->seq = 0;
	b->internal_retries = internal_retries;
	p->n_batches++;
	return b;
}

/* Packs batch b into env; the caller owns nothing new (pointers into csv). */
static size_t packed_size(struct push *p, const struct batch *b, Overstap__V1__StatusUpdate **ptrs)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__StatusBatch sb = OVERSTAP__V1__STATUS_BATCH__INIT;
	for (size_t k = 0; k < b->n; k++)
		ptrs[k] = p->csv.updates[b->idx[k]];
	sb.n_updates = b->n;
	sb.updates = ptrs;
	env.seq = UINT64_MAX;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &sb;
	return overstap__v1__envelope__get_packed_size(&env);
}

/* Splits every unfinished batch whose frame would exceed max_frame in halves;
 * a single update too large for a frame is rejected here. */
static bool split_large(struct push *p, Overstap__V1__StatusUpdate **ptrs)
{
	for (size_t i = 0; i < p->n_batches; i++) {
		struct batch *b = &p->batches[i];
		if (b->state == B_DONE || packed_size(p, b, ptrs) <= p->max_frame)
			continue;
		if (b->n == 1) {
			set_result(p, b->idx[0], OUT_REJECTED, ERR_FRAME_TOO_LARGE,
				   "this update alone is larger than the server's frame limit");
			b->state = B_DONE;
			continue;
		}
		size_t half = b->n / 2;
		int retries = b->internal_retries;
		size_t *idx = b->idx, n = b->n;
		b->state = B_DONE;
		b->idx = NULL;
		b->n = 0;
		if (!add_batch(p, idx, half, retries) || !add_batch(p, idx + half, n - half, retries)) {
			free(idx);
			return false;
		}
		free(idx); /* the halves, appended, are looked at later in this loop */
	}
	return true;
}

static struct batch *batch_by_seq(struct push *p, uint64_t seq)
{
	for (size_t i = 0; i < p->n_batches; i++)
		if (p->batches[i].state == B_IN_FLIGHT && p->batches[i].seq == seq)
			return &p->batches[i];
	return NULL;
}

static void backoff(int attempt)
{
	int ms = 200 << (attempt < 5 ? attempt : 5);
	if (ms > 5000)
		ms = 5000;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Applies a BatchAck. Returns true when some update got a final result. */
static bool on_ack(struct push *p, struct batch *b, const Overstap__V1__BatchAck *ack)
{
	b->state = B_DONE;
	if (ack->n_results != b->n) {
		for (size_t k = 0; k < b->n; k++)
			set_result(p, b->idx[k], OUT_REJECTED, "BAD_ACK",
				   "the server's BatchAck did not have one result per update");
		return true;
	}
	size_t *retry = malloc(b->n * sizeof *retry), n_retry = 0;
	bool progress = false;
	for (size_t k = 0; k < b->n; k++) {
		const Overstap__V1__UpdateResult *r = ack->results[k];
		size_t i = b->idx[k];
		switch (r->result) {
		case OVERSTAP__V1__RESULT__RESULT_ACCEPTED:
			set_result(p, i, OUT_ACCEPTED, NULL, NULL);
			progress = true;
			break;
		case OVERSTAP__V1__RESULT__RESULT_DUPLICATE:
			set_result(p, i, OUT_DUPLICATE, NULL, NULL);
			progress = true;
			break;
		default:
			if (strcmp(r->error_code, ERR_INTERNAL) == 0 && b->internal_retries < MAX_INTERNAL_RETRIES && retry) {
				retry[n_retry++] = i;
				break;
			}
			set_result(p, i, OUT_REJECTED, r->error_code[0] ? r->error_code : "REJECTED", r->error_message);
			progress = true;
			break;
		}
	}
	if (n_retry) {
		int retries = b->internal_retries + 1;
		backoff(retries);
		add_batch(p, retry, n_retry, retries);
	}
	free(retry);
	return progress;
}

static bool on_error(struct push *p, struct batch *b, const Overstap__V1__Error *e)
{
	b->state = B_DONE;
	if (strcmp(e->code, ERR_INTERNAL) == 0 && b->internal_retries < MAX_INTERNAL_RETRIES) {
		backoff(b->internal_retries + 1);
		add_batch(p, b->idx, b->n, b->internal_retries + 1);
		return false;
	}
	for (size_t k = 0; k < b->n; k++)
		set_result(p, b->idx[k], OUT_REJECTED, e->code[0] ? e->code : "ERROR", e->message);
	return true;
}

static bool send_batch(struct client *c, struct push *p, struct batch *b, Overstap__V1__StatusUpdate **ptrs)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__StatusBatch sb = OVERSTAP__V1__STATUS_BATCH__INIT;
	for (size_t k = 0; k < b->n; k++)
		ptrs[k] = p->csv.updates[b->idx[k]];
	sb.n_updates = b->n;
	sb.updates = ptrs;
	env.seq = client_next_seq(c);
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &sb;
	b->seq = env.seq;
	b->state = B_IN_FLIGHT;
	return client_send(c, &env);
}

static void requeue_in_flight(struct push *p)
{
	for (size_t i = 0; i < p->n_batches; i++)
		if (p->batches[i].state == B_IN_FLIGHT)
			p->batches[i].state = B_PENDING;
}

static void print_summary(const struct push *p, FILE *out)
{
	size_t acc = 0, dup = 0, rej = 0;
	for (size_t i = 0; i < p->csv.n; i++) {
		acc += p->results[i].outcome == OUT_ACCEPTED;
		dup += p->results[i].outcome == OUT_DUPLICATE;
		rej += p->results[i].outcome == OUT_REJECTED;
	}
	fprintf(out, "accepted %zu, duplicate %zu, rejected %zu\n", acc, dup, rej);
	for (size_t i = 0; i < p->csv.n; i++) {
		const struct result *r = &p->results[i];
		if (r->outcome == OUT_REJECTED)
			fprintf(out, "%s %s %s\n", p->csv.updates[i]->event_id, r->code ? r->code : "REJECTED",
				r->message ? r->message : "");
	}
}

int main(int argc, char **argv)
{
	struct client_opts copts;
	client_opts_init(&copts, PROG);
	long batch_size = 1000, window = 4;
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "batch", 1, NULL, 'b' },
		{ "window", 1, NULL, 'w' },
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
		case 'b':
			if (!client_parse_long(optarg, 1, MAX_BATCH, &batch_size)) {
				fprintf(stderr, "%s: --batch must be a number from 1 to %d\n", PROG, MAX_BATCH);
				return 2;
			}
			break;
		case 'w':
			if (!client_parse_long(optarg, 1, 64, &window)) {
				fprintf(stderr, "%s: --window must be a number from 1 to 64\n", PROG);
				return 2;
			}
			break;
		default:
			if (!client_opts_getopt(&copts, ch, optarg))
				return 2;
			break;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PROG,
			optind == argc ? "which CSV file? (overstap-push FILE.csv)" : "one CSV file at a time", PROG);
		return 2;
	}
	const char *path = argv[optind];
	if (!client_opts_check(&copts, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return 2;
	}

	struct push p = { .max_frame = copts.max_frame };
	updcsv_init(&p.csv);
	if (!updcsv_read_file(&p.csv, path, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return 2;
	}
	if (p.csv.converted)
		fprintf(stderr, "%s: %s is not UTF-8; read it as Windows-1252\n", PROG, path);
	if (p.csv.total_errors) {
		for (size_t i = 0; i < p.csv.n_errors; i++)
			fprintf(stderr, "%s:%lu: %s\n", path, p.csv.errors[i].line, p.csv.errors[i].message);
		if (p.csv.total_errors > p.csv.n_errors)
			fprintf(stderr, "%s: ... and %zu more errors\n", PROG, p.csv.total_errors - p.csv.n_errors);
		fprintf(stderr, "%s: %zu error%s in %s; nothing sent\n", PROG, p.csv.total_errors,
			p.csv.total_errors == 1 ? "" : "s", path);
		updcsv_free(&p.csv);
		return 2;
	}
	int rc = 0;
	p.results = calloc(p.csv.n ? p.csv.n : 1, sizeof *p.results);
	size_t *all = malloc((p.csv.n ? p.csv.n : 1) * sizeof *all);
	Overstap__V1__StatusUpdate **ptrs = malloc((size_t)MAX_BATCH * sizeof *ptrs);
	if (!p.results || !all || !ptrs) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 2;
	}
	for (size_t i = 0; i < p.csv.n; i++)
		all[i] = i;
	for (size_t at = 0; at < p.csv.n; at += (size_t)batch_size) {
		size_t n = p.csv.n - at < (size_t)batch_size ? p.csv.n - at : (size_t)batch_size;
		if (!add_batch(&p, all + at, n, 0)) {
			fprintf(stderr, "%s: out of memory\n", PROG);
			return 2;
		}
	}
	free(all);
	if (!split_large(&p, ptrs)) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 2;
	}

	struct client *c = NULL;
	if (p.csv.n > 0) {
		c = client_new(&copts, err, sizeof err);
		if (!c) {
			fprintf(stderr, "%s: %s\n", PROG, err);
			return 2;
		}
	}
	int failures = 0; /* connection failures in a row without progress */
	while (p.done_updates < p.csv.n) {
		if (!client_is_connected(c) && !client_connect(c)) {
			fprintf(stderr, "%s: %s\n", PROG, client_error(c));
			rc = 2;
			break;
		}
		/* fill the window */
		size_t in_flight = 0;
		for (size_t i = 0; i < p.n_batches; i++)
			in_flight += p.batches[i].state == B_IN_FLIGHT;
		bool broken = false;
		const char *why = "";
		for (size_t i = 0; i < p.n_batches && in_flight < (size_t)window && !broken; i++) {
			if (p.batches[i].state != B_PENDING)
				continue;
			if (!send_batch(c, &p, &p.batches[i], ptrs)) {
				broken = true;
				why = client_error(c);
			}
			else
				in_flight++;
		}
		Overstap__V1__Envelope *env = NULL;
		if (!broken && in_flight > 0) {
			int r = client_recv(c, copts.timeout_ms, &env);
			if (r == 0)
				snprintf(err, sizeof err, "no reply within %d s", copts.timeout_ms / 1000);
			broken = r <= 0;
			why = r == 0 ? err : client_error(c);
		}
		if (broken) {
			requeue_in_flight(&p);
			client_close(c);
			if (++failures > copts.retries) {
				fprintf(stderr, "%s: %s; giving up\n", PROG, why);
				rc = 2;
				break;
			}
			fprintf(stderr, "%s: %s; reconnecting to send what was not acknowledged\n", PROG, why);
			backoff(failures);
			continue;
		}
		if (!env)
			continue;
		struct batch *b = batch_by_seq(&p, env->seq);
		bool progress = false;
		if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_BATCH_ACK && b) {
			progress = on_ack(&p, b, env->batch_ack);
		} else if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR && b) {
			progress = on_error(&p, b, env->error);
		} else if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
			/* the server closes after an error without a request (seq 0) */
			const Overstap__V1__Error *e = env->error;
			fprintf(stderr, "%s: the server closed the connection: %s %s\n", PROG, e->code, e->message);
			requeue_in_flight(&p);
			client_close(c);
			if (strcmp(e->code, ERR_FRAME_TOO_LARGE) == 0 && p.max_frame > 1024) {
				p.max_frame /= 2;
				split_large(&p, ptrs);
			} else if (++failures > copts.retries) {
				rc = 2;
				overstap__v1__envelope__free_unpacked(env, NULL);
				break;
			}
		}
		if (progress)
			failures = 0;
		overstap__v1__envelope__free_unpacked(env, NULL);
	}
	if (c) {
		client_close(c);
		client_free(c);
	}
	print_summary(&p, stdout);
	bool any_rejected = false;
	for (size_t i = 0; i < p.csv.n; i++)
		any_rejected = any_rejected || p.results[i].outcome == OUT_REJECTED;
	if (rc == 0 && any_rejected)
		rc = 1;
	if (rc == 2 && p.done_updates < p.csv.n)
		fprintf(stderr, "%s: %zu updates were not acknowledged; send the file again (acknowledged ones "
				"come back as duplicate)\n",
			PROG, p.csv.n - p.done_updates);
	for (size_t i = 0; i < p.csv.n; i++) {
		free(p.results[i].code);
		free(p.results[i].message);
	}
	for (size_t i = 0; i < p.n_batches; i++)
		free(p.batches[i].idx);
	free(p.batches);
	free(p.results);
	free(ptrs);
	updcsv_free(&p.csv);
	return rc;
}
