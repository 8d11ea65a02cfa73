/* main.c — overstapd: arguments, configuration, signals, the event loop.
 *
 * Owns start-up (config, TLS context, migrations: the only blocking database
 * work, done before the loop runs), the wiring of the modules through struct
 * server, and shutdown: SIGTERM/SIGINT stop accepting, finish every batch in
 * flight, then exit 0; SIGHUP re-reads the log level. Tells systemd (notify.c)
 * when it is ready, reloading or stopping, and keeps its watchdog fed.
 */
#include <event2/event.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "notify.h"
#include "pupil.h"
#include "queue.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "sweeper.h"
#include "tls.h"

#define SHUTDOWN_GRACE_SECS 30

static struct server srv;
static struct config cfg;
static const char *config_path;
static struct event *ev_drain_check;
static int64_t drain_deadline_us;
static bool store_was_up;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: overstapd -c FILE [--migrate | --check-config]\n"
		"\n"
		"Monitors the overstap vo-mbo: takes pupil status events from school systems\n"
		"over mutual TLS, keeps each pupil's state in PostgreSQL, raises zomerlek and\n"
		"niet-gestart alerts onto RMC queues, and answers completion percentages.\n"
		"\n"
		"  -c, --config FILE  configuration file (INI; see deploy/overstapd.conf.example)\n"
		"      --migrate      apply the database migrations and exit\n"
		"      --check-config read the configuration, open every file it names (cert,\n"
		"                     key, CA, CRL), check that the key belongs to the\n"
		"                     certificate and the conninfo parses, then exit\n"
		"  -h, --help         this text\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads [log] level.\n");
}

/* --check-config, after the file parsed: every file it names opens, the key
 * belongs to the certificate, the conninfo parses. Messages on stderr. */
static bool check_config(void)
{
	char err[2048];
	if (!tls_check_files(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, cfg.tls_crl, err, sizeof err)) {
		fprintf(stderr, "overstapd: %s: %s\n", config_path, err);
		return false;
	}
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(cfg.conninfo, &perr);
	if (!opts) {
		fprintf(stderr, "overstapd: %s: [database] conninfo: %s", config_path,
			perr ? perr : "out of memory\n");
		PQfreemem(perr);
		return false;
	}
	PQconninfoFree(opts);
	printf("%s: ok\n", config_path);
	return true;
}

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if ((srv.n_sessions == 0 && ingest_in_flight(srv.ingest) == 0) || clock_mono_us() > drain_deadline_us) {
		if (srv.n_sessions || ingest_in_flight(srv.ingest))
			log_warn("main", "shutdown grace period over: sessions=%d unacked_events=%d (clients resend)",
				 srv.n_sessions, ingest_in_flight(srv.ingest));
		event_base_loopexit(srv.base, NULL);
		return;
	}
	struct timeval tv = { 0, 20000 };
	evtimer_add(ev_drain_check, &tv);
}

static void shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (srv.draining)
		return;
	notify_stopping();
	log_info("main", "signal=%d draining sessions=%d", (int)sig, srv.n_sessions);
	net_shutdown(&srv);
	http_stop(srv.http);
	drain_deadline_us = clock_mono_us() + SHUTDOWN_GRACE_SECS * 1000000LL;
	ev_drain_check = evtimer_new(srv.base, drain_check_cb, NULL);
	drain_check_cb(-1, 0, NULL);
}

static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	struct config fresh;
	char err[1024];
	notify_reloading();
	config_defaults(&fresh);
	if (!config_load(config_path, &fresh, err, sizeof err)) {
		log_error("main", "reload failed, keeping the running configuration: %s", err);
		notify_ready();
		return;
	}
	log_set_level(fresh.log_level);
	cfg.log_level = fresh.log_level;
	log_info("main", "reloaded log level; other changes need a restart");
	notify_ready();
}

static void store_state_cb(bool up, void *arg)
{
	(void)arg;
	if (up && !store_was_up) {
		store_was_up = true;
		queue_start(srv.queue);
		sweeper_start(srv.sweeper);
	}
	notify_status("database %s; %d sessions", up ? "up" : "down", srv.n_sessions);
	net_store_changed(&srv);
}

