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
#include <string.h>

#include "civil.h"
#include "utf8.h"

#define DAY_SECONDS 86400
#define MAX_AHEAD_SECONDS DAY_SECONDS /* occurred_at at most one day after now */
#define AGE_MIN 10                    /* birth year within cohort-30 .. cohort-10 */
#define AGE_MAX 30
#define ENCODING_VERSION 1

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
	char school[7];
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

static bool apply_registration(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	struct reg_payload cur, cand;
	memset(&cur, 0, sizeof cur);
	memset(&cand, 0, sizeof cand);
	memcpy(cur.school, st->vo_school, sizeof cur.school);
	memcpy(cur.woongemeente, st->woongemeente, sizeof cur.woongemeente);
	cur.vo_soort = st->vo_soort;
	copy_str(cand.school, sizeof cand.school, ev->school);
	copy_str(cand.woongemeente, sizeof cand.woongemeente, ev->woongemeente);
	cand.vo_soort = (uint8_t)ev->vo_soort;
	if (!wins(&st->registered, &cur, o, &cand, sizeof cand))
		return false;
	st->registered = *o;
	memcpy(st->vo_school, cand.school, sizeof st->vo_school);
	memcpy(st->woongemeente, cand.woongemeente, sizeof st->woongemeente);
	st->vo_soort = cand.vo_soort;
	return true;
}

