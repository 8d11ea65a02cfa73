/* queue.h — durable alert queues per recipient and their delivery.
 *
 * Alerts live in the alert table (written by ingest and the sweeps in the
 * same transaction as their cause). This module streams a recipient's queue
 * to its subscribed sessions in alert_id order, at most max_in_flight unacked,
 * takes acks, and redelivers after ack_timeout or on the next subscription.
 */
#ifndef OVERSTAP_QUEUE_H
#define OVERSTAP_QUEUE_H

#include <stdint.h>

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
/* New alerts were committed for this recipient ("rmc:39"). */
void queue_notify(struct queue *q, const char *recipient);
/* Escalation check (ESCALATIE) and lease expiry follow the clock. */
void queue_clock_changed(struct queue *q);
/* Runs the ESCALATIE check now (again after the running one, if any): on the
 * timer, after a clock change, and after a sweep raised alerts. */
void queue_escalate(struct queue *q);

#endif
