/* router.c — the route table's mechanism (router.h); its contents are in
 * routes.c.
 *
 * Owns an array indexed by the Envelope's body case (protobuf field numbers
 * 10..23). Pure lookups, no I/O. Callers: session (every frame), http.
 */
#include "router.h"

#include <stdlib.h>

#include "check.h"

#define MAX_BODY_CASE 64

struct router {
	struct route routes[MAX_BODY_CASE];
	bool set[MAX_BODY_CASE];
};

struct router *router_new(void)
{
	return calloc(1, sizeof(struct router));
}

void router_free(struct router *rt)
{
	free(rt);
}

void router_add(struct router *rt, Overstap__V1__Envelope__BodyCase body, const struct route *route)
{
	CHECK((int)body > 0 && (int)body < MAX_BODY_CASE); /* our own table's field numbers */
	rt->routes[body] = *route;
	rt->set[body] = true;
}

const struct route *router_find(const struct router *rt, Overstap__V1__Envelope__BodyCase body)
{
	if ((int)body <= 0 || (int)body >= MAX_BODY_CASE || !rt->set[body])
		return NULL;
	return &rt->routes[body];
}

bool route_allows(const struct route *route, enum role role)
{
	return (int)role > ROLE_NONE && (int)role < 32 && (route->roles & ROLE_BIT(role)) != 0;
}
