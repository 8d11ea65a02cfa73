/* render.c — text, table, CSV and JSON forms of alerts, figures and pupils.
 *
 * Owns the clients' output formats (DESIGN §6.1). Pure apart from writing to
 * the stream it is given; JSON through jansson. Callers: overstap-rmc,
 * overstap-report, overstapctl.
 */
#include "render.h"

#include "rules.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "wire.h"
#include "grow.h"

/* ---- small pieces ------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (!GROW(b->p, b->cap, b->len + n + 1, 256)) {
		b->failed = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Appends s with control characters, backslash and quote escaped; quoted
 * when it holds a space, quote or escape, or is empty. */
static void sb_value(struct sbuf *b, const char *s)
{
	bool quote = !*s || strpbrk(s, " \"\\=") != NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p && !quote; p++)
		quote = *p < 0x20 || *p == 0x7f;
	if (!quote) {
		sb_str(b, s);
		return;
	}
	sb_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			sb_add(b, esc, 2);
		} else if (*p == '\n') {
			sb_add(b, "\\n", 2);
		} else if (*p == '\t') {
			sb_add(b, "\\t", 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", *p);
			sb_str(b, esc);
		} else {
			sb_add(b, (const char *)p, 1);
		}
	}
	sb_add(b, "\"", 1);
}

static void sb_kv(struct sbuf *b, const char *key, const char *value)
{
	if (!value || !*value)
		return;
	sb_add(b, " ", 1);
	sb_str(b, key);
	sb_add(b, "=", 1);
	sb_value(b, value);
}

static void sb_kv_u64(struct sbuf *b, const char *key, uint64_t v)
{
	if (!v)
		return;
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	sb_kv(b, key, num);
}

/* A JSON string from bytes that should be UTF-8: jansson refuses invalid
 * UTF-8, so such bytes become U+FFFD rather than losing the whole field. */
