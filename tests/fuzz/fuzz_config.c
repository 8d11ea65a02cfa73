/* fuzz_config.c — libFuzzer target: the daemon's configuration file
 * (daemon/config.c over libinih).
 *
 * config_load reads a path, so the input is written to a memfd and read
 * through /proc/self/fd/N: the very code the daemon runs, unchanged. On top of
 * the defaults, for every input:
 *   - on refusal, the message names the file and says something;
 *   - on acceptance, every value is within the bounds of config.c's key table
 *     and DESIGN §6: strings terminated inside their buffers, listen addresses
 *     host:port, the calendar in order (aanmelddatum < zomer < teldatum) with
 *     real dates, the clock start given exactly in manual mode, percentages
 *     0..100, at most CONFIG_MAX_COHORT_TARGETS cohort targets, and
 *     config_targets_for gives each cohort's overrides.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_config: invariant failed: %s (%s:%d)\n", #cond,  \
				__FILE__, __LINE__);                                        \
			abort();                                                            \
		}                                                                           \
	} while (0)

static int fd = -1;
static char path[64];

static bool terminated(const char *s)
{
	return memchr(s, '\0', CONFIG_STR_MAX) != NULL;
}

static bool pct_ok(double x)
{
	return x >= 0.0 && x <= 100.0;
}

static void check_accepted(const struct config *c)
{
	const char *strs[] = { c->listen, c->http_listen, c->instance, c->tls_cert, c->tls_key,
			       c->tls_ca,  c->tls_crl,	   c->conninfo };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		CHECK(terminated(strs[i]));
	CHECK(c->tls_cert[0] && c->tls_key[0] && c->tls_ca[0]);
	char host[256];
	int port;
	CHECK(config_split_hostport(c->listen, host, sizeof host, &port) && port >= 1 && port <= 65535);
	CHECK(!c->http_listen[0] || config_split_hostport(c->http_listen, host, sizeof host, &port));
	CHECK(c->max_frame_bytes >= 64 && c->max_frame_bytes <= 64 << 20);
	CHECK(c->max_connections >= 1 && c->max_inflight_requests >= 1 && c->max_inflight_requests <= 1024);
	CHECK(c->stats_cache_ttl >= 0 && c->stats_cache_ttl <= 86400);
	CHECK(c->commit_delay_ms >= 0 && c->commit_delay_ms <= 1000);
	CHECK(c->max_group_events >= 1 && c->reconnect_max_ms >= 10);
	CHECK(c->ack_timeout >= 1 && c->calendar.escalate_after >= 60);
	CHECK(c->personal_data_years >= 1 && c->personal_data_years <= 100);
	CHECK(c->clock_mode == CLOCK_SYSTEM || c->clock_mode == CLOCK_MANUAL);
	CHECK(c->has_clock_start == (c->clock_mode == CLOCK_MANUAL));
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	for (int d = 0; d < DEADLINE_COUNT; d++) {
		int m = c->calendar.month[d], day = c->calendar.day[d];
		CHECK(m >= 1 && m <= 12 && day >= 1 && day <= mdays[m - 1]);
		if (d > 0)
			CHECK(c->calendar.month[d - 1] * 100 + c->calendar.day[d - 1] < m * 100 + day);
	}
	CHECK(pct_ok(c->targets.in_beeld_pct) && pct_ok(c->targets.definitief_pct) && pct_ok(c->targets.ddd_pct));
	CHECK(c->n_cohort_targets >= 0 && c->n_cohort_targets <= CONFIG_MAX_COHORT_TARGETS);
	for (int i = 0; i < c->n_cohort_targets; i++) {
		const struct cohort_targets *ct = &c->cohort_targets[i];
		CHECK(ct->cohort >= 2000 && ct->cohort <= 2200 && ct->set_mask && ct->set_mask <= 7);
		for (int j = 0; j < i; j++)
			CHECK(c->cohort_targets[j].cohort != ct->cohort);
		struct targets t = config_targets_for(c, ct->cohort);
		CHECK(t.in_beeld_pct == ((ct->set_mask & 1) ? ct->targets.in_beeld_pct : c->targets.in_beeld_pct));
		CHECK(t.definitief_pct ==
		      ((ct->set_mask & 2) ? ct->targets.definitief_pct : c->targets.definitief_pct));
		CHECK(t.ddd_pct == ((ct->set_mask & 4) ? ct->targets.ddd_pct : c->targets.ddd_pct));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("fuzz_config", 0);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_config: memfd");
		abort();
	}
	static struct config cfg;
	char err[2048];
	err[0] = '\0';
	config_defaults(&cfg);
	if (config_load(path, &cfg, err, sizeof err)) {
		check_accepted(&cfg);
	} else {
		CHECK(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2);
	}
	return 0;
}
