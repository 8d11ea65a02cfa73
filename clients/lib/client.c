/* client.c — one blocking, timed overstapd connection (DESIGN §4.1).
 *
 * Owns the socket, the SSL object and the bytes received but not yet framed.
 * The socket is non-blocking underneath so every wait is a poll() with a
 * deadline; writing keeps reading, so pipelining never deadlocks. Never
 * prints, except the retry notes the caller asked for. Callers: the clients.
 */
#include "client.h"
#include "errcodes.h"
#include "sslerr.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "grow.h"

#define INBUF_CAP_MAX (64u << 20) /* stop reading ahead beyond this much unframed input */
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
#define CLOSE_WAIT_MS 2000

struct client {
	struct client_opts opts;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t next_seq;
	char err[1400];
};

const char CLIENT_OPTS_HELP[] =
	"  --host HOST          daemon host or IP (OVERSTAP_HOST, default 127.0.0.1)\n"
	"  --port PORT          daemon port (OVERSTAP_PORT, default 7443)\n"
	"  --cert FILE          client certificate, PEM (OVERSTAP_CERT)\n"
	"  --key FILE           its private key, PEM (OVERSTAP_KEY)\n"
	"  --ca FILE            CA that signed the server certificate (OVERSTAP_CA)\n"
	"  --servername NAME    name to check in the server certificate (default: the host)\n"
	"  --timeout SECONDS    connect and reply timeout (30)\n"
	"  --retries N          connection attempts after the first, with back-off (5)\n";

/* ---- options -------------------------------------------------------------- */

static void copy_env(char *dst, size_t cap, const char *name)
{
	const char *v = getenv(name);
	if (v && *v)
		snprintf(dst, cap, "%s", v);
}

void client_opts_init(struct client_opts *o, const char *prog)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "%s", CLIENT_DEFAULT_HOST);
	o->port = CLIENT_DEFAULT_PORT;
	o->timeout_ms = 30000;
	o->retries = 5;
	o->max_frame = CLIENT_DEFAULT_MAX_FRAME;
	o->verbose_retries = true;
	o->prog = prog;
	copy_env(o->host, sizeof o->host, "OVERSTAP_HOST");
	const char *port = getenv("OVERSTAP_PORT");
	if (port && *port) {
		char *end;
		long p = strtol(port, &end, 10);
		o->port = (*end == '\0' && p > 0 && p < 65536) ? (int)p : -1; /* reported by check */
	}
	copy_env(o->cert, sizeof o->cert, "OVERSTAP_CERT");
	copy_env(o->key, sizeof o->key, "OVERSTAP_KEY");
	copy_env(o->ca, sizeof o->ca, "OVERSTAP_CA");
}

bool client_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int set_path(char *dst, size_t cap, const char *arg, const char *what, char *err, size_t errlen)
{
	if (!*arg || strlen(arg) >= cap) {
		snprintf(err, errlen, "--%s needs a file name (at most %zu bytes)", what, cap - 1);
		return -1;
	}
	snprintf(dst, cap, "%s", arg);
	return 1;
}

int client_opts_apply(struct client_opts *o, int id, const char *arg, char *err, size_t errlen)
{
	long v;
	switch (id) {
	case CLIENT_OPT_HOST:
		if (!*arg || strlen(arg) >= sizeof o->host) {
			snprintf(err, errlen, "--host needs a host name or IP address");
			return -1;
		}
		snprintf(o->host, sizeof o->host, "%s", arg);
		return 1;
	case CLIENT_OPT_PORT:
		if (!client_parse_long(arg, 1, 65535, &v)) {
			snprintf(err, errlen, "--port must be a number from 1 to 65535, not '%s'", arg);
			return -1;
		}
		o->port = (int)v;
		return 1;
	case CLIENT_OPT_CERT:
		return set_path(o->cert, sizeof o->cert, arg, "cert", err, errlen);
	case CLIENT_OPT_KEY:
		return set_path(o->key, sizeof o->key, arg, "key", err, errlen);
	case CLIENT_OPT_CA:
		return set_path(o->ca, sizeof o->ca, arg, "ca", err, errlen);
	case CLIENT_OPT_SERVERNAME:
		if (!*arg || strlen(arg) >= sizeof o->servername) {
			snprintf(err, errlen, "--servername needs a name");
			return -1;
		}
		snprintf(o->servername, sizeof o->servername, "%s", arg);
		return 1;
	case CLIENT_OPT_TIMEOUT:
		if (!client_parse_long(arg, 1, 86400, &v)) {
			snprintf(err, errlen, "--timeout must be whole seconds from 1 to 86400, not '%s'", arg);
			return -1;
		}
		o->timeout_ms = (int)v * 1000;
		return 1;
	case CLIENT_OPT_RETRIES:
		if (!client_parse_long(arg, 0, 1000, &v)) {
			snprintf(err, errlen, "--retries must be a number from 0 to 1000, not '%s'", arg);
			return -1;
		}
		o->retries = (int)v;
		return 1;
	default:
		return 0;
	}
}

