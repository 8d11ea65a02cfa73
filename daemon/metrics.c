/* metrics.c — the process-wide counters and their histogram bounds.
 *
 * Owns the one `metrics` instance. Callers: every module that counts; http
 * renders it.
 */
#include "metrics.h"

#include <string.h>

struct metrics metrics;

static const double batch_bounds[] = { 1, 10, 100, 1000, 5000, 10000 };
static const double group_bounds[] = { 1, 10, 100, 1000, 5000, 10000, 20000 };
static const double latency_bounds[] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5 };

void metrics_init(void)
{
	memset(&metrics, 0, sizeof metrics);
	metrics.batch_size.bounds = batch_bounds;
	metrics.batch_size.n_bounds = sizeof batch_bounds / sizeof batch_bounds[0];
	metrics.group_size.bounds = group_bounds;
	metrics.group_size.n_bounds = sizeof group_bounds / sizeof group_bounds[0];
	metrics.commit_seconds.bounds = latency_bounds;
	metrics.commit_seconds.n_bounds = sizeof latency_bounds / sizeof latency_bounds[0];
}

void histogram_observe(struct histogram *h, double v)
{
	int i = 0;
	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}
