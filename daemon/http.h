/* http.h — the loopback HTTP side (DESIGN §6.2): /healthz, /metrics,
 * /api/v1/stats and the dashboard, on evhttp in the daemon's loop.
 */
#ifndef OVERSTAP_HTTP_H
#define OVERSTAP_HTTP_H

#include <stddef.h>

struct server;
struct http;

struct http *http_new(struct server *srv, const char *hostport, char *err, size_t errlen);
/* Stop accepting (shutdown). */
void http_stop(struct http *h);
void http_free(struct http *h);

#endif
