/* dashboard.h — the projectteam's dashboard page, served by http at "/".
 *
 * One self-contained HTML page (inline SVG and script, nothing from outside)
 * that reads /api/v1/stats and /api/v1/alerts and refreshes itself.
 */
#ifndef OVERSTAP_DASHBOARD_H
#define OVERSTAP_DASHBOARD_H

#include <stdint.h>

struct evbuffer;

void dashboard_render(struct evbuffer *out, int default_cohort, int64_t escalate_after);

#endif
