/* admin.h — AdminRequest: deadline sweeps on demand and the manual clock.
 */
#ifndef OVERSTAP_ADMIN_H
#define OVERSTAP_ADMIN_H

#include <stdint.h>

#include "overstap.pb-c.h"

struct server;
struct request;

/* Ends req with an AdminReply or an Error. */
void admin_request(struct server *srv, struct request *req, const Overstap__V1__AdminRequest *msg);

#endif
