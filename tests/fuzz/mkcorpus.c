/* mkcorpus.c — writes the generated seeds of the fuzz corpus: real frames for
 * fuzz_envelope (packed from the proto by protobuf-c, as a client sends them)
 * and real state encodings for fuzz_state_decode (states built by
 * overstap_state_apply from valid events).
 *
 *   build/fuzz/fuzz-mkcorpus tests/fuzz/corpus
 *
 * writes CORPUS/fuzz_envelope/gen-*.bin and CORPUS/fuzz_state_decode/gen-*.bin,
 * the same bytes every run. The hand-made seeds beside them are kept.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "overstap.h"
#include "overstap.pb-c.h"

#define T2031_JAN 1924992000 /* 2031-01-01T00:00:00Z */
#define DAY 86400

static const char *dir;
static uint8_t stream[1 << 20];
static size_t stream_len;

static void write_file(const char *target, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/gen-%s.bin", dir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Appends one envelope's frame to the stream being built. */
static void add_frame(const Overstap__V1__Envelope *env)
{
	uint8_t *buf;
	size_t n;
	if (!frame_pack_envelope(env, &buf, &n) || stream_len + n > sizeof stream) {
		fprintf(stderr, "mkcorpus: cannot pack\n");
		exit(1);
	}
	memcpy(stream + stream_len, buf, n);
	stream_len += n;
	free(buf);
}

static void flush_stream(const char *name)
{
	write_file("fuzz_envelope", name, stream, stream_len);
	stream_len = 0;
}

/* A BSN from eight digits: the ninth makes the 11-test hold (or skip). */
static bool bsn(unsigned eight, char out[10])
{
	snprintf(out, 10, "%08u0", eight % 100000000u);
	for (char d = '0'; d <= '9'; d++) {
		out[8] = d;
		if (overstap_bsn_is_valid(out))
			return true;
	}
	return false;
}

static Overstap__V1__StatusUpdate *upd(const char *id, const char *pgn, int64_t at, int kind, const char *school)
{
	Overstap__V1__StatusUpdate *u = calloc(1, sizeof *u);
	overstap__v1__status_update__init(u);
	u->event_id = strdup(id);
	u->pgn = strdup(pgn);
	u->occurred_at = at;
	u->kind = kind;
	u->cohort = 2031;
	u->school = strdup(school);
	return u;
}

static void registration(Overstap__V1__StatusUpdate *u, const char *gm)
{
	u->woongemeente = strdup(gm);
	u->vo_soort = OVERSTAP__V1__VO_SOORT__VO_SOORT_VMBO_KB;
	u->birth_date = strdup("2015-03-04");
	u->name = strdup("Sam de Vries");
}

static void mbo_fields(Overstap__V1__StatusUpdate *u)
{
	u->crebo = strdup("25180");
	u->niveau = 2;
	u->leerweg = OVERSTAP__V1__LEERWEG__LEERWEG_BOL;
}

static void free_update(Overstap__V1__StatusUpdate *u)
{
	const ProtobufCMessageDescriptor *d = &overstap__v1__status_update__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].type != PROTOBUF_C_TYPE_STRING)
			continue;
		char **p = (char **)((char *)u + d->fields[i].offset);
		if (*p && *p != protobuf_c_empty_string)
			free(*p);
	}
	free(u);
}

static void batch(uint64_t seq, Overstap__V1__StatusUpdate **ups, size_t n)
{
	Overstap__V1__StatusBatch b = OVERSTAP__V1__STATUS_BATCH__INIT;
	b.n_updates = n;
	b.updates = ups;
	Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
	env.seq = seq;
	env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATUS_BATCH;
	env.status_batch = &b;
	add_frame(&env);
	for (size_t i = 0; i < n; i++)
		free_update(ups[i]);
}

