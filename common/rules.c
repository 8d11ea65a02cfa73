/* rules.c — the pure alert rules and the deadline calendar (DESIGN §5.1).
 *
 * Owns the calendar (deadline instants in Europe/Amsterdam time), the real-time
 * rules and the deadline rules, the latter as data (rules_sweep_for) so the
 * sweeper runs them set-based and rules_evaluate re-checks them per event from
 * the same table. No I/O, no clock reads, no allocation.
 * Callers: ingest (evaluate, status_at), sweeper (sweep_for, deadline_at), stats.
 *
 * Per event (rules_evaluate), with s = the new state's status at now:
 *   ZOMERLEK      s is ZONDER_PLEK, the pupil left vo, now before the teldatum;
 *   NIET_GESTART  s is NIET_GESTART (an mbo's no-show report, or the teldatum
 *                 passed with an application still open);
 *   deadline rule D (the table below) when its condition holds on the status the
 *                 sweep would have seen (teldatum not applied) and now lies from
 *                 D's date up to the next deadline — or at any time after D when
 *                 the pupil is first seen (old state empty), so a pupil the sweep
 *                 never saw is not missed. After the teldatum a withdrawal is no
 *                 zomerlek any more: the teldatum rule describes those pupils.
 *   OPGELOST      s is INGESCHREVEN or ANDERE_BESTEMMING (the store resolves the
 *                 open alerts, if any).
 * Alerts are level-triggered: the store keeps at most one open per (pupil,
 * cohort, kind, recipient), so raising again while one is open changes nothing.
 */
#include "rules.h"

#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include "civil.h"

#define DAY_SECONDS 86400
#define HOUR_SECONDS 3600

static const struct rules_sweep SWEEPS[DEADLINE_COUNT] = {
	[DEADLINE_AANMELDDATUM] = {
		.deadline = DEADLINE_AANMELDDATUM,
		.kind = ALERT_GEEN_AANMELDING,
		.status_mask = (1u << STATUS_GEEN_KEUZE) | (1u << STATUS_KEUZE),
		.requires_left_vo = false,
		.requires_registered = true,
		.recipients = RECIPIENT_VO,
		.sets_status = false,
		.new_status = STATUS_UNSPECIFIED,
		.reason = "geen aanmelding in het mbo op de aanmelddatum",
	},
	[DEADLINE_ZOMER] = {
		.deadline = DEADLINE_ZOMER,
		.kind = ALERT_ZOMERLEK,
		.status_mask = (1u << STATUS_GEEN_KEUZE) | (1u << STATUS_KEUZE) | (1u << STATUS_ZONDER_PLEK),
		.requires_left_vo = true,
		.requires_registered = false,
		.recipients = RECIPIENT_RMC | RECIPIENT_VO,
		.sets_status = false,
		.new_status = STATUS_UNSPECIFIED,
		.reason = "vo verlaten zonder plek in het mbo op de zomerpeildatum",
	},
	[DEADLINE_TELDATUM] = {
		.deadline = DEADLINE_TELDATUM,
		.kind = ALERT_NIET_GESTART,
		.status_mask = (1u << STATUS_AANGEMELD) | (1u << STATUS_GEPLAATST),
		.requires_left_vo = false,
		.requires_registered = false,
		.recipients = RECIPIENT_RMC | RECIPIENT_VO,
		.sets_status = true,
		.new_status = STATUS_NIET_GESTART,
		.reason = "aangemeld of geplaatst, niet ingeschreven op de teldatum",
	},
};

void rules_calendar_default(struct rules_calendar *cal)
{
	memset(cal, 0, sizeof *cal);
	cal->month[DEADLINE_AANMELDDATUM] = 4;
	cal->day[DEADLINE_AANMELDDATUM] = 1;
	cal->month[DEADLINE_ZOMER] = 8;
	cal->day[DEADLINE_ZOMER] = 1;
	cal->month[DEADLINE_TELDATUM] = 10;
	cal->day[DEADLINE_TELDATUM] = 1;
	cal->escalate_after = 7 * DAY_SECONDS;
}

