/* net.h — the TLS listener: accepts connections and hands them to sessions.
 *
 * Owns the evconnlistener and the connection limit; pauses and resumes every
 * session's reading when the database goes away and comes back.
 */
#ifndef OVERSTAP_NET_H
#define OVERSTAP_NET_H

#include <stdbool.h>
#include <stddef.h>

struct server;

bool net_listen(struct server *srv, const char *hostport, char *err, size_t errlen);
/* Database up/down: every session re-evaluates whether it reads. */
void net_store_changed(struct server *srv);
/* SIGTERM: stop accepting, drain every session. */
void net_shutdown(struct server *srv);
/* A session's TLS handshake began / ended (either way): bounds how many run
 * at once by pausing accept(). */
void net_handshake_begun(struct server *srv);
void net_handshake_ended(struct server *srv);

#endif