/* One pupil's school year, every kind once, vo and mbo. */
static size_t life(Overstap__V1__StatusUpdate **u, const char *pgn, const char *tag)
{
	char id[64];
	size_t n = 0;
	int64_t t = T2031_JAN - 90 * DAY;
#define ID(s) (snprintf(id, sizeof id, "%s-%s", tag, s), id)
	u[n] = upd(ID("reg"), pgn, t, 1, "25LX00");
	registration(u[n++], "GM0935");
	u[n] = upd(ID("keuze"), pgn, t + DAY, 2, "25LX00");
	u[n]->bestemming = OVERSTAP__V1__BESTEMMING__BESTEMMING_MBO;
	u[n]->crebo = strdup("25180");
	u[n++]->mbo_instelling = strdup("25LP");
	u[n++] = upd(ID("ddd"), pgn, t + 2 * DAY, 3, "25LX00");
	u[n] = upd(ID("ontv"), pgn, t + 3 * DAY, 10, "25LP");
	mbo_fields(u[n++]);
	u[n] = upd(ID("aangemeld"), pgn, t + 4 * DAY, 11, "25LP");
	mbo_fields(u[n++]);
	u[n] = upd(ID("ovk"), pgn, t + 100 * DAY, 12, "25LP");
	mbo_fields(u[n++]);
	u[n] = upd(ID("ander"), pgn, t + 5 * DAY, 11, "24TX");
	mbo_fields(u[n]);
	u[n]->woongemeente = strdup("GM0268");
	u[n++]->name = strdup("Sam");
	u[n] = upd(ID("ingetrokken"), pgn, t + 101 * DAY, 14, "24TX");
	u[n++]->reason = strdup("koos elders");
	u[n++] = upd(ID("geslaagd"), pgn, t + 150 * DAY, 4, "25LX00");
	u[n++] = upd(ID("uit"), pgn, t + 151 * DAY, 6, "25LX00");
	u[n] = upd(ID("ingeschreven"), pgn, t + 240 * DAY, 15, "25LP");
	mbo_fields(u[n++]);
	return n;
#undef ID
}

