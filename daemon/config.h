/* config.h — the daemon's configuration file (INI, libinih) and its defaults.
 *
 * Every key lives in one table in config.c with its type, bounds and default;
 * unknown sections or keys and bad values are errors naming file, line and key.
 */
#ifndef OVERSTAP_CONFIG_H
#define OVERSTAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "rules.h"

#define CONFIG_STR_MAX 1024
#define CONFIG_MAX_COHORT_TARGETS 32

struct targets {
	double in_beeld_pct;
	double definitief_pct;
	double ddd_pct;
};

struct cohort_targets {
	uint32_t cohort;
	unsigned set_mask; /* 1: in_beeld, 2: definitief, 4: ddd */
	struct targets targets;
};

#define CONFIG_MAX_MILESTONES 32

/* A milestone target (DESIGN §5.2): figure at least pct on month-day of the
 * cohort's school year (09-01..08-31 of C-1 / C). */
struct milestone {
	enum figure figure;
	int month, day;
	double pct;
};

struct config {
	/* [server] */
	char listen[CONFIG_STR_MAX];
	char http_listen[CONFIG_STR_MAX];
	char https_listen[CONFIG_STR_MAX]; /* the HTTPS API and pages (web.c); "" = off */
	int64_t max_frame_bytes;
	int64_t max_connections;
	int64_t max_inflight_requests; /* per session: requests that cost database work */
	int64_t max_handshakes;        /* TLS handshakes at once; the oldest gives way */
	int64_t max_handshakes_per_address;
	int64_t handshake_timeout;     /* seconds from accept, however the bytes trickle */
	int64_t frame_timeout;         /* seconds a started frame may take to arrive; 0 = none */
	int64_t client_idle_timeout;   /* seconds without a frame before closing; 0 = never */
	int64_t max_input_bytes;       /* frames being received, all sessions together */
	int64_t max_queued_events;     /* accepted but uncommitted events, all sessions together */
	int64_t max_queued_events_per_org; /* the same, of one organisation's sessions */
	int64_t max_connections_per_org;   /* sessions of one identity (role and organisation) */
	int64_t stats_cache_ttl; /* seconds kept figures may be used; 0 = none */
	char instance[CONFIG_STR_MAX];
	/* [tls] */
	char tls_cert[CONFIG_STR_MAX];
	char tls_key[CONFIG_STR_MAX];
	char tls_ca[CONFIG_STR_MAX];
	char tls_crl[CONFIG_STR_MAX];
	/* [database] */
	char conninfo[CONFIG_STR_MAX];
	int64_t commit_delay_ms;
	int64_t max_group_events;
	int64_t reconnect_max_ms;
	/* [log] */
	enum log_level log_level;
	enum log_target log_target; /* auto: the journal when stderr is the journal's stream */
	/* [clock] */
	enum clock_mode clock_mode;
	int64_t clock_start; /* manual only */
	bool has_clock_start;
	/* [calendar] and [alerts] */
	struct rules_calendar calendar;
	int64_t ack_timeout; /* seconds */
	/* [targets] */
	struct targets targets;
	struct cohort_targets cohort_targets[CONFIG_MAX_COHORT_TARGETS];
	int n_cohort_targets;
	struct milestone milestones[CONFIG_MAX_MILESTONES]; /* "aangemeld_pct@05-01 = 95", by date */
	int n_milestones;
	int64_t silent_after; /* [alerts] SCHOOL_STIL, seconds (configured in days) */
	/* [retention] */
	int64_t personal_data_years;
};

void config_defaults(struct config *cfg);

/* Reads `path` over the defaults. On error writes "path:line: message" into
 * err and returns false. */
bool config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/* SIGHUP: copies the keys that may change at run time from fresh into
 * running; lists the changed ones that need a restart in restart. */
void config_apply_reload(struct config *running, const struct config *fresh, char *restart, size_t restartlen);

/* The targets of a cohort: its own overrides over the general ones. */
struct targets config_targets_for(const struct config *cfg, uint32_t cohort);

/* The moment a milestone falls on for a cohort: its date in the school year
 * that ends in the cohort's summer (09-01..12-31 in C-1, 01-01..08-31 in C). */
int64_t config_milestone_at(const struct milestone *m, uint32_t cohort);

/* Parses "host:port" (IPv4, [IPv6] or a name) into its parts. */
bool config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
