/* web.h — the people's side (DESIGN §6.2): the HTTPS API and a page per
 * role, with a client certificate required.
 *
 * The same CA, CRL and identity rules as the protobuf port (tls.c); every
 * answer scoped like the protobuf side, every answer with pupil rows audited.
 */
#ifndef OVERSTAP_WEB_H
#define OVERSTAP_WEB_H

#include <stddef.h>

struct server;
struct web;

struct web *web_new(struct server *srv, const char *hostport, char *err, size_t errlen);
/* Shutdown: no new connections. */
void web_stop(struct web *w);
void web_free(struct web *w);

#endif
