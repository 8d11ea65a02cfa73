/* config.c — parses the INI configuration against one table of known keys.
 *
 * Owns the defaults (DESIGN §5.1, §5.2, §6) and the validation of every value.
 * Never opens anything but the config file itself; the callers (main) decide
 * what to do with an error.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"

enum key_type { T_STRING, T_INT, T_DAYS, T_DURATION, T_LOGLEVEL, T_CLOCKMODE, T_TIME, T_MONTHDAY, T_PCT, T_LOGTARGET };

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	int64_t min, max; /* T_INT, T_DURATION (seconds) */
	int deadline;     /* T_MONTHDAY */
	bool reloadable;  /* SIGHUP applies it; others need a restart (like Redis' MODIFIABLE_CONFIG) */
};
#define RELOAD true   /* SIGHUP applies it */
#define RESTART false /* a change needs a restart */

#define OFF(f) offsetof(struct config, f)

static const struct key keys[] = {
	{ "server", "listen", T_STRING, OFF(listen), 0, 0, 0, RESTART },
	{ "server", "http_listen", T_STRING, OFF(http_listen), 0, 0, 0, RESTART },
	{ "server", "https_listen", T_STRING, OFF(https_listen), 0, 0, 0, RESTART },
	{ "server", "max_frame_bytes", T_INT, OFF(max_frame_bytes), 64, 64 << 20, 0, RESTART },
	{ "server", "max_connections", T_INT, OFF(max_connections), 1, 1000000, 0, RELOAD },
	{ "server", "max_inflight_requests", T_INT, OFF(max_inflight_requests), 1, 1024, 0, RELOAD },
	/* the name before every request counted (a release of overlap) */
	{ "server", "max_inflight_batches", T_INT, OFF(max_inflight_requests), 1, 1024, 0, RELOAD },
	{ "server", "max_handshakes", T_INT, OFF(max_handshakes), 1, 100000, 0, RELOAD },
	{ "server", "max_handshakes_per_address", T_INT, OFF(max_handshakes_per_address), 1, 100000, 0, RELOAD },
	{ "server", "handshake_timeout", T_DURATION, OFF(handshake_timeout), 1, 3600, 0, RELOAD },
	{ "server", "frame_timeout", T_DURATION, OFF(frame_timeout), 0, 3600, 0, RELOAD },
	{ "server", "client_idle_timeout", T_DURATION, OFF(client_idle_timeout), 0, 30 * 86400, 0, RELOAD },
	{ "server", "max_input_bytes", T_INT, OFF(max_input_bytes), 1 << 20, (int64_t)1 << 40, 0, RELOAD },
	{ "server", "max_queued_events", T_INT, OFF(max_queued_events), 1000, 100000000, 0, RELOAD },
	{ "server", "max_queued_events_per_org", T_INT, OFF(max_queued_events_per_org), 100, 100000000, 0, RELOAD },
	{ "server", "max_connections_per_org", T_INT, OFF(max_connections_per_org), 1, 1000000, 0, RELOAD },
	{ "server", "stats_cache_ttl", T_DURATION, OFF(stats_cache_ttl), 0, 86400, 0, RELOAD },
	{ "server", "instance", T_STRING, OFF(instance), 0, 0, 0, RESTART },
	{ "tls", "cert", T_STRING, OFF(tls_cert), 0, 0, 0, RELOAD },
	{ "tls", "key", T_STRING, OFF(tls_key), 0, 0, 0, RELOAD },
	{ "tls", "ca", T_STRING, OFF(tls_ca), 0, 0, 0, RELOAD },
	{ "tls", "crl", T_STRING, OFF(tls_crl), 0, 0, 0, RELOAD },
	{ "database", "conninfo", T_STRING, OFF(conninfo), 0, 0, 0, RESTART },
	{ "database", "commit_delay_ms", T_INT, OFF(commit_delay_ms), 0, 1000, 0, RELOAD },
	{ "database", "max_group_events", T_INT, OFF(max_group_events), 1, 200000, 0, RELOAD },
	{ "database", "reconnect_max_ms", T_INT, OFF(reconnect_max_ms), 10, 600000, 0, RESTART },
	{ "log", "level", T_LOGLEVEL, OFF(log_level), 0, 0, 0, RELOAD },
	{ "log", "target", T_LOGTARGET, OFF(log_target), 0, 0, 0, RESTART },
	{ "clock", "mode", T_CLOCKMODE, OFF(clock_mode), 0, 0, 0, RESTART },
	{ "clock", "start", T_TIME, OFF(clock_start), 0, 0, 0, RESTART },
	{ "calendar", "aanmelddatum", T_MONTHDAY, 0, 0, 0, DEADLINE_AANMELDDATUM, RESTART },
	{ "calendar", "zomer", T_MONTHDAY, 0, 0, 0, DEADLINE_ZOMER, RESTART },
	{ "calendar", "teldatum", T_MONTHDAY, 0, 0, 0, DEADLINE_TELDATUM, RESTART },
	{ "alerts", "ack_timeout", T_DURATION, OFF(ack_timeout), 1, 30 * 86400, 0, RELOAD },
	{ "alerts", "escalate_after", T_DURATION, OFF(calendar.escalate_after), 60, 365 * 86400, 0, RELOAD },
	{ "alerts", "silent_after", T_DAYS, OFF(silent_after), 1, 365, 0, RELOAD },
	{ "targets", "in_beeld_pct", T_PCT, OFF(targets.in_beeld_pct), 0, 0, 0, RELOAD },
	{ "targets", "definitief_pct", T_PCT, OFF(targets.definitief_pct), 0, 0, 0, RELOAD },
	{ "targets", "ddd_pct", T_PCT, OFF(targets.ddd_pct), 0, 0, 0, RELOAD },
	{ "retention", "personal_data_years", T_INT, OFF(personal_data_years), 1, 100, 0, RESTART },
};

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->listen, "127.0.0.1:7443");
	strcpy(cfg->http_listen, "127.0.0.1:7480");
	cfg->max_frame_bytes = 8388608; /* DESIGN §4.1: a batch of 10,000 at the longest fields fits */
	cfg->max_connections = 20000;
	cfg->max_inflight_requests = 8;
	cfg->max_handshakes = 64;
	cfg->max_handshakes_per_address = 16;
	cfg->handshake_timeout = 10;
	cfg->frame_timeout = 30;
	cfg->client_idle_timeout = 0; /* off: subscribers and idle schools are legitimate */
	cfg->max_input_bytes = 64 << 20;
	cfg->max_queued_events = 200000;
	cfg->max_queued_events_per_org = 10000; /* a StatusBatch of the most updates */
	cfg->max_connections_per_org = 256;
	cfg->stats_cache_ttl = 60;
	strcpy(cfg->instance, "overstapd");
	strcpy(cfg->conninfo, "dbname=overstap");
	cfg->commit_delay_ms = 0; /* under load the group in flight is the window */
	cfg->max_group_events = 20000;
	cfg->reconnect_max_ms = 5000;
	cfg->log_level = LOG_INFO;
	cfg->clock_mode = CLOCK_SYSTEM;
	rules_calendar_default(&cfg->calendar);
	cfg->ack_timeout = 300;
	cfg->silent_after = 14 * 86400; /* DESIGN §5.1 SCHOOL_STIL */
	cfg->targets = (struct targets){ 98.0, 98.0, 97.0 };
	cfg->personal_data_years = 2;
}

