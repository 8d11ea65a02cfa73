/* admin.h — AdminRequest: deadline sweeps on demand and the manual clock.
 */
#ifndef OVERSTAP_ADMIN_H
#define OVERSTAP_ADMIN_H

#include <stdint.h>

#include "overstap.pb-c.h"

struct server;
struct session;

void admin_request(struct server *srv, struct session *s, uint64_t seq,
		   const Overstap__V1__AdminRequest *req);

#endif
