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
struct session;

void pupil_register(struct server *srv);
void pupil_query(struct server *srv, struct session *s, uint64_t seq, const Overstap__V1__PupilQuery *q);

#endif
