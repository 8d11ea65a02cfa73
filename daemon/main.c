/* main.c — overstapd: arguments, configuration, signals, the event loop.
 *
 * Owns start-up (config, TLS context, migrations: the only blocking database
 * work, done before the loop runs), the wiring of the modules through struct
 * server, and shutdown: SIGTERM/SIGINT stop accepting, finish every batch in
 * flight, then exit 0; SIGHUP applies the config keys that may change at run
 * time and loads [tls] again (as does a change of the CRL file). Tells systemd
 * (notify.c) when it is ready, reloading or stopping, and keeps its watchdog fed.
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
#include "civil.h"
#include "clock.h"
#include "config.h"
#include "freshness.h"
#include "http.h"
#include "replay.h"
#include "web.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "notify.h"
#include "orgload.h"
#include "pupil.h"
#include "queue.h"
#include "router.h"
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
static struct tls_stamp crl_stamp;

#define CRL_CHECK_SECS 5

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
		"Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration\n"
		"(the keys that may change at run time, and [tls]).\n");
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
	web_stop(srv.web);
	drain_deadline_us = clock_mono_us() + SHUTDOWN_GRACE_SECS * 1000000LL;
	ev_drain_check = evtimer_new(srv.base, drain_check_cb, NULL);
	drain_check_cb(-1, 0, NULL);
}

/* Builds the TLS context again from [tls]; established sessions whose
 * certificate no longer verifies are closed. The old context lives on in the
 * sessions that use it (OpenSSL counts its references). */
static void reload_tls(const char *why)
{
	char err[1024];
	SSL_CTX *ctx = tls_server_ctx(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, cfg.tls_crl, err, sizeof err);
	if (!ctx) {
		log_error("main", "tls reload (%s) failed, keeping the running certificates: %s", why, err);
		return;
	}
	SSL_CTX_free(srv.ssl_ctx);
	srv.ssl_ctx = ctx;
	log_info("main", "tls reloaded (%s): cert=%s ca=%s crl=%s", why, cfg.tls_cert, cfg.tls_ca,
		 cfg.tls_crl[0] ? cfg.tls_crl : "none");
	net_tls_changed(&srv);
}

static void reload_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	struct config fresh;
	char err[1024], restart[512];
	notify_reloading();
	config_defaults(&fresh);
	if (!config_load(config_path, &fresh, err, sizeof err)) {
		log_error("main", "reload failed, keeping the running configuration: %s", err);
		notify_ready();
		return;
	}
	config_apply_reload(&cfg, &fresh, restart, sizeof restart);
	log_set_level(cfg.log_level);
	log_info("main", "configuration reloaded%s%s", restart[0] ? "; these need a restart: " : "", restart);
	tls_file_changed(cfg.tls_crl, &crl_stamp);
	reload_tls("SIGHUP");
	notify_ready();
}

/* A CRL is usually replaced by a cron job, not with a SIGHUP: look at it
 * every CRL_CHECK_SECS and reload when it changed. */
static void crl_check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (cfg.tls_crl[0] && tls_file_changed(cfg.tls_crl, &crl_stamp))
		reload_tls("the CRL file changed");
}

static void store_state_cb(bool up, void *arg)
{
	(void)arg;
	if (up && !store_was_up) {
		store_was_up = true;
		queue_start(srv.queue);
		sweeper_start(srv.sweeper);
		freshness_start(srv.freshness);
		replay_start(srv.replay);
	}
	notify_status("database %s; %d sessions", up ? "up" : "down", srv.n_sessions);
	net_store_changed(&srv);
}

static void clock_changed_cb(void *arg)
{
	(void)arg;
	sweeper_clock_changed(srv.sweeper);
	queue_clock_changed(srv.queue);
	freshness_clock_changed(srv.freshness);
}

/* The command line; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, bool *migrate_only, bool *check_only)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },   { "migrate", no_argument, NULL, 'm' },
		{ "check-config", no_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'm':
			*migrate_only = true;
			break;
		case 'k':
			*check_only = true;
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
	return -1;
}

/* At start-up, before the loop: PostgreSQL may still be starting (boot
 * order). The daemon waits for it with back-off rather than exit; a
 * migration that fails for any other reason stops it. --migrate fails at
 * once. */
static bool wait_and_migrate(bool migrate_only)
{
	char err[2048];
	long wait_ms = 250;
	while (!store_migrate(cfg.conninfo, err, sizeof err)) {
		if (migrate_only || strncmp(err, "cannot connect", 14) != 0) {
			log_error("main", "migrations: %s", err);
			return false;
		}
		log_warn("main", "waiting for the database (retry in %ld ms): %s", wait_ms, err);
		notify_status("waiting for the database");
		notify_extend_timeout((uint64_t)(wait_ms + 30000) * 1000);
		struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		wait_ms = wait_ms * 2 > cfg.reconnect_max_ms ? cfg.reconnect_max_ms : wait_ms * 2;
	}
	return true;
}

