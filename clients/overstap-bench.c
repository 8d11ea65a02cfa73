/* overstap-bench — load generator for overstapd (the performance issue).
 *
 * Opens N mutual-TLS connections (one event loop, libevent + OpenSSL), each
 * with a vo or mbo identity, and pushes StatusBatches with a realistic event
 * mix for one cohort at full throttle or a target rate, keeping up to
 * --pipeline batches in flight per connection. Reports events/s, ack latency
 * percentiles (send of a batch → its BatchAck, i.e. after COMMIT), results.
 * --idle N only opens N connections and holds them (memory measurement).
 * Identities: --cert/--key (one certificate; role and organisation read from
 * its subject, as the daemon does: tls.c), else --identity ROLE:ORG files in
 * --pki DIR (several at once; the benchmark's mix of vo and mbo).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <getopt.h>
#include <netdb.h>
#include <math.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "errcodes.h"
#include "frame.h"
#include "overstap.pb-c.h"
#include "certid.h"

#define MAX_IDENTITIES 64
#define MAX_PIPELINE 64

struct identity_opt {
	char role[16];
	char org[OVERSTAP_ORG_MAX + 1];
	char crt[CLIENT_PATH_MAX], key[CLIENT_PATH_MAX];
};

struct opts {
	struct client_opts conn; /* --host --port --cert --key --ca (DESIGN §6.1) */
	const char *pki;
	struct identity_opt ids[MAX_IDENTITIES];
	int n_ids;
	int connections;
	int batch;
	int pipeline;
	double rate; /* events/s over all connections; 0 = open throttle */
	double duration;
	long long events;
	int pupils;
	bool new_pupils;    /* --new-pupils: every event the registration of a pupil never sent before */
	long long pgn_from; /* --pgn-from: the first of those pupils */
	int cohort;
	int idle;
	double idle_secs;
	bool json;
	int stats;         /* --stats N: N StatsQuery one after another */
	const char *stats_region;
	int stats_by;
	long long stats_as_of; /* 0: now; else query k asks for as_of + k (never a kept answer) */
	unsigned seed;
	const char *run_id;
	const char *acked; /* --acked FILE: the event_id of every acknowledged update */
};

static struct opts o;

struct conn {
	int index;
	struct bufferevent *bev;
	const struct identity_opt *id;
	bool ready;
	bool done;
	int in_flight;
	int64_t sent_us[MAX_PIPELINE];
	uint64_t seq_of[MAX_PIPELINE];
	int head, tail;
	uint64_t next_seq;
	uint64_t counter;
	unsigned rng;
};

static struct event_base *base;
static SSL_CTX *ctx;
static struct conn *conns;
static int64_t start_us, end_us;
static long long events_sent, accepted, duplicate, rejected, errors, connect_failures;
static int conns_ready, conns_done;
static double tokens;
static int64_t tokens_at_us;
static struct event *ev_tick;
static int64_t *lat_us;
static size_t n_lat, cap_lat;
static char first_reject[160];
static FILE *acked_f;

