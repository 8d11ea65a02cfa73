/* admin.c — AdminRequest from an admin certificate (the role is checked by
 * the route table, routes.c): set_clock moves the manual clock (refused in system
 * mode); sweep runs every deadline sweep due at or before a moment.
 */
#include "admin.h"

#include <stdio.h>

#include "civil.h"
#include "clock.h"
#include "log.h"
#include "overstap.h"
#include "server.h"
#include "request.h"
#include "sweeper.h"

static void reply(struct request *req, const char *message, uint32_t alerts)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__AdminReply r = OVERSTAP__V1__ADMIN_REPLY__INIT;
	r.message = (char *)message;
	r.alerts_raised = alerts;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REPLY;
	env.admin_reply = &r;
	request_answer(req, &env);
}

static void set_clock(struct request *req, int64_t at)
{
	char when[32], now[32];
	civil_format_iso(at, when, sizeof when);
	if (clock_mode() != CLOCK_MANUAL) {
		log_warn("admin", "org=%s set_clock refused: clock is in system mode", req->who.org);
		request_error(req, ERR_PERMISSION_DENIED,
			      "set_clock needs [clock] mode = manual; this daemon runs on the system clock");
		return;
	}
	if (at < clock_now()) {
		civil_format_iso(clock_now(), now, sizeof now);
		char msg[128];
		snprintf(msg, sizeof msg, "the clock only moves forward: it is %s, asked %s", now, when);
		request_error(req, ERR_BAD_REQUEST, msg);
		return;
	}
	log_info("admin", "org=%s clock=%s", req->who.org, when);
	clock_set(at); /* listeners (sweeps, queues) run now */
	char msg[96];
	snprintf(msg, sizeof msg, "clock set to %s", when);
	reply(req, msg, 0);
}

static void sweep_done(void *arg, bool ok, const char *message, uint32_t alerts)
{
	struct request *req = arg;
	if (ok)
		reply(req, message, alerts);
	else
		request_error(req, ERR_INTERNAL, message);
}

void admin_request(struct server *srv, struct request *req, const Overstap__V1__AdminRequest *msg)
{
	switch (msg->op_case) {
	case OVERSTAP__V1__ADMIN_REQUEST__OP_SET_CLOCK:
		set_clock(req, msg->set_clock->at);
		return;
	case OVERSTAP__V1__ADMIN_REQUEST__OP_SWEEP:
		log_info("admin", "org=%s sweep at=%lld", req->who.org, (long long)msg->sweep->at);
		sweeper_run_until(srv->sweeper, msg->sweep->at, sweep_done, req);
		return;
	default:
		request_error(req, ERR_BAD_REQUEST, "AdminRequest without an operation");
		return;
	}
}
