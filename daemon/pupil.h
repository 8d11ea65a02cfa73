/* pupil.h — PupilQuery: one pupil's status, timeline and open alerts.
 *
 * Enforces the read scopes of DESIGN §4.3 in the query itself, and answers
 * PERMISSION_DENIED alike for "not yours" and "does not exist".
 */
#ifndef OVERSTAP_PUPIL_H
#define OVERSTAP_PUPIL_H

#include <stdint.h>

#include "overstap.h"
#include "overstap.pb-c.h"
#include "store.h"

struct server;
struct request;

void pupil_register(struct server *srv);
/* Ends req with a PupilReply or an Error. */
void pupil_query(struct server *srv, struct request *req, const Overstap__V1__PupilQuery *q);

/* The pupils of a cohort a vo school (its own) or an mbo institution (its
 * applicants) may read, for its page, every row audited. Columns: pgn, name,
 * birth_date, status, has_ddd, facts (hex of the state encoding), the kinds
 * of its open alerts (comma-separated numbers), last event kind, its occurred_at, woongemeente, vo_school. done gets
 * res NULL and a sentence on failure. */
enum { PUPIL_LIST_PGN, PUPIL_LIST_NAME, PUPIL_LIST_BIRTH_DATE, PUPIL_LIST_STATUS, PUPIL_LIST_HAS_DDD,
       PUPIL_LIST_FACTS, PUPIL_LIST_OPEN_ALERTS, PUPIL_LIST_LAST_KIND, PUPIL_LIST_LAST_AT,
       PUPIL_LIST_WOONGEMEENTE, PUPIL_LIST_VO_SCHOOL };
void pupil_list(struct server *srv, const struct identity *who, uint32_t cohort, int limit, store_result_fn done,
		void *arg);

#endif
