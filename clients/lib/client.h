/* client.h — a blocking overstapd connection for client programs (DESIGN §4.1, §6.1).
 *
 * Mutual TLS (client certificate, CA, the server's name or IP checked against
 * its certificate), connect with retries and back-off, length-prefixed
 * Envelope frames, and request → reply matching by seq. Every wait has a
 * timeout. One connection per struct client; not thread-safe. Nothing here
 * prints except the optional retry notes on stderr (opts.verbose_retries).
 */
#ifndef OVERSTAP_CLIENT_H
#define OVERSTAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overstap.pb-c.h"

#define CLIENT_DEFAULT_HOST "127.0.0.1"
#define CLIENT_DEFAULT_PORT 7443
#define CLIENT_DEFAULT_MAX_FRAME (8u << 20) /* DESIGN §4.1 default max_frame_bytes */
#define CLIENT_PATH_MAX 1024

/* The connection options every client takes (DESIGN §6.1): --host, --port,
 * --cert, --key, --ca, defaults from OVERSTAP_HOST, OVERSTAP_PORT,
 * OVERSTAP_CERT, OVERSTAP_KEY, OVERSTAP_CA. */
struct client_opts {
	char host[256];
	int port;
	char cert[CLIENT_PATH_MAX];
	char key[CLIENT_PATH_MAX];
	char ca[CLIENT_PATH_MAX];
	char servername[256]; /* name to verify in the server certificate; "" = host */
	int timeout_ms;       /* connect, handshake and each reply (default 30 s) */
	int retries;          /* connect attempts after the first (default 5) */
	uint32_t max_frame;   /* largest frame accepted from the server */
	bool verbose_retries; /* note each retry on stderr */
	const char *prog;     /* program name in those notes */
};

/* Long-option ids for getopt_long; each client adds CLIENT_LONG_OPTIONS to its table. */
enum {
	CLIENT_OPT_HOST = 0x1000,
	CLIENT_OPT_PORT,
	CLIENT_OPT_CERT,
	CLIENT_OPT_KEY,
	CLIENT_OPT_CA,
	CLIENT_OPT_SERVERNAME,
	CLIENT_OPT_TIMEOUT,
	CLIENT_OPT_RETRIES,
};
#define CLIENT_LONG_OPTIONS                                                                             \
	{ "host", 1, NULL, CLIENT_OPT_HOST }, { "port", 1, NULL, CLIENT_OPT_PORT },                     \
	{ "cert", 1, NULL, CLIENT_OPT_CERT }, { "key", 1, NULL, CLIENT_OPT_KEY },                       \
	{ "ca", 1, NULL, CLIENT_OPT_CA }, { "servername", 1, NULL, CLIENT_OPT_SERVERNAME },             \
	{ "timeout", 1, NULL, CLIENT_OPT_TIMEOUT }, { "retries", 1, NULL, CLIENT_OPT_RETRIES }

/* Help text for the options above, for a client's --help. */
extern const char CLIENT_OPTS_HELP[];

/* Defaults, then the OVERSTAP_* environment variables. */
void client_opts_init(struct client_opts *o, const char *prog);
/* Applies one CLIENT_OPT_* option. 1: applied; 0: not a connection option;
 * -1: bad value (message in err). */
int client_opts_apply(struct client_opts *o, int id, const char *arg, char *err, size_t errlen);
/* The default case of a client's getopt loop: applies a connection option,
 * or prints why not (and "Try 'PROG --help'.") and returns false, after which
 * the client exits 2. ch '?' is getopt's unknown option. */
bool client_opts_getopt(struct client_opts *o, int ch, const char *arg);
/* A whole decimal number from lo to hi (nothing before or after it). */
bool client_parse_long(const char *s, long lo, long hi, long *out);
/* Checks that the certificate, key and CA are named and readable. */
bool client_opts_check(const struct client_opts *o, char *err, size_t errlen);

struct client;

/* Loads certificate, key and CA; NULL with a message on failure. */
struct client *client_new(const struct client_opts *o, char *err, size_t errlen);
void client_free(struct client *c);

/* Connects and completes the TLS handshake, retrying with back-off
 * (0.2 s doubling to 5 s) up to opts.retries times. */
bool client_connect(struct client *c);
bool client_is_connected(const struct client *c);
/* Ends the connection: close_notify, then waits briefly for the server's
 * close so nothing we sent is lost to a reset. Safe when not connected. */
void client_close(struct client *c);

/* The last error, a sentence. */
const char *client_error(const struct client *c);

/* A new request number (1, 2, ...), never 0 (0 is the server's "no request"). */
uint64_t client_next_seq(struct client *c);

/* Sends one frame; while the socket is full it keeps reading what the server
 * sends, so two pipelining sides never deadlock. */
bool client_send(struct client *c, const Overstap__V1__Envelope *env);

/* Receives one frame. 1: *out is set (free with
 * overstap__v1__envelope__free_unpacked(*out, NULL)); 0: nothing within
 * timeout_ms (-1 waits forever); -1: connection closed or broken. */
int client_recv(struct client *c, int timeout_ms, Overstap__V1__Envelope **out);

/* Sends env under a new seq and waits (opts.timeout_ms) for the reply with
 * that seq, or an Error the server sends before closing (seq 0). Other frames
 * are dropped. NULL on connection failure or timeout. */
Overstap__V1__Envelope *client_call(struct client *c, Overstap__V1__Envelope *env);

/* ---- framing, pure -------------------------------------------------------- */

enum client_frame {
	CLIENT_FRAME_OK = 0,    /* *env decoded, *consumed bytes used */
	CLIENT_FRAME_NEED_MORE, /* not a whole frame yet */
	CLIENT_FRAME_BAD_LENGTH, /* 0 or above max: the stream cannot be resynchronised */
	CLIENT_FRAME_UNDECODABLE,
};

/* Takes the first frame of buf[0..len). On BAD_LENGTH *frame_len is the length read. */
enum client_frame client_frame_parse(const uint8_t *buf, size_t len, uint32_t max, size_t *consumed,
				     uint32_t *frame_len, Overstap__V1__Envelope **env);

#endif