/* Day number of the last Sunday of a 31-day month (March, October). */
static int64_t last_sunday(int64_t year, int month)
{
	int64_t last = civil_days_from_date(year, month, 31);
	int64_t weekday = ((last + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
	return last - weekday;
}

/* EU summer time: from the last Sunday of March 01:00 UTC to the last Sunday
 * of October 01:00 UTC. */
static bool is_summer_time(int64_t utc, int64_t year)
{
	int64_t start = last_sunday(year, 3) * DAY_SECONDS + HOUR_SECONDS;
	int64_t end = last_sunday(year, 10) * DAY_SECONDS + HOUR_SECONDS;
	return utc >= start && utc < end;
}

/* A local wall-clock time (seconds after 00:00 on the clock) of a date. */
static int64_t local_time(int64_t year, int month, int day, int64_t wall)
{
	int64_t local = civil_days_from_date(year, month, day) * DAY_SECONDS + wall;
	int64_t cest = local - 2 * HOUR_SECONDS;
	if (is_summer_time(cest, year))
		return cest;
	return local - HOUR_SECONDS;
}

int64_t rules_local_midnight(int64_t year, int month, int day)
{
	return local_time(year, month, day, 0);
}

int64_t rules_deadline_at(const struct rules_calendar *cal, uint32_t cohort, enum deadline d)
{
	if ((int)d < 0 || d >= DEADLINE_COUNT)
		return INT64_MAX;
	return rules_local_midnight((int64_t)cohort, cal->month[d], cal->day[d]);
}

static const char *const figure_names[FIGURE_COUNT] = { "in_beeld", "aangemeld", "geplaatst", "definitief",
							"ddd" };

const char *rules_figure_name(enum figure f)
{
	return (int)f >= 0 && f < FIGURE_COUNT ? figure_names[f] : "";
}

bool rules_figure_parse(const char *s, size_t len, enum figure *out)
{
	for (int f = 0; f < FIGURE_COUNT; f++) {
		if (strlen(figure_names[f]) == len && strncmp(s, figure_names[f], len) == 0) {
			*out = (enum figure)f;
			return true;
		}
	}
	return false;
}

double rules_figure_pct(enum figure f, const struct figure_counts *c)
{
	uint32_t part = 0;
	switch (f) {
	case FIGURE_IN_BEELD: part = c->met_keuze; break;
	case FIGURE_AANGEMELD: part = c->aangemeld + c->geplaatst + c->ingeschreven; break;
	case FIGURE_GEPLAATST: part = c->geplaatst + c->ingeschreven; break;
	case FIGURE_DEFINITIEF: part = c->ingeschreven + c->andere_bestemming; break;
	case FIGURE_DDD: part = c->ddd; break;
	default: return 0;
	}
	return c->overstappers ? 100.0 * part / c->overstappers : 0;
}

bool rules_parse_moment(const char *s, int64_t *out)
{
	size_t n = strlen(s), digits = strspn(s, "0123456789");
	if (n > 0 && n <= 12 && digits == n) {
		*out = strtoll(s, NULL, 10);
		return true;
	}
	int y, m, d;
	char tail;
	if (n == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && civil_date_is_valid(y, m, d)) {
		*out = rules_local_midnight(y, m, d);
		return true;
	}
	return n > 10 && civil_parse_iso(s, out);
}

/* The local date of t: y, m, d, and the time on the clock (seconds). */
static int64_t local_date_of(int64_t t, int64_t *y, int *m, int *d)
{
	int64_t year = civil_year_of(t);
	int64_t local = t + (is_summer_time(t, year) ? 2 * HOUR_SECONDS : HOUR_SECONDS);
	int64_t days = local / DAY_SECONDS - (local % DAY_SECONDS < 0);
	civil_date_from_days(days, y, m, d);
	return local - days * DAY_SECONDS;
}

int64_t rules_year_earlier(int64_t t)
{
	int64_t y;
	int m, d;
	int64_t wall = local_date_of(t, &y, &m, &d);
	if (m == 2 && d == 29)
		d = 28;
	return local_time(y - 1, m, d, wall);
}

void rules_local_date(int64_t t, char *buf, size_t len)
{
	int64_t y;
	int m, d;
	local_date_of(t, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

bool rules_school_stil_season(const struct rules_calendar *cal, uint32_t cohort, int64_t now)
{
	return now >= rules_local_midnight((int64_t)cohort - 1, 9, 1) &&
	       now < rules_deadline_at(cal, cohort, DEADLINE_TELDATUM);
}

size_t rules_school_stil_cohorts(const struct rules_calendar *cal, int64_t now, uint32_t out[2])
{
	size_t n = 0;
	int64_t y = civil_year_of(now);
	for (int64_t c = y; c <= y + 1; c++)
		if (c > 0 && c < 100000 && rules_school_stil_season(cal, (uint32_t)c, now))
			out[n++] = (uint32_t)c;
	return n;
}

const char *rules_deadline_name(enum deadline d)
{
	switch (d) {
	case DEADLINE_AANMELDDATUM: return "aanmelddatum";
	case DEADLINE_ZOMER: return "zomer";
	case DEADLINE_TELDATUM: return "teldatum";
	default: return "unknown";
	}
}

const char *rules_alert_kind_name(enum alert_kind kind)
{
	switch (kind) {
	case ALERT_KIND_UNSPECIFIED: return "UNSPECIFIED";
	case ALERT_ZOMERLEK: return "ZOMERLEK";
	case ALERT_NIET_GESTART: return "NIET_GESTART";
	case ALERT_GEEN_AANMELDING: return "GEEN_AANMELDING";
	case ALERT_ESCALATIE: return "ESCALATIE";
	case ALERT_OPGELOST: return "OPGELOST";
	case ALERT_SCHOOL_STIL: return "SCHOOL_STIL";
	}
	return "UNKNOWN";
}

enum status rules_status_at(const struct rules_calendar *cal, const struct pupil_state *state, int64_t now)
{
	return overstap_status(state, now >= rules_deadline_at(cal, state->cohort, DEADLINE_TELDATUM));
}

const struct rules_sweep *rules_sweep_for(enum deadline d)
{
	if ((int)d < 0 || d >= DEADLINE_COUNT)
		return NULL;
	return &SWEEPS[d];
}

const char *rules_alert_reason(enum alert_kind kind, enum status st)
{
	switch (kind) {
	case ALERT_ZOMERLEK:
		return st == STATUS_ZONDER_PLEK ? "vo verlaten, geen actieve aanmelding in het mbo meer"
						: "vo verlaten zonder aanmelding in het mbo";
	case ALERT_NIET_GESTART:
		return "aangemeld of geplaatst, niet gestart";
	case ALERT_GEEN_AANMELDING:
		return SWEEPS[DEADLINE_AANMELDDATUM].reason;
	case ALERT_OPGELOST:
		return "alsnog geplaatst of andere bestemming";
	default:
		return "";
	}
}

const char *rules_escalation_reason(enum alert_kind escalated)
{
	return escalated == ALERT_ZOMERLEK ? "zomerlek niet opgepakt binnen de termijn"
					   : "niet gestart niet opgepakt binnen de termijn";
}

/* ---- per event ------------------------------------------------------------ */

/* The condition of a sweep, on the status the sweep would have seen. */
static bool sweep_matches(const struct rules_sweep *sw, const struct pupil_state *st, enum status before_teldatum)
{
	if (!(sw->status_mask & (1u << before_teldatum)))
		return false;
	if (sw->requires_left_vo && !overstap_has_left_vo(st))
		return false;
	if (sw->requires_registered && !overstap_is_registered(st))
		return false;
	return true;
}

static void add_alert(struct rules_outcome *out, enum alert_kind kind, unsigned recipients)
{
	for (size_t i = 0; i < out->n_alerts; i++) {
		if (out->alerts[i].kind == kind) {
			out->alerts[i].recipients |= recipients;
			return;
		}
	}
	if (out->n_alerts < sizeof out->alerts / sizeof out->alerts[0]) {
		out->alerts[out->n_alerts].kind = kind;
		out->alerts[out->n_alerts].recipients = recipients;
		out->n_alerts++;
	}
}

void rules_evaluate(const struct rules_calendar *cal, const struct pupil_state *old,
		    const struct pupil_state *new_state, int64_t now, struct rules_outcome *out)
{
	memset(out, 0, sizeof *out);
	int64_t at[DEADLINE_COUNT];
	for (int d = 0; d < DEADLINE_COUNT; d++)
		at[d] = rules_deadline_at(cal, new_state->cohort, (enum deadline)d);
	bool teldatum_passed = now >= at[DEADLINE_TELDATUM];
	enum status s = overstap_status(new_state, teldatum_passed);
	enum status before = overstap_status(new_state, false);
	bool first_seen = overstap_state_is_empty(old);
	bool alerts[ALERT_OPGELOST + 1] = { false };
	unsigned recipients[ALERT_OPGELOST + 1] = { 0 };

	if (s == STATUS_ZONDER_PLEK && overstap_has_left_vo(new_state) && !teldatum_passed) {
		alerts[ALERT_ZOMERLEK] = true;
		recipients[ALERT_ZOMERLEK] |= RECIPIENT_RMC | RECIPIENT_VO;
	}
	if (s == STATUS_NIET_GESTART) {
		alerts[ALERT_NIET_GESTART] = true;
		recipients[ALERT_NIET_GESTART] |= RECIPIENT_RMC | RECIPIENT_VO;
	}
	for (int d = 0; d < DEADLINE_COUNT; d++) {
		if (now < at[d])
			continue;
		bool in_window = d + 1 >= DEADLINE_COUNT || now < at[d + 1];
		const struct rules_sweep *sw = &SWEEPS[d];
		/* Past its window a rule still catches a pupil who enters its
		 * population only now (first seen, registered late, or known to
		 * have left vo only now), whatever order the facts arrive in. */
		bool entered = first_seen || (sw->requires_registered && !overstap_is_registered(old)) ||
			       (sw->requires_left_vo && !overstap_has_left_vo(old));
		if (!in_window && !entered)
			continue;
		if (!sweep_matches(sw, new_state, before))
			continue;
		alerts[sw->kind] = true;
		recipients[sw->kind] |= sw->recipients;
	}
	/* in kind order, so the outcome does not depend on which rule fired first */
	for (int k = ALERT_ZOMERLEK; k <= ALERT_GEEN_AANMELDING; k++)
		if (alerts[k])
			add_alert(out, (enum alert_kind)k, recipients[k]);
	out->resolves_open = s == STATUS_INGESCHREVEN || s == STATUS_ANDERE_BESTEMMING;
}
