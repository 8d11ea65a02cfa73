/* request.c — the one way a request is answered and ended (request.h).
 *
 * Owns nothing but the request itself: the transport decides what "send"
 * and "release" mean. Callers: the transports (session.c, http.c) create
 * requests; every handler (ingest, pupil, stats, queue, admin, sweeper) ends
 * them.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>

struct request *request_new(const struct request_transport *t, void *conn, struct session *session,
			    uint64_t conn_id, const struct identity *who, uint64_t seq, bool counted,
			    const char *what)
{
	struct request *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->transport = t;
	r->conn = conn;
	r->session = session;
	r->conn_id = conn_id;
	r->who = *who;
	r->seq = seq;
	r->counted = counted;
	r->what = what;
	return r;
}

bool request_is_gone(const struct request *r)
{
	return r->transport->is_gone(r->conn);
}

void request_end(struct request *r)
{
	r->transport->release(r->conn, r->counted);
	free(r);
}

void request_answer(struct request *r, Overstap__V1__Envelope *env)
{
	env->seq = r->seq;
	if (!request_is_gone(r))
		r->transport->send(r->conn, env);
	request_end(r);
}

void request_error(struct request *r, const char *code, const char *message)
{
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	Overstap__V1__Error err = OVERSTAP__V1__ERROR__INIT;
	err.code = (char *)code;
	err.message = (char *)message;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ERROR;
	env.error = &err;
	request_answer(r, &env);
}