static json_t *jstr(const char *s)
{
	if (!s)
		s = "";
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *fixed = malloc(n * 3 + 1);
	if (!fixed)
		return json_string("");
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = 1;
		while (k <= 4 && i + k <= n && !utf8_valid(s + i, k, NULL))
			k++;
		if (k <= 4 && i + k <= n) {
			memcpy(fixed + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	fixed[o] = '\0';
	j = json_string(fixed);
	free(fixed);
	return j ? j : json_string("");
}

bool render_json_line(json_t *j, FILE *out)
{
	if (!j)
		return false;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return false;
	bool ok = fputs(s, out) >= 0 && fputc('\n', out) != EOF;
	free(s);
	return ok;
}

void render_csv_field(const char *s, FILE *out)
{
	if (!strpbrk(s, ",\"\r\n;")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void render_pct(double v, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f", v);
}

void render_gap(double v, char *buf, size_t len)
{
	double r = round(v * 10.0) / 10.0;
	if (r == 0.0)
		r = 0.0; /* no "-0.0" */
	snprintf(buf, len, "%+.1f", r);
}

/* ---- alerts --------------------------------------------------------------------- */

char *render_alert_line(const Overstap__V1__Alert *a)
{
	struct sbuf b = { 0 };
	char head[64], when[32];
	snprintf(head, sizeof head, "%llu %s", (unsigned long long)a->alert_id,
		 wire_enum_label(WIRE_ENUM_ALERT_KIND, (int)a->kind));
	sb_str(&b, head);
	if (a->cohort) {
		char c[16];
		snprintf(c, sizeof c, "%u", a->cohort);
		sb_kv(&b, "cohort", c);
	}
	sb_kv(&b, "pgn", a->pgn);
	sb_kv(&b, "name", a->name);
	sb_kv(&b, "birth_date", a->birth_date);
	sb_kv(&b, "woongemeente", a->woongemeente);
	sb_kv(&b, "region", a->region);
	sb_kv(&b, "vo_school", a->vo_school);
	if (a->status)
		sb_kv(&b, "status", wire_enum_label(WIRE_ENUM_STATUS, (int)a->status));
	sb_kv(&b, "mbo_instelling", a->mbo_instelling);
	sb_kv(&b, "crebo", a->crebo);
	if (a->raised_at) {
		wire_time_format(a->raised_at, when, sizeof when);
		sb_kv(&b, "raised_at", when);
	}
	sb_kv_u64(&b, "resolves_alert_id", a->resolves_alert_id);
	sb_kv_u64(&b, "escalated_alert_id", a->escalated_alert_id);
	sb_kv(&b, "reason", a->reason);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

json_t *render_alert_json(const Overstap__V1__Alert *a)
{
	return json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:I, s:o, s:I, s:o, s:I}",
			 "alert_id", (json_int_t)a->alert_id, "kind", wire_enum_label(WIRE_ENUM_ALERT_KIND, (int)a->kind),
			 "cohort", (json_int_t)a->cohort, "pgn", jstr(a->pgn), "name", jstr(a->name), "birth_date",
			 jstr(a->birth_date), "woongemeente", jstr(a->woongemeente), "vo_school", jstr(a->vo_school),
			 "status", wire_enum_label(WIRE_ENUM_STATUS, (int)a->status), "mbo_instelling",
			 jstr(a->mbo_instelling), "crebo", jstr(a->crebo), "raised_at", (json_int_t)a->raised_at,
			 "reason", jstr(a->reason), "resolves_alert_id", (json_int_t)a->resolves_alert_id, "region",
			 jstr(a->region), "escalated_alert_id", (json_int_t)a->escalated_alert_id);
}

/* ---- figures ------------------------------------------------------------------------ */

static const Overstap__V1__Targets no_targets = OVERSTAP__V1__TARGETS__INIT;

static const Overstap__V1__Targets *targets_of(const Overstap__V1__StatsReply *r)
{
	return r->targets ? r->targets : &no_targets;
}

#define N_COUNTS 10
static const char *const count_names[N_COUNTS] = { "overstappers", "met_keuze",	   "aangemeld",
						   "aangemeld_op_tijd", "geplaatst",    "ingeschreven",
						   "andere_bestemming", "ddd",	   "zomerlek",
						   "niet_gestart" };

static void counts_of(const Overstap__V1__StatsRow *row, uint32_t out[N_COUNTS])
{
	uint32_t v[N_COUNTS] = { row->overstappers, row->met_keuze,	     row->aangemeld, row->aangemeld_op_tijd,
				 row->geplaatst,    row->ingeschreven,	     row->andere_bestemming,
				 row->ddd,	    row->zomerlek,	     row->niet_gestart };
	memcpy(out, v, sizeof v);
}

void render_stats_table(const Overstap__V1__StatsReply *r, const struct report_meta *m, FILE *out)
{
	const Overstap__V1__Targets *t = targets_of(r);
	char tib[16], tdef[16], tddd[16];
	render_pct(t->in_beeld_pct, tib, sizeof tib);
	render_pct(t->definitief_pct, tdef, sizeof tdef);
	render_pct(t->ddd_pct, tddd, sizeof tddd);
	char peil[40] = "";
	if (m->as_of) {
		char d[16];
		rules_local_date(m->as_of, d, sizeof d);
		snprintf(peil, sizeof peil, "; peildatum %s", d);
	}
	fprintf(out, "cohort %u, by %s, %s%s%s; targets: in beeld %s%%, definitief %s%%, ddd %s%%\n", m->cohort,
		m->group_by, m->region[0] ? "region " : "every region this certificate may see", m->region, peil,
		tib, tdef, tddd);
	if (r->n_rows == 0) {
		fprintf(out, "no overstappers\n");
		return;
	}
	static const char *const header[] = { "key", "label", "overstappers", "met_keuze", "aangemeld",
					      "aangemeld_op_tijd", "geplaatst", "ingeschreven",
					      "andere_bestemming", "ddd", "zomerlek", "niet_gestart",
					      "in_beeld_pct", "target", "gap", "definitief_pct", "target", "gap",
					      "ddd_pct", "target", "gap" };
	enum { NCOLS = sizeof header / sizeof header[0] };
	enum table_align align[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		align[c] = c < 2 ? TABLE_LEFT : TABLE_RIGHT;
	struct table tab;
	if (!table_init(&tab, NCOLS, header, align))
		return;
	for (size_t i = 0; i < r->n_rows; i++) {
		const Overstap__V1__StatsRow *row = r->rows[i];
		char buf[NCOLS][32];
		const char *cells[NCOLS];
		uint32_t counts[N_COUNTS];
		counts_of(row, counts);
		cells[0] = row->key[0] ? row->key : "(unknown)";
		cells[1] = row->label;
		for (int c = 0; c < N_COUNTS; c++) {
			if (row->suppressed)
				snprintf(buf[2 + c], sizeof buf[0], "<5");
			else
				snprintf(buf[2 + c], sizeof buf[0], "%u", counts[c]);
			cells[2 + c] = buf[2 + c];
		}
		double pct[3] = { row->in_beeld_pct, row->definitief_pct, row->ddd_pct };
		double tgt[3] = { t->in_beeld_pct, t->definitief_pct, t->ddd_pct };
		for (int k = 0; k < 3; k++) {
			int at = 12 + 3 * k;
			if (row->suppressed) {
				snprintf(buf[at], sizeof buf[0], "-");
				snprintf(buf[at + 2], sizeof buf[0], "-");
			} else {
				render_pct(pct[k], buf[at], sizeof buf[0]);
				render_gap(pct[k] - tgt[k], buf[at + 2], sizeof buf[0]);
			}
			render_pct(tgt[k], buf[at + 1], sizeof buf[0]);
			for (int j = 0; j < 3; j++)
				cells[at + j] = buf[at + j];
		}
		table_add_row(&tab, cells);
	}
	table_print(&tab, out);
	table_free(&tab);
	bool any_suppressed = false;
	for (size_t i = 0; i < r->n_rows; i++)
		any_suppressed = any_suppressed || r->rows[i]->suppressed;
	if (any_suppressed)
		fprintf(out, "<5: fewer than 5 overstappers, figures withheld\n");
}

void render_stats_csv(const Overstap__V1__StatsReply *r, FILE *out)
{
	const Overstap__V1__Targets *t = targets_of(r);
	fputs("key,label", out);
	for (int c = 0; c < N_COUNTS; c++)
		fprintf(out, ",%s", count_names[c]);
	fputs(",in_beeld_pct,in_beeld_target,in_beeld_gap,definitief_pct,definitief_target,definitief_gap,"
	      "ddd_pct,ddd_target,ddd_gap,suppressed\n",
	      out);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Overstap__V1__StatsRow *row = r->rows[i];
		uint32_t counts[N_COUNTS];
		counts_of(row, counts);
		render_csv_field(row->key, out);
		fputc(',', out);
		render_csv_field(row->label, out);
		for (int c = 0; c < N_COUNTS; c++)
			fprintf(out, ",%u", counts[c]);
		double pct[3] = { row->in_beeld_pct, row->definitief_pct, row->ddd_pct };
		double tgt[3] = { t->in_beeld_pct, t->definitief_pct, t->ddd_pct };
		for (int k = 0; k < 3; k++) {
			if (row->suppressed)
				fprintf(out, ",,%.2f,", tgt[k]);
			else
				fprintf(out, ",%.2f,%.2f,%.2f", pct[k], tgt[k], pct[k] - tgt[k]);
		}
		fprintf(out, ",%s\n", row->suppressed ? "true" : "false");
	}
}

json_t *render_stats_json(const Overstap__V1__StatsReply *r, const struct report_meta *m)
{
	const Overstap__V1__Targets *t = targets_of(r);
	json_t *rows = json_array();
	for (size_t i = 0; rows && i < r->n_rows; i++) {
		const Overstap__V1__StatsRow *row = r->rows[i];
		uint32_t counts[N_COUNTS];
		counts_of(row, counts);
		json_t *o = json_object();
		json_object_set_new(o, "key", jstr(row->key));
		json_object_set_new(o, "label", jstr(row->label));
		for (int c = 0; c < N_COUNTS; c++)
			json_object_set_new(o, count_names[c], json_integer(counts[c]));
		static const char *const names[3][2] = { { "in_beeld_pct", "in_beeld_gap" },
							  { "definitief_pct", "definitief_gap" },
							  { "ddd_pct", "ddd_gap" } };
		double pct[3] = { row->in_beeld_pct, row->definitief_pct, row->ddd_pct };
		double tgt[3] = { t->in_beeld_pct, t->definitief_pct, t->ddd_pct };
		for (int k = 0; k < 3; k++) {
			json_object_set_new(o, names[k][0], json_real(pct[k]));
			json_object_set_new(o, names[k][1], row->suppressed ? json_null() : json_real(pct[k] - tgt[k]));
		}
		json_object_set_new(o, "suppressed", json_boolean(row->suppressed));
		json_array_append_new(rows, o);
	}
	return json_pack("{s:I, s:s, s:s, s:{s:f, s:f, s:f}, s:o}", "cohort", (json_int_t)m->cohort, "group_by",
			 m->group_by, "region", m->region, "targets", "in_beeld_pct", t->in_beeld_pct,
			 "definitief_pct", t->definitief_pct, "ddd_pct", t->ddd_pct, "rows", rows);
}

/* ---- milestones, the previous cohort, the trend ------------------------------------------ */

static void totals_of(const Overstap__V1__StatsReply *r, struct figure_counts *fc)
{
	memset(fc, 0, sizeof *fc);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Overstap__V1__StatsRow *row = r->rows[i];
		fc->overstappers += row->overstappers;
		fc->met_keuze += row->met_keuze;
		fc->aangemeld += row->aangemeld;
		fc->geplaatst += row->geplaatst;
		fc->ingeschreven += row->ingeschreven;
		fc->andere_bestemming += row->andere_bestemming;
		fc->ddd += row->ddd;
	}
}

/* Per figure the milestone that applies at moment: the latest on or before
 * it, else the first after it; NULL when the figure has none. */
static const Overstap__V1__Milestone *milestone_for(const Overstap__V1__StatsReply *r, const char *figure,
						    int64_t moment)
{
	const Overstap__V1__Milestone *passed = NULL, *next = NULL;
	for (size_t i = 0; i < r->n_milestones; i++) {
		const Overstap__V1__Milestone *ms = r->milestones[i];
		if (strcmp(ms->figure, figure) != 0)
			continue;
		if (ms->at <= moment && (!passed || ms->at >= passed->at))
			passed = ms;
		else if (ms->at > moment && (!next || ms->at < next->at))
			next = ms;
	}
	return passed ? passed : next;
}

void render_milestones_text(const Overstap__V1__StatsReply *r, int64_t moment, FILE *out)
{
	if (r->n_milestones == 0)
		return;
	struct figure_counts fc;
	totals_of(r, &fc);
	fputs("milestones (totals):\n", out);
	for (int f = 0; f < FIGURE_COUNT; f++) {
		const Overstap__V1__Milestone *ms = milestone_for(r, rules_figure_name((enum figure)f), moment);
		if (!ms)
			continue;
		double v = rules_figure_pct((enum figure)f, &fc);
		char pv[16], pt[16], gap[16];
		render_pct(v, pv, sizeof pv);
		render_pct(ms->pct, pt, sizeof pt);
		render_gap(v - ms->pct, gap, sizeof gap);
		bool due = ms->at <= moment;
		fprintf(out, "  %-10s %s%% on %s: %s%% (%s)%s\n", rules_figure_name((enum figure)f), pt, ms->date, pv, gap,
			!due ? " not yet due" : v + 1e-9 >= ms->pct ? " met" : " MISSED");
	}
}

json_t *render_milestones_json(const Overstap__V1__StatsReply *r, int64_t moment)
{
	struct figure_counts fc;
	totals_of(r, &fc);
	json_t *a = json_array();
	for (int f = 0; a && f < FIGURE_COUNT; f++) {
		const Overstap__V1__Milestone *ms = milestone_for(r, rules_figure_name((enum figure)f), moment);
		if (!ms)
			continue;
		double v = rules_figure_pct((enum figure)f, &fc);
		json_array_append_new(a, json_pack("{s:s, s:f, s:s, s:f, s:f, s:b, s:b}", "figure", ms->figure, "target",
						   ms->pct, "date", ms->date, "value", v, "gap", v - ms->pct, "due",
						   ms->at <= moment, "met", v + 1e-9 >= ms->pct));
	}
	return a;
}

static const Overstap__V1__StatsRow *row_by_key(const Overstap__V1__StatsReply *r, const char *key)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i]->key, key) == 0)
			return r->rows[i];
	return NULL;
}

