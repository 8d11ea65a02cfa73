/* router.h — the table of requests: message type → who may send it → handler.
 *
 * Filled once at start-up by routes.c (wired from main); consulted by every
 * transport before it makes a request (request.h). A message type without a
 * route is not a request a client may send. The rights of every role stand in
 * routes.c and nowhere else.
 */
#ifndef OVERSTAP_ROUTER_H
#define OVERSTAP_ROUTER_H

#include <stdbool.h>

#include "overstap.h"
#include "overstap.pb-c.h"
#include "request.h"

#define ROLE_BIT(role) (1u << (role))

/* A handler: its module, the request to end, the decoded message (valid
 * during the call only: copy what outlives it). */
typedef void (*route_fn)(void *module, struct request *req, const Overstap__V1__Envelope *env);

struct route {
	const char *name; /* "StatusBatch": in denials and logs */
	unsigned roles;   /* ROLE_BIT() of every role that may send it */
	bool costs_db;    /* counts in the connection's in-flight requests */
	route_fn handle;
	void *module;
};

struct router;

struct router *router_new(void);
void router_free(struct router *rt);
/* One route per message type; a later one replaces an earlier. */
void router_add(struct router *rt, Overstap__V1__Envelope__BodyCase body, const struct route *route);
/* NULL when no client may send this message type. */
const struct route *router_find(const struct router *rt, Overstap__V1__Envelope__BodyCase body);
bool route_allows(const struct route *route, enum role role);

/* The HTTPS routes without a protobuf message (web.c), and who may use them
 * (routes.c). */
enum web_route { WEB_PAGE, WEB_ALERT_LIST, WEB_PUPIL_LIST, WEB_FRESHNESS };
bool routes_web_allows(enum web_route route, enum role role);

/* Fills the table (routes.c). */
struct server;
void routes_install(struct router *rt, struct server *srv);

#endif
