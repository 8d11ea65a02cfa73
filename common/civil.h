/* civil.h — calendar arithmetic and ISO 8601 text, shared by daemon and clients.
 *
 * Proleptic Gregorian dates and unix seconds in UTC (H. Hinnant's algorithms).
 * Pure: no clock reads, no time zone database, no allocation. The daemon's own
 * time lives in daemon/clock.c; the Europe/Amsterdam deadline rule in rules.c.
 */
#ifndef OVERSTAP_CIVIL_H
#define OVERSTAP_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define CIVIL_DAY_SECONDS 86400

/* Days since 1970-01-01 of a date (month 1..12, day 1..31). */
int64_t civil_days_from_date(int64_t year, int month, int day);
/* The date of a day number (inverse of civil_days_from_date). */
void civil_date_from_days(int64_t days, int64_t *year, int *month, int *day);
/* The UTC calendar year of a unix time. */
int64_t civil_year_of(int64_t t);
/* A real calendar date (leap years included), year 1..9999. */
bool civil_date_is_valid(int64_t year, int month, int day);

/* ISO 8601: 2030-09-01T00:00:00Z, lower-case t/z, a space for the T, fractions
 * of a second (dropped), an offset (+02:00, +0200, -05), or a plain date
 * (00:00 UTC). Years 1900..9999. Returns false when malformed. */
bool civil_parse_iso(const char *s, int64_t *out);
/* Formats unix seconds as 2030-09-01T00:00:00Z into buf (>= 21 bytes). */
void civil_format_iso(int64_t t, char *buf, unsigned len);

#endif
