/* test_config.c — the configuration file: defaults, every key type, and the
 * errors an operator sees for unknown keys and bad values. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cu_run.h"

static char path[64];

/* Writes text to a temporary file and loads it over the defaults. */
static bool load(const char *text, struct config *cfg, char *err, size_t errlen)
{
	strcpy(path, "/tmp/overstap-test-config-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return false;
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	config_defaults(cfg);
	bool ok = config_load(path, cfg, err, errlen);
	unlink(path);
	return ok;
}

#define TLS "[tls]\ncert = s.crt\nkey = s.key\nca = ca.crt\n"

static void test_defaults_match_the_design(void)
{
	struct config cfg;
	config_defaults(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.listen, "127.0.0.1:7443");
	CU_ASSERT_STRING_EQUAL(cfg.http_listen, "127.0.0.1:7480");
	CU_ASSERT_EQUAL(cfg.max_frame_bytes, 8388608); /* DESIGN §4.1 */
	CU_ASSERT_EQUAL(cfg.clock_mode, CLOCK_SYSTEM);
	CU_ASSERT_EQUAL(cfg.ack_timeout, 300);
	CU_ASSERT_EQUAL(cfg.calendar.escalate_after, 7 * 86400);
	CU_ASSERT_EQUAL(cfg.calendar.month[DEADLINE_AANMELDDATUM], 4);
	CU_ASSERT_EQUAL(cfg.calendar.day[DEADLINE_AANMELDDATUM], 1);
	CU_ASSERT_EQUAL(cfg.calendar.month[DEADLINE_ZOMER], 8);
	CU_ASSERT_EQUAL(cfg.calendar.month[DEADLINE_TELDATUM], 10);
	CU_ASSERT_DOUBLE_EQUAL(cfg.targets.in_beeld_pct, 98.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cfg.targets.definitief_pct, 98.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cfg.targets.ddd_pct, 97.0, 1e-9);
	CU_ASSERT_EQUAL(cfg.personal_data_years, 2);
}

static void test_full_file_is_read(void)
{
	struct config cfg;
	char err[512];
	CU_ASSERT_TRUE_FATAL(load("[server]\nlisten = 127.0.0.1:9443\nmax_frame_bytes = 1024\n" TLS
				  "[database]\nconninfo = host=/tmp dbname=x\ncommit_delay_ms = 3\n"
				  "[log]\nlevel = debug\n[clock]\nmode = manual\nstart = 2030-09-01T00:00:00Z\n"
				  "[calendar]\naanmelddatum = 03-15\n[alerts]\nack_timeout = 5m\nescalate_after = 2d\n",
				  &cfg, err, sizeof err));
	CU_ASSERT_STRING_EQUAL(cfg.listen, "127.0.0.1:9443");
	CU_ASSERT_EQUAL(cfg.max_frame_bytes, 1024);
	CU_ASSERT_STRING_EQUAL(cfg.conninfo, "host=/tmp dbname=x");
	CU_ASSERT_EQUAL(cfg.commit_delay_ms, 3);
	CU_ASSERT_EQUAL(cfg.log_level, LOG_DEBUG);
	CU_ASSERT_EQUAL(cfg.clock_mode, CLOCK_MANUAL);
	CU_ASSERT_EQUAL(cfg.clock_start, 1914451200); /* 2030-09-01T00:00:00Z */
	CU_ASSERT_EQUAL(cfg.calendar.month[DEADLINE_AANMELDDATUM], 3);
	CU_ASSERT_EQUAL(cfg.calendar.day[DEADLINE_AANMELDDATUM], 15);
	CU_ASSERT_EQUAL(cfg.ack_timeout, 300);
	CU_ASSERT_EQUAL(cfg.calendar.escalate_after, 172800);
}

static void test_unknown_key_names_line_and_key(void)
{
	struct config cfg;
	char err[512];
	CU_ASSERT_FALSE(load(TLS "[server]\nlisten = 127.0.0.1:1\nlisten_backlog = 5\n", &cfg, err, sizeof err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":7: unknown key [server] listen_backlog"));
}

static void test_unknown_section_is_an_error(void)
{
	struct config cfg;
	char err[512];
	CU_ASSERT_FALSE(load(TLS "[serverr]\nlisten = x\n", &cfg, err, sizeof err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown section [serverr]"));
}

static void test_bad_values_are_errors(void)
{
	struct config cfg;
	char err[512];
	const char *bad[] = {
		TLS "[server]\nmax_frame_bytes = lots\n",
		TLS "[server]\nmax_frame_bytes = 0\n",
		TLS "[server]\nlisten = 127.0.0.1\n",
		TLS "[server]\nlisten = 127.0.0.1:70000\n",
		TLS "[log]\nlevel = loud\n",
		TLS "[clock]\nmode = sometimes\n",
		TLS "[clock]\nmode = manual\n",
		TLS "[clock]\nmode = manual\nstart = 2030-02-30T00:00:00Z\n",
		TLS "[clock]\nstart = 2030-09-01T00:00:00Z\n",
		TLS "[calendar]\nteldatum = 13-01\n",
		TLS "[calendar]\nzomer = 03-01\n",
		TLS "[alerts]\nack_timeout = 5 minutes\n",
		TLS "[targets]\nddd_pct = 101\n",
		TLS "[targets]\nddd_pct.20x1 = 90\n",
		"[server]\nlisten = 127.0.0.1:1\n",
		TLS "[server]\nlisten 127.0.0.1:1\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CU_ASSERT_FALSE(load(bad[i], &cfg, err, sizeof err));
		CU_ASSERT_TRUE(strlen(err) > 0);
	}
}

static void test_missing_file_is_an_error(void)
{
	struct config cfg;
	char err[512];
	config_defaults(&cfg);
	CU_ASSERT_FALSE(config_load("/nonexistent/overstapd.conf", &cfg, err, sizeof err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
}

static void test_cohort_targets_override_the_general_ones(void)
{
	struct config cfg;
	char err[512];
	CU_ASSERT_TRUE_FATAL(load(TLS "[targets]\nin_beeld_pct = 95\nddd_pct.2031 = 90.5\n", &cfg, err, sizeof err));
	struct targets t2031 = config_targets_for(&cfg, 2031), t2032 = config_targets_for(&cfg, 2032);
	CU_ASSERT_DOUBLE_EQUAL(t2031.in_beeld_pct, 95.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(t2031.definitief_pct, 98.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(t2031.ddd_pct, 90.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(t2032.ddd_pct, 97.0, 1e-9);
}

static void test_milestones_and_silent_after(void)
{
	struct config cfg;
	char err[512];
	config_defaults(&cfg);
	CU_ASSERT_EQUAL(cfg.silent_after, 14 * 86400); /* DESIGN §5.1 */
	CU_ASSERT_TRUE_FATAL(load(TLS "[alerts]\nsilent_after = 21\n[targets]\ngeplaatst_pct@06-01 = 94\n"
				      "aangemeld_pct@05-01 = 95\nin_beeld_pct@10-15 = 50\n",
				  &cfg, err, sizeof err));
	CU_ASSERT_EQUAL(cfg.silent_after, 21 * 86400);
	CU_ASSERT_EQUAL_FATAL(cfg.n_milestones, 3);
	/* in the order of the school year: October before May before June */
	CU_ASSERT_EQUAL(cfg.milestones[0].figure, FIGURE_IN_BEELD);
	CU_ASSERT_EQUAL(cfg.milestones[1].figure, FIGURE_AANGEMELD);
	CU_ASSERT_DOUBLE_EQUAL(cfg.milestones[1].pct, 95.0, 1e-9);
	CU_ASSERT_EQUAL(cfg.milestones[2].month, 6);
	/* 15 October of C-1, 1 May of C, 00:00 in Amsterdam */
	CU_ASSERT_EQUAL(config_milestone_at(&cfg.milestones[0], 2031), 1918245600); /* 2030-10-15 00:00 CEST */
	CU_ASSERT_EQUAL(config_milestone_at(&cfg.milestones[1], 2031), 1935352800); /* 2031-05-01 00:00 CEST */
	CU_ASSERT_TRUE(load(TLS "[alerts]\nsilent_after = 14d\n", &cfg, err, sizeof err));
	CU_ASSERT_EQUAL(cfg.silent_after, 14 * 86400);
	CU_ASSERT_FALSE(load(TLS "[alerts]\nsilent_after = 2w\n", &cfg, err, sizeof err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a number of days"));
	CU_ASSERT_FALSE(load(TLS "[targets]\nwillekeurig_pct@05-01 = 95\n", &cfg, err, sizeof err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "milestone"));
	CU_ASSERT_FALSE(load(TLS "[targets]\naangemeld_pct@02-30 = 95\n", &cfg, err, sizeof err));
	CU_ASSERT_FALSE(load(TLS "[targets]\naangemeld_pct@05-01 = 101\n", &cfg, err, sizeof err));
}

static void test_hostport_split(void)
{
	char host[64];
	int port;
	CU_ASSERT_TRUE(config_split_hostport("127.0.0.1:7443", host, sizeof host, &port));
	CU_ASSERT_STRING_EQUAL(host, "127.0.0.1");
	CU_ASSERT_EQUAL(port, 7443);
	CU_ASSERT_TRUE(config_split_hostport("[::1]:80", host, sizeof host, &port));
	CU_ASSERT_STRING_EQUAL(host, "::1");
	CU_ASSERT_FALSE(config_split_hostport(":80", host, sizeof host, &port));
	CU_ASSERT_FALSE(config_split_hostport("host:", host, sizeof host, &port));
	CU_ASSERT_FALSE(config_split_hostport("host:0", host, sizeof host, &port));
}

static void register_suites(void)
{
	CU_pSuite s = CU_add_suite("config", NULL, NULL);
	CU_add_test(s, "defaults match the design", test_defaults_match_the_design);
	CU_add_test(s, "a full file is read", test_full_file_is_read);
	CU_add_test(s, "unknown key names line and key", test_unknown_key_names_line_and_key);
	CU_add_test(s, "unknown section is an error", test_unknown_section_is_an_error);
	CU_add_test(s, "bad values are errors", test_bad_values_are_errors);
	CU_add_test(s, "missing file is an error", test_missing_file_is_an_error);
	CU_add_test(s, "cohort targets override the general ones", test_cohort_targets_override_the_general_ones);
	CU_add_test(s, "host:port split", test_hostport_split);
	CU_add_test(s, "milestones and silent_after", test_milestones_and_silent_after);
}

int main(void)
{
	return cu_run(register_suites);
}