static void envelopes(void)
{
	Overstap__V1__StatusUpdate *u[64];
	char pgn[10], pgn2[10];
	bsn(11122233, pgn);
	bsn(12345678, pgn2);

	/* the README's two rows */
	u[0] = upd("reg-1", "111222333", T2031_JAN - 80 * DAY, 1, "25LX00");
	registration(u[0], "GM0935");
	u[1] = upd("keuze-1", "111222333", T2031_JAN - 60 * DAY, 2, "25LX00");
	u[1]->bestemming = OVERSTAP__V1__BESTEMMING__BESTEMMING_MBO;
	u[1]->crebo = strdup("25180");
	u[1]->mbo_instelling = strdup("25LP");
	batch(T2031_JAN, u, 2);
	flush_stream("readme");

	/* a whole school year in one batch, at three moments of the year */
	static const int64_t nows[] = { T2031_JAN, T2031_JAN + 100 * DAY, T2031_JAN + 290 * DAY };
	static const char *names[] = { "life-winter", "life-spring", "life-after-teldatum" };
	for (int k = 0; k < 3; k++) {
		size_t n = life(u, pgn, "y");
		batch((uint64_t)nows[k], u, n);
		flush_stream(names[k]);
	}

	/* the same school year for two pupils, every event in its own frame (pipelined) */
	{
		size_t n = life(u, pgn, "a");
		size_t m = life(u + n, pgn2, "b");
		for (size_t i = 0; i < n + m; i++)
			batch(T2031_JAN + 300 * DAY, &u[i], 1);
		flush_stream("pipelined");
	}

	/* a no-show, a withdrawal after a diploma (zomerlek), another destination,
	 * a pupil who fails and stays */
	{
		size_t n = 0;
		int64_t t = T2031_JAN;
		u[n] = upd("z1", pgn, t, 1, "25LX00");
		registration(u[n++], "GM0268");
		u[n] = upd("z2", pgn, t + DAY, 11, "25LP");
		mbo_fields(u[n++]);
		u[n++] = upd("z3", pgn, t + 120 * DAY, 4, "25LX00");
		u[n++] = upd("z4", pgn, t + 200 * DAY, 14, "25LP");
		u[n] = upd("n1", pgn2, t, 12, "25LP");
		mbo_fields(u[n++]);
		u[n++] = upd("n2", pgn2, t + 240 * DAY, 16, "25LP");
		u[n++] = upd("n3", pgn2, t + 250 * DAY, 17, "25LP");
		u[n] = upd("h1", "111222333", t, 2, "25LX00");
		u[n++]->bestemming = OVERSTAP__V1__BESTEMMING__BESTEMMING_HAVO;
		u[n++] = upd("h2", "111222333", t + DAY, 5, "25LX00");
		u[n] = upd("h3", "111222333", t + 2 * DAY, 13, "25LP");
		u[n++]->crebo = strdup("25180");
		batch(T2031_JAN + 210 * DAY, u, n);
		flush_stream("alerts");
	}

	/* more institutions than a state keeps (OVERSTAP_MAX_INSTELLINGEN) */
	{
		size_t n = 0;
		for (int i = 0; i < OVERSTAP_MAX_INSTELLINGEN + 2 && n < 64; i++) {
			char id[16], brin[5];
			snprintf(id, sizeof id, "i%d", i);
			snprintf(brin, sizeof brin, "%02d%c%c", 10 + i, 'A' + i % 26, 'Z' - i % 26);
			u[n] = upd(id, pgn, T2031_JAN + i, 10 + i % 8, brin);
			u[n++]->crebo = strdup("25180");
		}
		batch(T2031_JAN + DAY, u, n);
		flush_stream("many-instellingen");
	}

	/* one of each refusal: bad pgn, cohort, kind, school, gemeente, crebo,
	 * date, name, missing and unexpected fields, the future, an empty id */
	{
		size_t n = 0;
		u[n++] = upd("bad-pgn", "123456789", T2031_JAN, 3, "25LX00");
		u[n] = upd("bad-cohort", pgn, T2031_JAN, 3, "25LX00");
		u[n++]->cohort = 2050;
		u[n++] = upd("bad-kind", pgn, T2031_JAN, 9, "25LX00");
		u[n++] = upd("bad-school", pgn, T2031_JAN, 3, "25LX");
		u[n] = upd("bad-gm", pgn, T2031_JAN, 1, "25LX00");
		registration(u[n], "GM26");
		n++;
		u[n++] = upd("bad-crebo", pgn, T2031_JAN, 11, "25LP");
		u[n - 1]->crebo = strdup("2518");
		u[n] = upd("bad-birth", pgn, T2031_JAN, 1, "25LX00");
		registration(u[n], "GM0268");
		free(u[n]->birth_date);
		u[n++]->birth_date = strdup("2015-02-30");
		u[n] = upd("bad-name", pgn, T2031_JAN, 1, "25LX00");
		registration(u[n], "GM0268");
		free(u[n]->name);
		u[n++]->name = strdup("Sam\xc3(");
		u[n++] = upd("missing", pgn, T2031_JAN, 2, "25LX00");
		u[n] = upd("unexpected", pgn, T2031_JAN, 3, "25LX00");
		u[n++]->name = strdup("Sam");
		u[n++] = upd("future", pgn, T2031_JAN + 3 * DAY, 3, "25LX00");
		u[n++] = upd("", pgn, T2031_JAN, 3, "25LX00");
		batch(T2031_JAN, u, n);
		flush_stream("refusals");
	}

	/* every other request a client sends */
	{
		Overstap__V1__Envelope env = OVERSTAP__V1__ENVELOPE__INIT;
		Overstap__V1__PupilQuery pq = OVERSTAP__V1__PUPIL_QUERY__INIT;
		pq.pgn = pgn;
		pq.cohort = 2031;
		env.seq = 7;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PUPIL_QUERY;
		env.pupil_query = &pq;
		add_frame(&env);
		Overstap__V1__StatsQuery sq = OVERSTAP__V1__STATS_QUERY__INIT;
		sq.cohort = 2031;
		sq.group_by = OVERSTAP__V1__GROUP_BY__GROUP_BY_VO_SCHOOL;
		sq.region = "39";
		env = (Overstap__V1__Envelope)OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 8;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_STATS_QUERY;
		env.stats_query = &sq;
		add_frame(&env);
		Overstap__V1__Subscribe sub = OVERSTAP__V1__SUBSCRIBE__INIT;
		sub.max_in_flight = 100;
		env = (Overstap__V1__Envelope)OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 9;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_SUBSCRIBE;
		env.subscribe = &sub;
		add_frame(&env);
		uint64_t ids[] = { 1, 2, 300 };
		Overstap__V1__AlertAck ack = OVERSTAP__V1__ALERT_ACK__INIT;
		ack.n_alert_ids = 3;
		ack.alert_ids = ids;
		env = (Overstap__V1__Envelope)OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 10;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ALERT_ACK;
		env.alert_ack = &ack;
		add_frame(&env);
		Overstap__V1__Ping ping = OVERSTAP__V1__PING__INIT;
		ping.t = T2031_JAN;
		env = (Overstap__V1__Envelope)OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 11;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_PING;
		env.ping = &ping;
		add_frame(&env);
		Overstap__V1__Sweep sw = OVERSTAP__V1__SWEEP__INIT;
		sw.at = T2031_JAN + 90 * DAY;
		Overstap__V1__AdminRequest ar = OVERSTAP__V1__ADMIN_REQUEST__INIT;
		ar.op_case = OVERSTAP__V1__ADMIN_REQUEST__OP_SWEEP;
		ar.sweep = &sw;
		env = (Overstap__V1__Envelope)OVERSTAP__V1__ENVELOPE__INIT;
		env.seq = 12;
		env.body_case = OVERSTAP__V1__ENVELOPE__BODY_ADMIN_REQUEST;
		env.admin_request = &ar;
		add_frame(&env);
		Overstap__V1__SetClock sc = OVERSTAP__V1__SET_CLOCK__INIT;
		sc.at = T2031_JAN + 91 * DAY;
		ar.op_case = OVERSTAP__V1__ADMIN_REQUEST__OP_SET_CLOCK;
		ar.set_clock = &sc;
		env.seq = 13;
		add_frame(&env);
		flush_stream("requests");
	}
}

