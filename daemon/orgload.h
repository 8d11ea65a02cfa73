/* orgload.h — what each organisation holds of the daemon: its connections
 * and its events accepted but not committed.
 *
 * The per-organisation half of the budgets (server.h): a session counts in
 * its identity's connections from the handshake to its close, and may not
 * make them more than max_connections_per_org (session.c); ingest counts an
 * organisation's events in when it queues them and out when their group
 * ends, and a session takes its next frame only while its organisation is
 * under max_queued_events_per_org. So one school that floods — connections
 * or batches — spends its own share, not the others'. An entry for every
 * identity (role and organisation) that ever connected: identities come from
 * certificates, so there are as many as the CA made.
 */
#ifndef OVERSTAP_ORGLOAD_H
#define OVERSTAP_ORGLOAD_H

#include <stdint.h>

#include "overstap.h"

struct orgload_entry {
	struct identity who;
	char key[OVERSTAP_ORG_MAX + 2]; /* the index's: the role's number, the organisation */
	int64_t queued;                 /* events accepted, queued or in a group, not yet committed */
	int64_t connections;            /* sessions from the handshake to their close */
};

struct orgload;

struct orgload *orgload_new(void);
void orgload_free(struct orgload *l);
/* who's entry, made the first time; NULL when out of memory. It stays where
 * it is until orgload_free(). */
struct orgload_entry *orgload_entry(struct orgload *l, const struct identity *who);

#endif