/* A number option within lo..hi, or a message naming the option. */
static bool bounded(const char *opt, const char *arg, long lo, long hi, int *out)
{
	long v;
	if (!client_parse_long(arg, lo, hi, &v)) {
		fprintf(stderr, "overstap-bench: %s must be a whole number from %ld to %ld, not '%s'\n", opt, lo, hi, arg);
		return false;
	}
	*out = (int)v;
	return true;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: overstap-bench [options]\n"
		"  --host H --port P        daemon address (OVERSTAP_HOST, OVERSTAP_PORT; 127.0.0.1:7443)\n"
		"  --cert FILE --key FILE   one identity, role and organisation from the certificate\n"
		"                           (OVERSTAP_CERT, OVERSTAP_KEY; unless --pki or --identity is given)\n"
		"  --ca FILE                CA certificate (OVERSTAP_CA; with --pki: DIR/ca.crt)\n"
		"  --pki DIR                certificates DIR/<role>-<org>.{crt,key} and DIR/ca.crt (var/pki)\n"
		"  --identity ROLE:ORG      a vo or mbo identity in DIR (repeatable; default vo:25LX00 and mbo:25LP)\n"
		"  --connections N          concurrent connections (8)\n"
		"  --batch N                updates per StatusBatch (500)\n"
		"  --pipeline N             batches in flight per connection (4)\n"
		"  --rate R                 target events/s over all connections (0 = full throttle)\n"
		"  --duration S             seconds to run (10), or\n"
		"  --events N               stop after N events\n"
		"  --pupils N               size of the pupil pool (100000)\n"
		"  --new-pupils             every event an OVERSTAPPER_GEREGISTREERD of a pupil not sent\n"
		"                           before (the cold path; vo identities only)\n"
		"  --pgn-from N             the first new pupil (0; runs against one database take\n"
		"                           ranges of their own, up to 40,000,000 in all)\n"
		"  --cohort C               cohort (next year)\n"
		"  --run-id S               prefix of event ids (random)\n"
		"  --acked FILE             write the event_id of every acknowledged update to FILE\n"
		"  --idle N                 only open N connections and hold them --idle-secs (10) seconds\n"
		"  --stats N                send N StatsQuery one after another (first --identity, e.g. admin:ops)\n"
		"  --stats-region R --stats-by region|vo_school|...   what the StatsQuery asks\n"
		"  --stats-as-of T          on the peildatum T (unix seconds), T+1 for the next query, ...\n"
		"  --json                   one JSON object instead of the text report\n"
		"Exit: 0 ok, 1 the server refused updates or sent errors, 2 usage/connection errors.\n");
}

/* ---- pupils and events ---------------------------------------------------- */

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

/* The i-th BSN of the pool: 8 digits from i, the ninth by the 11-test. */
static void pgn_of(int i, char out[10])
{
	for (int base8 = 10000000 + i * 7;; base8++) {
		char d[16];
		snprintf(d, sizeof d, "%08d", base8);
		int sum = 0;
		for (int k = 0; k < 8; k++)
			sum += (9 - k) * (d[k] - '0');
		int check = sum % 11;
		if (check == 10)
			continue;
		memcpy(out, d, 8);
		out[8] = (char)('0' + check);
		out[9] = '\0';
		return;
	}
}

/* The i-th new pupil (--new-pupils), 0 <= i < 40,000,000: digits 1..7 from
 * 2,000,000 + i % 8,000,000 (never a pool PGN, which begin with 10), digit 8
 * from a pair {2a, 2a+1} for a = i / 8,000,000 (of the two, the one whose
 * 11-test leaves a ninth digit), digit 9 the check: one BSN per i. */
static void new_pgn_of(long long i, char out[10])
{
	long long seven = 2000000 + i % 8000000;
	int a = (int)(i / 8000000);
	char d[16];
	snprintf(d, sizeof d, "%07lld", seven);
	int sum = 0;
	for (int k = 0; k < 7; k++)
		sum += (9 - k) * (d[k] - '0');
	int d8 = 2 * a;
	if ((sum + 2 * d8) % 11 == 10)
		d8++;
	memcpy(out, d, 7);
	out[7] = (char)('0' + d8);
	out[8] = (char)('0' + (sum + 2 * d8) % 11);
	out[9] = '\0';
}

static const char *const gemeenten[] = { "GM0935", "GM0917", "GM0928", "GM0971", "GM0882", "GM0888" };
static const char *const crebos[] = { "25180", "25604", "25491", "23153", "25257", "25655" };

struct batch_buf {
	Overstap__V1__StatusUpdate *updates;
	Overstap__V1__StatusUpdate **ptrs;
	char (*ids)[48];
	char (*pgns)[10];
	int cap;
};
static struct batch_buf bb;

