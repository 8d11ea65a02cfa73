/* overstap.h — the pure domain core: validation of status updates, the state
 * merge of one pupil in one cohort, and the derived status (DESIGN §5).
 *
 * No I/O, no clock reads, no allocation: every function works on caller-owned
 * memory and takes the time as an argument. Safe to call from any thread.
 * Enum numbers equal the wire enums of proto/overstap.proto (checked by a unit
 * test), so a value can be copied between the two without a table.
 */
#ifndef OVERSTAP_OVERSTAP_H
#define OVERSTAP_OVERSTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errcodes.h"

#define OVERSTAP_EVENT_ID_MAX 64     /* bytes, DESIGN §4.2 */
#define OVERSTAP_NAME_MAX 200        /* bytes of UTF-8 */
#define OVERSTAP_REASON_MAX 256      /* bytes of UTF-8 */
#define OVERSTAP_ORG_MAX 64          /* certificate CN */
#define OVERSTAP_MAX_INSTELLINGEN 32 /* mbo institutions tracked per pupil */
#define OVERSTAP_COHORT_SPAN 5       /* cohort within year(now) ± this */
#define OVERSTAP_COHORT_MIN 1990     /* a cohort a query may name */
#define OVERSTAP_COHORT_MAX 2200
#define OVERSTAP_STATE_ENCODED_MAX 4096
#define OVERSTAP_MAX_BATCH 10000     /* updates per StatusBatch (DESIGN §4.2) */

enum event_kind {
	EVENT_KIND_UNSPECIFIED = 0,
	EVENT_OVERSTAPPER_GEREGISTREERD = 1,
	EVENT_KEUZE_GEREGISTREERD = 2,
	EVENT_DDD_AANGELEVERD = 3,
	EVENT_DIPLOMA_BEHAALD = 4,
	EVENT_NIET_GESLAAGD = 5,
	EVENT_VO_UITGESCHREVEN = 6,
	EVENT_AANMELDING_ONTVANGEN = 10,
	EVENT_AANGEMELD = 11,
	EVENT_OVEREENKOMST_AANGEBODEN = 12,
	EVENT_LEIDT_NIET_TOT_INSCHRIJVING = 13,
	EVENT_INGETROKKEN = 14,
	EVENT_INGESCHREVEN = 15,
	EVENT_NIET_GESTART = 16,
	EVENT_MBO_UITGESCHREVEN = 17,
};

enum status {
	STATUS_UNSPECIFIED = 0,
	STATUS_GEEN_KEUZE = 1,
	STATUS_KEUZE = 2,
	STATUS_AANGEMELD = 3,
	STATUS_GEPLAATST = 4,
	STATUS_INGESCHREVEN = 5,
	STATUS_ANDERE_BESTEMMING = 6,
	STATUS_ZONDER_PLEK = 7,
	STATUS_NIET_GESTART = 8,
	STATUS_BLIJFT_IN_VO = 9,
};
#define STATUS_COUNT 10

enum bestemming {
	BESTEMMING_UNSPECIFIED = 0,
	BESTEMMING_MBO = 1,
	BESTEMMING_HAVO = 2,
	BESTEMMING_VWO = 3,
	BESTEMMING_WERK = 4,
	BESTEMMING_BUITENLAND = 5,
	BESTEMMING_ANDERS = 6,
};

enum vo_soort {
	VO_SOORT_UNSPECIFIED = 0,
	VO_SOORT_VMBO_BB = 1,
	VO_SOORT_VMBO_KB = 2,
	VO_SOORT_VMBO_GL = 3,
	VO_SOORT_VMBO_TL = 4,
	VO_SOORT_HAVO = 5,
	VO_SOORT_VWO = 6,
	VO_SOORT_VSO = 7,
	VO_SOORT_PRO = 8,
	VO_SOORT_ISK = 9,
};

enum leerweg {
	LEERWEG_UNSPECIFIED = 0,
	LEERWEG_BOL = 1,
	LEERWEG_BBL = 2,
};

/* Certificate roles (DESIGN §4.1, subject OU). */
enum role {
	ROLE_NONE = 0,
	ROLE_VO,
	ROLE_MBO,
	ROLE_RMC,
	ROLE_PROJECTTEAM,
	ROLE_ADMIN,
	ROLE_PUBLIC, /* the loopback HTTP side: no certificate, aggregates only; never from a certificate */
};

/* Who is talking, from the verified certificate only. */
struct identity {
	enum role role;
	char org[OVERSTAP_ORG_MAX + 1]; /* subject CN */
};

/* An update as it came off the wire: pointers into the decoded message,
 * never NULL (empty string when unset), nothing checked yet. */
struct overstap_update_in {
	const char *event_id;
	const char *pgn;
	int64_t occurred_at;
	int kind;
	uint32_t cohort;
	const char *school;
	const char *woongemeente;
	int vo_soort;
	const char *birth_date;
	const char *name;
	int bestemming;
	const char *crebo;
	const char *mbo_instelling;
	uint32_t niveau;
	int leerweg;
	const char *reason;
};