static bool readable(const char *path, const char *what, const char *opt, const char *env, char *err,
		     size_t errlen)
{
	if (!path[0]) {
		snprintf(err, errlen, "no %s: give %s FILE or set %s", what, opt, env);
		return false;
	}
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return false;
	}
	return true;
}

bool client_opts_getopt(struct client_opts *o, int ch, const char *arg)
{
	char err[1400];
	int r = ch == '?' ? -2 : client_opts_apply(o, ch, arg, err, sizeof err);
	if (r == 1)
		return true;
	if (r == -1)
		fprintf(stderr, "%s: %s\n", o->prog, err);
	fprintf(stderr, "Try '%s --help'.\n", o->prog);
	return false;
}

bool client_opts_check(const struct client_opts *o, char *err, size_t errlen)
{
	if (o->port <= 0 || o->port > 65535) {
		snprintf(err, errlen, "OVERSTAP_PORT must be a number from 1 to 65535");
		return false;
	}
	return readable(o->cert, "client certificate", "--cert", "OVERSTAP_CERT", err, errlen) &&
	       readable(o->key, "client key", "--key", "OVERSTAP_KEY", err, errlen) &&
	       readable(o->ca, "CA certificate", "--ca", "OVERSTAP_CA", err, errlen);
}

/* ---- helpers ---------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
}

/* poll for `events` until the deadline (-1: none). 1 ready (revents in *got),
 * 0 timeout, -1 error. EINTR ends the wait as a timeout would, so a signal
 * handler's flag is seen by the caller. */
static int wait_fd(int fd, short events, int64_t deadline, short *got)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ms = -1;
	if (deadline >= 0) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			left = 0;
		ms = left > 1000000000 ? 1000000000 : (int)left;
	}
	int n = poll(&p, 1, ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	if (n == 0)
		return 0;
	*got = p.revents;
	return 1;
}

/* ---- life cycle --------------------------------------------------------------- */

struct client *client_new(const struct client_opts *o, char *err, size_t errlen)
{
	if (!client_opts_check(o, err, errlen))
		return NULL;
	struct client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->opts = *o;
	c->fd = -1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx) {
		snprintf(err, errlen, "TLS: %s", sslerr_last(""));
		goto fail;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert) != 1) {
		snprintf(err, errlen, "client certificate %s: %s", o->cert, sslerr_last(""));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "client key %s: %s", o->key, sslerr_last(""));
		goto fail;
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		snprintf(err, errlen, "client key %s does not belong to certificate %s", o->key, o->cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) != 1) {
		snprintf(err, errlen, "CA certificate %s: %s", o->ca, sslerr_last(""));
		goto fail;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	return c;
fail:
	client_free(c);
	return NULL;
}

static void drop_connection(struct client *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->in_len = 0;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	drop_connection(c);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	free(c->in);
	free(c);
}

const char *client_error(const struct client *c)
{
	return c->err[0] ? c->err : "unknown error";
}

bool client_is_connected(const struct client *c)
{
	return c->ssl != NULL;
}

uint64_t client_next_seq(struct client *c)
{
	return ++c->next_seq;
}

/* ---- connecting ------------------------------------------------------------------ */

