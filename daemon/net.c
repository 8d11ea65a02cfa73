/* net.c — the listener for school systems, RMC and projectteam clients.
 *
 * Owns the listening socket and the count of open connections. Never reads a
 * byte itself: each accepted socket becomes a session (session.c).
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

#include "config.h"
#include "log.h"
#include "server.h"
#include "session.h"

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
		log_warn("net", "peer=%s refused: %s", peer, srv->draining ? "shutting down" : "max_connections");
		evutil_closesocket(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	session_new(srv, fd, peer);
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

/* At most this many TLS handshakes at once: a handshake allocates tens of
 * kilobytes for a moment, and 10,000 clients reconnecting together would
 * otherwise all hold that at once (and the heap would keep the peak). Beyond
 * it the listener pauses; the kernel's backlog holds the rest. */
#define MAX_HANDSHAKES 64

void net_handshake_begun(struct server *srv)
{
	srv->n_handshaking++;
	if (srv->n_handshaking >= MAX_HANDSHAKES && !srv->accept_paused && srv->listener) {
		evconnlistener_disable(srv->listener);
		srv->accept_paused = true;
	}
}

void net_handshake_ended(struct server *srv)
{
	srv->n_handshaking--;
	if (srv->accept_paused && srv->n_handshaking <= MAX_HANDSHAKES / 2) {
		srv->accept_paused = false;
		if (srv->listener && !srv->draining)
			evconnlistener_enable(srv->listener);
	}
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
