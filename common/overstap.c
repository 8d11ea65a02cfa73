/* overstap.c — the pure domain core: validation, the state merge, the status.
 *
 * Owns the rules of DESIGN §4.4 (what a valid StatusUpdate is, per kind) and
 * §5 (the merged state of one pupil in one cohort and its derived status).
 * Never does I/O, reads no clock (time comes in as `now`) and allocates nothing.
 * Callers: ingest (validate, apply, encode/decode), pupil and tls (field checks),
 * rules (status), the clients (field checks).
 *
 * Merge order. Every fact is a last-writer-wins register. Of two events for the
 * same register the one with the larger (occurred_at, kind, tiebreak) wins, where
 * tiebreak = FNV-1a 64 of (school, 0, event_id); so on equal occurred_at the higher
 * kind number — later in the VVA life cycle, e.g. INGESCHREVEN over AANGEMELD and
 * MBO_UITGESCHREVEN over everything — wins, then the larger hash. Should even that
 * be equal (a hash collision) the larger payload bytes win. A register therefore
 * holds the maximum of a total order, which makes apply commutative and idempotent.
 * An mbo fact is replaced as a whole: when the winning event carries no crebo (a
 * withdrawal may omit it) the fact has none.
 *
 * Status (DESIGN §5), one documented refinement of rule 5: when every application
 * has ended (ZONDER_PLEK) but the latest keuze is another destination (havo, vwo,
 * werk, buitenland, anders) registered strictly later than every mbo fact, rule 5
 * is skipped and the pupil reads as ANDERE_BESTEMMING (or BLIJFT_IN_VO by rule 6).
 * Rule 6 reads "later" strictly: NIET_GESLAAGD and DIPLOMA_BEHAALD at the same
 * second leave the pupil in vo.
 *
 * Validation codes. An empty required field gets that field's own code (empty pgn:
 * BAD_PGN, empty name: BAD_NAME, empty birth_date or occurred_at 0: BAD_DATE, empty
 * woongemeente: BAD_GEMEENTE, empty crebo: BAD_CREBO, empty school or
 * mbo_instelling: BAD_SCHOOL); a required enum left UNSPECIFIED (vo_soort,
 * bestemming) is MISSING_FIELD; a field the kind does not carry is UNEXPECTED_FIELD.
 */
#include "overstap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "utf8.h"

#define DAY_SECONDS 86400
#define MAX_AHEAD_SECONDS DAY_SECONDS /* occurred_at at most one day after now */
#define AGE_MIN 10                    /* birth year within cohort-30 .. cohort-10 */
#define AGE_MAX 30
#define ENCODING_VERSION 2

/* ---- small helpers -------------------------------------------------------- */

/* Copies at most cap-1 bytes of src and zero-fills the rest of dst, so two
 * equal strings are equal arrays (states compare and encode byte for byte). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memset(dst, 0, cap);
	memcpy(dst, src, n);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static bool fail(struct overstap_error *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(struct overstap_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err->code = code;
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return false;
}

/* ---- field checks --------------------------------------------------------- */

static int pgn_checksum(const char *s)
{
	int sum = 0;
	for (int i = 0; i < 8; i++)
		sum += (9 - i) * (s[i] - '0');
	sum -= s[8] - '0';
	return ((sum % 11) + 11) % 11;
}

static bool nine_digits_nonzero(const char *s)
{
	if (!s || strnlen(s, 10) != 9 || !all_digits(s, 9))
		return false;
	return strcmp(s, "000000000") != 0;
}

bool overstap_bsn_is_valid(const char *pgn)
{
	return nine_digits_nonzero(pgn) && pgn_checksum(pgn) == 0;
}

bool overstap_onderwijsnummer_is_valid(const char *pgn)
{
	return nine_digits_nonzero(pgn) && pgn[0] == '1' && pgn[1] == '0' && pgn_checksum(pgn) == 5;
}

bool overstap_pgn_is_valid(const char *pgn)
{
	return overstap_bsn_is_valid(pgn) || overstap_onderwijsnummer_is_valid(pgn);
}

bool overstap_brin_is_valid(const char *s)
{
	return s && strnlen(s, 5) == 4 && is_digit(s[0]) && is_digit(s[1]) && is_upper(s[2]) && is_upper(s[3]);
}

bool overstap_vestiging_is_valid(const char *s)
{
	if (!s || strnlen(s, 7) != 6)
		return false;
	char brin[5] = { s[0], s[1], s[2], s[3], 0 };
	return overstap_brin_is_valid(brin) && is_digit(s[4]) && is_digit(s[5]);
}

bool overstap_gemeente_is_valid(const char *s)
{
	return s && strnlen(s, 7) == 6 && s[0] == 'G' && s[1] == 'M' && all_digits(s + 2, 4);
}

bool overstap_crebo_is_valid(const char *s)
{
	return s && strnlen(s, 6) == 5 && all_digits(s, 5);
}

bool overstap_region_is_valid(const char *s)
{
	return s && strnlen(s, 3) == 2 && is_digit(s[0]) && is_digit(s[1]);
}

bool overstap_cohort_is_year(uint32_t cohort)
{
	return cohort >= OVERSTAP_COHORT_MIN && cohort <= OVERSTAP_COHORT_MAX;
}

