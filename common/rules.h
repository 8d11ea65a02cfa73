/* rules.h — the pure alert rules and the deadline calendar (DESIGN §5.1).
 *
 * Given a pupil's old and new state, the calendar and "now", says which alerts
 * to raise and whether open alerts are resolved. Also describes each deadline
 * sweep as data (a condition on stored columns) so the store can run it as one
 * set-based statement without a second copy of the rule. No I/O, no clock.
 */
#ifndef OVERSTAP_RULES_H
#define OVERSTAP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.h"

enum alert_kind {
	ALERT_KIND_UNSPECIFIED = 0,
	ALERT_ZOMERLEK = 1,
	ALERT_NIET_GESTART = 2,
	ALERT_GEEN_AANMELDING = 3,
	ALERT_ESCALATIE = 4,
	ALERT_OPGELOST = 5,
	ALERT_SCHOOL_STIL = 6, /* a vo school stopped delivering (projectteam, no pupil) */
};
#define ALERT_KIND_MAX ALERT_SCHOOL_STIL

enum deadline {
	DEADLINE_AANMELDDATUM = 0, /* C-04-01: GEEN_AANMELDING */
	DEADLINE_ZOMER,            /* C-08-01: ZOMERLEK sweep */
	DEADLINE_TELDATUM,         /* C-10-01: NIET_GESTART sweep; status rule 2 */
	DEADLINE_COUNT,
};

/* Recipient classes; the store turns them into queue names
 * (rmc:<region>, vo:<school>, projectteam:<region>). */
#define RECIPIENT_RMC 0x1u
#define RECIPIENT_VO 0x2u
#define RECIPIENT_PROJECTTEAM 0x4u

/* Month and day of each deadline in cohort year C, at 00:00 Europe/Amsterdam,
 * and the escalation period. Defaults: 04-01, 08-01, 10-01, 7 days. */
struct rules_calendar {
	int month[DEADLINE_COUNT];
	int day[DEADLINE_COUNT];
	int64_t escalate_after; /* seconds */
};

void rules_calendar_default(struct rules_calendar *cal);

/* Unix time of a cohort's deadline: C-MM-DD 00:00 Europe/Amsterdam (CET/CEST by
 * the EU rule: summer time from the last Sunday of March 01:00 UTC to the last
 * Sunday of October 01:00 UTC). */
int64_t rules_deadline_at(const struct rules_calendar *cal, uint32_t cohort, enum deadline d);
/* 00:00 Europe/Amsterdam of a date, as unix seconds. */
int64_t rules_local_midnight(int64_t year, int month, int day);
/* A peildatum as DESIGN §6.2 writes it: unix seconds, a bare date (00:00
 * Europe/Amsterdam, like the calendar) or ISO 8601 with a time. */
bool rules_parse_moment(const char *s, int64_t *out);
/* The same local date and time a year earlier (29 February: the 28th). */
int64_t rules_year_earlier(int64_t t);
/* The local (Europe/Amsterdam) date of t as YYYY-MM-DD into buf (>= 11). */
void rules_local_date(int64_t t, char *buf, size_t len);

/* The figures a milestone target names (DESIGN §5.2 percentages of the
 * overstappers): in beeld (met keuze), aangemeld or further (aangemeld,
 * geplaatst, ingeschreven), geplaatst or further (geplaatst, ingeschreven),
 * definitief (ingeschreven or andere bestemming), DDD. */
enum figure { FIGURE_IN_BEELD, FIGURE_AANGEMELD, FIGURE_GEPLAATST, FIGURE_DEFINITIEF, FIGURE_DDD, FIGURE_COUNT };
struct figure_counts {
	uint32_t overstappers, met_keuze, aangemeld, geplaatst, ingeschreven, andere_bestemming, ddd;
};
const char *rules_figure_name(enum figure f); /* "aangemeld" */
bool rules_figure_parse(const char *s, size_t len, enum figure *out);
/* The figure as a percentage of the overstappers (0 when there are none). */
double rules_figure_pct(enum figure f, const struct figure_counts *c);

/* SCHOOL_STIL (DESIGN §5.1): its season for cohort C runs from C-1-09-01
 * to the teldatum C-10-01 (00:00 Europe/Amsterdam). The cohorts whose season
 * holds now (at most two: September overlaps); returns how many. */
bool rules_school_stil_season(const struct rules_calendar *cal, uint32_t cohort, int64_t now);
size_t rules_school_stil_cohorts(const struct rules_calendar *cal, int64_t now, uint32_t out[2]);
const char *rules_deadline_name(enum deadline d); /* "aanmelddatum", "zomer", "teldatum" */
const char *rules_alert_kind_name(enum alert_kind kind); /* "ZOMERLEK" */

/* The status of a state at time now under this calendar. */
enum status rules_status_at(const struct rules_calendar *cal, const struct pupil_state *state,
			    int64_t now);

/* One alert to raise. The store skips it when an open alert of the same
 * (pupil, cohort, kind, recipient) exists. */
struct rules_alert {
	enum alert_kind kind;
	unsigned recipients; /* RECIPIENT_* bits */
};

struct rules_outcome {
	size_t n_alerts;
	struct rules_alert alerts[4];
	bool resolves_open; /* OPGELOST: resolve every open alert of this pupil and cohort */
};

/* The real-time rules, and the deadline rules whose date has passed (a pupil
 * first seen after a deadline is not missed), for one pupil whose state went
 * from old to new at time now. old is the state before (an initialised empty
 * state for a new pupil). */
void rules_evaluate(const struct rules_calendar *cal, const struct pupil_state *old,
		    const struct pupil_state *new_state, int64_t now, struct rules_outcome *out);

/* A deadline sweep as a condition on stored columns:
 *   status = ANY(status_mask bits) AND (NOT requires_left_vo OR left_vo)
 *   AND (NOT requires_registered OR registered)
 * then raise `kind` to `recipients`; when sets_status, the matching states
 * get `new_status` (the teldatum turns open applications into NIET_GESTART). */
struct rules_sweep {
	enum deadline deadline;
	enum alert_kind kind;
	uint32_t status_mask; /* bit (1u << status) per matching status */
	bool requires_left_vo;
	bool requires_registered;
	unsigned recipients;
	bool sets_status;
	enum status new_status;
	const char *reason; /* the alert's reason text (Dutch, for the RMC worker) */
};

const struct rules_sweep *rules_sweep_for(enum deadline d);

/* The reason text of an alert the real-time rules raise (per event) or
 * OPGELOST, for a pupil now in status st; "" for other kinds. */
const char *rules_alert_reason(enum alert_kind kind, enum status st);
/* The reason of an ESCALATIE of an alert of this kind. */
const char *rules_escalation_reason(enum alert_kind escalated);

#endif
