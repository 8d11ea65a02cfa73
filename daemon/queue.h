/* queue.h — durable alert queues per recipient and their delivery.
 *
 * Alerts live in the alert table (written by ingest and the sweeps in the
 * same transaction as their cause). This module streams a recipient's queue
 * to its subscribed sessions in alert_id order, at most max_in_flight unacked,
 * takes acks, and redelivers after ack_timeout or on the next subscription.
 */
#ifndef OVERSTAP_QUEUE_H
#define OVERSTAP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "overstap.h"
#include "store.h"

#include "overstap.pb-c.h"

struct server;
struct request;
struct queue;

struct queue *queue_new(struct server *srv);
void queue_free(struct queue *q);
void queue_register(struct queue *q);
/* Once the database is up: release leases this instance held before. */
void queue_start(struct queue *q);

/* Subscribe: the session's queue streams to it from now on; ends req. */
void queue_subscribe(struct queue *q, struct request *req, const Overstap__V1__Subscribe *msg);
/* AlertAck: ends req once the acks are stored (no answer). */
void queue_ack(struct queue *q, struct request *req, const Overstap__V1__AlertAck *msg);
/* AlertAck from an HTTPS request (no session): on the queue the identity
 * names; answered with an AlertAck of the ids acknowledged now (ids outside
 * that queue, or acked before, are not among them and change nothing). */

/* The queue an identity's alerts go to ("rmc:39"); false for roles without one. */
bool queue_recipient_of(const struct identity *who, char *out, size_t cap);

/* A row of the alert columns (the first QUEUE_N_ALERT_COLUMNS of a lease or
 * a list) as an Alert; the strings point into res. */
#define QUEUE_N_ALERT_COLUMNS 16
void queue_row_to_alert(const PGresult *res, int row, Overstap__V1__Alert *a);

/* The worklist: the identity's queue, newest first, at most limit rows, only
 * the unacknowledged unless all; every row with a PGN audited. After the
 * alert columns: acked_at, resolved_at, escalated_at (0 = not), deliveries,
 * the pupil's status now (0 when no personal data). */
enum { QUEUE_LIST_ACKED_AT = QUEUE_N_ALERT_COLUMNS, QUEUE_LIST_RESOLVED_AT, QUEUE_LIST_ESCALATED_AT,
       QUEUE_LIST_DELIVERIES, QUEUE_LIST_STATUS_NOW };
void queue_list(struct queue *q, const struct identity *who, bool all, int limit, store_result_fn done, void *arg);

/* New alerts were committed for this recipient ("rmc:39"). */
void queue_notify(struct queue *q, const char *recipient);
/* Escalation check (ESCALATIE) and lease expiry follow the clock. */
void queue_clock_changed(struct queue *q);
/* Runs the ESCALATIE check now (again after the running one, if any): on the
 * timer, after a clock change, and after a sweep raised alerts. */
void queue_escalate(struct queue *q);

#endif