static void fill_update(struct conn *c, int i, Overstap__V1__StatusUpdate *u, int64_t now)
{
	overstap__v1__status_update__init(u);
	int pupil;
	if (o.new_pupils) {
		long long k = o.pgn_from + (long long)c->counter * o.connections + c->index;
		new_pgn_of(k % 40000000, bb.pgns[i]);
		pupil = (int)(k % 6);
	} else {
		pupil = (int)(next_rand(&c->rng) * 32768u + next_rand(&c->rng)) % o.pupils;
		pgn_of(pupil, bb.pgns[i]);
	}
	snprintf(bb.ids[i], sizeof bb.ids[i], "%s-%d-%llu", o.run_id, c->index, (unsigned long long)c->counter++);
	u->event_id = bb.ids[i];
	u->pgn = bb.pgns[i];
	u->occurred_at = now - 3600 - (int64_t)(next_rand(&c->rng) % 86400);
	u->cohort = (uint32_t)o.cohort;
	u->school = (char *)c->id->org;
	unsigned pick = next_rand(&c->rng) % 100;
	static char birth[24];
	snprintf(birth, sizeof birth, "%04d-05-15", o.cohort - 16);
	if (strcmp(c->id->role, "vo") == 0) {
		if (pick < 35 || o.new_pupils) {
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_OVERSTAPPER_GEREGISTREERD;
			u->name = "Bench Leerling";
			u->birth_date = birth;
			u->woongemeente = (char *)gemeenten[pupil % 6];
			u->vo_soort = OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_KB;
		} else if (pick < 70) {
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_KEUZE_GEREGISTREERD;
			u->bestemming = OVERSTAP__V1__BESTEMMING__BESTEMMING_MBO;
			u->crebo = (char *)crebos[pupil % 6];
			u->mbo_instelling = "25LP";
			u->niveau = 2 + pupil % 3;
			u->leerweg = OVERSTAP__V1__LEERWEG__LEERWEG_BOL;
		} else if (pick < 85) {
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_DDD_AANGELEVERD;
		} else {
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_DIPLOMA_BEHAALD;
		}
	} else {
		u->crebo = (char *)crebos[pupil % 6];
		if (pick < 50)
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_AANGEMELD;
		else if (pick < 80)
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_OVEREENKOMST_AANGEBODEN;
		else
			u->kind = OVERSTAP__V1__EVENT_KIND__EVENT_KIND_INGESCHREVEN;
	}
}

static bool may_send(void)
{
	if (o.events && events_sent >= o.events)
		return false;
	if (o.duration > 0 && now_us() - start_us > (int64_t)(o.duration * 1e6))
		return false;
	return true;
}

static void send_batch(struct conn *c)
{
	int n = o.batch;
	if (o.events && events_sent + n > o.events)
		n = (int)(o.events - events_sent);
	if (n <= 0)
		return;
	if (o.rate > 0) {
		if (tokens < n)
			return;
		tokens -= n;
	}
	int64_t now = (int64_t)time(NULL);
	for (int i = 0; i < n; i++) {
		fill_update(c, i, &bb.updates[i], now);
		bb.ptrs[i] = &bb.updates[i];
	}
	Overstap__V1__StatusBatch batch = OVERSTAP__V1__STATUS_BATCH__INIT;
	batch.n_updates = (size_t)n;
	batch.updates = bb.ptrs;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.seq = ++c->next_seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &batch;
	size_t len = overstap__v1__envelope__get_packed_size(&env);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(len + 4), &vec, 1) < 1)
		return;
	frame_encode_header(vec.iov_base, (uint32_t)len);
	overstap__v1__envelope__pack(&env, (uint8_t *)vec.iov_base + 4);
	vec.iov_len = len + 4;
	evbuffer_commit_space(out, &vec, 1);
	c->sent_us[c->tail] = now_us();
	c->seq_of[c->tail] = env.seq;
	c->tail = (c->tail + 1) % MAX_PIPELINE;
	c->in_flight++;
	events_sent += n;
}

static void conn_fill(struct conn *c)
{
	if (o.stats)
		return; /* StatsQuery only: a batch's BatchAck would count as an answer */
	while (c->ready && !c->done && c->in_flight < o.pipeline && may_send()) {
		long long before = events_sent;
		send_batch(c);
		if (events_sent == before)
			break;
	}
	if (c->ready && !c->done && c->in_flight == 0 && !may_send()) {
		c->done = true;
		conns_done++;
		if (conns_done == o.connections) {
			end_us = now_us();
			event_base_loopexit(base, NULL);
		}
	}
}

static void record_latency(int64_t us)
{
	if (n_lat == cap_lat) {
		cap_lat = cap_lat ? cap_lat * 2 : 4096;
		lat_us = realloc(lat_us, cap_lat * sizeof *lat_us);
		if (!lat_us)
			exit(2);
	}
	lat_us[n_lat++] = us;
}

static int stats_done;

