/* pupil.h — PupilQuery: one pupil's status, timeline and open alerts.
 *
 * Enforces the read scopes of DESIGN §4.3 in the query itself, and answers
 * PERMISSION_DENIED alike for "not yours" and "does not exist".
 */
#ifndef OVERSTAP_PUPIL_H
#define OVERSTAP_PUPIL_H

#include <stdint.h>

#include "overstap.pb-c.h"

struct server;
struct request;

void pupil_register(struct server *srv);
/* Ends req with a PupilReply or an Error. */
void pupil_query(struct server *srv, struct request *req, const Overstap__V1__PupilQuery *q);

#endif