struct parse_ctx {
	struct config *cfg;
	char *err;
	size_t errlen;
	bool failed;
};

static bool parse_int(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end != '\0')
		return false;
	*out = x;
	return true;
}

/* "300", "300s", "5m", "2h", "7d" → seconds */
static bool parse_duration(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || x < 0)
		return false;
	int64_t mult = 1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mult = 60, end++;
	else if (*end == 'h')
		mult = 3600, end++;
	else if (*end == 'd')
		mult = 86400, end++;
	if (*end != '\0' || x > INT64_MAX / mult)
		return false;
	*out = x * mult;
	return true;
}

/* a number of days, the d optional: 14 or 14d */
static bool parse_days(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long d = strtoll(v, &end, 10);
	if (end != v && *end == 'd')
		end++;
	if (errno || end == v || *end != '\0' || d < 0)
		return false;
	*out = d;
	return true;
}

static bool parse_pct(const char *v, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !(x >= 0.0 && x <= 100.0))
		return false;
	*out = x;
	return true;
}

static int fail(struct parse_ctx *ctx, const char *fmt, const char *section, const char *name,
		const char *value)
{
	snprintf(ctx->err, ctx->errlen, fmt, section, name, value);
	ctx->failed = true;
	return 0;
}

/* targets: "in_beeld_pct.2031 = 99" overrides one cohort's target */
static int handle_cohort_target(struct parse_ctx *ctx, const char *name, const char *value)
{
	static const char *const names[] = { "in_beeld_pct", "definitief_pct", "ddd_pct" };
	const char *dot = strchr(name, '.');
	int64_t cohort;
	double pct;
	int which = -1;
	for (int i = 0; i < 3 && dot; i++)
		if (strlen(names[i]) == (size_t)(dot - name) && strncmp(name, names[i], (size_t)(dot - name)) == 0)
			which = i;
	if (which < 0 || !parse_int(dot + 1, &cohort) || cohort < 2000 || cohort > 2200)
		return fail(ctx, "unknown key [%s] %s%s", "targets", name, "");
	if (!parse_pct(value, &pct))
		return fail(ctx, "bad value for [%s] %s: '%s' (a percentage 0..100)", "targets", name, value);
	struct config *cfg = ctx->cfg;
	struct cohort_targets *ct = NULL;
	for (int i = 0; i < cfg->n_cohort_targets; i++)
		if (cfg->cohort_targets[i].cohort == (uint32_t)cohort)
			ct = &cfg->cohort_targets[i];
	if (!ct) {
		if (cfg->n_cohort_targets == CONFIG_MAX_COHORT_TARGETS)
			return fail(ctx, "too many cohorts in [%s] %s%s", "targets", name, "");
		ct = &cfg->cohort_targets[cfg->n_cohort_targets++];
		ct->cohort = (uint32_t)cohort;
	}
	double *slot = which == 0 ? &ct->targets.in_beeld_pct
		       : which == 1 ? &ct->targets.definitief_pct
				    : &ct->targets.ddd_pct;
	*slot = pct;
	ct->set_mask |= 1u << which;
	return 1;
}

