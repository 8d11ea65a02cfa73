/* overstap-rmc — the RMC's (or vo school's, or projectteam's) alert queue on
 * standard output or in a file (DESIGN §6.1).
 *
 * Subscribes, writes one line per alert (a JSON object per line with --json),
 * flushes — and with --out FILE, fsyncs the appended file — and only then
 * acknowledges the alerts, so an alert is never acked before it is safely
 * written. Reconnects and subscribes again when the connection breaks (alerts
 * not yet acked come again). Exit 0 done (--max, --idle-exit, a signal),
 * 1 the server refused the subscription, 2 usage, output or connection errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "render.h"

#define PROG "overstap-rmc"
#define SEEN_MAX 4096 /* alert ids written in this run, to skip redeliveries */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Subscribes to the alert queue of the certificate's organisation and prints one line per\n"
		"alert, acknowledging each after it is written and flushed.\n"
		"\n"
		"  --json               one JSON object per line\n"
		"  --out FILE           append to FILE (fsync before the ack) instead of standard output\n"
		"  --max N              stop after N alerts\n"
		"  --idle-exit SECONDS  stop when no alert came for SECONDS\n"
		"  --window N           alerts in flight, unacknowledged (100)\n"
		"%s"
		"  --help               this text\n"
		"\n"
		"Exit: 0 done, 1 the server refused the subscription, 2 usage, output or connection errors.\n",
		PROG, CLIENT_OPTS_HELP);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct rmc {
	bool json;
	FILE *out;
	bool out_is_file;
	long max;         /* 0 = no limit */
	long idle_ms;     /* 0 = wait forever */
	long window;
	long written;
	bool acks_unconfirmed; /* acks sent since the last Pong */
	uint64_t seen[SEEN_MAX];
	size_t n_seen, seen_next;
};

static bool seen_before(struct rmc *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_seen; i++)
		if (r->seen[i] == id)
			return true;
	r->seen[r->seen_next] = id;
	r->seen_next = (r->seen_next + 1) % SEEN_MAX;
	if (r->n_seen < SEEN_MAX)
		r->n_seen++;
	return false;
}

static bool write_alert(struct rmc *r, const Overstap__V1__Alert *a)
{
	if (r->json)
		return render_json_line(render_alert_json(a), r->out);
	char *line = render_alert_line(a);
	if (!line)
		return false;
	bool ok = fputs(line, r->out) >= 0 && fputc('\n', r->out) != EOF;
	free(line);
	return ok;
}

static bool flush_out(struct rmc *r)
{
	if (fflush(r->out) != 0)
		return false;
	if (r->out_is_file && fsync(fileno(r->out)) != 0)
		return false;
	return true;
}

static bool send_simple(struct client *c, Overstap__V1__Envelope *env)
{
	env->seq = client_next_seq(c);
	return client_send(c, env);
}

/* Makes sure the server has read our acks before we close: a Ping is
 * answered in order, after every frame sent before it. */
static void confirm_acks(struct client *c, struct rmc *r)
{
	if (!r->acks_unconfirmed || !client_is_connected(c))
		return;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Ping ping = OVERSTAP__V1__PING__INIT;
	ping.t = (int64_t)time(NULL);
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PING;
	env.ping = &ping;
	if (!send_simple(c, &env))
		return;
	int64_t deadline = mono_ms() + 5000;
	for (;;) {
		int64_t left = deadline - mono_ms();
		Overstap__V1__Envelope *in;
		if (left <= 0 || client_recv(c, (int)left, &in) <= 0)
			return;
		bool pong = in->body_case == OVERSTAP__V1__ENVELOPE__BODY_PONG && in->seq == env.seq;
		overstap__v1__envelope__free_unpacked(in, NULL);
		if (pong) {
			r->acks_unconfirmed = false;
			return;
		}
	}
}

static bool subscribe(struct client *c, struct rmc *r)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Subscribe sub = OVERSTAP__V1__SUBSCRIBE__INIT;
	long want = r->window;
	if (r->max && r->max - r->written < want)
		want = r->max - r->written;
	sub.max_in_flight = (uint32_t)(want > 0 ? want : 1);
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &sub;
	return send_simple(c, &env);
}

/* Handles one received alert and any already waiting behind it: writes them,
 * flushes, then acks them in one AlertAck. 1 ok, 0 connection broken,
 * -1 output failed, -2 the server refused. */
static int handle_alerts(struct client *c, struct rmc *r, Overstap__V1__Envelope *first)
{
	uint64_t ids[1024];
	size_t n_ids = 0;
	Overstap__V1__Envelope *env = first;
	int rc = 1;
	while (env) {
		if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ALERT) {
			const Overstap__V1__Alert *a = env->alert;
			bool limit = r->max && r->written >= r->max;
			if (!limit) {
				if (!seen_before(r, a->alert_id)) {
					if (!write_alert(r, a)) {
						rc = -1;
						overstap__v1__envelope__free_unpacked(env, NULL);
						break;
					}
					r->written++;
				}
				ids[n_ids++] = a->alert_id;
			}
		} else if (env->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
			fprintf(stderr, "%s: the server refused: %s %s\n", PROG, env->error->code, env->error->message);
			rc = -2;
			overstap__v1__envelope__free_unpacked(env, NULL);
			break;
		}
		overstap__v1__envelope__free_unpacked(env, NULL);
		env = NULL;
		if (n_ids == sizeof ids / sizeof ids[0])
			break;
		int got = client_recv(c, 0, &env); /* only what is already here */
		if (got < 0)
			rc = 0;
	}
	if (n_ids == 0)
		return rc;
	if (!flush_out(r))
		return -1; /* written but not safely: no ack, they come again */
	Overstap__V1__Envelope ack_env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__AlertAck ack = OVERSTAP__V1__ALERT_ACK__INIT;
	ack.n_alert_ids = n_ids;
	ack.alert_ids = ids;
	ack_env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK;
	ack_env.alert_ack = &ack;
	if (!client_is_connected(c) || !send_simple(c, &ack_env))
		return 0; /* not acked: delivered again after the reconnect */
	r->acks_unconfirmed = true;
	return rc;
}