static bool apply_keuze(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	struct keuze_payload cur, cand;
	memset(&cur, 0, sizeof cur);
	memset(&cand, 0, sizeof cand);
	cur.bestemming = st->bestemming;
	memcpy(cur.crebo, st->keuze_crebo, sizeof cur.crebo);
	memcpy(cur.instelling, st->keuze_instelling, sizeof cur.instelling);
	cur.niveau = st->keuze_niveau;
	cur.leerweg = st->keuze_leerweg;
	cand.bestemming = (uint8_t)ev->bestemming;
	copy_str(cand.crebo, sizeof cand.crebo, ev->crebo);
	copy_str(cand.instelling, sizeof cand.instelling, ev->mbo_instelling);
	cand.niveau = ev->niveau;
	cand.leerweg = (uint8_t)ev->leerweg;
	if (!wins(&st->keuze, &cur, o, &cand, sizeof cand))
		return false;
	st->keuze = *o;
	st->bestemming = cand.bestemming;
	memcpy(st->keuze_crebo, cand.crebo, sizeof st->keuze_crebo);
	memcpy(st->keuze_instelling, cand.instelling, sizeof st->keuze_instelling);
	st->keuze_niveau = cand.niveau;
	st->keuze_leerweg = cand.leerweg;
	return true;
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

static bool apply_mbo_fact(struct pupil_state *st, const struct fact_order *o, const struct overstap_event *ev)
{
	char inst[5];
	copy_str(inst, sizeof inst, ev->school);
	struct mbo_payload cand;
	memset(&cand, 0, sizeof cand);
	copy_str(cand.crebo, sizeof cand.crebo, ev->crebo);
	cand.niveau = ev->niveau;
	cand.leerweg = (uint8_t)ev->leerweg;

	int at = 0;
	while (at < st->n_mbo && strcmp(st->mbo[at].instelling, inst) < 0)
		at++;
	if (at < st->n_mbo && strcmp(st->mbo[at].instelling, inst) == 0) {
		struct mbo_fact *f = &st->mbo[at];
		struct mbo_payload cur;
		memset(&cur, 0, sizeof cur);
		memcpy(cur.crebo, f->crebo, sizeof cur.crebo);
		cur.niveau = f->niveau;
		cur.leerweg = f->leerweg;
		if (!wins(&f->order, &cur, o, &cand, sizeof cand))
			return false;
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
	st->n_mbo = (uint8_t)(n + 1);
	return true;
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
	switch (event->kind) {
	case EVENT_OVERSTAPPER_GEREGISTREERD:
		return apply_registration(state, &o, event);
	case EVENT_KEUZE_GEREGISTREERD:
		return apply_keuze(state, &o, event);
	case EVENT_DDD_AANGELEVERD:
		return apply_flag(&state->ddd, &o);
	case EVENT_DIPLOMA_BEHAALD:
		return apply_flag(&state->diploma, &o);
	case EVENT_NIET_GESLAAGD:
		return apply_flag(&state->niet_geslaagd, &o);
	case EVENT_VO_UITGESCHREVEN:
		return apply_flag(&state->vo_uitgeschreven, &o);
	case EVENT_AANMELDING_ONTVANGEN:
	case EVENT_AANGEMELD:
	case EVENT_OVEREENKOMST_AANGEBODEN:
	case EVENT_LEIDT_NIET_TOT_INSCHRIJVING:
	case EVENT_INGETROKKEN:
	case EVENT_INGESCHREVEN:
	case EVENT_NIET_GESTART:
	case EVENT_MBO_UITGESCHREVEN:
		if (event->kind == EVENT_AANGEMELD &&
		    (state->first_aangemeld_at == 0 || event->occurred_at < state->first_aangemeld_at)) {
			state->first_aangemeld_at = event->occurred_at;
			changed = true;
		}
		if (apply_mbo_gemeente(state, &o, event))
			changed = true;
		if (apply_mbo_fact(state, &o, event))
			changed = true;
		return changed;
	default:
		return false;
	}
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
	for (int i = 0; i < st->n_mbo && i < OVERSTAP_MAX_INSTELLINGEN; i++) {
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
	if (st->n_mbo > 0 && !(andere && st->keuze.occurred_at > last_mbo))
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
	bool cand_reg = cand->kind == EVENT_OVERSTAPPER_GEREGISTREERD;
	bool cur_reg = cur->kind == EVENT_OVERSTAPPER_GEREGISTREERD;
	if (cand_reg != cur_reg)
		return cand_reg;
	return cand->occurred_at > cur->occurred_at;
}

/* ---- encoding --------------------------------------------------------------
 *
 * Version 1, big-endian, strings as one length byte and the bytes:
 *   u8 version, u32 cohort,
 *   order registered, str vo_school, str woongemeente, u8 vo_soort,
 *   order keuze, u8 bestemming, str keuze_crebo, str keuze_instelling, u8 niveau, u8 leerweg,
 *   order ddd, order diploma, order niet_geslaagd, order vo_uitgeschreven,
 *   order mbo_gemeente, str mbo_woongemeente, i64 first_aangemeld_at,
 *   u8 n_mbo, n_mbo × (str instelling, order, str crebo, u8 niveau, u8 leerweg)
 * where order = i64 occurred_at, u8 kind, u64 tiebreak. */

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

size_t overstap_state_encode(const struct pupil_state *st, uint8_t *buf, size_t cap)
{
	struct writer w = { buf, cap, 0, true };
	put_uint(&w, ENCODING_VERSION, 1);
	put_uint(&w, st->cohort, 4);
	put_order(&w, &st->registered);
	put_str(&w, st->vo_school, sizeof st->vo_school);
	put_str(&w, st->woongemeente, sizeof st->woongemeente);
	put_uint(&w, st->vo_soort, 1);
	put_order(&w, &st->keuze);
	put_uint(&w, st->bestemming, 1);
	put_str(&w, st->keuze_crebo, sizeof st->keuze_crebo);
	put_str(&w, st->keuze_instelling, sizeof st->keuze_instelling);
	put_uint(&w, st->keuze_niveau, 1);
	put_uint(&w, st->keuze_leerweg, 1);
	put_order(&w, &st->ddd);
	put_order(&w, &st->diploma);
	put_order(&w, &st->niet_geslaagd);
	put_order(&w, &st->vo_uitgeschreven);
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

bool overstap_state_decode(struct pupil_state *state, const uint8_t *buf, size_t len)
{
	if (!buf)
		return false;
	struct pupil_state st;
	memset(&st, 0, sizeof st);
	struct reader r = { buf, len, 0, true };
	if (get_uint(&r, 1) != ENCODING_VERSION)
		return false;
	st.cohort = (uint32_t)get_uint(&r, 4);
	get_order(&r, &st.registered);
	get_str(&r, st.vo_school, sizeof st.vo_school);
	get_str(&r, st.woongemeente, sizeof st.woongemeente);
	st.vo_soort = get_small(&r, VO_SOORT_ISK);
	get_order(&r, &st.keuze);
	st.bestemming = get_small(&r, BESTEMMING_ANDERS);
	get_str(&r, st.keuze_crebo, sizeof st.keuze_crebo);
	get_str(&r, st.keuze_instelling, sizeof st.keuze_instelling);
	st.keuze_niveau = get_small(&r, 4);
	st.keuze_leerweg = get_small(&r, LEERWEG_BBL);
	get_order(&r, &st.ddd);
	get_order(&r, &st.diploma);
	get_order(&r, &st.niet_geslaagd);
	get_order(&r, &st.vo_uitgeschreven);
	get_order(&r, &st.mbo_gemeente_order);
	get_str(&r, st.mbo_woongemeente, sizeof st.mbo_woongemeente);
	st.first_aangemeld_at = (int64_t)get_uint(&r, 8);
	if (st.first_aangemeld_at < 0)
		r.ok = false;
	st.n_mbo = get_small(&r, OVERSTAP_MAX_INSTELLINGEN);
	for (int i = 0; r.ok && i < st.n_mbo; i++) {
		struct mbo_fact *f = &st.mbo[i];
		get_str(&r, f->instelling, sizeof f->instelling);
		get_order(&r, &f->order);
		get_str(&r, f->crebo, sizeof f->crebo);
		f->niveau = get_small(&r, 4);
		f->leerweg = get_small(&r, LEERWEG_BBL);
		if (!overstap_kind_is_mbo(f->order.kind) || f->order.occurred_at == 0)
			r.ok = false;
		if (i > 0 && strcmp(st.mbo[i - 1].instelling, f->instelling) >= 0)
			r.ok = false; /* sorted, unique */
	}
	if (!r.ok || r.at != len)
		return false;
	*state = st;
	return true;
}