static int tcp_connect(struct client *c, int64_t deadline)
{
	char port[8];
	snprintf(port, sizeof port, "%d", c->opts.port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(c->opts.host, port, &hints, &res);
	if (rc != 0) {
		snprintf(c->err, sizeof c->err, "cannot resolve %s: %s", c->opts.host, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			short got = 0;
			int w = wait_fd(fd, POLLOUT, deadline, &got);
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			errno = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		}
		snprintf(c->err, sizeof c->err, "connect to %s:%d: %s", c->opts.host, c->opts.port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return fd;
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool tls_handshake(struct client *c, int64_t deadline)
{
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(c->err, sizeof c->err, "TLS: %s", sslerr_last(""));
		return false;
	}
	const char *name = c->opts.servername[0] ? c->opts.servername : c->opts.host;
	X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
	if (is_ip_literal(name)) {
		X509_VERIFY_PARAM_set1_ip_asc(param, name);
	} else {
		SSL_set_tlsext_host_name(c->ssl, name);
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		X509_VERIFY_PARAM_set1_host(param, name, 0);
	}
	for (;;) {
		int r = SSL_connect(c->ssl);
		if (r == 1)
			return true;
		int e = SSL_get_error(c->ssl, r);
		short got = 0;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, &got);
			if (w == 1)
				continue;
			snprintf(c->err, sizeof c->err, "TLS handshake with %s:%d: %s", c->opts.host, c->opts.port,
				 w == 0 ? "timed out" : strerror(errno));
			return false;
		}
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK)
			snprintf(c->err, sizeof c->err, "server certificate of %s:%d not accepted: %s (checked name %s)",
				 c->opts.host, c->opts.port, X509_verify_cert_error_string(v), name);
		else {
			const char *why = sslerr_last("");
			snprintf(c->err, sizeof c->err, "TLS handshake with %s:%d failed%s%s", c->opts.host, c->opts.port,
				 why[0] ? ": " : (e == SSL_ERROR_SYSCALL ? ": connection closed" : ""), why);
		}
		return false;
	}
}

