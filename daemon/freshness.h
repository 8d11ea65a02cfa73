/* freshness.h — whether the vo schools deliver: SCHOOL_STIL and freshness.
 *
 * What each school delivered is written by the group transactions
 * (school_day, grouptxn.c). This module runs the SCHOOL_STIL rule of DESIGN
 * §5.1 — a vo school that delivered for a cohort and then nothing for
 * [alerts] silent_after in the season raises one alert on
 * projectteam:<region>, OPGELOST when it delivers again — and answers the
 * freshness per school (GET /api/v1/freshness, /metrics).
 */
#ifndef OVERSTAP_FRESHNESS_H
#define OVERSTAP_FRESHNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct server;
struct freshness;

struct freshness *freshness_new(struct server *srv);
void freshness_free(struct freshness *f);
void freshness_register(struct freshness *f);
/* The database is up: the first check, then one every 10 minutes (system
 * clock) or at every clock change (manual clock). */
void freshness_start(struct freshness *f);
void freshness_clock_changed(struct freshness *f);
/* After a commit: school delivered accepted events for cohort (resolves its
 * open SCHOOL_STIL, if any). */
void freshness_delivered(struct freshness *f, uint32_t cohort, const char *school);

/* Per school of a region ("" = all): the vo schools of the reference data
 * and every school that delivered. Columns: school, name, last received_at
 * (0: never), events of the last 14 days, silent now by the rule, open
 * SCHOOL_STIL alert, pupils with competing claims (as owner or claimant). */
enum { FRESH_SCHOOL, FRESH_NAME, FRESH_LAST_AT, FRESH_RECENT, FRESH_SILENT, FRESH_ALERT_OPEN, FRESH_COMPETING };
void freshness_list(struct freshness *f, uint32_t cohort, const char *region, store_result_fn done, void *arg);

#endif