/* The keys of cur, then those only prev has. */
static size_t compare_keys(const Overstap__V1__StatsReply *cur, const Overstap__V1__StatsReply *prev,
			   const char **keys, const char **labels)
{
	size_t n = 0;
	for (size_t i = 0; i < cur->n_rows; i++) {
		keys[n] = cur->rows[i]->key;
		labels[n++] = cur->rows[i]->label;
	}
	for (size_t i = 0; i < prev->n_rows; i++) {
		if (!row_by_key(cur, prev->rows[i]->key)) {
			keys[n] = prev->rows[i]->key;
			labels[n++] = prev->rows[i]->label;
		}
	}
	return n;
}

static void cell_pct(const Overstap__V1__StatsRow *row, double v, char *buf, size_t len)
{
	if (!row)
		buf[0] = '\0';
	else if (row->suppressed)
		snprintf(buf, len, "-");
	else
		render_pct(v, buf, len);
}

void render_compare_table(const Overstap__V1__StatsReply *cur, const struct report_meta *cm,
			  const Overstap__V1__StatsReply *prev, const struct report_meta *pm, FILE *out)
{
	char dc[16], dp[16];
	rules_local_date(cm->as_of, dc, sizeof dc);
	rules_local_date(pm->as_of, dp, sizeof dp);
	fprintf(out, "cohort %u on %s against cohort %u on %s, by %s%s%s\n", cm->cohort, dc, pm->cohort, dp,
		cm->group_by, cm->region[0] ? ", region " : "", cm->region);
	static const char *const header[] = { "key", "label", "overstappers", "previous", "in_beeld_pct", "previous",
					      "diff", "definitief_pct", "previous", "diff", "ddd_pct", "previous",
					      "diff" };
	enum { NCOLS = sizeof header / sizeof header[0] };
	enum table_align align[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		align[c] = c < 2 ? TABLE_LEFT : TABLE_RIGHT;
	struct table tab;
	size_t cap = cur->n_rows + prev->n_rows + 1;
	const char **keys = calloc(cap, sizeof *keys), **labels = calloc(cap, sizeof *labels);
	if (!keys || !labels || !table_init(&tab, NCOLS, header, align)) {
		free(keys);
		free(labels);
		return;
	}
	size_t n = compare_keys(cur, prev, keys, labels);
	for (size_t i = 0; i < n; i++) {
		const Overstap__V1__StatsRow *a = row_by_key(cur, keys[i]), *b = row_by_key(prev, keys[i]);
		char buf[NCOLS][32];
		const char *cells[NCOLS];
		cells[0] = keys[i][0] ? keys[i] : "(unknown)";
		cells[1] = labels[i];
		snprintf(buf[2], 32, "%s", !a ? "" : a->suppressed ? "<5" : "");
		if (a && !a->suppressed)
			snprintf(buf[2], 32, "%u", a->overstappers);
		snprintf(buf[3], 32, "%s", !b ? "" : b->suppressed ? "<5" : "");
		if (b && !b->suppressed)
			snprintf(buf[3], 32, "%u", b->overstappers);
		for (int k = 0; k < 3; k++) {
			double va = !a ? 0 : k == 0 ? a->in_beeld_pct : k == 1 ? a->definitief_pct : a->ddd_pct;
			double vb = !b ? 0 : k == 0 ? b->in_beeld_pct : k == 1 ? b->definitief_pct : b->ddd_pct;
			cell_pct(a, va, buf[4 + 3 * k], 32);
			cell_pct(b, vb, buf[5 + 3 * k], 32);
			if (a && b && !a->suppressed && !b->suppressed)
				render_gap(va - vb, buf[6 + 3 * k], 32);
			else
				snprintf(buf[6 + 3 * k], 32, "-");
		}
		for (int c = 2; c < NCOLS; c++)
			cells[c] = buf[c];
		table_add_row(&tab, cells);
	}
	table_print(&tab, out);
	table_free(&tab);
	free(keys);
	free(labels);
}

void render_compare_csv(const Overstap__V1__StatsReply *cur, const Overstap__V1__StatsReply *prev, FILE *out)
{
	fputs("key,label,overstappers,overstappers_previous,in_beeld_pct,in_beeld_pct_previous,in_beeld_diff,"
	      "definitief_pct,definitief_pct_previous,definitief_diff,ddd_pct,ddd_pct_previous,ddd_diff\n",
	      out);
	size_t cap = cur->n_rows + prev->n_rows + 1;
	const char **keys = calloc(cap, sizeof *keys), **labels = calloc(cap, sizeof *labels);
	size_t n = keys && labels ? compare_keys(cur, prev, keys, labels) : 0;
	for (size_t i = 0; i < n; i++) {
		const Overstap__V1__StatsRow *a = row_by_key(cur, keys[i]), *b = row_by_key(prev, keys[i]);
		bool ua = a && !a->suppressed, ub = b && !b->suppressed;
		render_csv_field(keys[i], out);
		fputc(',', out);
		render_csv_field(labels[i], out);
		if (ua)
			fprintf(out, ",%u", a->overstappers);
		else
			fputs(",", out);
		if (ub)
			fprintf(out, ",%u", b->overstappers);
		else
			fputs(",", out);
		for (int k = 0; k < 3; k++) {
			double va = !a ? 0 : k == 0 ? a->in_beeld_pct : k == 1 ? a->definitief_pct : a->ddd_pct;
			double vb = !b ? 0 : k == 0 ? b->in_beeld_pct : k == 1 ? b->definitief_pct : b->ddd_pct;
			if (ua)
				fprintf(out, ",%.2f", va);
			else
				fputs(",", out);
			if (ub)
				fprintf(out, ",%.2f", vb);
			else
				fputs(",", out);
			if (ua && ub)
				fprintf(out, ",%.2f", va - vb);
			else
				fputs(",", out);
		}
		fputc('\n', out);
	}
	free(keys);
	free(labels);
}

void render_trend_figures(const Overstap__V1__StatsReply *r, struct trend_figures *out)
{
	struct figure_counts fc;
	totals_of(r, &fc);
	out->overstappers = fc.overstappers;
	for (int f = 0; f < FIGURE_COUNT; f++)
		out->pct[f] = rules_figure_pct((enum figure)f, &fc);
}

void render_trend_table(unsigned cohort, const struct trend_point *p, size_t n, FILE *out)
{
	fprintf(out, "cohort %u week by week against cohort %u a year earlier (%% of the overstappers; "
		     "aangemeld and geplaatst: or further)\n",
		cohort, cohort - 1);
	static const char *const header[] = { "date", "overstappers", "in_beeld", "aangemeld", "geplaatst", "definitief",
					      "ddd", "previous", "in_beeld", "aangemeld", "geplaatst", "definitief",
					      "ddd" };
	enum { NCOLS = sizeof header / sizeof header[0] };
	enum table_align align[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		align[c] = c == 0 ? TABLE_LEFT : TABLE_RIGHT;
	struct table tab;
	if (!table_init(&tab, NCOLS, header, align))
		return;
	for (size_t i = 0; i < n; i++) {
		char buf[NCOLS][32];
		const char *cells[NCOLS];
		rules_local_date(p[i].at, buf[0], 32);
		for (int k = 0; k < 2; k++) {
			int at = 1 + 6 * k;
			if (p[i].have[k])
				snprintf(buf[at], 32, "%u", p[i].fig[k].overstappers);
			else
				snprintf(buf[at], 32, "-");
			for (int f = 0; f < 5; f++) {
				if (p[i].have[k])
					render_pct(p[i].fig[k].pct[f], buf[at + 1 + f], 32);
				else
					snprintf(buf[at + 1 + f], 32, "-");
			}
		}
		for (int c = 0; c < NCOLS; c++)
			cells[c] = buf[c];
		table_add_row(&tab, cells);
	}
	table_print(&tab, out);
	table_free(&tab);
	fputs("-: no figures for that moment (before the daemon's log began)\n", out);
}

void render_trend_csv(const struct trend_point *p, size_t n, FILE *out)
{
	fputs("date,cohort,overstappers,in_beeld_pct,aangemeld_pct,geplaatst_pct,definitief_pct,ddd_pct\n", out);
	for (size_t i = 0; i < n; i++) {
		char d[16];
		rules_local_date(p[i].at, d, sizeof d);
		for (int k = 0; k < 2; k++) {
			if (!p[i].have[k])
				continue;
			fprintf(out, "%s,%s,%u", d, k == 0 ? "current" : "previous", p[i].fig[k].overstappers);
			for (int f = 0; f < 5; f++)
				fprintf(out, ",%.2f", p[i].fig[k].pct[f]);
			fputc('\n', out);
		}
	}
}

json_t *render_trend_json(unsigned cohort, const struct trend_point *p, size_t n)
{
	json_t *points = json_array();
	for (size_t i = 0; points && i < n; i++) {
		char d[16];
		rules_local_date(p[i].at, d, sizeof d);
		json_t *pt = json_pack("{s:s, s:I}", "date", d, "as_of", (json_int_t)p[i].at);
		for (int k = 0; k < 2; k++) {
			json_t *o = json_null();
			if (p[i].have[k]) {
				o = json_pack("{s:I}", "overstappers", (json_int_t)p[i].fig[k].overstappers);
				for (int f = 0; f < 5; f++) {
					char name[32];
					snprintf(name, sizeof name, "%s_pct", rules_figure_name((enum figure)f));
					json_object_set_new(o, name, json_real(p[i].fig[k].pct[f]));
				}
			}
			json_object_set_new(pt, k == 0 ? "current" : "previous", o);
		}
		json_array_append_new(points, pt);
	}
	return json_pack("{s:I, s:I, s:o}", "cohort", (json_int_t)cohort, "previous_cohort", (json_int_t)cohort - 1,
			 "points", points);
}

/* ---- a pupil ---------------------------------------------------------------------------- */

void render_pupil_text(const Overstap__V1__PupilReply *p, const char *pgn, unsigned cohort, FILE *out)
{
	fprintf(out, "pupil %s cohort %u: %s\n", pgn, cohort, wire_enum_label(WIRE_ENUM_STATUS, (int)p->status));
	fprintf(out, "vo_school %s  woongemeente %s  region %s\n", p->vo_school[0] ? p->vo_school : "-",
		p->woongemeente[0] ? p->woongemeente : "-", p->region[0] ? p->region : "-");
	if (p->n_timeline == 0) {
		fprintf(out, "timeline: no events\n");
	} else {
		static const char *const header[] = { "occurred_at", "kind", "school", "crebo" };
		struct table tab;
		if (table_init(&tab, 4, header, NULL)) {
			for (size_t i = 0; i < p->n_timeline; i++) {
				const Overstap__V1__TimelineEntry *e = p->timeline[i];
				char when[32];
				wire_time_format(e->occurred_at, when, sizeof when);
				const char *cells[4] = { when, wire_enum_label(WIRE_ENUM_KIND, (int)e->kind), e->school,
							 e->crebo };
				table_add_row(&tab, cells);
			}
			table_print(&tab, out);
			table_free(&tab);
		}
	}
	fprintf(out, "open alerts:");
	if (p->n_open_alert_ids == 0)
		fprintf(out, " none");
	for (size_t i = 0; i < p->n_open_alert_ids; i++)
		fprintf(out, "%s %llu", i ? "," : "", (unsigned long long)p->open_alert_ids[i]);
	fputc('\n', out);
}

json_t *render_pupil_json(const Overstap__V1__PupilReply *p, const char *pgn, unsigned cohort)
{
	json_t *timeline = json_array(), *alerts = json_array();
	for (size_t i = 0; timeline && i < p->n_timeline; i++) {
		const Overstap__V1__TimelineEntry *e = p->timeline[i];
		json_array_append_new(timeline, json_pack("{s:I, s:s, s:o, s:o}", "occurred_at", (json_int_t)e->occurred_at,
							  "kind", wire_enum_label(WIRE_ENUM_KIND, (int)e->kind),
							  "school", jstr(e->school), "crebo", jstr(e->crebo)));
	}
	for (size_t i = 0; alerts && i < p->n_open_alert_ids; i++)
		json_array_append_new(alerts, json_integer((json_int_t)p->open_alert_ids[i]));
	return json_pack("{s:o, s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "pgn", jstr(pgn), "cohort", (json_int_t)cohort,
			 "status", wire_enum_label(WIRE_ENUM_STATUS, (int)p->status), "vo_school", jstr(p->vo_school),
			 "woongemeente", jstr(p->woongemeente), "region", jstr(p->region), "timeline", timeline,
			 "open_alert_ids", alerts);
}