bool overstap_date_parse(const char *s, int *year, int *month, int *day)
{
	if (!s || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
	    !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
		return false;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	if (!civil_date_is_valid(y, m, d))
		return false;
	if (year)
		*year = y;
	if (month)
		*month = m;
	if (day)
		*day = d;
	return true;
}

bool overstap_kind_is_vo(int kind)
{
	return kind >= EVENT_OVERSTAPPER_GEREGISTREERD && kind <= EVENT_VO_UITGESCHREVEN;
}

bool overstap_kind_is_mbo(int kind)
{
	return kind >= EVENT_AANMELDING_ONTVANGEN && kind <= EVENT_MBO_UITGESCHREVEN;
}

static const char *const ROLE_NAMES[] = {
	[ROLE_NONE] = "none", [ROLE_VO] = "vo",		      [ROLE_MBO] = "mbo",
	[ROLE_RMC] = "rmc",   [ROLE_PROJECTTEAM] = "projectteam", [ROLE_ADMIN] = "admin",
	[ROLE_PUBLIC] = "public",
};

enum role overstap_role_parse(const char *ou)
{
	if (!ou)
		return ROLE_NONE;
	for (int r = ROLE_VO; r <= ROLE_ADMIN; r++)
		if (strcmp(ou, ROLE_NAMES[r]) == 0)
			return (enum role)r;
	return ROLE_NONE;
}

const char *overstap_role_name(enum role role)
{
	if ((int)role < ROLE_NONE || role > ROLE_PUBLIC)
		return "none";
	return ROLE_NAMES[role];
}

const char *overstap_status_name(enum status status)
{
	static const char *const names[STATUS_COUNT] = {
		"UNSPECIFIED", "GEEN_KEUZE",	     "KEUZE",	    "AANGEMELD",   "GEPLAATST",
		"INGESCHREVEN", "ANDERE_BESTEMMING", "ZONDER_PLEK", "NIET_GESTART", "BLIJFT_IN_VO",
	};
	if ((int)status < 0 || (int)status >= STATUS_COUNT)
		return "UNKNOWN";
	return names[status];
}

const char *overstap_kind_name(enum event_kind kind)
{
	switch (kind) {
	case EVENT_KIND_UNSPECIFIED: return "UNSPECIFIED";
	case EVENT_OVERSTAPPER_GEREGISTREERD: return "OVERSTAPPER_GEREGISTREERD";
	case EVENT_KEUZE_GEREGISTREERD: return "KEUZE_GEREGISTREERD";
	case EVENT_DDD_AANGELEVERD: return "DDD_AANGELEVERD";
	case EVENT_DIPLOMA_BEHAALD: return "DIPLOMA_BEHAALD";
	case EVENT_NIET_GESLAAGD: return "NIET_GESLAAGD";
	case EVENT_VO_UITGESCHREVEN: return "VO_UITGESCHREVEN";
	case EVENT_AANMELDING_ONTVANGEN: return "AANMELDING_ONTVANGEN";
	case EVENT_AANGEMELD: return "AANGEMELD";
	case EVENT_OVEREENKOMST_AANGEBODEN: return "OVEREENKOMST_AANGEBODEN";
	case EVENT_LEIDT_NIET_TOT_INSCHRIJVING: return "LEIDT_NIET_TOT_INSCHRIJVING";
	case EVENT_INGETROKKEN: return "INGETROKKEN";
	case EVENT_INGESCHREVEN: return "INGESCHREVEN";
	case EVENT_NIET_GESTART: return "NIET_GESTART";
	case EVENT_MBO_UITGESCHREVEN: return "MBO_UITGESCHREVEN";
	}
	return "UNKNOWN";
}

/* ---- validation ----------------------------------------------------------- */

/* What a kind does with each optional field. */
enum need { NEVER = 0, MAY, MUST };

struct field_rules {
	enum need woongemeente, vo_soort, birth_date, name, bestemming, crebo, mbo_instelling, niveau, leerweg;
};

/* Per-kind rules. vo kinds other than the registration carry no personal data;
 * an mbo report may carry name, birth date and woongemeente (for a pupil no vo
 * school registered) and needs the crebo when its VVA status is about one
 * application (ontvangen, aangemeld, overeenkomst, ingeschreven). */
static struct field_rules rules_for(int kind, int bestemming)
{
	struct field_rules r = { 0 };
	switch (kind) {
	case EVENT_OVERSTAPPER_GEREGISTREERD:
		r.woongemeente = r.vo_soort = r.birth_date = r.name = MUST;
		break;
	case EVENT_KEUZE_GEREGISTREERD:
		r.bestemming = MUST;
		if (bestemming == BESTEMMING_MBO)
			r.crebo = r.mbo_instelling = r.niveau = r.leerweg = MAY;
		break;
	case EVENT_AANMELDING_ONTVANGEN:
	case EVENT_AANGEMELD:
	case EVENT_OVEREENKOMST_AANGEBODEN:
	case EVENT_INGESCHREVEN:
		r.crebo = MUST;
		r.niveau = r.leerweg = r.woongemeente = r.birth_date = r.name = MAY;
		break;
	case EVENT_LEIDT_NIET_TOT_INSCHRIJVING:
	case EVENT_INGETROKKEN:
	case EVENT_NIET_GESTART:
	case EVENT_MBO_UITGESCHREVEN:
		r.crebo = r.niveau = r.leerweg = r.woongemeente = r.birth_date = r.name = MAY;
		break;
	default:
		break;
	}
	return r;
}

/* The presence check shared by every field: true to go on checking the value. */
static bool check_presence(bool present, enum need need, const char *field, const char *missing_code,
			   int kind, struct overstap_error *err, bool *ok)
{
	*ok = true;
	if (present && need == NEVER) {
		*ok = fail(err, ERR_UNEXPECTED_FIELD, "%s does not carry %s",
			   overstap_kind_name((enum event_kind)kind), field);
		return false;
	}
	if (!present && need == MUST) {
		*ok = fail(err, missing_code, "%s needs %s", overstap_kind_name((enum event_kind)kind), field);
		return false;
	}
	return present;
}

static bool is_empty(const char *s)
{
	return !s || s[0] == '\0';
}

static bool validate_fields(const struct overstap_update_in *in, struct overstap_event *out,
			    struct overstap_error *err)
{
	int kind = in->kind;
	bool ok;
	/* bestemming first: it decides which keuze fields apply */
	struct field_rules r = rules_for(kind, in->bestemming);
	if (check_presence(in->bestemming != 0, r.bestemming, "bestemming", ERR_MISSING_FIELD, kind, err, &ok)) {
		if (in->bestemming < BESTEMMING_MBO || in->bestemming > BESTEMMING_ANDERS)
			return fail(err, ERR_BAD_VALUE, "bestemming %d is not a known destination", in->bestemming);
		out->bestemming = (enum bestemming)in->bestemming;
	} else if (!ok)
		return false;

	if (check_presence(!is_empty(in->name), r.name, "name", ERR_BAD_NAME, kind, err, &ok)) {
		size_t n = strnlen(in->name, OVERSTAP_NAME_MAX + 1);
		if (n > OVERSTAP_NAME_MAX)
			return fail(err, ERR_BAD_NAME, "name is longer than %d bytes", OVERSTAP_NAME_MAX);
		if (!utf8_is_text(in->name, n))
			return fail(err, ERR_BAD_NAME, "name is not valid UTF-8 text");
		size_t blank = 0;
		while (blank < n && in->name[blank] == ' ')
			blank++;
		if (blank == n)
			return fail(err, ERR_BAD_NAME, "name is blank");
		copy_str(out->name, sizeof out->name, in->name);
	} else if (!ok)
		return false;

	if (check_presence(!is_empty(in->birth_date), r.birth_date, "birth_date", ERR_BAD_DATE, kind, err, &ok)) {
		int y, m, d;
		if (!overstap_date_parse(in->birth_date, &y, &m, &d))
			return fail(err, ERR_BAD_DATE, "birth_date is not a date YYYY-MM-DD");
		int64_t age = (int64_t)in->cohort - y;
		if (age < AGE_MIN || age > AGE_MAX)
			return fail(err, ERR_BAD_DATE, "birth_date makes the pupil %lld in cohort %u, not %d to %d",
				    (long long)age, in->cohort, AGE_MIN, AGE_MAX);
		copy_str(out->birth_date, sizeof out->birth_date, in->birth_date);
	} else if (!ok)
		return false;

	if (check_presence(!is_empty(in->woongemeente), r.woongemeente, "woongemeente", ERR_BAD_GEMEENTE, kind, err,
			   &ok)) {
		if (!overstap_gemeente_is_valid(in->woongemeente))
			return fail(err, ERR_BAD_GEMEENTE, "woongemeente is not a CBS code GMdddd");
		copy_str(out->woongemeente, sizeof out->woongemeente, in->woongemeente);
	} else if (!ok)
		return false;

	if (check_presence(in->vo_soort != 0, r.vo_soort, "vo_soort", ERR_MISSING_FIELD, kind, err, &ok)) {
		if (in->vo_soort < VO_SOORT_VMBO_BB || in->vo_soort > VO_SOORT_ISK)
			return fail(err, ERR_BAD_VALUE, "vo_soort %d is not a known school type", in->vo_soort);
		out->vo_soort = (enum vo_soort)in->vo_soort;
	} else if (!ok)
		return false;

	if (check_presence(!is_empty(in->crebo), r.crebo, "crebo", ERR_BAD_CREBO, kind, err, &ok)) {
		if (!overstap_crebo_is_valid(in->crebo))
			return fail(err, ERR_BAD_CREBO, "crebo is not 5 digits");
		copy_str(out->crebo, sizeof out->crebo, in->crebo);
	} else if (!ok)
		return false;

	if (check_presence(!is_empty(in->mbo_instelling), r.mbo_instelling, "mbo_instelling", ERR_BAD_SCHOOL, kind,
			   err, &ok)) {
		if (!overstap_brin_is_valid(in->mbo_instelling))
			return fail(err, ERR_BAD_SCHOOL, "mbo_instelling is not a BRIN code like 25LP");
		copy_str(out->mbo_instelling, sizeof out->mbo_instelling, in->mbo_instelling);
	} else if (!ok)
		return false;

	if (check_presence(in->niveau != 0, r.niveau, "niveau", ERR_MISSING_FIELD, kind, err, &ok)) {
		if (in->niveau > 4)
			return fail(err, ERR_BAD_VALUE, "niveau %u is not an mbo level 1 to 4", in->niveau);
		out->niveau = (uint8_t)in->niveau;
	} else if (!ok)
		return false;

	if (check_presence(in->leerweg != 0, r.leerweg, "leerweg", ERR_MISSING_FIELD, kind, err, &ok)) {
		if (in->leerweg != LEERWEG_BOL && in->leerweg != LEERWEG_BBL)
			return fail(err, ERR_BAD_VALUE, "leerweg %d is not BOL or BBL", in->leerweg);
		out->leerweg = (enum leerweg)in->leerweg;
	} else if (!ok)
		return false;

	if (!is_empty(in->reason)) {
		size_t n = strnlen(in->reason, OVERSTAP_REASON_MAX + 1);
		if (n > OVERSTAP_REASON_MAX)
			return fail(err, ERR_BAD_VALUE, "reason is longer than %d bytes", OVERSTAP_REASON_MAX);
		if (!utf8_is_text(in->reason, n))
			return fail(err, ERR_BAD_VALUE, "reason is not valid UTF-8 text");
		copy_str(out->reason, sizeof out->reason, in->reason);
	}
	return true;
}

bool overstap_validate_update(const struct overstap_update_in *in, const struct identity *who, int64_t now,
			      struct overstap_event *out, struct overstap_error *err)
{
	memset(out, 0, sizeof *out);
	err->code = NULL;
	err->message[0] = '\0';

	size_t idlen = strnlen(in->event_id, OVERSTAP_EVENT_ID_MAX + 1);
	if (idlen == 0)
		return fail(err, ERR_BAD_EVENT_ID, "event_id is empty");
	if (idlen > OVERSTAP_EVENT_ID_MAX)
		return fail(err, ERR_BAD_EVENT_ID, "event_id is longer than %d bytes", OVERSTAP_EVENT_ID_MAX);
	if (!utf8_is_text(in->event_id, idlen))
		return fail(err, ERR_BAD_EVENT_ID, "event_id is not valid UTF-8 text");

	bool is_vo = overstap_kind_is_vo(in->kind);
	if (!is_vo && !overstap_kind_is_mbo(in->kind))
		return fail(err, ERR_BAD_KIND, "kind %d is not a known event kind", in->kind);
	bool is_admin = who->role == ROLE_ADMIN;
	if (!is_admin && !(is_vo ? who->role == ROLE_VO : who->role == ROLE_MBO))
		return fail(err, ERR_PERMISSION_DENIED, "role %s may not send %s", overstap_role_name(who->role),
			    overstap_kind_name((enum event_kind)in->kind));

	if (is_empty(in->school))
		return fail(err, ERR_BAD_SCHOOL, "school is empty");
	if (is_vo ? !overstap_vestiging_is_valid(in->school) : !overstap_brin_is_valid(in->school))
		return fail(err, ERR_BAD_SCHOOL, is_vo ? "school is not a BRIN+vestiging like 25LX00"
						       : "school is not a BRIN like 25LP");
	if (!is_admin && strcmp(in->school, who->org) != 0)
		return fail(err, ERR_PERMISSION_DENIED, "school is not %s, the organisation of the certificate",
			    who->org);

	if (is_empty(in->pgn))
		return fail(err, ERR_BAD_PGN, "pgn is empty");
	if (!overstap_pgn_is_valid(in->pgn))
		return fail(err, ERR_BAD_PGN, "pgn is not a BSN or onderwijsnummer of 9 digits");

	int64_t year = civil_year_of(now);
	if (in->cohort == 0)
		return fail(err, ERR_BAD_COHORT, "cohort is missing");
	if ((int64_t)in->cohort < year - OVERSTAP_COHORT_SPAN || (int64_t)in->cohort > year + OVERSTAP_COHORT_SPAN)
		return fail(err, ERR_BAD_COHORT, "cohort %u is not within %lld +/- %d", in->cohort, (long long)year,
			    OVERSTAP_COHORT_SPAN);

	if (in->occurred_at <= 0)
		return fail(err, ERR_BAD_DATE, "occurred_at is missing");
	if (in->occurred_at - MAX_AHEAD_SECONDS > now)
		return fail(err, ERR_BAD_DATE, "occurred_at lies more than a day in the future");

	if (!validate_fields(in, out, err))
		return false;

	copy_str(out->event_id, sizeof out->event_id, in->event_id);
	copy_str(out->pgn, sizeof out->pgn, in->pgn);
	copy_str(out->school, sizeof out->school, in->school);
	out->occurred_at = in->occurred_at;
	out->kind = (enum event_kind)in->kind;
	out->cohort = in->cohort;
	return true;
}

/* ---- the state merge ------------------------------------------------------ */

uint64_t overstap_event_tiebreak(const struct overstap_event *event)
{
	uint64_t h = 14695981039346656037ull;
	const unsigned char *p = (const unsigned char *)event->school;
	for (size_t i = 0; i < sizeof event->school && p[i]; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	h = (h ^ 0u) * 1099511628211ull;
	p = (const unsigned char *)event->event_id;
	for (size_t i = 0; i < sizeof event->event_id && p[i]; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

void overstap_state_init(struct pupil_state *state, uint32_t cohort)
{
	memset(state, 0, sizeof *state);
	state->cohort = cohort;
}

static int order_cmp(const struct fact_order *a, const struct fact_order *b)
{
	if (a->occurred_at != b->occurred_at)
		return a->occurred_at < b->occurred_at ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->tiebreak != b->tiebreak)
		return a->tiebreak < b->tiebreak ? -1 : 1;
	return 0;
}

static bool order_is_set(const struct fact_order *o)
{
	return o->occurred_at != 0;
}

static const struct fact_order *later(const struct fact_order *a, const struct fact_order *b)
{
	return order_cmp(a, b) >= 0 ? a : b;
}

/* Does the candidate (order, payload) beat the current one? */
static bool wins(const struct fact_order *cur, const void *cur_payload, const struct fact_order *cand,
		 const void *cand_payload, size_t payload_len)
{
	if (!order_is_set(cur))
		return true;
	int c = order_cmp(cand, cur);
	if (c != 0)
		return c > 0;
	return payload_len > 0 && memcmp(cand_payload, cur_payload, payload_len) > 0;
}

/* Order-only register (DDD, diploma, niet geslaagd, uitgeschreven). */
static bool apply_flag(struct fact_order *cur, const struct fact_order *cand)
{
	if (!wins(cur, NULL, cand, NULL, 0))
		return false;
	*cur = *cand;
	return true;
}

struct reg_payload {
	char woongemeente[7];
	uint8_t vo_soort;
};

struct keuze_payload {
	uint8_t bestemming;
	char crebo[6];
	char instelling[5];
	uint8_t niveau;
	uint8_t leerweg;
};

struct mbo_payload {
	char crebo[6];
	uint8_t niveau;
	uint8_t leerweg;
};

/* The record of a vo school, made when new; NULL when the school is not
 * among the OVERSTAP_MAX_VO_SCHOOLS lowest codes (then it is dropped). */
static struct vo_record *vo_record_of(struct pupil_state *st, const char *school)
{
	char code[7];
	copy_str(code, sizeof code, school);
	int at = 0;
	while (at < st->n_vo && strcmp(st->vo[at].school, code) < 0)
		at++;
	if (at < st->n_vo && strcmp(st->vo[at].school, code) == 0)
		return &st->vo[at];
	if (at >= OVERSTAP_MAX_VO_SCHOOLS)
		return NULL;
	int n = st->n_vo < OVERSTAP_MAX_VO_SCHOOLS ? st->n_vo : OVERSTAP_MAX_VO_SCHOOLS - 1;
	memmove(&st->vo[at + 1], &st->vo[at], (size_t)(n - at) * sizeof st->vo[0]);
	struct vo_record *r = &st->vo[at];
	memset(r, 0, sizeof *r);
	memcpy(r->school, code, sizeof r->school);
	st->n_vo = (uint8_t)(n + 1);
	return r;
}

/* A registration: one more in the school's set of its latest registrations
 * (ascending), and the payload of the latest. */
static bool apply_registration(struct vo_record *r, const struct fact_order *o, const struct overstap_event *ev)
{
	int at = 0;
	while (at < r->n_regs && order_cmp(&r->regs[at], o) < 0)
		at++;
	if (at < r->n_regs && order_cmp(&r->regs[at], o) == 0) {
		if (at != r->n_regs - 1)
			return false; /* the same registration again */
	} else {
		if (r->n_regs == OVERSTAP_MAX_REGISTRATIONS) {
			if (at == 0)
				return false; /* older than every one kept */
			memmove(&r->regs[0], &r->regs[1], (size_t)(at - 1) * sizeof r->regs[0]);
			at--;
		} else {
			memmove(&r->regs[at + 1], &r->regs[at], (size_t)(r->n_regs - at) * sizeof r->regs[0]);
			r->n_regs++;
		}
		r->regs[at] = *o;
		if (at != r->n_regs - 1)
			return true; /* an earlier one: the latest's payload stays */
		memset(r->woongemeente, 0, sizeof r->woongemeente);
		r->vo_soort = 0;
	}
	/* the latest: its payload (the larger payload on an equal order) */
	struct reg_payload cur, cand;
	memset(&cur, 0, sizeof cur);
	memset(&cand, 0, sizeof cand);
	memcpy(cur.woongemeente, r->woongemeente, sizeof cur.woongemeente);
	cur.vo_soort = r->vo_soort;
	copy_str(cand.woongemeente, sizeof cand.woongemeente, ev->woongemeente);
	cand.vo_soort = (uint8_t)ev->vo_soort;
	bool fresh = r->woongemeente[0] == '\0' && r->vo_soort == 0;
	if (!fresh && memcmp(&cand, &cur, sizeof cand) <= 0)
		return false;
	memcpy(r->woongemeente, cand.woongemeente, sizeof r->woongemeente);
	r->vo_soort = cand.vo_soort;
	return true;
}

static bool apply_keuze(struct vo_record *r, const struct fact_order *o, const struct overstap_event *ev)
{
	struct keuze_payload cur, cand;
	memset(&cur, 0, sizeof cur);
	memset(&cand, 0, sizeof cand);
	cur.bestemming = r->bestemming;
	memcpy(cur.crebo, r->keuze_crebo, sizeof cur.crebo);
	memcpy(cur.instelling, r->keuze_instelling, sizeof cur.instelling);
	cur.niveau = r->keuze_niveau;
	cur.leerweg = r->keuze_leerweg;
	cand.bestemming = (uint8_t)ev->bestemming;
	copy_str(cand.crebo, sizeof cand.crebo, ev->crebo);
	copy_str(cand.instelling, sizeof cand.instelling, ev->mbo_instelling);
	cand.niveau = ev->niveau;
	cand.leerweg = (uint8_t)ev->leerweg;
	if (!wins(&r->keuze, &cur, o, &cand, sizeof cand))
		return false;
	r->keuze = *o;
	r->bestemming = cand.bestemming;
	memcpy(r->keuze_crebo, cand.crebo, sizeof r->keuze_crebo);
	memcpy(r->keuze_instelling, cand.instelling, sizeof r->keuze_instelling);
	r->keuze_niveau = cand.niveau;
	r->keuze_leerweg = cand.leerweg;
	return true;
}

static bool apply_vo_event(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	struct vo_record *r = vo_record_of(st, ev->school);
	if (!r)
		return false;
	switch (ev->kind) {
	case EVENT_OVERSTAPPER_GEREGISTREERD:
		return apply_registration(r, o, ev);
	case EVENT_KEUZE_GEREGISTREERD:
		return apply_keuze(r, o, ev);
	case EVENT_DDD_AANGELEVERD:
		return apply_flag(&r->ddd, o);
	case EVENT_DIPLOMA_BEHAALD:
		return apply_flag(&r->diploma, o);
	case EVENT_NIET_GESLAAGD:
		return apply_flag(&r->niet_geslaagd, o);
	case EVENT_VO_UITGESCHREVEN:
		return apply_flag(&r->uitgeschreven, o);
	default:
		return false;
	}
}

static bool apply_mbo_gemeente(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	char cand[7];
	copy_str(cand, sizeof cand, ev->woongemeente);
	if (cand[0] == '\0' || !wins(&st->mbo_gemeente_order, st->mbo_woongemeente, o, cand, sizeof cand))
		return false;
	st->mbo_gemeente_order = *o;
	memcpy(st->mbo_woongemeente, cand, sizeof cand);
	return true;
}

static bool is_application_kind(int kind)
{
	return kind == EVENT_AANMELDING_ONTVANGEN || kind == EVENT_AANGEMELD || kind == EVENT_OVEREENKOMST_AANGEBODEN ||
	       kind == EVENT_INGESCHREVEN;
}

static bool apply_mbo_fact(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	char inst[5];
	copy_str(inst, sizeof inst, ev->school);
	struct mbo_payload cand;
	memset(&cand, 0, sizeof cand);
	copy_str(cand.crebo, sizeof cand.crebo, ev->crebo);
	cand.niveau = ev->niveau;
	cand.leerweg = (uint8_t)ev->leerweg;
	bool applies = is_application_kind(ev->kind);

	int at = 0;
	while (at < st->n_mbo && strcmp(st->mbo[at].instelling, inst) < 0)
		at++;
	if (at < st->n_mbo && strcmp(st->mbo[at].instelling, inst) == 0) {
		struct mbo_fact *f = &st->mbo[at];
		bool changed = applies && !f->applied;
		f->applied |= applies;
		struct mbo_payload cur;
		memset(&cur, 0, sizeof cur);
		memcpy(cur.crebo, f->crebo, sizeof cur.crebo);
		cur.niveau = f->niveau;
		cur.leerweg = f->leerweg;
		if (!wins(&f->order, &cur, o, &cand, sizeof cand))
			return changed;
		f->order = *o;
		memcpy(f->crebo, cand.crebo, sizeof f->crebo);
		f->niveau = cand.niveau;
		f->leerweg = cand.leerweg;
		return true;
	}
	/* a new institution: keep the lowest BRIN codes when over the cap */
	if (at >= OVERSTAP_MAX_INSTELLINGEN)
		return false;
	int n = st->n_mbo < OVERSTAP_MAX_INSTELLINGEN ? st->n_mbo : OVERSTAP_MAX_INSTELLINGEN - 1;
	memmove(&st->mbo[at + 1], &st->mbo[at], (size_t)(n - at) * sizeof st->mbo[0]);
	struct mbo_fact *f = &st->mbo[at];
	memset(f, 0, sizeof *f);
	memcpy(f->instelling, inst, sizeof f->instelling);
	f->order = *o;
	memcpy(f->crebo, cand.crebo, sizeof f->crebo);
	f->niveau = cand.niveau;
	f->leerweg = cand.leerweg;
	f->applied = applies;
	st->n_mbo = (uint8_t)(n + 1);
	return true;
}

/* ---- whose pupil (DESIGN §5) ------------------------------------------------ */

/* The registration a school's claim began with: its earliest registration
 * later than its own latest uitschrijving (an uitschrijving at the same
 * moment is the later: kind 6 > 1). NULL: its claim does not hold. */
static const struct fact_order *claim_start(const struct vo_record *r)
{
	for (int i = 0; i < r->n_regs; i++)
		if (order_cmp(&r->regs[i], &r->uitgeschreven) > 0)
			return &r->regs[i];
	return NULL;
}

static const struct fact_order *latest_registration(const struct vo_record *r)
{
	return r->n_regs ? &r->regs[r->n_regs - 1] : NULL;
}

/* The latest of a school's vo events (kinds 2–6), for a pupil nobody registered. */
static struct fact_order latest_vo_event(const struct vo_record *r)
{
	struct fact_order o = r->keuze;
	o = *later(&o, &r->ddd);
	o = *later(&o, &r->diploma);
	o = *later(&o, &r->niet_geslaagd);
	return *later(&o, &r->uitgeschreven);
}

/* The pupil's vo school: the school whose claim holds and began first; when
 * no claim holds, the school of the latest registration; when nobody
 * registered, the school of the latest vo event. -1 when no vo school said
 * anything. Also the holding claims, the first-begun first. */
static int vo_owner(const struct pupil_state *st, int *claims, int *n_claims)
{
	*n_claims = 0;
	for (int i = 0; i < st->n_vo; i++) {
		const struct fact_order *start = claim_start(&st->vo[i]);
		if (!start)
			continue;
		int at = *n_claims;
		while (at > 0 && order_cmp(claim_start(&st->vo[claims[at - 1]]), start) > 0) {
			claims[at] = claims[at - 1];
			at--;
		}
		claims[at] = i;
		(*n_claims)++;
	}
	if (*n_claims)
		return claims[0];
	int best = -1;
	const struct fact_order *best_reg = NULL;
	for (int i = 0; i < st->n_vo; i++) {
		const struct fact_order *reg = latest_registration(&st->vo[i]);
		if (reg && (!best_reg || order_cmp(reg, best_reg) > 0)) {
			best = i;
			best_reg = reg;
		}
	}
	if (best >= 0)
		return best;
	struct fact_order best_ev = { 0, 0, 0 };
	for (int i = 0; i < st->n_vo; i++) {
		struct fact_order o = latest_vo_event(&st->vo[i]);
		if (order_is_set(&o) && (best < 0 || order_cmp(&o, &best_ev) > 0)) {
			best = i;
			best_ev = o;
		}
	}
	return best;
}

/* The projection of the records the status, the rules and the store read. */
static void derive(struct pupil_state *st)
{
	int claims[OVERSTAP_MAX_VO_SCHOOLS], n_claims;
	int owner = vo_owner(st, claims, &n_claims);
	memset(st->vo_school, 0, sizeof st->vo_school);
	memset(&st->registered, 0, sizeof st->registered);
	memset(st->woongemeente, 0, sizeof st->woongemeente);
	st->vo_soort = 0;
	memset(&st->keuze, 0, sizeof st->keuze);
	st->bestemming = 0;
	memset(st->keuze_crebo, 0, sizeof st->keuze_crebo);
	memset(st->keuze_instelling, 0, sizeof st->keuze_instelling);
	st->keuze_niveau = st->keuze_leerweg = 0;
	memset(&st->ddd, 0, sizeof st->ddd);
	memset(&st->diploma, 0, sizeof st->diploma);
	memset(&st->niet_geslaagd, 0, sizeof st->niet_geslaagd);
	memset(&st->vo_uitgeschreven, 0, sizeof st->vo_uitgeschreven);
	memset(st->claims, 0, sizeof st->claims);
	st->n_claims = (uint8_t)n_claims;
	for (int i = 0; i < n_claims; i++)
		memcpy(st->claims[i], st->vo[claims[i]].school, sizeof st->claims[i]);
	if (owner < 0)
		return;
	const struct vo_record *r = &st->vo[owner];
	memcpy(st->vo_school, r->school, sizeof st->vo_school);
	const struct fact_order *reg = latest_registration(r);
	if (reg) {
		st->registered = *reg;
		memcpy(st->woongemeente, r->woongemeente, sizeof st->woongemeente);
		st->vo_soort = r->vo_soort;
	}
	st->keuze = r->keuze;
	st->bestemming = r->bestemming;
	memcpy(st->keuze_crebo, r->keuze_crebo, sizeof st->keuze_crebo);
	memcpy(st->keuze_instelling, r->keuze_instelling, sizeof st->keuze_instelling);
	st->keuze_niveau = r->keuze_niveau;
	st->keuze_leerweg = r->keuze_leerweg;
	st->ddd = r->ddd;
	st->diploma = r->diploma;
	st->niet_geslaagd = r->niet_geslaagd;
	if (n_claims == 0) /* nobody's claim holds: the latest uitschrijving says the pupil left */
		for (int i = 0; i < st->n_vo; i++)
			st->vo_uitgeschreven = *later(&st->vo_uitgeschreven, &st->vo[i].uitgeschreven);
}

bool overstap_state_apply(struct pupil_state *state, const struct overstap_event *event)
{
	if (event->cohort != state->cohort || event->occurred_at <= 0)
		return false;
	struct fact_order o;
	memset(&o, 0, sizeof o);
	o.occurred_at = event->occurred_at;
	o.kind = (uint8_t)event->kind;
	o.tiebreak = overstap_event_tiebreak(event);
	bool changed = false;
	if (overstap_kind_is_vo(event->kind)) {
		changed = apply_vo_event(state, &o, event);
	} else if (overstap_kind_is_mbo(event->kind)) {
		if (event->kind == EVENT_AANGEMELD &&
		    (state->first_aangemeld_at == 0 || event->occurred_at < state->first_aangemeld_at)) {
			state->first_aangemeld_at = event->occurred_at;
			changed = true;
		}
		if (apply_mbo_gemeente(state, &o, event))
			changed = true;
		if (apply_mbo_fact(state, &o, event))
			changed = true;
	}
	if (changed)
		derive(state);
	return changed;
}

bool overstap_state_is_empty(const struct pupil_state *st)
{
	return st->n_vo == 0 && st->n_mbo == 0 && !order_is_set(&st->mbo_gemeente_order) && st->first_aangemeld_at == 0;
}

void overstap_competing_claims(const struct pupil_state *st, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 1; i < st->n_claims && i < OVERSTAP_MAX_VO_SCHOOLS; i++)
		used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s", used ? "," : "", st->claims[i]);
}

/* ---- the status ----------------------------------------------------------- */

static bool is_open_kind(uint8_t kind)
{
	return kind == EVENT_AANMELDING_ONTVANGEN || kind == EVENT_AANGEMELD || kind == EVENT_OVEREENKOMST_AANGEBODEN;
}

static bool is_andere_bestemming(uint8_t b)
{
	return b >= BESTEMMING_HAVO && b <= BESTEMMING_ANDERS;
}

enum status overstap_status(const struct pupil_state *st, bool teldatum_passed)
{
	bool enrolled = false, no_show = false, open = false, placed = false, applied = false;
	int64_t last_mbo = 0;
	int n_taking_part = 0;
	for (int i = 0; i < st->n_mbo && i < OVERSTAP_MAX_INSTELLINGEN; i++) {
		if (!st->mbo[i].applied)
			continue; /* an institution the pupil never applied to changes nothing */
		n_taking_part++;
		uint8_t k = st->mbo[i].order.kind;
		enrolled |= k == EVENT_INGESCHREVEN;
		no_show |= k == EVENT_NIET_GESTART;
		open |= is_open_kind(k);
		placed |= k == EVENT_OVEREENKOMST_AANGEBODEN;
		applied |= k == EVENT_AANMELDING_ONTVANGEN || k == EVENT_AANGEMELD;
		if (st->mbo[i].order.occurred_at > last_mbo)
			last_mbo = st->mbo[i].order.occurred_at;
	}
	bool has_keuze = order_is_set(&st->keuze);
	bool andere = has_keuze && is_andere_bestemming(st->bestemming);
	if (enrolled)
		return STATUS_INGESCHREVEN;
	if (no_show || (teldatum_passed && open))
		return STATUS_NIET_GESTART;
	if (placed)
		return STATUS_GEPLAATST;
	if (applied)
		return STATUS_AANGEMELD;
	/* every institution's latest fact ended the application (13, 14, 17) */
	if (n_taking_part > 0 && !(andere && st->keuze.occurred_at > last_mbo))
		return STATUS_ZONDER_PLEK;
	if (order_is_set(&st->niet_geslaagd) && st->diploma.occurred_at <= st->niet_geslaagd.occurred_at &&
	    st->vo_uitgeschreven.occurred_at <= st->niet_geslaagd.occurred_at)
		return STATUS_BLIJFT_IN_VO;
	if (andere)
		return STATUS_ANDERE_BESTEMMING;
	if (has_keuze)
		return STATUS_KEUZE;
	return STATUS_GEEN_KEUZE;
}

bool overstap_is_registered(const struct pupil_state *state)
{
	return order_is_set(&state->registered);
}

bool overstap_has_left_vo(const struct pupil_state *state)
{
	return order_is_set(&state->diploma) || order_is_set(&state->vo_uitgeschreven);
}

bool overstap_has_ddd(const struct pupil_state *state)
{
	return order_is_set(&state->ddd);
}

bool overstap_has_open_application(const struct pupil_state *state)
{
	for (int i = 0; i < state->n_mbo && i < OVERSTAP_MAX_INSTELLINGEN; i++)
		if (is_open_kind(state->mbo[i].order.kind))
			return true;
	return false;
}

const char *overstap_woongemeente(const struct pupil_state *state)
{
	if (order_is_set(&state->registered) && state->woongemeente[0])
		return state->woongemeente;
	return state->mbo_woongemeente;
}

static int advance_rank(uint8_t kind)
{
	switch (kind) {
	case EVENT_INGESCHREVEN: return 5;
	case EVENT_OVEREENKOMST_AANGEBODEN: return 4;
	case EVENT_AANGEMELD: return 3;
	case EVENT_AANMELDING_ONTVANGEN: return 2;
	default: return 1;
	}
}

const char *overstap_mbo_instelling(const struct pupil_state *state)
{
	int best = -1, best_rank = 0;
	for (int i = 0; i < state->n_mbo && i < OVERSTAP_MAX_INSTELLINGEN; i++) {
		if (!state->mbo[i].applied)
			continue;
		int r = advance_rank(state->mbo[i].order.kind);
		if (r > best_rank) { /* sorted by BRIN: the first of a rank is the lowest */
			best = i;
			best_rank = r;
		}
	}
	if (best >= 0)
		return state->mbo[best].instelling;
	return state->keuze_instelling;
}

const char *overstap_crebo(const struct pupil_state *state, const char *instelling)
{
	for (int i = 0; i < state->n_mbo && i < OVERSTAP_MAX_INSTELLINGEN; i++)
		if (strcmp(state->mbo[i].instelling, instelling) == 0 && state->mbo[i].crebo[0])
			return state->mbo[i].crebo;
	return state->keuze_crebo;
}

bool overstap_event_has_personal(const struct overstap_event *ev)
{
	return ev->kind == EVENT_OVERSTAPPER_GEREGISTREERD || ev->name[0];
}

bool overstap_personal_wins(const struct overstap_event *cand, const struct overstap_event *cur)
{
	if (cand->occurred_at != cur->occurred_at)
		return cand->occurred_at > cur->occurred_at;
	int c = strcmp(cand->name, cur->name);
	if (c == 0)
		c = strcmp(cand->birth_date, cur->birth_date);
	return c > 0;
}

/* ---- encoding --------------------------------------------------------------
 *
 * Version 2, big-endian, strings as one length byte and the bytes, order =
 * i64 occurred_at, u8 kind, u64 tiebreak:
 *   u8 version, u32 cohort,
 *   u8 n_vo, n_vo × (str school, u8 n_regs, n_regs × order, str woongemeente, u8 vo_soort,
 *                    order uitgeschreven, order keuze, u8 bestemming, str keuze_crebo,
 *                    str keuze_instelling, u8 niveau, u8 leerweg, order ddd, order diploma,
 *                    order niet_geslaagd),
 *   order mbo_gemeente, str mbo_woongemeente, i64 first_aangemeld_at,
 *   u8 n_mbo, n_mbo × (str instelling, order, str crebo, u8 niveau, u8 leerweg, u8 applied).
 * Only the facts: the derived part is computed again on decode. Version 1
 * (one set of vo facts, before "Whose pupil") still decodes: its facts become
 * the record of its registering school, every institution counts as applied. */

struct writer {
	uint8_t *p;
	size_t cap, len;
	bool ok;
};

static void put_bytes(struct writer *w, const void *src, size_t n)
{
	if (!w->ok || w->cap - w->len < n) {
		w->ok = false;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_uint(struct writer *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put_bytes(w, b, (size_t)bytes);
}

static void put_str(struct writer *w, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);
	put_uint(w, n, 1);
	put_bytes(w, s, n);
}

static void put_order(struct writer *w, const struct fact_order *o)
{
	put_uint(w, (uint64_t)o->occurred_at, 8);
	put_uint(w, o->kind, 1);
	put_uint(w, o->tiebreak, 8);
}

static void put_vo_record(struct writer *w, const struct vo_record *r)
{
	put_str(w, r->school, sizeof r->school);
	int n = r->n_regs <= OVERSTAP_MAX_REGISTRATIONS ? r->n_regs : OVERSTAP_MAX_REGISTRATIONS;
	put_uint(w, (uint64_t)n, 1);
	for (int i = 0; i < n; i++)
		put_order(w, &r->regs[i]);
	put_str(w, r->woongemeente, sizeof r->woongemeente);
	put_uint(w, r->vo_soort, 1);
	put_order(w, &r->uitgeschreven);
	put_order(w, &r->keuze);
	put_uint(w, r->bestemming, 1);
	put_str(w, r->keuze_crebo, sizeof r->keuze_crebo);
	put_str(w, r->keuze_instelling, sizeof r->keuze_instelling);
	put_uint(w, r->keuze_niveau, 1);
	put_uint(w, r->keuze_leerweg, 1);
	put_order(w, &r->ddd);
	put_order(w, &r->diploma);
	put_order(w, &r->niet_geslaagd);
}

size_t overstap_state_encode(const struct pupil_state *st, uint8_t *buf, size_t cap)
{
	struct writer w = { buf, cap, 0, true };
	put_uint(&w, ENCODING_VERSION, 1);
	put_uint(&w, st->cohort, 4);
	int nv = st->n_vo <= OVERSTAP_MAX_VO_SCHOOLS ? st->n_vo : OVERSTAP_MAX_VO_SCHOOLS;
	put_uint(&w, (uint64_t)nv, 1);
	for (int i = 0; i < nv; i++)
		put_vo_record(&w, &st->vo[i]);
	put_order(&w, &st->mbo_gemeente_order);
	put_str(&w, st->mbo_woongemeente, sizeof st->mbo_woongemeente);
	put_uint(&w, (uint64_t)st->first_aangemeld_at, 8);
	int n = st->n_mbo <= OVERSTAP_MAX_INSTELLINGEN ? st->n_mbo : OVERSTAP_MAX_INSTELLINGEN;
	put_uint(&w, (uint64_t)n, 1);
	for (int i = 0; i < n; i++) {
		const struct mbo_fact *f = &st->mbo[i];
		put_str(&w, f->instelling, sizeof f->instelling);
		put_order(&w, &f->order);
		put_str(&w, f->crebo, sizeof f->crebo);
		put_uint(&w, f->niveau, 1);
		put_uint(&w, f->leerweg, 1);
		put_uint(&w, f->applied, 1);
	}
	return w.ok ? w.len : 0;
}

struct reader {
	const uint8_t *p;
	size_t len, at;
	bool ok;
};

static uint64_t get_uint(struct reader *r, int bytes)
{
	if (!r->ok || r->len - r->at < (size_t)bytes) {
		r->ok = false;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | r->p[r->at++];
	return v;
}

/* A string of at most cap-1 bytes, no NUL inside; dst is zero-filled. */
static void get_str(struct reader *r, char *dst, size_t cap)
{
	memset(dst, 0, cap);
	size_t n = (size_t)get_uint(r, 1);
	if (!r->ok || n > cap - 1 || r->len - r->at < n) {
		r->ok = false;
		return;
	}
	if (memchr(r->p + r->at, 0, n)) {
		r->ok = false;
		return;
	}
	memcpy(dst, r->p + r->at, n);
	r->at += n;
}

static uint8_t get_small(struct reader *r, unsigned max)
{
	uint64_t v = get_uint(r, 1);
	if (v > max)
		r->ok = false;
	return (uint8_t)v;
}

static void get_order(struct reader *r, struct fact_order *o)
{
	o->occurred_at = (int64_t)get_uint(r, 8);
	o->kind = (uint8_t)get_uint(r, 1);
	o->tiebreak = get_uint(r, 8);
	if (o->occurred_at < 0)
		r->ok = false;
}

/* An order of this kind, or none at all. */
static void get_order_of(struct reader *r, struct fact_order *o, int kind)
{
	get_order(r, o);
	if (order_is_set(o) ? o->kind != kind : (o->kind != 0 || o->tiebreak != 0))
		r->ok = false;
}

static void get_keuze(struct reader *r, struct fact_order *o, uint8_t *bestemming, char *crebo, char *instelling,
		      uint8_t *niveau, uint8_t *leerweg)
{
	get_order_of(r, o, EVENT_KEUZE_GEREGISTREERD);
	*bestemming = get_small(r, BESTEMMING_ANDERS);
	get_str(r, crebo, 6);
	get_str(r, instelling, 5);
	*niveau = get_small(r, 4);
	*leerweg = get_small(r, LEERWEG_BBL);
}

static void get_vo_record(struct reader *r, struct vo_record *v)
{
	get_str(r, v->school, sizeof v->school);
	v->n_regs = get_small(r, OVERSTAP_MAX_REGISTRATIONS);
	for (int i = 0; r->ok && i < v->n_regs; i++) {
		get_order_of(r, &v->regs[i], EVENT_OVERSTAPPER_GEREGISTREERD);
		if (!order_is_set(&v->regs[i]) || (i > 0 && order_cmp(&v->regs[i - 1], &v->regs[i]) >= 0))
			r->ok = false; /* set, ascending, unique */
	}
	get_str(r, v->woongemeente, sizeof v->woongemeente);
	v->vo_soort = get_small(r, VO_SOORT_ISK);
	get_order_of(r, &v->uitgeschreven, EVENT_VO_UITGESCHREVEN);
	get_keuze(r, &v->keuze, &v->bestemming, v->keuze_crebo, v->keuze_instelling, &v->keuze_niveau,
		  &v->keuze_leerweg);
	get_order_of(r, &v->ddd, EVENT_DDD_AANGELEVERD);
	get_order_of(r, &v->diploma, EVENT_DIPLOMA_BEHAALD);
	get_order_of(r, &v->niet_geslaagd, EVENT_NIET_GESLAAGD);
}

static void get_mbo_fact(struct reader *r, struct mbo_fact *f, bool with_applied)
{
	get_str(r, f->instelling, sizeof f->instelling);
	get_order(r, &f->order);
	get_str(r, f->crebo, sizeof f->crebo);
	f->niveau = get_small(r, 4);
	f->leerweg = get_small(r, LEERWEG_BBL);
	f->applied = with_applied ? get_small(r, 1) : true;
	if (!overstap_kind_is_mbo(f->order.kind) || f->order.occurred_at == 0)
		r->ok = false;
}

/* The tail both versions share: mbo gemeente, first AANGEMELD, mbo facts. */
static void get_mbo_part(struct reader *r, struct pupil_state *st, bool with_applied)
{
	get_order(r, &st->mbo_gemeente_order);
	get_str(r, st->mbo_woongemeente, sizeof st->mbo_woongemeente);
	st->first_aangemeld_at = (int64_t)get_uint(r, 8);
	if (st->first_aangemeld_at < 0)
		r->ok = false;
	st->n_mbo = get_small(r, OVERSTAP_MAX_INSTELLINGEN);
	for (int i = 0; r->ok && i < st->n_mbo; i++) {
		get_mbo_fact(r, &st->mbo[i], with_applied);
		if (i > 0 && strcmp(st->mbo[i - 1].instelling, st->mbo[i].instelling) >= 0)
			r->ok = false; /* sorted, unique */
	}
}

/* Version 1: one set of vo facts, attributed to the school that registered. */
static void decode_v1(struct reader *r, struct pupil_state *st)
{
	struct vo_record v;
	memset(&v, 0, sizeof v);
	struct fact_order reg;
	memset(&reg, 0, sizeof reg); /* its padding too: it is copied into the state */
	get_order_of(r, &reg, EVENT_OVERSTAPPER_GEREGISTREERD);
	get_str(r, v.school, sizeof v.school);
	if (v.school[0] && !overstap_vestiging_is_valid(v.school))
		r->ok = false;
	get_str(r, v.woongemeente, sizeof v.woongemeente);
	v.vo_soort = get_small(r, VO_SOORT_ISK);
	get_keuze(r, &v.keuze, &v.bestemming, v.keuze_crebo, v.keuze_instelling, &v.keuze_niveau, &v.keuze_leerweg);
	get_order_of(r, &v.ddd, EVENT_DDD_AANGELEVERD);
	get_order_of(r, &v.diploma, EVENT_DIPLOMA_BEHAALD);
	get_order_of(r, &v.niet_geslaagd, EVENT_NIET_GESLAAGD);
	get_order_of(r, &v.uitgeschreven, EVENT_VO_UITGESCHREVEN);
	get_mbo_part(r, st, false);
	if (order_is_set(&reg)) {
		v.regs[0] = reg;
		v.n_regs = 1;
	}
	bool any = v.n_regs || order_is_set(&v.keuze) || order_is_set(&v.ddd) || order_is_set(&v.diploma) ||
		   order_is_set(&v.niet_geslaagd) || order_is_set(&v.uitgeschreven);
	if (any) {
		st->vo[0] = v;
		st->n_vo = 1;
	}
}

bool overstap_state_decode(struct pupil_state *state, const uint8_t *buf, size_t len)
{
	if (!buf)
		return false;
	struct pupil_state st;
	memset(&st, 0, sizeof st);
	struct reader r = { buf, len, 0, true };
	uint64_t version = get_uint(&r, 1);
	if (version != 1 && version != ENCODING_VERSION)
		return false;
	st.cohort = (uint32_t)get_uint(&r, 4);
	if (version == 1) {
		decode_v1(&r, &st);
	} else {
		st.n_vo = get_small(&r, OVERSTAP_MAX_VO_SCHOOLS);
		for (int i = 0; r.ok && i < st.n_vo; i++) {
			get_vo_record(&r, &st.vo[i]);
			/* a school code ("" only from a version-1 state that named none); sorted, unique */
			if ((st.vo[i].school[0] && !overstap_vestiging_is_valid(st.vo[i].school)) ||
			    (i > 0 && strcmp(st.vo[i - 1].school, st.vo[i].school) >= 0))
				r.ok = false;
		}
		get_mbo_part(&r, &st, true);
	}
	if (!r.ok || r.at != len)
		return false;
	derive(&st);
	memcpy(state, &st, sizeof st); /* with its zeroed padding: states compare bytewise */
	return true;
}

void overstap_event_from_columns(struct overstap_event *ev, const char *const col[OVERSTAP_EVENT_COLUMNS])
{
	memset(ev, 0, sizeof *ev);
	ev->cohort = (uint32_t)strtoul(col[0], NULL, 10);
	snprintf(ev->event_id, sizeof ev->event_id, "%s", col[1]);
	ev->kind = (enum event_kind)strtol(col[2], NULL, 10);
	ev->occurred_at = strtoll(col[3], NULL, 10);
	snprintf(ev->school, sizeof ev->school, "%s", col[4]);
	snprintf(ev->woongemeente, sizeof ev->woongemeente, "%s", col[5]);
	ev->vo_soort = (enum vo_soort)strtol(col[6], NULL, 10);
	ev->bestemming = (enum bestemming)strtol(col[7], NULL, 10);
	snprintf(ev->crebo, sizeof ev->crebo, "%s", col[8]);
	snprintf(ev->mbo_instelling, sizeof ev->mbo_instelling, "%s", col[9]);
	ev->niveau = (uint8_t)strtoul(col[10], NULL, 10);
	ev->leerweg = (enum leerweg)strtol(col[11], NULL, 10);
	snprintf(ev->reason, sizeof ev->reason, "%s", col[12]);
}