static void send_stats_query(struct conn *c)
{
	Overstap__V1__StatsQuery q = OVERSTAP__V1__STATS_QUERY__INIT;
	q.cohort = (uint32_t)o.cohort;
	q.group_by = (Overstap__V1__GroupBy)o.stats_by;
	q.region = (char *)(o.stats_region ? o.stats_region : "");
	q.as_of = o.stats_as_of ? o.stats_as_of + stats_done : 0;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.seq = ++c->next_seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY;
	env.stats_query = &q;
	uint8_t *buf;
	size_t len;
	if (!frame_pack_envelope(&env, &buf, &len))
		exit(2);
	bufferevent_write(c->bev, buf, len);
	free(buf);
	c->sent_us[0] = now_us();
}

static void handle_envelope(struct conn *c, Overstap__V1__Envelope *env)
{
	if (o.stats) {
		record_latency(now_us() - c->sent_us[0]);
		if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
			errors++;
			if (!first_reject[0])
				snprintf(first_reject, sizeof first_reject, "error %s: %s", env->error->code,
					 env->error->message);
		} else if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_STATS_REPLY) {
			accepted += (long long)env->stats_reply->n_rows;
		}
		if (++stats_done >= o.stats) {
			end_us = now_us();
			event_base_loopexit(base, NULL);
		} else {
			send_stats_query(c);
		}
		return;
	}
	if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
		errors++;
		if (!first_reject[0])
			snprintf(first_reject, sizeof first_reject, "error %s: %s", env->error->code, env->error->message);
		/* an error answers a batch too (e.g. BAD_REQUEST) */
	} else if (env->body_case != OVERSTAP__V1__ENVELOPE__BODY_BATCH_ACK) {
		return;
	}
	if (c->in_flight == 0)
		return;
	int64_t lat = now_us() - c->sent_us[c->head];
	c->head = (c->head + 1) % MAX_PIPELINE;
	c->in_flight--;
	if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_BATCH_ACK) {
		const Overstap__V1__BatchAck *ack = env->batch_ack;
		for (size_t i = 0; i < ack->n_results; i++) {
			const Overstap__V1__UpdateResult *r = ack->results[i];
			if (acked_f && (r->result == OVERSTAP__V1__RESULT__RESULT_ACCEPTED ||
					r->result == OVERSTAP__V1__RESULT__RESULT_DUPLICATE))
				fprintf(acked_f, "%s\n", r->event_id);
			if (r->result == OVERSTAP__V1__RESULT__RESULT_ACCEPTED)
				accepted++;
			else if (r->result == OVERSTAP__V1__RESULT__RESULT_DUPLICATE)
				duplicate++;
			else {
				rejected++;
				if (!first_reject[0])
					snprintf(first_reject, sizeof first_reject, "%s %s %s", r->event_id, r->error_code,
						 r->error_message);
			}
			record_latency(lat);
		}
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		uint8_t hdr[4];
		if (evbuffer_copyout(in, hdr, 4) < 4)
			break;
		uint32_t len;
		if (frame_check_header(hdr, 64u << 20, &len) != FRAME_OK) {
			fprintf(stderr, "overstap-bench: bad frame from server\n");
			exit(2);
		}
		if (evbuffer_get_length(in) < (size_t)len + 4)
			break;
		uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)len + 4);
		Overstap__V1__Envelope *env = overstap__v1__envelope__unpack(NULL, len, p + 4);
		evbuffer_drain(in, (size_t)len + 4);
		if (!env) {
			fprintf(stderr, "overstap-bench: undecodable frame from server\n");
			exit(2);
		}
		handle_envelope(c, env);
		overstap__v1__envelope__free_unpacked(env, NULL);
	}
	if (!o.idle)
		conn_fill(c);
}

static void idle_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

/* --idle opens its connections IDLE_HANDSHAKES at a time, as a population
 * of clients would arrive, and within the daemon's handshake limits (16 per
 * address by default): a newcomer beyond them makes the oldest give way. */
#define IDLE_HANDSHAKES 8
static const struct sockaddr *idle_sa;
static socklen_t idle_salen;
static int idle_opened;
static bool open_conn(struct conn *c, const struct sockaddr *sa, socklen_t salen);

