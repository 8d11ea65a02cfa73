/* render.h — how the clients print what the daemon replies: alerts, figures
 * and pupils, as text lines, aligned tables, CSV or JSON (jansson).
 *
 * JSON uses the proto field names, enums by their name without prefix and
 * times as unix seconds, as on the wire. Text never spans lines: control
 * characters in strings are escaped.
 */
#ifndef OVERSTAP_RENDER_H
#define OVERSTAP_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "overstap.pb-c.h"

/* ---- alerts (overstap-rmc) ------------------------------------------------- */

/* One line, no newline: "17 ZOMERLEK cohort=2031 pgn=... name=\"...\" ...";
 * empty fields are left out. Returns a malloc'd string. */
char *render_alert_line(const Overstap__V1__Alert *a);
json_t *render_alert_json(const Overstap__V1__Alert *a);

/* ---- figures (overstap-report) ------------------------------------------------ */

struct report_meta {
	unsigned cohort;
	const char *group_by; /* "region", "vo_school", ... */
	const char *region;   /* "" = all the caller may see */
	int64_t as_of;        /* the peildatum; 0 = now */
};

void render_stats_table(const Overstap__V1__StatsReply *r, const struct report_meta *m, FILE *out);
void render_stats_csv(const Overstap__V1__StatsReply *r, FILE *out);
json_t *render_stats_json(const Overstap__V1__StatsReply *r, const struct report_meta *m);

/* The milestones (StatsReply.milestones) against the totals of r's rows:
 * per figure the one that applies at `moment` (the latest on or before it,
 * else the next), its value and gap. */
void render_milestones_text(const Overstap__V1__StatsReply *r, int64_t moment, FILE *out);
json_t *render_milestones_json(const Overstap__V1__StatsReply *r, int64_t moment);

/* --compare-previous: rows of cur and prev side by side by key. */
void render_compare_table(const Overstap__V1__StatsReply *cur, const struct report_meta *cm,
			  const Overstap__V1__StatsReply *prev, const struct report_meta *pm, FILE *out);
void render_compare_csv(const Overstap__V1__StatsReply *cur, const Overstap__V1__StatsReply *prev, FILE *out);

/* --trend: the five figures (rules.h enum figure) of the totals at moments. */
struct trend_figures {
	uint32_t overstappers;
	double pct[5];
};
struct trend_point {
	int64_t at;      /* cohort C's moment; C-1's is a year earlier */
	bool have[2];    /* [0] cohort C, [1] cohort C-1 */
	struct trend_figures fig[2];
};
void render_trend_figures(const Overstap__V1__StatsReply *r, struct trend_figures *out);
void render_trend_table(unsigned cohort, const struct trend_point *p, size_t n, FILE *out);
void render_trend_csv(const struct trend_point *p, size_t n, FILE *out);
json_t *render_trend_json(unsigned cohort, const struct trend_point *p, size_t n);

/* ---- a pupil (overstapctl pupil) ------------------------------------------------ */

void render_pupil_text(const Overstap__V1__PupilReply *p, const char *pgn, unsigned cohort, FILE *out);
json_t *render_pupil_json(const Overstap__V1__PupilReply *p, const char *pgn, unsigned cohort);

/* ---- helpers ---------------------------------------------------------------------- */

/* Writes j compactly on one line plus '\n' and releases it. false on failure. */
bool render_json_line(json_t *j, FILE *out);
/* A CSV field, quoted when it holds a comma, quote or line break. */
void render_csv_field(const char *s, FILE *out);
/* Percent with one decimal ("97.5"), gap with a sign ("-0.5"). */
void render_pct(double v, char *buf, size_t len);
void render_gap(double v, char *buf, size_t len);

#endif