/* ---- states ------------------------------------------------------------------ */

static void state_file(const char *name, const struct pupil_state *st)
{
	uint8_t buf[OVERSTAP_STATE_ENCODED_MAX];
	size_t n = overstap_state_encode(st, buf, sizeof buf);
	if (n == 0) {
		fprintf(stderr, "mkcorpus: cannot encode\n");
		exit(1);
	}
	write_file("fuzz_state_decode", name, buf, n);
}

static void ev(struct pupil_state *st, const char *id, int kind, int64_t t, const char *school)
{
	struct overstap_event e;
	memset(&e, 0, sizeof e);
	snprintf(e.event_id, sizeof e.event_id, "%s", id);
	snprintf(e.pgn, sizeof e.pgn, "%s", "111222333");
	e.occurred_at = t;
	e.kind = (enum event_kind)kind;
	e.cohort = st->cohort;
	snprintf(e.school, sizeof e.school, "%s", school);
	if (kind == EVENT_OVERSTAPPER_GEREGISTREERD) {
		snprintf(e.woongemeente, sizeof e.woongemeente, "%s", "GM0935");
		e.vo_soort = VO_SOORT_VMBO_KB;
	} else if (kind == EVENT_KEUZE_GEREGISTREERD) {
		e.bestemming = BESTEMMING_MBO;
		snprintf(e.crebo, sizeof e.crebo, "%s", "25180");
		snprintf(e.mbo_instelling, sizeof e.mbo_instelling, "%s", "25LP");
		e.niveau = 3;
		e.leerweg = LEERWEG_BBL;
	} else if (overstap_kind_is_mbo(kind)) {
		snprintf(e.crebo, sizeof e.crebo, "%s", "25180");
		snprintf(e.woongemeente, sizeof e.woongemeente, "%s", "GM0268");
		e.niveau = 2;
		e.leerweg = LEERWEG_BOL;
	}
	overstap_state_apply(st, &e);
}

static void states(void)
{
	struct pupil_state st;
	overstap_state_init(&st, 2031);
	state_file("empty", &st);
	ev(&st, "reg", 1, T2031_JAN, "25LX00");
	state_file("registered", &st);
	ev(&st, "keuze", 2, T2031_JAN + DAY, "25LX00");
	ev(&st, "ddd", 3, T2031_JAN + 2 * DAY, "25LX00");
	ev(&st, "a1", 11, T2031_JAN + 3 * DAY, "25LP");
	ev(&st, "a2", 11, T2031_JAN + 4 * DAY, "24TX");
	state_file("aangemeld", &st);
	ev(&st, "dipl", 4, T2031_JAN + 150 * DAY, "25LX00");
	ev(&st, "ng", 5, T2031_JAN + 140 * DAY, "25LX00");
	ev(&st, "uit", 6, T2031_JAN + 151 * DAY, "25LX00");
	ev(&st, "w1", 14, T2031_JAN + 160 * DAY, "25LP");
	ev(&st, "w2", 13, T2031_JAN + 161 * DAY, "24TX");
	state_file("zonder-plek", &st);
	ev(&st, "ins", 15, T2031_JAN + 240 * DAY, "25LP");
	ev(&st, "ns", 16, T2031_JAN + 241 * DAY, "24TX");
	ev(&st, "out", 17, T2031_JAN + 250 * DAY, "23AB");
	state_file("everything", &st);
	/* whose pupil: a competing claim, then a transfer (uitschrijving + registration) */
	struct pupil_state tr;
	overstap_state_init(&tr, 2031);
	ev(&tr, "reg-a", 1, T2031_JAN, "25LX00");
	ev(&tr, "reg-b", 1, T2031_JAN + DAY, "20LO00");
	ev(&tr, "keuze-b", 2, T2031_JAN + 2 * DAY, "20LO00");
	state_file("competing", &tr);
	ev(&tr, "out-a", 6, T2031_JAN + 3 * DAY, "25LX00");
	ev(&tr, "reg-c", 1, T2031_JAN + 4 * DAY, "25LX01");
	state_file("transferred", &tr);
	overstap_state_init(&st, 2031);
	for (int i = 0; i < OVERSTAP_MAX_INSTELLINGEN + 3; i++) {
		char id[16], brin[5];
		snprintf(id, sizeof id, "m%d", i);
		snprintf(brin, sizeof brin, "%02d%c%c", 10 + i, 'A' + i % 26, 'Z' - i % 26);
		ev(&st, id, 10 + i % 8, T2031_JAN + i, brin);
	}
	state_file("full", &st);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	envelopes();
	states();
	return 0;
}
