/* routes.c — who may send what (DESIGN §4.3): the one table of requests.
 *
 * One row per message a client may send: the roles allowed, whether it costs
 * database work (then it counts in the connection's in-flight limit), and
 * the module that handles it. Everything a role may do stands here; a
 * message type missing here gets BAD_REQUEST, a role missing from a row
 * PERMISSION_DENIED (session.c). Scopes within a message (which pupils,
 * which region, which queue) are the handler's: pupil.c, stats.c, queue.c,
 * and overstap_validate_update() for each update of a batch.
 */
#include "router.h"

#include "admin.h"
#include "ingest.h"
#include "pupil.h"
#include "queue.h"
#include "server.h"
#include "stats.h"

#define VO ROLE_BIT(ROLE_VO)
#define MBO ROLE_BIT(ROLE_MBO)
#define RMC ROLE_BIT(ROLE_RMC)
#define PROJECTTEAM ROLE_BIT(ROLE_PROJECTTEAM)
#define ADMIN ROLE_BIT(ROLE_ADMIN)
#define EVERYONE (VO | MBO | RMC | PROJECTTEAM | ADMIN)

static void handle_ping(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	(void)module;
	Overstap__V1__Envelope reply = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Pong pong = OVERSTAP__V1__PONG__INIT;
	pong.t = env->ping->t;
	reply.body_case = OVERSTAP__V1__ENVELOPE__BODY_PONG;
	reply.pong = &pong;
	request_answer(req, &reply);
}

static void handle_status_batch(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	ingest_submit(module, req, env->status_batch);
}

static void handle_subscribe(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	queue_subscribe(module, req, env->subscribe);
}

static void handle_alert_ack(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	queue_ack(module, req, env->alert_ack);
}

static void handle_stats_query(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	stats_query(module, req, env->stats_query);
}

static void handle_pupil_query(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	pupil_query(module, req, env->pupil_query);
}

static void handle_admin_request(void *module, struct request *req, const Overstap__V1__Envelope *env)
{
	admin_request(module, req, env->admin_request);
}

/* The HTTPS routes that have no protobuf message (web.c, DESIGN §6.2); the
 * others there go through the table above. */
static const struct {
	enum web_route route;
	unsigned roles;
} web_rights[] = {
	/* the page of one's role, and who one is */
	{ WEB_PAGE, EVERYONE },
	/* one's own queue: vo:<school>, rmc:<region>, projectteam:<region> */
	{ WEB_ALERT_LIST, VO | RMC | PROJECTTEAM },
	/* vo: its own pupils; mbo: its applicants */
	{ WEB_PUPIL_LIST, VO | MBO },
	/* per school of the region: projectteam its own, admin any */
	{ WEB_FRESHNESS, PROJECTTEAM | ADMIN },
};

bool routes_web_allows(enum web_route route, enum role role)
{
	for (size_t i = 0; i < sizeof web_rights / sizeof web_rights[0]; i++)
		if (web_rights[i].route == route)
			return (int)role > ROLE_NONE && (int)role < 32 && (web_rights[i].roles & ROLE_BIT(role)) != 0;
	return false;
}

void routes_install(struct router *rt, struct server *srv)
{
	/* vo and mbo send only their own kinds, for their own school: checked
	 * per update (overstap_validate_update), so one bad update does not
	 * refuse the batch */
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH,
		   &(struct route){ "StatusBatch", VO | MBO | ADMIN, true, handle_status_batch, srv->ingest });
	/* each on its own queue: vo:<school>, rmc:<region>, projectteam:<region> */
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_SUBSCRIBE,
		   &(struct route){ "Subscribe", VO | RMC | PROJECTTEAM, false, handle_subscribe, srv->queue });
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK,
		   &(struct route){ "AlertAck", VO | RMC | PROJECTTEAM, true, handle_alert_ack, srv->queue });
	/* projectteam: its own region; admin: any region or the nation */
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY,
		   &(struct route){ "StatsQuery", PROJECTTEAM | ADMIN, true, handle_stats_query, srv->stats });
	/* vo: its own pupils; mbo: its applicants; rmc: its region's; admin: all */
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY,
		   &(struct route){ "PupilQuery", VO | MBO | RMC | ADMIN, true, handle_pupil_query, srv });
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REQUEST,
		   &(struct route){ "AdminRequest", ADMIN, true, handle_admin_request, srv });
	router_add(rt, OVERSTAP__V1__ENVELOPE__BODY_PING,
		   &(struct route){ "Ping", EVERYONE, false, handle_ping, NULL });
}