/* A validated event: fixed size, owns its bytes, every field checked.
 * Optional strings are "" when absent, enums 0, niveau 0. */
struct overstap_event {
	char event_id[OVERSTAP_EVENT_ID_MAX + 1];
	char pgn[10];
	int64_t occurred_at;
	enum event_kind kind;
	uint32_t cohort;
	char school[7];       /* vo: BRIN+vestiging (6), mbo: BRIN (4) */
	char woongemeente[7]; /* GMdddd */
	enum vo_soort vo_soort;
	char birth_date[11]; /* YYYY-MM-DD */
	char name[OVERSTAP_NAME_MAX + 1];
	enum bestemming bestemming;
	char crebo[6];
	char mbo_instelling[5];
	uint8_t niveau;
	enum leerweg leerweg;
	char reason[OVERSTAP_REASON_MAX + 1];
};

/* An event as the event table stores it, its columns as text in this
 * order: cohort, event_id, kind, occurred_at, school, woongemeente, vo_soort,
 * bestemming, crebo, mbo_instelling, niveau, leerweg, reason (what the
 * merge reads; personal data and the PGN are not in it). For rebuilding
 * states from the log (overstapctl verify, the peildatum replay). */
#define OVERSTAP_EVENT_COLUMNS 13
void overstap_event_from_columns(struct overstap_event *ev, const char *const col[OVERSTAP_EVENT_COLUMNS]);

/* A refused update: a stable code from the list below and a sentence. */
struct overstap_error {
	const char *code;
	char message[160];
};


/* Checks one update against every rule of DESIGN §4.4 and the per-kind rules,
 * for the sender `who` at daemon time `now` (unix seconds). On success fills
 * `out` and returns true; else fills `err` and returns false. */
bool overstap_validate_update(const struct overstap_update_in *in, const struct identity *who,
			      int64_t now, struct overstap_event *out, struct overstap_error *err);

/* Field checks, exposed for the clients and for tests. */
bool overstap_pgn_is_valid(const char *pgn);           /* BSN 11-test or onderwijsnummer */
bool overstap_bsn_is_valid(const char *pgn);
bool overstap_onderwijsnummer_is_valid(const char *pgn);
bool overstap_brin_is_valid(const char *s);            /* 25LX */
bool overstap_vestiging_is_valid(const char *s);       /* 25LX00 */
bool overstap_gemeente_is_valid(const char *s);        /* GM0268 */
bool overstap_crebo_is_valid(const char *s);           /* 5 digits */
bool overstap_region_is_valid(const char *s);          /* RMC region: 2 digits, "39" */
bool overstap_cohort_is_year(uint32_t cohort);         /* OVERSTAP_COHORT_MIN..MAX */
bool overstap_date_parse(const char *s, int *year, int *month, int *day); /* YYYY-MM-DD */
bool overstap_kind_is_vo(int kind);
bool overstap_kind_is_mbo(int kind);
enum role overstap_role_parse(const char *ou); /* "vo" → ROLE_VO; ROLE_NONE if unknown */
const char *overstap_role_name(enum role role);
const char *overstap_status_name(enum status status); /* "AANGEMELD" */
const char *overstap_kind_name(enum event_kind kind); /* "AANGEMELD" */

/* ---- the state of one pupil in one cohort ---------------------------------
 *
 * Every fact is a last-writer-wins register ordered by (occurred_at, kind,
 * tiebreak), where tiebreak is a fixed hash of (school, event_id): applying the
 * same set of events in any order, with duplicates, gives the same bytes.
 *
 * What each vo school said is kept apart (vo[], a record per school), and so
 * is what each mbo institution said (mbo[]). Whose pupil it is follows from
 * the records (DESIGN §5 "Whose pupil"): a school claims the pupil with its
 * registration until its own later VO_UITGESCHREVEN; the pupil's vo school is
 * the one whose claim holds and began first. The fields after "derived" are
 * a projection of the records, recomputed by every apply and decode: the vo
 * school's own facts, which are the ones that count for the status and the
 * rules. */
struct fact_order {
	int64_t occurred_at; /* 0: never set */
	uint8_t kind;
	uint64_t tiebreak;
};

#define OVERSTAP_MAX_VO_SCHOOLS 8     /* vo schools tracked per pupil (the lowest codes) */
#define OVERSTAP_MAX_REGISTRATIONS 4  /* per school: the latest, to tell when its claim began */

/* Everything one vo school said about the pupil (its events 1–6). */
struct vo_record {
	char school[7];
	uint8_t n_regs;
	struct fact_order regs[OVERSTAP_MAX_REGISTRATIONS]; /* its latest registrations, ascending */
	char woongemeente[7];                                /* from its latest registration */
	uint8_t vo_soort;
	struct fact_order uitgeschreven; /* its latest VO_UITGESCHREVEN */
	struct fact_order keuze;
	uint8_t bestemming;
	char keuze_crebo[6];
	char keuze_instelling[5];
	uint8_t keuze_niveau;
	uint8_t keuze_leerweg;
	struct fact_order ddd;
	struct fact_order diploma;
	struct fact_order niet_geslaagd;
};