static void idle_open_next(void)
{
	while (idle_opened < o.idle && idle_opened - conns_ready - (int)connect_failures < IDLE_HANDSHAKES) {
		struct conn *c = &conns[idle_opened++];
		if (!open_conn(c, idle_sa, idle_salen))
			exit(2);
	}
	if (conns_ready + connect_failures == o.idle) {
		start_us = now_us();
		struct timeval tv = { (time_t)o.idle_secs, (suseconds_t)((o.idle_secs - (time_t)o.idle_secs) * 1e6) };
		if (conns_ready == 0)
			tv = (struct timeval){ 0, 0 };
		event_base_once(base, -1, EV_TIMEOUT, idle_done_cb, NULL, &tv);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		c->ready = true;
		conns_ready++;
		if (o.idle) {
			idle_open_next();
			return;
		}
		if (conns_ready == 1)
			start_us = now_us();
		if (o.stats) {
			send_stats_query(c);
			return;
		}
		conn_fill(c);
		return;
	}
	unsigned long e = bufferevent_get_openssl_error(bev);
	int sock_err = 0;
	socklen_t errlen = sizeof sock_err;
	evutil_socket_t fd = bufferevent_getfd(bev);
	if ((fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &sock_err, &errlen) != 0 || !sock_err) &&
	    ((what & BEV_EVENT_ERROR) || !c->ready))
		sock_err = EVUTIL_SOCKET_ERROR();
	if (e && ERR_GET_LIB(e) == 0)
		e = 0; /* not an OpenSSL error: the socket's own says more */
	char buf[160] = "";
	if (sock_err)
		snprintf(buf, sizeof buf, "%s", evutil_socket_error_to_string(sock_err));
	else if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	else if (what & BEV_EVENT_EOF)
		snprintf(buf, sizeof buf, "closed by the server");
	bool was_ready = c->ready;
	if (!c->ready)
		connect_failures++;
	else
		errors++;
	fprintf(stderr, "overstap-bench: connection %d to %s:%d %s%s%s\n", c->index, o.conn.host, o.conn.port,
		c->ready ? "lost" : "failed", buf[0] ? ": " : "", buf);
	if (o.idle && !was_ready && !c->done) {
		c->done = true;
		conns_done++;
		idle_open_next();
		return;
	}
	if (!c->done) {
		c->done = true;
		conns_done++;
	}
	if (c->ready)
		c->ready = false;
	if (conns_done == (o.idle ? o.idle : o.connections) || (!o.idle && connect_failures == o.connections)) {
		end_us = now_us();
		event_base_loopexit(base, NULL);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	int64_t now = now_us();
	tokens += o.rate * (double)(now - tokens_at_us) / 1e6;
	double cap = o.rate * 0.05 + o.batch;
	if (tokens > cap)
		tokens = cap;
	tokens_at_us = now;
	for (int i = 0; i < o.connections; i++)
		conn_fill(&conns[i]);
	if (start_us && o.duration > 0 && now - start_us > (int64_t)(o.duration * 1e6) + 30000000) {
		/* acks lost: give up, and count every batch still unanswered */
		int unacked = 0;
		for (int i = 0; i < o.connections; i++)
			unacked += conns[i].in_flight;
		if (unacked) {
			errors += unacked;
			fprintf(stderr, "overstap-bench: %d batches not acknowledged 30 s after the end; giving up\n",
				unacked);
		}
		end_us = now;
		event_base_loopexit(base, NULL);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double p)
{
	if (!n_lat)
		return 0;
	size_t k = (size_t)ceil(p / 100.0 * (double)n_lat);
	if (k == 0)
		k = 1;
	return (double)lat_us[k - 1] / 1000.0;
}

/* --cert/--key: the one identity, its role and organisation read from the
 * certificate's subject by the daemon's own check (tls.c). */
static bool cert_identity(struct identity_opt *id)
{
	if (!o.conn.key[0]) {
		fprintf(stderr, "overstap-bench: --cert needs --key (or OVERSTAP_KEY)\n");
		return false;
	}
	FILE *f = fopen(o.conn.cert, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	struct identity who;
	char why[200];
	bool ok = x && certid_read(x, &who, why, sizeof why);
	if (!x)
		snprintf(why, sizeof why, "%s", f ? "not a PEM certificate" : strerror(errno));
	X509_free(x);
	if (!ok) {
		fprintf(stderr, "overstap-bench: certificate %s: %s\n", o.conn.cert, why);
		return false;
	}
	snprintf(id->role, sizeof id->role, "%s", overstap_role_name(who.role));
	snprintf(id->org, sizeof id->org, "%s", who.org);
	snprintf(id->crt, sizeof id->crt, "%s", o.conn.cert);
	snprintf(id->key, sizeof id->key, "%s", o.conn.key);
	return true;
}

static bool open_conn(struct conn *c, const struct sockaddr *sa, socklen_t salen)
{
	const char *crt = c->id->crt, *key = c->id->key;
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_use_certificate_chain_file(ssl, crt) != 1 || SSL_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "overstap-bench: certificate %s or key %s: %s\n", crt, key,
			ERR_error_string(ERR_get_error(), NULL));
		return false;
	}
	SSL_set_tlsext_host_name(ssl, "localhost");
	c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) != 0) {
		fprintf(stderr, "overstap-bench: connect: %s\n", strerror(errno));
		return false;
	}
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return true;
}

