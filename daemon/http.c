/* http.c — evhttp on http_listen: /healthz now; /metrics, /api/v1/stats and
 * the dashboard come with the statistics issue.
 *
 * Owns the evhttp server. Never blocks: /healthz answers from the store's
 * connection state.
 */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "server.h"
#include "store.h"

struct http {
	struct server *srv;
	struct evhttp *evh;
};

static void healthz_cb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	bool up = store_is_up(h->srv->store);
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "%s\n", up ? "ok" : "database unavailable");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
	evhttp_send_reply(req, up ? 200 : 503, up ? "OK" : "Service Unavailable", body);
	evbuffer_free(body);
}

static void notfound_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "Not Found");
}

struct http *http_new(struct server *srv, const char *hostport, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (!config_split_hostport(hostport, host, sizeof host, &port)) {
		snprintf(err, errlen, "http_listen '%s' is not host:port", hostport);
		return NULL;
	}
	struct http *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->srv = srv;
	h->evh = evhttp_new(srv->base);
	if (!h->evh || evhttp_bind_socket(h->evh, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "cannot listen on %s", hostport);
		if (h->evh)
			evhttp_free(h->evh);
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->evh, 16384);
	evhttp_set_max_body_size(h->evh, 0);
	evhttp_set_timeout(h->evh, 30);
	evhttp_set_cb(h->evh, "/healthz", healthz_cb, h);
	evhttp_set_gencb(h->evh, notfound_cb, h);
	return h;
}

void http_stop(struct http *h)
{
	(void)h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	evhttp_free(h->evh);
	free(h);
}