/* Every module, wired through srv, and the listeners. */
static bool server_build(char *err, size_t errlen)
{
	srv.cfg = &cfg;
	TAILQ_INIT(&srv.sessions);
	TAILQ_INIT(&srv.handshakes);
	TAILQ_INIT(&srv.budget_waiters);
	srv.base = event_base_new();
	if (!srv.base || event_base_priority_init(srv.base, STORE_PRIORITIES) != 0) {
		log_error("main", "event loop: cannot make one with %d priorities", STORE_PRIORITIES);
		return false;
	}
	srv.ssl_ctx = tls_server_ctx(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, cfg.tls_crl, err, errlen);
	if (!srv.ssl_ctx) {
		log_error("main", "tls: %s", err);
		return false;
	}
	struct store_config scfg = { cfg.conninfo, (int)cfg.reconnect_max_ms };
	srv.store = store_new(srv.base, &scfg, store_state_cb, NULL);
	srv.org_load = orgload_new();
	srv.ingest = ingest_new(&srv);
	srv.queue = queue_new(&srv);
	srv.sweeper = sweeper_new(&srv);
	srv.stats = stats_new(&srv);
	srv.freshness = freshness_new(&srv);
	srv.replay = replay_new(&srv);
	srv.router = router_new();
	if (!srv.store || !srv.org_load || !srv.ingest || !srv.queue || !srv.sweeper || !srv.stats || !srv.freshness || !srv.replay || !srv.router) {
		log_error("main", "out of memory at start-up");
		return false;
	}
	ingest_register(srv.ingest);
	queue_register(srv.queue);
	sweeper_register(srv.sweeper);
	stats_register(srv.stats);
	freshness_register(srv.freshness);
	replay_register(srv.replay);
	pupil_register(&srv);
	routes_install(srv.router, &srv); /* who may send what: routes.c */
	clock_on_change(clock_changed_cb, NULL);
	if (!net_listen(&srv, cfg.listen, err, errlen)) {
		log_error("main", "%s", err);
		return false;
	}
	if (cfg.http_listen[0]) {
		srv.http = http_new(&srv, cfg.http_listen, err, errlen);
		if (!srv.http) {
			log_error("main", "http: %s", err);
			return false;
		}
	}
	if (cfg.https_listen[0]) {
		srv.web = web_new(&srv, cfg.https_listen, err, errlen);
		if (!srv.web) {
			log_error("main", "https: %s", err);
			return false;
		}
	}
	return true;
}

static void server_free(void)
{
	if (ev_drain_check)
		event_free(ev_drain_check);
	http_free(srv.http);
	web_free(srv.web);
	/* sessions are all closed (or abandoned at the grace deadline) */
	ingest_free(srv.ingest);
	orgload_free(srv.org_load); /* after ingest: its queued events point into it */
	queue_free(srv.queue);
	sweeper_free(srv.sweeper);
	stats_free(srv.stats);
	freshness_free(srv.freshness);
	replay_free(srv.replay);
	router_free(srv.router);
	store_free(srv.store);
	SSL_CTX_free(srv.ssl_ctx);
	tls_release_contexts();
	event_base_free(srv.base);
}

int main(int argc, char **argv)
{
	bool migrate_only = false, check_only = false;
	int rc = parse_args(argc, argv, &migrate_only, &check_only);
	if (rc >= 0)
		return rc;
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
	if (!wait_and_migrate(migrate_only))
		return 1;
	if (migrate_only) {
		log_info("main", "migrations up to date");
		return 0;
	}
	if (cfg.clock_mode == CLOCK_MANUAL) {
		char when[32];
		civil_format_iso(cfg.clock_start, when, sizeof when);
		log_warn("main", "clock=manual start=%s — for tests and demonstrations only", when);
	}
	if (!server_build(err, sizeof err))
		return 1;
	struct event *ev_term = evsignal_new(srv.base, SIGTERM, shutdown_cb, NULL);
	struct event *ev_int = evsignal_new(srv.base, SIGINT, shutdown_cb, NULL);
	struct event *ev_hup = evsignal_new(srv.base, SIGHUP, reload_cb, NULL);
	struct event *ev_crl = event_new(srv.base, -1, EV_PERSIST, crl_check_cb, NULL);
	struct timeval crl_period = { CRL_CHECK_SECS, 0 };
	tls_file_changed(cfg.tls_crl, &crl_stamp);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	event_add(ev_crl, &crl_period);
	store_start(srv.store);
	if (!notify_watchdog_start(srv.base)) {
		log_error("main", "out of memory at start-up");
		return 1;
	}
	notify_ready();
	log_info("main", "listening=%s http=%s https=%s instance=%s clock=%s", cfg.listen,
		 cfg.http_listen[0] ? cfg.http_listen : "off", cfg.https_listen[0] ? cfg.https_listen : "off", cfg.instance,
		 cfg.clock_mode == CLOCK_MANUAL ? "manual" : "system");

	event_base_dispatch(srv.base);

	log_info("main", "stopped");
	notify_free();
	store_abandon(srv.store);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(ev_crl);
	server_free();
	return 0;
}