static int milestone_cmp(const void *a, const void *b)
{
	const struct milestone *x = a, *y = b;
	/* by place in the school year (September first), then figure */
	int mx = (x->month + 4) % 12, my = (y->month + 4) % 12;
	if (mx != my)
		return mx - my;
	if (x->day != y->day)
		return x->day - y->day;
	return (int)x->figure - (int)y->figure;
}

/* targets: "aangemeld_pct@05-01 = 95" — a milestone (DESIGN §5.2) */
static int handle_milestone(struct parse_ctx *ctx, const char *name, const char *value)
{
	const char *at = strchr(name, '@');
	struct milestone m;
	size_t flen = (size_t)(at - name);
	char tail;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (flen < 5 || strncmp(at - 4, "_pct", 4) != 0 || !rules_figure_parse(name, flen - 4, &m.figure) ||
	    sscanf(at + 1, "%2d-%2d%c", &m.month, &m.day, &tail) != 2 || strlen(at + 1) != 5 || m.month < 1 ||
	    m.month > 12 || m.day < 1 || m.day > mdays[m.month - 1] || (m.month == 2 && m.day == 29))
		return fail(ctx, "unknown key [%s] %s%s", "targets", name,
			    " (a milestone is FIGURE_pct@MM-DD: in_beeld, aangemeld, geplaatst, definitief or ddd)");
	if (!parse_pct(value, &m.pct))
		return fail(ctx, "bad value for [%s] %s: '%s' (a percentage 0..100)", "targets", name, value);
	struct config *cfg = ctx->cfg;
	for (int i = 0; i < cfg->n_milestones; i++) {
		struct milestone *o = &cfg->milestones[i];
		if (o->figure == m.figure && o->month == m.month && o->day == m.day) {
			o->pct = m.pct;
			return 1;
		}
	}
	if (cfg->n_milestones == CONFIG_MAX_MILESTONES)
		return fail(ctx, "too many milestones in [%s] %s%s", "targets", name, "");
	cfg->milestones[cfg->n_milestones++] = m;
	qsort(cfg->milestones, (size_t)cfg->n_milestones, sizeof m, milestone_cmp);
	return 1;
}

int64_t config_milestone_at(const struct milestone *m, uint32_t cohort)
{
	return rules_local_midnight((int64_t)cohort - (m->month >= 9 ? 1 : 0), m->month, m->day);
}