int main(int argc, char **argv)
{
	struct client_opts copts;
	client_opts_init(&copts, PROG);
	static struct rmc r = { .window = 100 };
	const char *out_path = NULL;
	static const struct option lopts[] = {
		CLIENT_LONG_OPTIONS,
		{ "json", 0, NULL, 'j' },
		{ "out", 1, NULL, 'o' },
		{ "max", 1, NULL, 'm' },
		{ "idle-exit", 1, NULL, 'i' },
		{ "window", 1, NULL, 'w' },
		{ "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[1400];
	int ch;
	long v;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
			r.json = true;
			break;
		case 'o':
			if (!*optarg) {
				fprintf(stderr, "%s: --out needs a file name\n", PROG);
				return 2;
			}
			out_path = optarg;
			break;
		case 'm':
			if (!client_parse_long(optarg, 1, 1000000000L, &v)) {
				fprintf(stderr, "%s: --max must be a number of alerts, at least 1\n", PROG);
				return 2;
			}
			r.max = v;
			break;
		case 'i':
			if (!client_parse_long(optarg, 1, 100000000L, &v)) {
				fprintf(stderr, "%s: --idle-exit must be whole seconds, at least 1\n", PROG);
				return 2;
			}
			r.idle_ms = v * 1000;
			break;
		case 'w':
			if (!client_parse_long(optarg, 1, 10000, &v)) {
				fprintf(stderr, "%s: --window must be a number from 1 to 10000\n", PROG);
				return 2;
			}
			r.window = v;
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
	struct client *c = client_new(&copts, err, sizeof err);
	if (!c) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return 2;
	}
	r.out = stdout;
	if (out_path) {
		/* personal data: readable by the owner only */
		int fd = open(out_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		r.out = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!r.out) {
			fprintf(stderr, "%s: %s: %s\n", PROG, out_path, strerror(errno));
			client_free(c);
			return 2;
		}
		r.out_is_file = true;
	}
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = 0, failures = 0;
	int64_t last_alert = mono_ms();
	bool subscribed = false, told_waiting = false;
	while (!stop_requested && !(r.max && r.written >= r.max)) {
		if (!client_is_connected(c)) {
			subscribed = false;
			if (!client_connect(c)) {
				fprintf(stderr, "%s: %s\n", PROG, client_error(c));
				rc = 2;
				break;
			}
		}
		if (!subscribed) {
			if (!subscribe(c, &r)) {
				client_close(c);
				if (++failures > copts.retries) {
					fprintf(stderr, "%s: %s\n", PROG, client_error(c));
					rc = 2;
					break;
				}
				continue;
			}
			subscribed = true;
			/* a person at a terminal: say why nothing more happens */
			if (!told_waiting && !r.idle_ms && !r.max && isatty(STDERR_FILENO))
				fprintf(stderr, "%s: subscribed; waiting for alerts until stopped (Ctrl-C; "
						"--idle-exit SECONDS stops after a quiet spell)\n",
					PROG);
			told_waiting = true;
		}
		int wait = -1;
		if (r.idle_ms) {
			int64_t left = last_alert + r.idle_ms - mono_ms();
			if (left <= 0)
				break;
			wait = (int)left;
		}
		Overstap__V1__Envelope *env;
		int got = client_recv(c, wait, &env);
		if (got == 0)
			continue; /* idle time is checked above; a signal is checked by the loop */
		if (got < 0) {
			if (++failures > copts.retries) {
				fprintf(stderr, "%s: %s; giving up\n", PROG, client_error(c));
				rc = 2;
				break;
			}
			fprintf(stderr, "%s: %s; reconnecting\n", PROG, client_error(c));
			client_close(c);
			continue;
		}
		if (env->body_case != OVERSTAP__V1__ENVELOPE__BODY_ALERT &&
		    env->body_case != OVERSTAP__V1__ENVELOPE__BODY_ERROR) {
			overstap__v1__envelope__free_unpacked(env, NULL);
			continue; /* Pong and the like */
		}
		int h = handle_alerts(c, &r, env);
		if (h == -1) {
			fprintf(stderr, "%s: writing %s failed: %s\n", PROG, out_path ? out_path : "standard output",
				strerror(errno));
			rc = 2;
			break;
		}
		if (h == -2) {
			rc = 1;
			break;
		}
		failures = 0;
		last_alert = mono_ms();
		if (h == 0) {
			fprintf(stderr, "%s: %s; reconnecting\n", PROG, client_error(c));
			client_close(c);
		}
	}
	confirm_acks(c, &r);
	client_close(c);
	client_free(c);
	if (r.out_is_file && fclose(r.out) != 0 && rc == 0) {
		fprintf(stderr, "%s: closing %s: %s\n", PROG, out_path, strerror(errno));
		rc = 2;
	}
	return rc;
}