struct mbo_fact {
	char instelling[5];
	struct fact_order order; /* order.kind is the VVA status, 10..17 */
	char crebo[6];
	uint8_t niveau;
	uint8_t leerweg;
	bool applied; /* it ever reported an application (10, 11, 12, 15): only then does it count */
};

struct pupil_state {
	uint32_t cohort;
	/* the facts: per vo school (sorted by code) and per mbo institution
	 * (sorted by BRIN); when more apply than the caps, the lowest codes are
	 * kept (deterministic, so still order-free) */
	uint8_t n_vo;
	struct vo_record vo[OVERSTAP_MAX_VO_SCHOOLS];
	/* woongemeente an mbo reported, for pupils no vo school registered */
	struct fact_order mbo_gemeente_order;
	char mbo_woongemeente[7];
	int64_t first_aangemeld_at; /* earliest AANGEMELD; 0 when none (a min: commutative) */
	uint8_t n_mbo;
	struct mbo_fact mbo[OVERSTAP_MAX_INSTELLINGEN];
	/* derived (overstap_state_apply and _decode keep them up to date) */
	char vo_school[7];            /* the pupil's vo school; "" when no vo school said anything */
	struct fact_order registered; /* the vo school's latest registration; unset: nobody registered */
	char woongemeente[7];         /* from it */
	uint8_t vo_soort;
	struct fact_order keuze; /* the vo school's keuze, DDD, diploma, niet geslaagd */
	uint8_t bestemming;
	char keuze_crebo[6];
	char keuze_instelling[5];
	uint8_t keuze_niveau;
	uint8_t keuze_leerweg;
	struct fact_order ddd;
	struct fact_order diploma;
	struct fact_order niet_geslaagd;
	struct fact_order vo_uitgeschreven; /* the uitschrijving that made the pupil leave vo (no claim holds) */
	uint8_t n_claims;                   /* schools whose claim holds; more than one: competing claims */
	char claims[OVERSTAP_MAX_VO_SCHOOLS][7]; /* those schools, the one whose claim began first first */
};

void overstap_state_init(struct pupil_state *state, uint32_t cohort);

/* Merges one validated event of this state's cohort into the state.
 * Commutative and idempotent. Returns true when the state changed. */
bool overstap_state_apply(struct pupil_state *state, const struct overstap_event *event);

/* The status by the rules of DESIGN §5, first match wins. `teldatum_passed`
 * says whether the cohort's teldatum (C-10-01) lies at or before now. */
enum status overstap_status(const struct pupil_state *state, bool teldatum_passed);

/* Derived facts the store keeps in columns for statistics and routing. */
bool overstap_is_registered(const struct pupil_state *state);  /* a vo school registered them */
/* left vo (DESIGN §5): a diploma of the vo school, or an uitschrijving while no claim holds */
bool overstap_has_left_vo(const struct pupil_state *state);
bool overstap_has_ddd(const struct pupil_state *state);
bool overstap_has_open_application(const struct pupil_state *state); /* some latest fact 10..12 */
const char *overstap_woongemeente(const struct pupil_state *state); /* registration, else mbo's; "" */
/* The institution of the most advanced application (INGESCHREVEN > OVEREENKOMST >
 * AANGEMELD > ONTVANGEN > the rest, ties by BRIN), else the keuze's; "" when none. */
const char *overstap_mbo_instelling(const struct pupil_state *state);
/* The crebo to show beside an institution (overstap_mbo_instelling): the one
 * that institution reported, else the keuze's; "" when none. */
const char *overstap_crebo(const struct pupil_state *state, const char *instelling);

/* Personal data (name, birth date) of a pupil: does the event carry it, and
 * does cand win over cur? A vo registration wins over an mbo report; between
 * two of the same sort the later occurred_at wins (the earlier on a tie). */
bool overstap_event_has_personal(const struct overstap_event *ev);
bool overstap_personal_wins(const struct overstap_event *cand, const struct overstap_event *cur);

/* A compact, versioned byte encoding for storage. encode returns the length
 * written (0 when cap is too small); decode returns false on malformed input
 * (bytes from the database are input too). */
size_t overstap_state_encode(const struct pupil_state *state, uint8_t *buf, size_t cap);
bool overstap_state_decode(struct pupil_state *state, const uint8_t *buf, size_t len);

/* No fact at all: the pupil is first seen with the next event. */
bool overstap_state_is_empty(const struct pupil_state *state);
/* The schools with a claim competing with the vo school's, comma-separated
 * ("" when none), into buf (at least OVERSTAP_MAX_VO_SCHOOLS * 7 bytes). */
void overstap_competing_claims(const struct pupil_state *state, char *buf, size_t cap);

/* The tiebreak hash (FNV-1a 64 of school, a 0 byte, event_id). */
uint64_t overstap_event_tiebreak(const struct overstap_event *event);

#endif
