/* civil.c — calendar arithmetic and ISO 8601 text (UTC).
 *
 * Owns the one copy of the date algorithms the daemon (deadlines, cohort
 * checks, timestamps) and the clients (CSV times, --at options) share. Pure:
 * no clock, no locale, no time zone database. Callers: rules, overstap,
 * clock, sweeper, the clients.
 */
#include "civil.h"

#include <stdio.h>

int64_t civil_days_from_date(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void civil_date_from_days(int64_t z, int64_t *year, int *month, int *day)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (m <= 2);
	*month = m;
	*day = d;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t civil_year_of(int64_t t)
{
	int64_t y;
	int m, d;
	civil_date_from_days(floor_div(t, CIVIL_DAY_SECONDS), &y, &m, &d);
	return y;
}

bool civil_date_is_valid(int64_t y, int m, int d)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool parse_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

bool civil_parse_iso(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0;
	if (!parse_digits(&p, 4, &y) || *p++ != '-' || !parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    !parse_digits(&p, 2, &d) || y < 1900 || !civil_date_is_valid(y, mo, d))
		return false;
	int offset = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!parse_digits(&p, 2, &h) || *p++ != ':' || !parse_digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!parse_digits(&p, 2, &se))
				return false;
			if (*p == '.' || *p == ',') { /* fractions of a second: dropped */
				p++;
				if (!is_digit(*p))
					return false;
				while (is_digit(*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || se > 60)
			return false;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
			if (!parse_digits(&p, 2, &oh))
				return false;
			if (*p == ':')
				p++;
			if (is_digit(*p) && !parse_digits(&p, 2, &om))
				return false;
			if (oh > 14 || om > 59)
				return false;
			offset = sign * (oh * 3600 + om * 60);
		}
	}
	if (*p != '\0')
		return false;
	*out = civil_days_from_date(y, mo, d) * CIVIL_DAY_SECONDS + h * 3600 + mi * 60 + se - offset;
	return true;
}

void civil_format_iso(int64_t t, char *buf, unsigned len)
{
	int64_t days = floor_div(t, CIVIL_DAY_SECONDS), secs = t - days * CIVIL_DAY_SECONDS, y;
	int m, d;
	civil_date_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		snprintf(buf, len, "%lld", (long long)t);
		return;
	}
	snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(secs / 3600),
		 (int)(secs / 60 % 60), (int)(secs % 60));
}