static int handle(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	struct config *cfg = ctx->cfg;
	if (ctx->failed)
		return 0;
	const struct key *k = NULL;
	bool section_known = false;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].section, section) == 0) {
			section_known = true;
			if (strcmp(keys[i].name, name) == 0)
				k = &keys[i];
		}
	}
	if (!section_known)
		return fail(ctx, "unknown section [%s]%s%s", section, "", "");
	if (!k) {
		if (strcmp(section, "targets") == 0 && strchr(name, '@'))
			return handle_milestone(ctx, name, value);
		if (strcmp(section, "targets") == 0 && strchr(name, '.'))
			return handle_cohort_target(ctx, name, value);
		return fail(ctx, "unknown key [%s] %s%s", section, name, "");
	}
	void *field = (char *)cfg + k->offset;
	int64_t x;
	switch (k->type) {
	case T_STRING:
		if (strlen(value) >= CONFIG_STR_MAX)
			return fail(ctx, "value of [%s] %s is too long%s", section, name, "");
		strcpy(field, value);
		return 1;
	case T_INT:
		if (!parse_int(value, &x) || x < k->min || x > k->max) {
			snprintf(ctx->err, ctx->errlen, "bad value for [%s] %s: '%s' (an integer %lld..%lld)",
				 section, name, value, (long long)k->min, (long long)k->max);
			ctx->failed = true;
			return 0;
		}
		*(int64_t *)field = x;
		return 1;
	case T_DAYS:
		if (!parse_days(value, &x) || x < k->min || x > k->max)
			return fail(ctx, "bad value for [%s] %s: '%s' (a number of days, e.g. 14 or 14d)", section, name,
				    value);
		*(int64_t *)field = x * 86400;
		return 1;
	case T_DURATION:
		if (!parse_duration(value, &x) || x < k->min || x > k->max) {
			snprintf(ctx->err, ctx->errlen,
				 "bad value for [%s] %s: '%s' (a duration like 300, 5m, 2h, 7d; %llds..%llds)",
				 section, name, value, (long long)k->min, (long long)k->max);
			ctx->failed = true;
			return 0;
		}
		*(int64_t *)field = x;
		return 1;
	case T_LOGLEVEL:
		if (!log_level_parse(value, field))
			return fail(ctx, "bad value for [%s] %s: '%s' (debug, info, warn or error)", section, name, value);
		return 1;
	case T_LOGTARGET:
		if (!log_target_parse(value, field))
			return fail(ctx, "bad value for [%s] %s: '%s' (auto, stderr or journal)", section, name, value);
		return 1;
	case T_CLOCKMODE:
		if (strcmp(value, "system") == 0)
			cfg->clock_mode = CLOCK_SYSTEM;
		else if (strcmp(value, "manual") == 0)
			cfg->clock_mode = CLOCK_MANUAL;
		else
			return fail(ctx, "bad value for [%s] %s: '%s' (system or manual)", section, name, value);
		return 1;
	case T_TIME:
		if (value[0] == '\0')
			return 1;
		if (!civil_parse_iso(value, &cfg->clock_start))
			return fail(ctx, "bad value for [%s] %s: '%s' (ISO 8601, e.g. 2030-09-01T00:00:00Z)", section, name, value);
		cfg->has_clock_start = true;
		return 1;
	case T_MONTHDAY: {
		int m, d;
		char tail;
		static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		if (sscanf(value, "%2d-%2d%c", &m, &d, &tail) != 2 || strlen(value) != 5 || m < 1 ||
		    m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29))
			return fail(ctx, "bad value for [%s] %s: '%s' (MM-DD, e.g. 04-01)", section, name, value);
		cfg->calendar.month[k->deadline] = m;
		cfg->calendar.day[k->deadline] = d;
		return 1;
	}
	case T_PCT:
		if (!parse_pct(value, field))
			return fail(ctx, "bad value for [%s] %s: '%s' (a percentage 0..100)", section, name, value);
		return 1;
	}
	return 0;
}

