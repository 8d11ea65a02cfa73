/* notify.h — the service manager's view of the daemon (systemd Type=notify).
 *
 * Small calls main makes at the moments systemd wants to hear of: ready
 * (listening), reloading (SIGHUP), stopping (SIGTERM), a status line, more
 * start-up time while the database is away, and the watchdog kept alive from
 * a timer on the event loop. Without NOTIFY_SOCKET every call does nothing.
 */
#ifndef OVERSTAP_NOTIFY_H
#define OVERSTAP_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up is taking longer (waiting for the database): ask for usec more. */
void notify_extend_timeout(uint64_t usec);
/* When systemd set WatchdogSec, a timer on base sends WATCHDOG=1 at half the
 * interval: a loop that stops turning stops it. Returns false on no memory. */
bool notify_watchdog_start(struct event_base *base);
void notify_free(void);

#endif
