/* net.h — the TLS listener: accepts connections and hands them to sessions.
 *
 * Owns the evconnlistener, the connection limit and the admission of TLS
 * handshakes; tells every session when the database goes away and comes back.
 */
#ifndef OVERSTAP_NET_H
#define OVERSTAP_NET_H

#include <stdbool.h>
#include <stddef.h>

struct server;

bool net_listen(struct server *srv, const char *hostport, char *err, size_t errlen);
/* Database up/down: every session re-evaluates whether it reads. */
void net_store_changed(struct server *srv);
/* A new TLS context is in srv->ssl_ctx: established sessions are checked
 * against it (a revoked certificate closes its session). */
void net_tls_changed(struct server *srv);
/* SIGTERM: stop accepting, drain every session. */
void net_shutdown(struct server *srv);

#endif