bool config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	char msg[CONFIG_STR_MAX + 256] = "";
	struct parse_ctx ctx = { cfg, msg, sizeof msg, false };
	int rc = ini_parse(path, handle, &ctx);
	if (rc == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return false;
	}
	if (rc == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return false;
	}
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: %s", path, rc, ctx.failed ? msg : "syntax error");
		return false;
	}
	if (cfg->clock_mode == CLOCK_MANUAL && !cfg->has_clock_start) {
		snprintf(err, errlen, "%s: [clock] mode = manual needs [clock] start", path);
		return false;
	}
	if (cfg->clock_mode == CLOCK_SYSTEM && cfg->has_clock_start) {
		snprintf(err, errlen, "%s: [clock] start is only for mode = manual", path);
		return false;
	}
	for (int d = 0; d + 1 < DEADLINE_COUNT; d++) {
		int a = cfg->calendar.month[d] * 100 + cfg->calendar.day[d];
		int b = cfg->calendar.month[d + 1] * 100 + cfg->calendar.day[d + 1];
		if (a >= b) {
			snprintf(err, errlen, "%s: [calendar] dates must be in order: aanmelddatum < zomer < teldatum", path);
			return false;
		}
	}
	const char *required[][2] = { { cfg->tls_cert, "cert" }, { cfg->tls_key, "key" }, { cfg->tls_ca, "ca" } };
	for (int i = 0; i < 3; i++) {
		if (required[i][0][0] == '\0') {
			snprintf(err, errlen, "%s: [tls] %s is required", path, required[i][1]);
			return false;
		}
	}
	char host[256];
	int port;
	if (!config_split_hostport(cfg->listen, host, sizeof host, &port)) {
		snprintf(err, errlen, "%s: [server] listen: '%s' is not host:port", path, cfg->listen);
		return false;
	}
	if (cfg->http_listen[0] && !config_split_hostport(cfg->http_listen, host, sizeof host, &port)) {
		snprintf(err, errlen, "%s: [server] http_listen: '%s' is not host:port", path, cfg->http_listen);
		return false;
	}
	if (cfg->https_listen[0] && !config_split_hostport(cfg->https_listen, host, sizeof host, &port)) {
		snprintf(err, errlen, "%s: [server] https_listen: '%s' is not host:port", path, cfg->https_listen);
		return false;
	}
	return true;
}

struct targets config_targets_for(const struct config *cfg, uint32_t cohort)
{
	struct targets t = cfg->targets;
	for (int i = 0; i < cfg->n_cohort_targets; i++) {
		const struct cohort_targets *ct = &cfg->cohort_targets[i];
		if (ct->cohort != cohort)
			continue;
		if (ct->set_mask & 1)
			t.in_beeld_pct = ct->targets.in_beeld_pct;
		if (ct->set_mask & 2)
			t.definitief_pct = ct->targets.definitief_pct;
		if (ct->set_mask & 4)
			t.ddd_pct = ct->targets.ddd_pct;
	}
	return t;
}

bool config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	const char *h = s;
	size_t hl;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	int64_t p;
	if (!parse_int(colon + 1, &p) || p < 1 || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

/* The bytes of a key's value in struct config. */
static size_t value_size(const struct key *k)
{
	switch (k->type) {
	case T_STRING:
		return CONFIG_STR_MAX;
	case T_INT:
	case T_DAYS:
	case T_DURATION:
		return sizeof(int64_t);
	case T_LOGLEVEL:
		return sizeof(enum log_level);
	case T_PCT:
		return sizeof(double);
	default:
		return 0; /* clock, calendar: compared and kept apart (never reloaded) */
	}
}

void config_apply_reload(struct config *running, const struct config *fresh, char *restart, size_t restartlen)
{
	restart[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key *k = &keys[i];
		size_t n = value_size(k);
		void *to = (char *)running + k->offset;
		const void *from = (const char *)fresh + k->offset;
		if (n == 0 || memcmp(to, from, n) == 0)
			continue;
		if (k->reloadable) {
			memcpy(to, from, n);
		} else if (used + strlen(k->section) + strlen(k->name) + 4 < restartlen) {
			used += (size_t)snprintf(restart + used, restartlen - used, "%s[%s] %s", used ? ", " : "",
						 k->section, k->name);
		}
	}
	/* the per-cohort targets and the milestones are reloaded like [targets] */
	memcpy(running->cohort_targets, fresh->cohort_targets, sizeof fresh->cohort_targets);
	running->n_cohort_targets = fresh->n_cohort_targets;
	memcpy(running->milestones, fresh->milestones, sizeof fresh->milestones);
	running->n_milestones = fresh->n_milestones;
	if (memcmp(&running->calendar.month, &fresh->calendar.month, sizeof fresh->calendar.month) ||
	    memcmp(&running->calendar.day, &fresh->calendar.day, sizeof fresh->calendar.day) ||
	    running->clock_mode != fresh->clock_mode || running->clock_start != fresh->clock_start)
		snprintf(restart + used, restartlen - used, "%s[calendar]/[clock]", used ? ", " : "");
}