int main(int argc, char **argv)
{
	client_opts_init(&o.conn, "overstap-bench");
	bool pki_given = false, cert_given = false, ca_given = false;
	o.pki = "var/pki";
	o.connections = 8;
	o.batch = 500;
	o.pipeline = 4;
	o.duration = 10;
	o.pupils = 100000;
	o.idle_secs = 10;
	o.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	o.cohort = tm.tm_year + 1900 + 1;
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "pki", required_argument, NULL, 'k' },
		{ "identity", required_argument, NULL, 'i' },	 { "connections", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },	 { "pipeline", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },	 { "duration", required_argument, NULL, 'd' },
		{ "events", required_argument, NULL, 'e' },	 { "pupils", required_argument, NULL, 'u' },
		{ "new-pupils", no_argument, NULL, 'N' },	 { "pgn-from", required_argument, NULL, 'F' },
		{ "cohort", required_argument, NULL, 'C' },	 { "idle", required_argument, NULL, 'I' },
		{ "idle-secs", required_argument, NULL, 'S' }, { "json", no_argument, NULL, 'j' },
		{ "run-id", required_argument, NULL, 'R' },	 { "help", no_argument, NULL, 'h' },
		{ "stats", required_argument, NULL, 's' },	 { "stats-region", required_argument, NULL, 'g' },
		{ "stats-by", required_argument, NULL, 'y' },	 { "stats-as-of", required_argument, NULL, 'O' },	 { "acked", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'k': o.pki = optarg; pki_given = true; break;
		case 'i': {
			const char *colon = strchr(optarg, ':');
			if (!colon || o.n_ids == MAX_IDENTITIES || colon - optarg >= 16 || strlen(colon + 1) > OVERSTAP_ORG_MAX) {
				fprintf(stderr, "overstap-bench: --identity ROLE:ORG, e.g. vo:25LX00\n");
				return 2;
			}
			snprintf(o.ids[o.n_ids].role, 16, "%.*s", (int)(colon - optarg), optarg);
			snprintf(o.ids[o.n_ids].org, sizeof o.ids[o.n_ids].org, "%s", colon + 1);
			o.n_ids++;
			pki_given = true;
			break;
		}
		case 'c': if (!bounded("--connections", optarg, 1, 100000, &o.connections)) return 2; break;
		case 'b': if (!bounded("--batch", optarg, 1, 10000, &o.batch)) return 2; break;
		case 'p': if (!bounded("--pipeline", optarg, 1, MAX_PIPELINE - 1, &o.pipeline)) return 2; break;
		case 'r': o.rate = atof(optarg); break;
		case 'd': o.duration = atof(optarg); o.events = 0; break;
		case 'e': o.events = atoll(optarg); o.duration = 0; break;
		case 'u': if (!bounded("--pupils", optarg, 1, 10000000, &o.pupils)) return 2; break;
		case 'C': o.cohort = atoi(optarg); break;
		case 'N': o.new_pupils = true; break;
		case 'F': {
			long v;
			if (!client_parse_long(optarg, 0, 39999999, &v)) {
				fprintf(stderr, "overstap-bench: --pgn-from must be a whole number from 0 to 39999999\n");
				return 2;
			}
			o.pgn_from = v;
			break;
		}
		case 'I': if (!bounded("--idle", optarg, 1, 1000000, &o.idle)) return 2; break;
		case 'S': o.idle_secs = atof(optarg); break;
		case 'j': o.json = true; break;
		case 'R': o.run_id = optarg; break;
		case 'A': o.acked = optarg; break;
		case 's': if (!bounded("--stats", optarg, 1, 100000000, &o.stats)) return 2; o.connections = 1; break;
		case 'g': o.stats_region = optarg; break;
		case 'O': o.stats_as_of = atoll(optarg); break;
		case 'y': {
			static const char *const names[] = { "", "region", "vo_school", "woongemeente", "mbo_instelling", "vo_soort" };
			o.stats_by = -1;
			for (int k = 1; k < 6; k++)
				if (strcmp(optarg, names[k]) == 0)
					o.stats_by = k;
			if (o.stats_by < 0) {
				fprintf(stderr, "overstap-bench: --stats-by must be region, vo_school, woongemeente, "
						"mbo_instelling or vo_soort, not '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default:
			cert_given |= ch == CLIENT_OPT_CERT;
			ca_given |= ch == CLIENT_OPT_CA;
			if (!client_opts_getopt(&o.conn, ch, optarg))
				return 2;
			break;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "overstap-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	char cafile[CLIENT_PATH_MAX];
	if (cert_given && pki_given) {
		fprintf(stderr, "overstap-bench: --cert names one identity; --pki and --identity name others\n");
		return 2;
	}
	if (o.conn.cert[0] && !pki_given) {
		if (!cert_identity(&o.ids[0]))
			return 2;
		o.n_ids = 1;
		snprintf(cafile, sizeof cafile, "%s", o.conn.ca);
	} else {
		if (!o.n_ids) {
			o.ids[0] = (struct identity_opt){ .role = "vo", .org = "25LX00" };
			o.ids[1] = (struct identity_opt){ .role = "mbo", .org = "25LP" };
			o.n_ids = 2;
		}
		for (int i = 0; i < o.n_ids; i++) {
			struct identity_opt *id = &o.ids[i];
			snprintf(id->crt, sizeof id->crt, "%s/%s-%s.crt", o.pki, id->role, id->org);
			snprintf(id->key, sizeof id->key, "%s/%s-%s.key", o.pki, id->role, id->org);
		}
		snprintf(cafile, sizeof cafile, "%s/ca.crt", o.pki);
		if (ca_given)
			snprintf(cafile, sizeof cafile, "%s", o.conn.ca);
	}
	for (int i = 0; o.new_pupils && i < o.n_ids; i++) {
		if (strcmp(o.ids[i].role, "vo") != 0) {
			fprintf(stderr, "overstap-bench: --new-pupils registers pupils: every identity must be vo, not %s:%s\n",
				o.ids[i].role, o.ids[i].org);
			return 2;
		}
	}
	static char runid[32];
	if (!o.run_id) {
		snprintf(runid, sizeof runid, "b%lx%x", (unsigned long)time(NULL), o.seed & 0xffff);
		o.run_id = runid;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		fprintf(stderr, "overstap-bench: CA '%s': %s\n", cafile, ERR_error_string(ERR_get_error(), NULL));
		return 2;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* the name checked in the server certificate: as every client does it
	 * (clients/lib/client.c): --servername, else the host; an IP literal is
	 * checked as an address */
	const char *host = o.conn.host;
	const char *name = o.conn.servername[0] ? o.conn.servername : host;
	unsigned char ipbuf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, name, ipbuf) == 1 || inet_pton(AF_INET6, name, ipbuf) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), name);
	else
		X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), name, 0);
	/* a name, an IPv4 or an IPv6 address: resolved once, before the loop */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	{
		char port[16];
		snprintf(port, sizeof port, "%d", o.conn.port);
		struct addrinfo hints = { 0 }, *res = NULL;
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		int rc = getaddrinfo(host, port, &hints, &res);
		if (rc != 0 || !res) {
			fprintf(stderr, "overstap-bench: cannot resolve --host %s: %s\n", host, gai_strerror(rc));
			return 2;
		}
		memcpy(&addr, res->ai_addr, res->ai_addrlen);
		addrlen = res->ai_addrlen;
		freeaddrinfo(res);
	}
	if (o.acked && !(acked_f = fopen(o.acked, "w"))) {
		fprintf(stderr, "overstap-bench: --acked %s: %s\n", o.acked, strerror(errno));
		return 2;
	}
	/* a connection the server closes is counted, not a reason to die */
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	int n = o.idle ? o.idle : o.connections;
	conns = calloc((size_t)n, sizeof *conns);
	bb.cap = o.batch;
	bb.updates = calloc((size_t)bb.cap, sizeof *bb.updates);
	bb.ptrs = calloc((size_t)bb.cap, sizeof *bb.ptrs);
	bb.ids = calloc((size_t)bb.cap, sizeof *bb.ids);
	bb.pgns = calloc((size_t)bb.cap, sizeof *bb.pgns);
	if (!conns || !bb.updates || !bb.ptrs || !bb.ids || !bb.pgns)
		return 2;
	for (int i = 0; i < n; i++) {
		conns[i].index = i;
		conns[i].id = &o.ids[i % o.n_ids];
		conns[i].rng = o.seed + (unsigned)i * 7919u;
		if (!o.idle && !open_conn(&conns[i], (const struct sockaddr *)&addr, addrlen))
			return 2;
	}
	if (o.idle) {
		idle_sa = (const struct sockaddr *)&addr;
		idle_salen = addrlen;
		idle_open_next();
	}
	if (o.rate > 0) {
		tokens_at_us = now_us();
		ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
		struct timeval tv = { 0, 2000 };
		event_add(ev_tick, &tv);
	}
	event_base_dispatch(base);
	if (!end_us)
		end_us = now_us();
	if (o.idle) {
		if (o.json)
			printf("{\"idle_connections\":%d,\"ready\":%d,\"failed\":%lld}\n", o.idle, conns_ready, connect_failures);
		else
			printf("idle connections held: %d of %d (failed %lld)\n", conns_ready, o.idle, connect_failures);
		return conns_ready == o.idle ? 0 : 2;
	}
	if (!start_us) {
		/* no connection was ever ready: there is no run to report */
		fprintf(stderr, "overstap-bench: no connection to %s:%d succeeded (%lld of %d failed); nothing measured\n",
			o.conn.host, o.conn.port, connect_failures, o.connections);
		return 2;
	}
	qsort(lat_us, n_lat, sizeof *lat_us, cmp_i64);
	double secs = (double)(end_us - start_us) / 1e6;
	long long done = accepted + duplicate;
	double eps = secs > 0 ? (double)(done + rejected) / secs : 0;
	double maxms = n_lat ? (double)lat_us[n_lat - 1] / 1000.0 : 0;
	if (o.stats) {
		if (o.json)
			printf("{\"stats_queries\":%d,\"rows\":%lld,\"errors\":%lld,\"latency_ms\":{\"p50\":%.3f,\"p95\":%.3f,"
			       "\"p99\":%.3f,\"max\":%.3f}}\n",
			       stats_done, accepted, errors, percentile(50), percentile(95), percentile(99), maxms);
		else
			printf("StatsQuery x%d: latency ms p50 %.2f  p95 %.2f  p99 %.2f  max %.2f (rows %lld, errors %lld)\n",
			       stats_done, percentile(50), percentile(95), percentile(99), maxms, accepted, errors);
		return errors ? 1 : 0;
	}
	if (o.json) {
		printf("{\"events_per_sec\":%.1f,\"seconds\":%.3f,\"events\":%lld,\"accepted\":%lld,\"duplicate\":%lld,"
		       "\"rejected\":%lld,\"errors\":%lld,\"connections\":%d,\"batch\":%d,\"pipeline\":%d,\"rate\":%.0f,"
		       "\"ack_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
		       eps, secs, done + rejected, accepted, duplicate, rejected, errors, o.connections, o.batch,
		       o.pipeline, o.rate, percentile(50), percentile(95), percentile(99), maxms);
	} else {
		printf("events/s %.0f over %.2f s: accepted %lld, duplicate %lld, rejected %lld, errors %lld\n", eps, secs,
		       accepted, duplicate, rejected, errors);
		printf("ack latency ms: p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  (%d connections, batch %d, pipeline %d)\n",
		       percentile(50), percentile(95), percentile(99), maxms, o.connections, o.batch, o.pipeline);
	}
	if (first_reject[0])
		fprintf(stderr, "overstap-bench: first refusal: %s\n", first_reject);
	if (connect_failures)
		return 2;
	return (rejected || errors) ? 1 : 0;
}