bool client_connect(struct client *c)
{
	int delay = BACKOFF_FIRST_MS;
	for (int attempt = 0;; attempt++) {
		drop_connection(c);
		ERR_clear_error();
		int64_t deadline = deadline_after(c->opts.timeout_ms);
		c->fd = tcp_connect(c, deadline);
		if (c->fd >= 0 && tls_handshake(c, deadline))
			return true;
		drop_connection(c);
		if (attempt >= c->opts.retries)
			return false;
		if (c->opts.verbose_retries)
			fprintf(stderr, "%s: %s; retrying in %.1f s\n", c->opts.prog ? c->opts.prog : "overstap",
				c->err, delay / 1000.0);
		struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
}

void client_close(struct client *c)
{
	if (!c->ssl) {
		drop_connection(c);
		return;
	}
	/* close_notify, then read until the server closes: closing with unread
	 * input would send a reset that can destroy what the server has not read */
	SSL_shutdown(c->ssl);
	shutdown(c->fd, SHUT_WR);
	int64_t deadline = mono_ms() + CLOSE_WAIT_MS;
	char buf[4096];
	for (;;) {
		short got = 0;
		if (wait_fd(c->fd, POLLIN, deadline, &got) != 1)
			break;
		ssize_t n = read(c->fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	drop_connection(c);
}

/* ---- reading and writing ------------------------------------------------------- */

/* Reads what is available into c->in. >0 bytes read, 0 would block, -1 closed or failed. */
static int pump_read(struct client *c)
{
	int total = 0;
	for (;;) {
		if (c->in_cap - c->in_len < 16384) {
			if (c->in_cap >= INBUF_CAP_MAX)
				return total;
			if (!GROW(c->in, c->in_cap, c->in_len + 16384, 65536)) {
				snprintf(c->err, sizeof c->err, "out of memory");
				return -1;
			}
		}
		int n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
		if (n > 0) {
			c->in_len += (size_t)n;
			total += n;
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return total;
		if (total > 0)
			return total; /* hand over what came before the close */
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
			snprintf(c->err, sizeof c->err, "connection closed by the server");
		else {
			const char *why = sslerr_last("");
			snprintf(c->err, sizeof c->err, "connection to the server failed%s%s", why[0] ? ": " : "", why);
		}
		return -1;
	}
}

/* A send failed without a reason: with TLS 1.3 a server that refused our
 * certificate says why in an alert that arrives after our handshake ended,
 * and is still unread. Read it (half a second at most) for its reason. */
static const char *refusal_reason(struct client *c)
{
	ERR_clear_error();
	uint8_t tmp[512];
	short got = 0;
	int64_t deadline = deadline_after(500);
	while (wait_fd(c->fd, POLLIN, deadline, &got) > 0) {
		int n = SSL_read(c->ssl, tmp, (int)sizeof tmp);
		if (n > 0)
			continue;
		int e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ)
			break;
	}
	return sslerr_last("");
}

bool client_send(struct client *c, const Overstap__V1__Envelope *env)
{
	if (!c->ssl) {
		snprintf(c->err, sizeof c->err, "not connected");
		return false;
	}
	uint8_t *buf;
	size_t len;
	if (!frame_pack_envelope(env, &buf, &len)) {
		snprintf(c->err, sizeof c->err, "message cannot be framed");
		return false;
	}
	if (len - FRAME_HEADER_BYTES > c->opts.max_frame) {
		snprintf(c->err, sizeof c->err, "message of %zu bytes exceeds the frame limit of %u bytes",
			 len - FRAME_HEADER_BYTES, c->opts.max_frame);
		free(buf);
		return false;
	}
	size_t off = 0;
	int64_t deadline = deadline_after(c->opts.timeout_ms);
	bool ok = true;
	while (off < len) {
		size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
		int n = SSL_write(c->ssl, buf + off, (int)chunk);
		if (n > 0) {
			off += (size_t)n;
			deadline = deadline_after(c->opts.timeout_ms);
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
			const char *why = sslerr_last("");
			if (!why[0])
				why = refusal_reason(c);
			snprintf(c->err, sizeof c->err, "sending to the server failed%s%s", why[0] ? ": " : ": connection closed",
				 why);
			ok = false;
			break;
		}
		short events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		if (e == SSL_ERROR_WANT_WRITE && c->in_cap < INBUF_CAP_MAX)
			events |= POLLIN;
		short got = 0;
		int w = wait_fd(c->fd, events, deadline, &got);
		if (w <= 0) {
			snprintf(c->err, sizeof c->err, "sending to the server %s", w == 0 ? "timed out" : "failed");
			ok = false;
			break;
		}
		if (e == SSL_ERROR_WANT_WRITE && (got & POLLIN) && pump_read(c) < 0) {
			ok = false;
			break;
		}
	}
	free(buf);
	return ok;
}

enum client_frame client_frame_parse(const uint8_t *buf, size_t len, uint32_t max, size_t *consumed,
				     uint32_t *frame_len, Overstap__V1__Envelope **env)
{
	*consumed = 0;
	*env = NULL;
	if (len < FRAME_HEADER_BYTES)
		return CLIENT_FRAME_NEED_MORE;
	uint32_t n;
	enum frame_status fs = frame_check_header(buf, max, &n);
	if (frame_len)
		*frame_len = n;
	if (fs != FRAME_OK)
		return CLIENT_FRAME_BAD_LENGTH;
	if (len - FRAME_HEADER_BYTES < n)
		return CLIENT_FRAME_NEED_MORE;
	*consumed = FRAME_HEADER_BYTES + (size_t)n;
	*env = overstap__v1__envelope__unpack(NULL, n, buf + FRAME_HEADER_BYTES);
	return *env ? CLIENT_FRAME_OK : CLIENT_FRAME_UNDECODABLE;
}

int client_recv(struct client *c, int timeout_ms, Overstap__V1__Envelope **out)
{
	*out = NULL;
	if (!c->ssl) {
		snprintf(c->err, sizeof c->err, "not connected");
		return -1;
	}
	int64_t deadline = deadline_after(timeout_ms);
	for (;;) {
		size_t used;
		uint32_t flen = 0;
		enum client_frame r = client_frame_parse(c->in, c->in_len, c->opts.max_frame, &used, &flen, out);
		if (r == CLIENT_FRAME_OK) {
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
			return 1;
		}
		if (r == CLIENT_FRAME_BAD_LENGTH) {
			snprintf(c->err, sizeof c->err, "the server sent a frame of %u bytes (allowed 1..%u)", flen,
				 c->opts.max_frame);
			drop_connection(c);
			return -1;
		}
		if (r == CLIENT_FRAME_UNDECODABLE) {
			snprintf(c->err, sizeof c->err, "the server sent a frame that is not an overstap.v1.Envelope");
			drop_connection(c);
			return -1;
		}
		int n = pump_read(c);
		if (n < 0) {
			drop_connection(c);
			return -1;
		}
		if (n > 0)
			continue;
		short got = 0;
		int w = wait_fd(c->fd, POLLIN, deadline, &got);
		if (w == 0)
			return 0;
		if (w < 0) {
			snprintf(c->err, sizeof c->err, "waiting for the server failed: %s", strerror(errno));
			drop_connection(c);
			return -1;
		}
	}
}

Overstap__V1__Envelope *client_call(struct client *c, Overstap__V1__Envelope *env)
{
	env->seq = client_next_seq(c);
	if (!client_send(c, env))
		return NULL;
	int64_t deadline = deadline_after(c->opts.timeout_ms);
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(c->err, sizeof c->err, "no reply from the server within %d s", c->opts.timeout_ms / 1000);
			return NULL;
		}
		Overstap__V1__Envelope *reply;
		int r = client_recv(c, (int)left, &reply);
		if (r < 0)
			return NULL;
		if (r == 0)
			continue;
		if (reply->seq == env->seq ||
		    (reply->seq == 0 && reply->body_case == OVERSTAP__V1__ENVELOPE__BODY_ERROR))
			return reply;
		overstap__v1__envelope__free_unpacked(reply, NULL);
	}
}
