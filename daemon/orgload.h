/* orgload.h — each organisation's events accepted but not committed.
 *
 * The per-organisation half of the events budget (server.h): ingest counts an
 * organisation's events in when it queues them and out when their group ends,
 * and a session takes its next frame only while its organisation is under
 * max_queued_events_per_org (session.c), so one school that floods from many
 * connections waits for its own commits, not the others. An entry for every
 * organisation that ever sent a batch: organisations come from certificates,
 * so there are as many as the CA made.
 */
#ifndef OVERSTAP_ORGLOAD_H
#define OVERSTAP_ORGLOAD_H

#include <stdint.h>

#include "overstap.h"

struct orgload_entry {
	char org[OVERSTAP_ORG_MAX + 1];
	int64_t queued; /* accepted, queued or in a group, not yet committed */
};

struct orgload;

struct orgload *orgload_new(void);
void orgload_free(struct orgload *l);
/* org's entry, made the first time; NULL when out of memory. It stays where
 * it is until orgload_free(). */
struct orgload_entry *orgload_entry(struct orgload *l, const char *org);
/* org's events accepted but not committed (0 for one that never sent). */
int64_t orgload_queued(const struct orgload *l, const char *org);

#endif