static void clock_changed_cb(void *arg)
{
	(void)arg;
	sweeper_clock_changed(srv.sweeper);
	queue_clock_changed(srv.queue);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },   { "migrate", no_argument, NULL, 'm' },
		{ "check-config", no_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool migrate_only = false, check_only = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'm':
			migrate_only = true;
			break;
		case 'k':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	char err[2048];
	config_defaults(&cfg);
	if (!config_load(config_path, &cfg, err, sizeof err)) {
		fprintf(stderr, "overstapd: %s\n", err);
		return 2;
	}
	if (check_only)
		return check_config() ? 0 : 2;
	log_set_level(cfg.log_level);
	log_set_target(cfg.log_target);
	clock_init(cfg.clock_mode, cfg.clock_start);
	metrics_init();
	signal(SIGPIPE, SIG_IGN);

	/* At start-up, before the loop: PostgreSQL may still be starting (boot
	 * order). The daemon waits for it with back-off rather than exit; a
	 * migration that fails for any other reason stops it. --migrate fails at
	 * once. */
	long wait_ms = 250;
	while (!store_migrate(cfg.conninfo, err, sizeof err)) {
		if (migrate_only || strncmp(err, "cannot connect", 14) != 0) {
			log_error("main", "migrations: %s", err);
			return 1;
		}
		log_warn("main", "waiting for the database (retry in %ld ms): %s", wait_ms, err);
		notify_status("waiting for the database");
		notify_extend_timeout((uint64_t)(wait_ms + 30000) * 1000);
		struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		wait_ms = wait_ms * 2 > cfg.reconnect_max_ms ? cfg.reconnect_max_ms : wait_ms * 2;
	}
	if (migrate_only) {
		log_info("main", "migrations up to date");
		return 0;
	}
	if (cfg.clock_mode == CLOCK_MANUAL) {
		char when[32];
		clock_format_iso(cfg.clock_start, when, sizeof when);
		log_warn("main", "clock=manual start=%s — for tests and demonstrations only", when);
	}

	srv.cfg = &cfg;
	TAILQ_INIT(&srv.sessions);
	srv.base = event_base_new();
	srv.ssl_ctx = tls_server_ctx(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, cfg.tls_crl, err, sizeof err);
	if (!srv.base || !srv.ssl_ctx) {
		log_error("main", "tls: %s", err);
		return 1;
	}
	struct store_config scfg = { cfg.conninfo, (int)cfg.reconnect_max_ms };
	srv.store = store_new(srv.base, &scfg, store_state_cb, NULL);
	srv.ingest = ingest_new(&srv);
	srv.queue = queue_new(&srv);
	srv.sweeper = sweeper_new(&srv);
	srv.stats = stats_new(&srv);
	if (!srv.store || !srv.ingest || !srv.queue || !srv.sweeper || !srv.stats) {
		log_error("main", "out of memory at start-up");
		return 1;
	}
	ingest_register(srv.ingest);
	queue_register(srv.queue);
	sweeper_register(srv.sweeper);
	stats_register(srv.stats);
	pupil_register(&srv);
	clock_on_change(clock_changed_cb, NULL);

	if (!net_listen(&srv, cfg.listen, err, sizeof err)) {
		log_error("main", "%s", err);
		return 1;
	}
	if (cfg.http_listen[0]) {
		srv.http = http_new(&srv, cfg.http_listen, err, sizeof err);
		if (!srv.http) {
			log_error("main", "http: %s", err);
			return 1;
		}
	}
	struct event *ev_term = evsignal_new(srv.base, SIGTERM, shutdown_cb, NULL);
	struct event *ev_int = evsignal_new(srv.base, SIGINT, shutdown_cb, NULL);
	struct event *ev_hup = evsignal_new(srv.base, SIGHUP, reload_cb, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	store_start(srv.store);
	if (!notify_watchdog_start(srv.base)) {
		log_error("main", "out of memory at start-up");
		return 1;
	}
	notify_ready();
	log_info("main", "listening=%s http=%s instance=%s clock=%s", cfg.listen,
		 cfg.http_listen[0] ? cfg.http_listen : "off", cfg.instance,
		 cfg.clock_mode == CLOCK_MANUAL ? "manual" : "system");

	event_base_dispatch(srv.base);

	log_info("main", "stopped");
	notify_free();
	store_abandon(srv.store);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	if (ev_drain_check)
		event_free(ev_drain_check);
	http_free(srv.http);
	/* sessions are all closed (or abandoned at the grace deadline) */
	ingest_free(srv.ingest);
	queue_free(srv.queue);
	sweeper_free(srv.sweeper);
	stats_free(srv.stats);
	store_free(srv.store);
	SSL_CTX_free(srv.ssl_ctx);
	event_base_free(srv.base);
	return 0;
}
