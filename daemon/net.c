/* net.c — the listener for school systems, RMC and projectteam clients.
 *
 * Owns the listening socket, the count of open connections and the admission
 * of TLS handshakes: at most MAX_HANDSHAKES at once, MAX_HANDSHAKES_PER_ADDRESS
 * from one address; a newcomer over either limit makes the oldest handshake
 * (of that address, or of all) give way, so the listener never pauses and
 * slow or silent sockets cannot lock anyone out. Never reads a byte itself:
 * each accepted socket becomes a session (session.c).
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "server.h"
#include "session.h"

/* At most max_handshakes TLS handshakes at once: a handshake allocates tens
 * of kilobytes for a moment, and 10,000 clients reconnecting together would
 * otherwise all hold that at once (and the heap would keep the peak). */

/* Before a new handshake from addr: the oldest handshake of that address
 * gives way when it has too many, else the oldest of all when there are too
 * many. A handshake that completes in time is never the oldest for long. */
static void make_room_for_handshake(struct server *srv, const char *addr)
{
	struct session *oldest_here = NULL, *oldest = NULL;
	int here = session_handshakes_from(srv, addr, &oldest_here);
	int all = session_handshakes_from(srv, NULL, &oldest);
	struct session *victim = NULL;
	if (here >= srv->cfg->max_handshakes_per_address)
		victim = oldest_here;
	else if (all >= srv->cfg->max_handshakes)
		victim = oldest;
	if (victim) {
		static struct ratelimit rl = RATELIMIT_INIT(10, 10000);
		unsigned long missed;
		if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
			log_info("net", "peer=%s handshake dropped: too many at once%s suppressed_before=%lu",
				 session_peer(victim), victim == oldest_here ? " from this address" : "", missed);
		metrics.handshakes_dropped++;
		session_abort(victim);
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int socklen,
		      void *arg)
{
	(void)l;
	struct server *srv = arg;
	char host[INET6_ADDRSTRLEN] = "?", peer[64];
	int port = 0;
	if (addr->sa_family == AF_INET && socklen >= (int)sizeof(struct sockaddr_in)) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (addr->sa_family == AF_INET6 && socklen >= (int)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(peer, sizeof peer, "%s:%d", host, port);
	if (srv->draining || srv->n_sessions >= srv->cfg->max_connections) {
		static struct ratelimit rl = RATELIMIT_INIT(10, 10000);
		unsigned long missed;
		if (ratelimit_allow(&rl, clock_mono_us() / 1000, &missed))
			log_warn("net", "peer=%s refused: %s suppressed_before=%lu", peer,
				 srv->draining ? "shutting down" : "max_connections", missed);
		evutil_closesocket(fd);
		return;
	}
	make_room_for_handshake(srv, host);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	session_new(srv, fd, host, peer);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	int err = EVUTIL_SOCKET_ERROR();
	/* EMFILE and friends: log and go on; the listener keeps accepting */
	log_error("net", "accept failed: %s", evutil_socket_error_to_string(err));
}

bool net_listen(struct server *srv, const char *hostport, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (!config_split_hostport(hostport, host, sizeof host, &port)) {
		snprintf(err, errlen, "listen address '%s' is not host:port", hostport);
		return false;
	}
	struct addrinfo hints = { 0 }, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &ai); /* start-up only */
	if (rc != 0) {
		snprintf(err, errlen, "listen address '%s': %s", hostport, gai_strerror(rc));
		return false;
	}
	srv->listener = evconnlistener_new_bind(srv->base, accept_cb, srv,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
						4096, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!srv->listener) {
		snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
		return false;
	}
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	return true;
}

static void update_one(struct session *s, void *arg)
{
	(void)arg;
	session_update_reading(s);
}

static void drain_one(struct session *s, void *arg)
{
	(void)arg;
	session_drain(s);
}

static void recheck_one(struct session *s, void *arg)
{
	(void)arg;
	session_recheck_certificate(s);
}

void net_tls_changed(struct server *srv)
{
	session_for_each(srv, recheck_one, NULL);
}

void net_store_changed(struct server *srv)
{
	session_for_each(srv, update_one, NULL);
}

void net_shutdown(struct server *srv)
{
	srv->draining = true;
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	session_for_each(srv, drain_one, NULL);
}
