/* clock.c — the daemon's notion of now: system or manual (DESIGN §5.1).
 *
 * Owns the manual time and the list of listeners told when it moves. Never
 * goes backwards. The only module that calls clock_gettime().
 */
#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_LISTENERS 8

static enum clock_mode mode = CLOCK_SYSTEM;
static int64_t manual_ms;
static struct {
	clock_listener fn;
	void *arg;
} listeners[MAX_LISTENERS];
static int n_listeners;

void clock_init(enum clock_mode m, int64_t manual_start)
{
	mode = m;
	manual_ms = manual_start * 1000;
}

enum clock_mode clock_mode(void)
{
	return mode;
}

int64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_now_ms(void)
{
	return mode == CLOCK_MANUAL ? manual_ms : clock_wall_ms();
}

int64_t clock_now(void)
{
	return clock_now_ms() / 1000;
}

bool clock_set(int64_t at)
{
	if (mode != CLOCK_MANUAL || at * 1000 < manual_ms)
		return false;
	manual_ms = at * 1000;
	for (int i = 0; i < n_listeners; i++)
		listeners[i].fn(listeners[i].arg);
	return true;
}

void clock_on_change(clock_listener fn, void *arg)
{
	if (n_listeners < MAX_LISTENERS) {
		listeners[n_listeners].fn = fn;
		listeners[n_listeners].arg = arg;
		n_listeners++;
	}
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool valid_date(int y, int m, int d)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	int max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

bool clock_parse_iso(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0;
	if (!parse_digits(&p, 4, &y) || *p++ != '-' || !parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    !parse_digits(&p, 2, &d) || !valid_date(y, mo, d))
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
				if (!isdigit((unsigned char)*p))
					return false;
				while (isdigit((unsigned char)*p))
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
			if (isdigit((unsigned char)*p) && !parse_digits(&p, 2, &om))
				return false;
			if (oh > 14 || om > 59)
				return false;
			offset = sign * (oh * 3600 + om * 60);
		}
	}
	if (*p != '\0')
		return false;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - offset;
	return true;
}

void clock_format_iso(int64_t t, char *buf, unsigned len)
{
	time_t secs = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}
