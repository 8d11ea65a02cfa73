/* metrics.h — process-wide counters and histograms for /metrics.
 *
 * Plain integers updated on the loop thread; the http module renders them in
 * the Prometheus text format. Nothing here does I/O.
 */
#ifndef OVERSTAP_METRICS_H
#define OVERSTAP_METRICS_H

#include <stdint.h>

#include "rules.h"

#define METRICS_BATCH_BUCKETS 8
#define METRICS_LATENCY_BUCKETS 12

struct histogram {
	const double *bounds; /* upper bounds, ascending; +Inf implied */
	int n_bounds;
	uint64_t counts[16]; /* per bucket, not cumulative; [n_bounds] = +Inf */
	double sum;
	uint64_t count;
};

struct metrics {
	uint64_t connections_accepted;
	uint64_t connections_open;
	uint64_t handshakes_failed;
	uint64_t handshakes_dropped; /* the oldest, to make room (net.c) */
	uint64_t share_waits;          /* a session stopped reading: its identity at max_queued_events_per_org */
	uint64_t share_refusals;       /* a connection over max_connections_per_org, closed */
	uint64_t frames_in;
	uint64_t frames_bad;
	uint64_t events_accepted;
	uint64_t events_duplicate;
	uint64_t events_rejected;
	uint64_t commits;
	uint64_t commit_failures;
	uint64_t alerts_raised[ALERT_KIND_MAX + 1]; /* by AlertKind */
	uint64_t alerts_delivered;
	uint64_t alerts_acked;
	struct histogram batch_size;     /* updates per StatusBatch */
	struct histogram group_size;     /* events per transaction */
	struct histogram commit_seconds; /* BEGIN..COMMIT of a group */
};

extern struct metrics metrics;

void metrics_init(void);
void histogram_observe(struct histogram *h, double v);

#endif
