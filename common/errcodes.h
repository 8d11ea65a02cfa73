/* errcodes.h — the stable error codes of the wire protocol (DESIGN §4.4).
 *
 * Clients match on these strings; a code never changes its meaning. Every
 * Error frame and every rejected update carries one of them, with a sentence
 * for humans beside it. Shared by daemon and clients.
 */
#ifndef OVERSTAP_ERRCODES_H
#define OVERSTAP_ERRCODES_H

/* a rejected StatusUpdate (UpdateResult.error_code) */
#define ERR_BAD_EVENT_ID "BAD_EVENT_ID"
#define ERR_BAD_PGN "BAD_PGN"
#define ERR_BAD_COHORT "BAD_COHORT"
#define ERR_BAD_KIND "BAD_KIND"
#define ERR_BAD_SCHOOL "BAD_SCHOOL"
#define ERR_BAD_GEMEENTE "BAD_GEMEENTE"
#define ERR_BAD_CREBO "BAD_CREBO"
#define ERR_BAD_DATE "BAD_DATE"
#define ERR_BAD_NAME "BAD_NAME"
#define ERR_BAD_VALUE "BAD_VALUE" /* enum out of range, niveau, reason */
#define ERR_MISSING_FIELD "MISSING_FIELD"
#define ERR_UNEXPECTED_FIELD "UNEXPECTED_FIELD"
/* a rejected update or a refused message */
#define ERR_PERMISSION_DENIED "PERMISSION_DENIED"
#define ERR_INTERNAL "INTERNAL" /* ours, not the client's: send again later */
#define ERR_BAD_STRING "BAD_STRING" /* a text field holds a NUL byte */
/* Error frames */
#define ERR_BAD_REQUEST "BAD_REQUEST"
#define ERR_BAD_FRAME "BAD_FRAME"             /* zero length, or does not decode; the connection closes */
#define ERR_FRAME_TOO_LARGE "FRAME_TOO_LARGE" /* over max_frame_bytes; the connection closes */
#define ERR_FRAME_TIMEOUT "FRAME_TIMEOUT"     /* a frame took longer than frame_timeout; the connection closes */
#define ERR_IDLE_TIMEOUT "IDLE_TIMEOUT"       /* nothing for client_idle_timeout; the connection closes */
#define ERR_TOO_MANY_CONNECTIONS "TOO_MANY_CONNECTIONS" /* over max_connections_per_org; the connection closes */
#define ERR_AS_OF_UNAVAILABLE "AS_OF_UNAVAILABLE" /* StatsQuery.as_of: no exact answer for that moment */

#endif
