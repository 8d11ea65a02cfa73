/* ingest.h — status updates from validation to group commit to BatchAck.
 *
 * Validates each update of a StatusBatch (overstap), queues the accepted ones,
 * and writes every queued event of every session in one transaction per group
 * (set-based SQL on the ingest lane): events, pupils, merged states and the
 * alerts the rules raise. A BatchAck leaves only after its events' COMMIT.
 */
#ifndef OVERSTAP_INGEST_H
#define OVERSTAP_INGEST_H

#include <stdint.h>

#include "overstap.h"
#include "overstap.pb-c.h"
#include "store.h"

struct server;
struct request;
struct ingest;

#define INGEST_MAX_BATCH OVERSTAP_MAX_BATCH
#define INGEST_SHARDS STORE_INGEST_LANES /* group transactions in parallel, by pupil */

struct ingest *ingest_new(struct server *srv);
void ingest_free(struct ingest *ing);
/* Registers the prepared statements; before store_start(). */
void ingest_register(struct ingest *ing);
/* A StatusBatch: every update validated, the accepted ones queued for the
 * next group; the request ends with the BatchAck after their COMMIT. */
void ingest_submit(struct ingest *ing, struct request *req, const Overstap__V1__StatusBatch *batch);
/* Events accepted but not yet committed (for shutdown). */
int ingest_in_flight(const struct ingest *ing);
/* A sweep changed states of this cohort: forget the ones kept in memory. */
void ingest_forget_states(struct ingest *ing, uint32_t cohort);

#endif
