/* notify.c — sd_notify(3) for systemd's Type=notify and WatchdogSec.
 *
 * Owns the watchdog timer. Never blocks: sd_notify is one datagram on a local
 * socket, sent only when NOTIFY_SOCKET is set. Callers: main (start-up,
 * signals, database up/down).
 */
#include "notify.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static struct event *ev_watchdog;

void notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void notify_reloading(void)
{
	/* systemd 253+ wants the monotonic time of the reload with it */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", line);
}

void notify_extend_timeout(uint64_t usec)
{
	sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

bool notify_watchdog_start(struct event_base *base)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return true;
	ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
	if (!ev_watchdog)
		return false;
	uint64_t half = usec / 2;
	struct timeval tv = { (time_t)(half / 1000000), (suseconds_t)(half % 1000000) };
	event_add(ev_watchdog, &tv);
	sd_notify(0, "WATCHDOG=1");
	log_info("notify", "watchdog_usec=%llu", (unsigned long long)usec);
	return true;
}

void notify_free(void)
{
	if (ev_watchdog)
		event_free(ev_watchdog);
	ev_watchdog = NULL;
}
