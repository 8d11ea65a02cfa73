"""test_tracking.py — tracking of a scripted cohort (the tracking issue).

A cohort of about 75 pupils from tests/integration/schoolyear.py (every
scenario in each of three RMC regions, plus a few pupils scripted here so that
every Status occurs) is pushed with the manual clock on C-09-30 12:00Z — after
every event of the phases P1..P3, before the teldatum — through the real
`overstap-push`, in a shuffled order, split per sending certificate into
several CSV files pushed in rounds, the certificates of a round in parallel.

Then:
  * PupilQuery (admin) gives every pupil the status schoolyear.status_of() and
    the hand-written table below predict, with its timeline in occurred_at
    order, its open alerts, vo school, woongemeente and region;
  * pushing everything again is all DUPLICATE and changes nothing;
  * `overstapctl verify` rebuilds every state from the event log with zero
    differences, and does find a corrupted state;
  * a second shuffle into a second database gives byte-identical facts;
  * `overstapctl pupil` (text and --json) shows the same as PupilQuery;
  * the scopes of DESIGN §4.3 for PupilQuery and for writing, denials alike
    for unknown and out-of-scope pupils, logged with the certificate identity;
  * pupils only an mbo reported are tracked but not counted as overstappers;
  * reference data imports are idempotent, and a Windows-1252 copy of the DUO
    file gives the same tables as the UTF-8 original.
"""
import collections
import json
import os
import random
import re
import subprocess

import harness as h
from harness import pb
import schoolyear as sy

COHORT = 2031
SCHOOLS = [("26HL00", "GM0935", "39"), ("27ZJ00", "GM0935", "39"),
           ("02FC00", "GM0222", "13"), ("02NZ00", "GM0222", "13"),
           ("00RZ00", "GM0268", "14")]
ELSEWHERE = {"39": "GM0935", "13": "GM0222", "14": "GM0268"}
REGION_OF = {"GM0935": "39", "GM0222": "13", "GM0268": "14"}
PUPILS = 66          # SchoolYear pupils; every scenario at least once per region (45)
YEAR_SEED = 11
ORDER_SEEDS = (101, 202)

# Pupils scripted here (same event format as schoolyear.SCENARIOS), so that the
# cohort at P3 shows every Status: AANGEMELD does not occur there otherwise.
EXTRA = {
    # a late application still open: AANGEMELD (GEEN_AANMELDING may or may not
    # have been raised, depending on the order the events arrive in)
    'aangemeld_open': dict(status='AANGEMELD', ddd=True, events=[
        sy._ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M2', bestemming='MBO', crebo='25604', niveau=3,
               leerweg='BBL'),
        sy._ev('P2', 5, 10, 'M2', 'AANMELDING_ONTVANGEN', crebo='25604'),
        sy._ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD')], alerts=[]),
    # enrolled, left again in September: ZONDER_PLEK, zomerlek in real time
    'mbo_uitgeschreven': dict(status='ZONDER_PLEK', ddd=True, events=[
        sy._ev('P1', 2, 1, 'vo', 'KEUZE_GEREGISTREERD', mbo='M1', **sy.KEUZE_MBO),
        sy._ev('P1', 3, 1, 'M1', 'AANGEMELD', crebo='25180'),
        sy._ev('P2', 5, 1, 'M1', 'OVEREENKOMST_AANGEBODEN', crebo='25180'),
        sy._ev('P2', 6, 20, 'vo', 'DIPLOMA_BEHAALD'),
        sy._ev('P3', 8, 20, 'M1', 'INGESCHREVEN', crebo='25180'),
        sy._ev('P3', 9, 15, 'M1', 'MBO_UITGESCHREVEN', crebo='25180', reason='gestopt')],
        alerts=[('ZOMERLEK', 'rmc', 'P3', None), ('ZOMERLEK', 'vo', 'P3', None)]),
    # known to the second mbo only, living in another region than the schools' mbo pupils
    'alleen_mbo_aangemeld': dict(status='AANGEMELD', ddd=False, registered=False, events=[
        sy._ev('P2', 6, 1, 'M2', 'AANMELDING_ONTVANGEN', crebo='25604'),
        sy._ev('P3', 8, 1, 'M2', 'AANGEMELD', crebo='25604')], alerts=[]),
}
# (extra scenario, school, woongemeente) of each extra pupil
EXTRA_PUPILS = [("aangemeld_open", "26HL00", "GM0935"), ("aangemeld_open", "02FC00", "GM0935"),
                ("mbo_uitgeschreven", "02NZ00", "GM0222"), ("mbo_uitgeschreven", "00RZ00", "GM0268"),
                ("alleen_mbo_aangemeld", "27ZJ00", "GM0222"), ("alleen_mbo_aangemeld", "00RZ00", "GM0268")]
SCENARIOS = {**sy.SCENARIOS, **EXTRA}

# Each scenario's status on C-09-30 12:00Z (P3 pushed, teldatum not passed),
# read by hand from DESIGN §5 — a third opinion beside the daemon and
# schoolyear.status_of().
STATUS_AT_P3 = {
    'geplaatst': 'INGESCHREVEN', 'twee_aanmeldingen': 'INGESCHREVEN', 'ingetrokken_nieuw': 'INGESCHREVEN',
    'afgewezen': 'ZONDER_PLEK', 'geen_keuze': 'GEEN_KEUZE', 'keuze_zonder_aanmelding': 'KEUZE',
    'te_laat_aangemeld': 'INGESCHREVEN', 'niet_gestart_gemeld': 'NIET_GESTART',
    'niet_gestart_teldatum': 'GEPLAATST', 'zomerlek_opgelost': 'INGESCHREVEN', 'herexamen': 'INGESCHREVEN',
    'blijft_in_vo': 'BLIJFT_IN_VO', 'andere_bestemming': 'ANDERE_BESTEMMING',
    'niet_gestart_opgelost': 'GEPLAATST', 'alleen_mbo': 'INGESCHREVEN',
    'aangemeld_open': 'AANGEMELD', 'mbo_uitgeschreven': 'ZONDER_PLEK', 'alleen_mbo_aangemeld': 'AANGEMELD',
}
ALERT_NAME = {v: k for k, v in sy.ALERT.items()}
PHASE_ORDER = ['P1', 'aanmelddatum', 'P2', 'zomer', 'P3', 'teldatum', 'P4', 'END']


def ensure_cert(role, org):
    if not (h.PKI / f"{role}-{org}.crt").exists():
        h._sh(["bash", h.REPO / "deploy" / "pki.sh", "issue", h.PKI, role, org])


def make_cohort():
    """The SchoolYear with the extra pupils appended."""
    year = sy.SchoolYear(COHORT, SCHOOLS, pupils=PUPILS, seed=YEAR_SEED, elsewhere=ELSEWHERE)
    rng = random.Random(YEAR_SEED + 1)
    used = {p.pgn for p in year.pupils}
    region = {s[0]: s[2] for s in SCHOOLS}
    gemeente = {s[0]: s[1] for s in SCHOOLS}
    for scen, school, home in EXTRA_PUPILS:
        sc = EXTRA[scen]
        i = len(year.pupils)
        p = sy.Pupil(pgn=sy.bsn(rng, used), scenario=scen, school=school, school_region=region[school],
                     gemeente=gemeente[school], woongemeente=home, home_region=REGION_OF[home],
                     registered=sc.get('registered', True), name=f"Extra Leerling {i}",
                     birth_date=f"{COHORT - 17}-05-{1 + i % 28:02d}", vo_soort='VMBO_GL', ddd=sc['ddd'],
                     final_status=sc['status'], index=i)
        p.events = year._events(p, sc)
        year.pupils.append(p)
    return year


def rows_until_p3(year):
    """[(org, row)] of every event of P1..P3."""
    return [x for ph in ("P1", "P2", "P3") for x in year.events(ph)]


def role_of(year, org):
    return "mbo" if org in year.mbo else "vo"


PUSH_LINE = re.compile(r"^accepted (\d+), duplicate (\d+), rejected (\d+)$", re.M)


def push_parallel(daemon, jobs, batch, window):
    """jobs: [(role, org, path)], pushed at the same time, one overstap-push
    each. Returns [(org, path, exit code, stdout, stderr)]."""
    procs = []
    for role, org, path in jobs:
        env = dict(os.environ, **daemon.tool_env(role, org))
        procs.append((org, path, subprocess.Popen(
            [str(h.BUILD / "overstap-push"), "--batch", str(batch), "--window", str(window), str(path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    out = []
    for org, path, p in procs:
        try:
            so, se = p.communicate(timeout=120 * h.SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
            raise AssertionError(f"overstap-push {path} ({org}) hung:\n{so}{se}\n{daemon.log_tail()}")
        for m in h.SANITIZER_MARKERS:
            if m in so + se:
                raise AssertionError(f"sanitizer report from overstap-push:\n{(so + se)[-6000:]}")
        out.append((org, path, p.returncode, so, se))
    return out


def counts_of(stdout):
    m = PUSH_LINE.search(stdout)
    if not m:
        raise AssertionError(f"no 'accepted N, duplicate N, rejected N' line in:\n{stdout}")
    return tuple(int(x) for x in m.groups())


def play(daemon, year, seed, workdir, rounds, batch, window, parallel=True):
    """Pushes every event of P1..P3 in the order of random.Random(seed): each
    certificate's rows (its own only) in that order, cut into `rounds` files;
    round k pushes file k of every certificate, in a shuffled order of the
    certificates, at the same time when parallel. Returns the push results."""
    rng = random.Random(seed)
    rows = rows_until_p3(year)
    rng.shuffle(rows)
    by_org = collections.OrderedDict()
    for org, r in rows:
        by_org.setdefault(org, []).append(r)
    results = []
    for k in range(rounds):
        orgs = list(by_org)
        rng.shuffle(orgs)
        jobs = []
        for org in orgs:
            mine = by_org[org]
            size = -(-len(mine) // rounds)
            part = mine[k * size:(k + 1) * size]
            if not part:
                continue
            path = workdir / f"order{seed}-round{k}-{org}.csv"
            path.write_text(sy.csv_text(part), encoding="utf-8")
            jobs.append((role_of(year, org), org, path))
        if parallel:
            results += push_parallel(daemon, jobs, batch, window)
        else:
            for job in jobs:
                results += push_parallel(daemon, [job], batch, window)
    return results


def states_by_pgn(db, cohort=COHORT):
    return {pgn: (facts, int(status)) for pgn, facts, status in h.psql(
        db, "SELECT p.pgn, encode(s.facts, 'hex'), s.status FROM pupil_state s "
            f"JOIN pupil p ON p.id = s.pupil_id WHERE s.cohort = {cohort}")}


def snapshot(db):
    """Everything pushing may change, as text."""
    return {
        "event": h.psql(db, "SELECT org, event_id, pupil_id, cohort, kind, occurred_at, received_at FROM event "
                            "ORDER BY 1, 2"),
        "pupil": h.psql(db, "SELECT id, pgn FROM pupil ORDER BY id"),
        "personal": h.psql(db, "SELECT pupil_id, cohort, source, is_registration, name, birth_date, at "
                               "FROM pupil_personal ORDER BY 1, 2, 3"),
        "state": h.psql(db, "SELECT pupil_id, cohort, encode(facts, 'hex'), status, registered, left_vo, has_ddd, "
                            "vo_school, woongemeente, mbo_instelling, crebo, first_aangemeld_at, had_zomerlek, "
                            "had_niet_gestart, updated_at, version FROM pupil_state ORDER BY 1, 2"),
        "alert": h.psql(db, "SELECT id, recipient, kind, pupil_id, resolved_at, resolves_alert_id FROM alert "
                            "ORDER BY id"),
    }


def reference_tables(db):
    return {t: h.psql(db, f"SELECT * FROM {t} ORDER BY code") for t in ("region", "gemeente", "school")}


class TrackingTest(h.TestCase):
    """The cohort is pushed once in setUpClass (database it_tracking); the
    tests read it, and those that write only add what changes nothing, or
    pupils of another cohort."""

    @classmethod
    def setUpClass(cls):
        for code, _, _ in SCHOOLS:
            ensure_cert("vo", code)
        for org in ("25LP", "25LQ"):
            ensure_cert("mbo", org)
        for region in ("39", "13", "14"):
            ensure_cert("rmc", region)
        ensure_cert("projectteam", "39")
        ensure_cert("admin", "ops")
        cls.year = make_cohort()
        cls.pupils = cls.year.pupils
        cls.by_pgn = {p.pgn: p for p in cls.pupils}
        cls.rows = rows_until_p3(cls.year)
        cls.db = h.fresh_database("it_tracking")
        cls.daemon = h.Daemon(cls.db, clock=sy.iso(cls.year.clock["P3"]))
        try:
            cls.work = h.Path(cls.daemon.dir)
            cls.push_results = play(cls.daemon, cls.year, ORDER_SEEDS[0], cls.work, rounds=3, batch=7, window=2)
            cls.replies = {}
            with h.Client(cls.daemon, "admin", "ops") as c:
                seqs = {p.pgn: c.send(pb.PupilQuery(pgn=p.pgn, cohort=COHORT)) for p in cls.pupils}
                for pgn, seq in seqs.items():
                    cls.replies[pgn] = c.wait_reply(seq)
        except BaseException:
            cls.daemon.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    # ---- helpers ----------------------------------------------------------------

    def query(self, role, org, pgn, cohort=COHORT):
        with h.Client(self.daemon, role, org) as c:
            return c.request(pb.PupilQuery(pgn=pgn, cohort=cohort))

    def reply_of(self, pgn):
        env = self.replies[pgn]
        self.assertEqual(env.WhichOneof("body"), "pupil_reply", f"{self.by_pgn[pgn]}: {env}")
        return env.pupil_reply

    def pick(self, pred, n=1):
        got = [p for p in self.pupils if pred(p)]
        self.assertGreaterEqual(len(got), n, "the cohort lacks a pupil for this test")
        return got[:n] if n > 1 else got[0]

    def expected_status(self, p):
        return STATUS_AT_P3[p.scenario]

    def open_alerts_in_db(self, pgn):
        return [int(r[0]) for r in h.psql(
            self.db, "SELECT a.id FROM alert a JOIN pupil p ON p.id = a.pupil_id "
                     f"WHERE p.pgn = '{pgn}' AND a.cohort = {COHORT} AND a.resolved_at IS NULL "
                     "AND a.kind IN (1, 2, 3) ORDER BY a.id")]

    def tool(self, name, role, org, *args):
        return h.run_tool(name, args, daemon=self.daemon, role=role, org=org)

    def denial_logged(self, role, org, since):
        """Waits for a log line after offset `since` naming role and org as denied."""
        pat = re.compile(rf"role={role} org={re.escape(org)}\b.*denied")

        def seen():
            return any(pat.search(line) for line in self.daemon.log[since:].splitlines())
        h.wait_until(seen, what=f"a denial logged with role={role} org={org}")

    # ---- the cohort and the pushing -------------------------------------------------

    def test_cohort_covers_every_status_and_case(self):
        self.assertGreaterEqual(len(self.pupils), 50)
        self.assertEqual(len({p.pgn for p in self.pupils}), len(self.pupils))
        statuses = collections.Counter(self.expected_status(p) for p in self.pupils)
        self.assertEqual(set(statuses), set(sy.STATUS), statuses)
        for scen in SCENARIOS:
            self.assertTrue(any(p.scenario == scen for p in self.pupils), scen)
        # the oracle of schoolyear.py agrees with the table written here
        for p in self.pupils:
            self.assertEqual(sy.status_of(self.year.facts_at(p, "P3"), False), self.expected_status(p), p)
        kinds = collections.Counter(r["kind"] for _, r in self.rows)
        self.assertEqual(set(kinds), set(sy.KIND), "every event kind is pushed")
        senders = {org for org, _ in self.rows}
        self.assertEqual(senders, {s[0] for s in SCHOOLS} | {"25LP", "25LQ"})

    def test_every_event_was_accepted_once(self):
        total = [0, 0, 0]
        files = 0
        for org, path, code, out, err in self.push_results:
            self.assertEqual(code, 0, f"{path}: {out}{err}")
            a, d, r = counts_of(out)
            total[0] += a
            total[1] += d
            total[2] += r
            files += 1
        self.assertGreaterEqual(files, 3 * 7)
        self.assertEqual(total, [len(self.rows), 0, 0])
        self.assertEqual(int(h.psql_value(self.db, f"SELECT count(*) FROM event WHERE cohort = {COHORT}")),
                         len(self.rows))
        # each event is stored under the organisation of the certificate that sent it
        stored = collections.Counter(r[0] for r in h.psql(self.db, f"SELECT org FROM event WHERE cohort = {COHORT}"))
        self.assertEqual(stored, collections.Counter(org for org, _ in self.rows))

    # ---- status, timeline, alerts (PupilQuery) -----------------------------------------

    def test_status_of_every_pupil(self):
        in_db = {pgn: sy.STATUS_NAME[st] for pgn, (_, st) in states_by_pgn(self.db).items()}
        self.assertEqual(set(in_db), set(self.by_pgn))
        for p in self.pupils:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                self.assertEqual(pb.Status.Name(reply.status), "STATUS_" + self.expected_status(p))
                self.assertEqual(in_db[p.pgn], self.expected_status(p))

    def test_pupil_query_timeline_in_occurred_at_order(self):
        for p in self.pupils:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                got = [(e.occurred_at, pb.EventKind.Name(e.kind)[len("EVENT_KIND_"):], e.school, e.crebo)
                       for e in reply.timeline]
                want = sorted((r["occurred_at"], r["kind"], r["school"], r.get("crebo", ""))
                              for r in self.year.facts_at(p, "P3"))
                self.assertEqual([g[0] for g in got], sorted(g[0] for g in got), "occurred_at order")
                self.assertEqual(sorted(got), want)
                self.assertEqual(len(got), len(want))

    def test_pupil_query_school_gemeente_region(self):
        for p in self.pupils:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                self.assertEqual(reply.vo_school, p.school if p.registered else "")
                self.assertEqual(reply.woongemeente, p.woongemeente)
                self.assertEqual(reply.region, p.home_region)
        # pupils living outside their school's region are among them
        self.assertTrue(any(p.registered and p.home_region != p.school_region for p in self.pupils))

    def test_pupil_query_open_alerts(self):
        """The open alert ids are those of the store; a pupil who ends
        INGESCHREVEN or ANDERE_BESTEMMING has none open (OPGELOST); the real-time
        alerts of the final state (ZOMERLEK: left vo and ZONDER_PLEK or without
        any place after the zomer date; NIET_GESTART reported) are open whatever
        the order the events came in. (GEEN_AANMELDING, a deadline rule whose
        window had closed before the events came, is the subject of
        test_deadline_rule_does_not_depend_on_arrival_order.)"""
        p3 = PHASE_ORDER.index("P3")
        with_alerts = 0
        for p in self.pupils:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                ids = list(reply.open_alert_ids)
                self.assertEqual(sorted(ids), self.open_alerts_in_db(p.pgn))
                if self.expected_status(p) in ("INGESCHREVEN", "ANDERE_BESTEMMING"):
                    self.assertEqual(ids, [], "resolved by OPGELOST")
                want = collections.Counter()
                for kind, rclass, raised, resolved in SCENARIOS[p.scenario]["alerts"]:
                    if kind == "GEEN_AANMELDING":
                        continue
                    if PHASE_ORDER.index(raised) <= p3 and (resolved is None or PHASE_ORDER.index(resolved) > p3):
                        want[(sy.ALERT[kind], f"rmc:{p.home_region}" if rclass == "rmc" else f"vo:{p.school}")] += 1
                got = collections.Counter()
                if ids:
                    for kind, rcpt in h.psql(self.db, "SELECT kind, recipient FROM alert WHERE id IN "
                                                      f"({','.join(map(str, ids))})"):
                        got[(int(kind), rcpt)] += 1
                self.assertEqual(want - got, collections.Counter(), f"open: {got}")
                with_alerts += bool(ids)
        self.assertGreater(with_alerts, 5)

    def test_deadline_rule_does_not_depend_on_arrival_order(self):
        """DESIGN §5.1: after a deadline 'every event re-evaluates it for its
        own pupil, so a pupil first seen after a deadline is not missed'. Two
        pupils with the same two events (registration, diploma; no keuze, no
        application), both first seen on C-09-30, after the aanmelddatum and
        the zomer date: whichever event comes first, each ends GEEN_KEUZE,
        registered, left vo — and so with GEEN_AANMELDING (vo) and ZOMERLEK
        (rmc, vo) open."""
        db = h.fresh_database("it_tracking_late")
        d = self.start_daemon(db, clock=sy.iso(self.year.clock["P3"]), http=False)
        x, y = h.make_pgns(2, start=41_000_000)
        c = self.client(d, "vo", "26HL00")

        def reg(pgn):
            return h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn, school="26HL00", cohort=COHORT,
                                 occurred_at=sy.utc(COHORT - 1, 10, 1), woongemeente="GM0935")

        def diploma(pgn):
            return h.make_update("DIPLOMA_BEHAALD", pgn=pgn, school="26HL00", cohort=COHORT,
                                 occurred_at=sy.utc(COHORT, 6, 20))
        for batch in ([reg(x)], [diploma(x)], [diploma(y)], [reg(y)]):
            self.assertResults(c.push(batch), ["ACCEPTED"])
        alerts = {}
        for pgn in (x, y):
            env = c.request(pb.PupilQuery(pgn=pgn, cohort=COHORT))
            self.assertEqual(env.WhichOneof("body"), "pupil_reply", env)
            self.assertEqual(env.pupil_reply.status, pb.STATUS_GEEN_KEUZE)
            alerts[pgn] = sorted((ALERT_NAME[int(k)], r)
                                 for k, r in h.psql(db, "SELECT a.kind, a.recipient FROM alert a JOIN pupil p "
                                                        f"ON p.id = a.pupil_id WHERE p.pgn = '{pgn}' "
                                                        "AND a.resolved_at IS NULL"))
        want = [("GEEN_AANMELDING", "vo:26HL00"), ("ZOMERLEK", "rmc:39"), ("ZOMERLEK", "vo:26HL00")]
        self.assertEqual(alerts[x], want, "registration first")
        self.assertEqual(alerts[y], want, "diploma first")

    def test_overstapctl_pupil_text_and_json(self):
        cases = [self.pick(lambda p: p.scenario == "afgewezen"),
                 self.pick(lambda p: p.scenario == "twee_aanmeldingen"),
                 self.pick(lambda p: p.scenario == "alleen_mbo")]
        for p in cases:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                r = self.tool("overstapctl", "admin", "ops", "pupil", p.pgn, "--cohort", COHORT, "--json")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                doc = json.loads(r.stdout)
                self.assertEqual(doc["pgn"], p.pgn)
                self.assertEqual(doc["cohort"], COHORT)
                self.assertEqual(doc["status"], self.expected_status(p))
                self.assertEqual((doc["vo_school"], doc["woongemeente"], doc["region"]),
                                 (reply.vo_school, reply.woongemeente, reply.region))
                self.assertEqual([(e["occurred_at"], e["kind"], e["school"], e["crebo"]) for e in doc["timeline"]],
                                 [(e.occurred_at, pb.EventKind.Name(e.kind)[len("EVENT_KIND_"):], e.school, e.crebo)
                                  for e in reply.timeline])
                self.assertEqual(doc["open_alert_ids"], list(reply.open_alert_ids))

                r = self.tool("overstapctl", "admin", "ops", "pupil", p.pgn, "--cohort", COHORT)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                text = r.stdout
                self.assertIn(f"pupil {p.pgn} cohort {COHORT}: {self.expected_status(p)}", text)
                self.assertIn(f"woongemeente {p.woongemeente}", text)
                self.assertIn(f"region {p.home_region}", text)
                if p.registered:
                    self.assertIn(f"vo_school {p.school}", text)
                for e in reply.timeline:
                    self.assertIn(pb.EventKind.Name(e.kind)[len("EVENT_KIND_"):], text)
                for i in reply.open_alert_ids:
                    self.assertRegex(text, rf"open alerts:.*\b{i}\b")
                # one line per event, in the order of the reply
                at = text.find("occurred_at")
                self.assertGreaterEqual(at, 0, text)
                for e in reply.timeline:
                    at = text.find(pb.EventKind.Name(e.kind)[len("EVENT_KIND_"):], at + 1)
                    self.assertGreaterEqual(at, 0, f"timeline out of order:\n{text}")
        # a PGN nobody sent: refused (exit 1), same denial as out of scope
        unknown = self.unknown_pgn()
        r = self.tool("overstapctl", "admin", "ops", "pupil", unknown, "--cohort", COHORT)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("PERMISSION_DENIED", r.stderr)

    # ---- idempotency and the rebuild -----------------------------------------------------

    def test_pushing_everything_again_is_duplicate_and_changes_nothing(self):
        before = snapshot(self.db)
        by_org = collections.OrderedDict()
        for org, r in self.rows:
            by_org.setdefault(org, []).append(r)
        jobs = []
        for org, rows in by_org.items():
            path = self.work / f"again-{org}.csv"
            path.write_text(sy.csv_text(rows), encoding="utf-8")
            jobs.append((role_of(self.year, org), org, path))
        results = push_parallel(self.daemon, jobs, batch=50, window=4)
        for org, path, code, out, err in results:
            self.assertEqual(code, 0, f"{path}: {out}{err}")
            self.assertEqual(counts_of(out), (0, len(by_org[org]), 0), out)
        self.assertEqual(snapshot(self.db), before)
        # and the answers are the same
        for p in self.pupils[:10]:
            self.assertAnswered(self.query("admin", "ops", p.pgn), p, "after the resend")

    def verify(self, db):
        r = h.run_tool("overstapctl", ["verify", "--db", db])
        return r.returncode, r.stdout + r.stderr

    def test_verify_rebuild_equals_live_state_and_finds_a_corruption(self):
        code, out = self.verify(self.db)
        n = int(h.psql_value(self.db, "SELECT count(*) FROM pupil_state"))
        self.assertEqual(code, 0, out)
        self.assertIn(f"checked {n} pupil states, 0 differ", out)
        self.assertGreaterEqual(n, len(self.pupils))
        # with the daemon's own config (calendar and conninfo from it)
        r = h.run_tool("overstapctl", ["verify", "--config", self.daemon.conf_path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # one live status wrong: verify says which, exit 1; restored: 0 again
        p = self.pick(lambda p: p.scenario == "geplaatst")
        pid, status = h.psql(self.db, "SELECT s.pupil_id, s.status FROM pupil_state s JOIN pupil p "
                                      f"ON p.id = s.pupil_id WHERE p.pgn = '{p.pgn}' AND s.cohort = {COHORT}")[0]
        self.assertEqual(status, str(pb.STATUS_INGESCHREVEN))

        def restore():
            h.psql(self.db, f"UPDATE pupil_state SET status = {status} WHERE pupil_id = {pid} AND cohort = {COHORT}")
        self.addCleanup(restore)
        h.psql(self.db, f"UPDATE pupil_state SET status = {pb.STATUS_GEPLAATST} "
                        f"WHERE pupil_id = {pid} AND cohort = {COHORT}")
        code, out = self.verify(self.db)
        self.assertEqual(code, 1, out)
        self.assertIn(f"pupil_id={pid} cohort={COHORT}: status stored GEPLAATST, rebuilt INGESCHREVEN", out)
        self.assertIn(f"checked {n} pupil states, 1 differ", out)
        restore()

        # a fact byte flipped
        facts = h.psql_value(self.db, f"SELECT encode(facts, 'hex') FROM pupil_state WHERE pupil_id = {pid} "
                                      f"AND cohort = {COHORT}")

        def restore_facts():
            h.psql(self.db, f"UPDATE pupil_state SET facts = decode('{facts}', 'hex') WHERE pupil_id = {pid} "
                            f"AND cohort = {COHORT}")
        self.addCleanup(restore_facts)
        flipped = facts[:-2] + f"{int(facts[-2:], 16) ^ 1:02x}"
        h.psql(self.db, f"UPDATE pupil_state SET facts = decode('{flipped}', 'hex') WHERE pupil_id = {pid} "
                        f"AND cohort = {COHORT}")
        code, out = self.verify(self.db)
        self.assertEqual(code, 1, out)
        self.assertIn(f"pupil_id={pid} cohort={COHORT}: facts differ", out)
        restore_facts()

        code, out = self.verify(self.db)
        self.assertEqual(code, 0, out)
        self.assertIn(f"checked {n} pupil states, 0 differ", out)

    def test_another_order_gives_the_same_states(self):
        db2 = h.fresh_database("it_tracking_order2")
        d2 = self.start_daemon(db2, clock=sy.iso(self.year.clock["P3"]), http=False)
        work = h.Path(d2.dir)
        # another shuffle, other files, bigger batches, one certificate at a time
        results = play(d2, self.year, ORDER_SEEDS[1], work, rounds=2, batch=40, window=3, parallel=False)
        for org, path, code, out, err in results:
            self.assertEqual(code, 0, f"{path}: {out}{err}")
        self.assertEqual(sum(counts_of(out)[0] for *_, out, _ in results), len(self.rows))
        first, second = states_by_pgn(self.db), states_by_pgn(db2)
        self.assertEqual(set(first), set(self.by_pgn))
        self.assertEqual(set(second), set(first))
        for pgn in sorted(first):
            with self.subTest(pupil=pgn, scenario=self.by_pgn[pgn].scenario):
                self.assertEqual(second[pgn], first[pgn])
        code, out = self.verify(db2)
        self.assertEqual(code, 0, out)

    # ---- scopes (DESIGN §4.3) ----------------------------------------------------------------

    def unknown_pgn(self):
        known = set(self.by_pgn) | {r[0] for r in h.psql(self.db, "SELECT pgn FROM pupil WHERE pgn IS NOT NULL")}
        return next(x for x in h.make_pgns(50, start=31_000_000) if x not in known)

    def assertDenied(self, env, what):
        self.assertEqual(env.WhichOneof("body"), "error", f"{what}: {env}")
        self.assertEqual(env.error.code, "PERMISSION_DENIED", what)
        return env.error

    def assertAnswered(self, env, p, what):
        self.assertEqual(env.WhichOneof("body"), "pupil_reply", f"{what}: {env}")
        self.assertEqual(env.pupil_reply, self.reply_of(p.pgn), what)

    def test_vo_school_sees_only_the_pupils_it_registered(self):
        mine = self.pick(lambda p: p.registered and p.school == "26HL00")
        other = self.pick(lambda p: p.registered and p.school == "27ZJ00")  # same gemeente, other school
        mbo_only = self.pick(lambda p: not p.registered)
        since = len(self.daemon.log)
        with h.Client(self.daemon, "vo", "26HL00") as c:
            self.assertAnswered(c.request(pb.PupilQuery(pgn=mine.pgn, cohort=COHORT)), mine, "own pupil")
            denials = [self.assertDenied(c.request(pb.PupilQuery(pgn=pgn, cohort=cohort)), what)
                       for pgn, cohort, what in ((other.pgn, COHORT, "another school's pupil"),
                                                 (mbo_only.pgn, COHORT, "a pupil only an mbo knows"),
                                                 (mine.pgn, COHORT - 1, "own pupil, another cohort"),
                                                 (self.unknown_pgn(), COHORT, "a PGN nobody sent"))]
        # the same answer whether or not the pupil exists
        self.assertEqual(len({(e.code, e.message) for e in denials}), 1, denials)
        self.denial_logged("vo", "26HL00", since)
        self.assertAnswered(self.query("vo", "27ZJ00", other.pgn), other, "the other school's own pupil")

    def test_mbo_sees_only_the_pupils_who_applied_to_it(self):
        both = self.pick(lambda p: p.scenario == "twee_aanmeldingen")
        only_m1 = self.pick(lambda p: p.scenario == "geplaatst")
        only_m2 = self.pick(lambda p: p.scenario == "aangemeld_open")
        chose_m1 = self.pick(lambda p: p.scenario == "keuze_zonder_aanmelding")  # keuze names 25LP, no application
        since = len(self.daemon.log)
        for org, pupil, ok in (("25LP", both, True), ("25LQ", both, True), ("25LP", only_m1, True),
                               ("25LQ", only_m1, False), ("25LQ", only_m2, True), ("25LP", only_m2, False),
                               ("25LP", chose_m1, False)):
            with self.subTest(mbo=org, scenario=pupil.scenario):
                env = self.query("mbo", org, pupil.pgn)
                if ok:
                    self.assertAnswered(env, pupil, f"{org} {pupil.scenario}")
                else:
                    err = self.assertDenied(env, f"{org} {pupil.scenario}")
                    unknown = self.assertDenied(self.query("mbo", org, self.unknown_pgn()), "unknown PGN")
                    self.assertEqual((err.code, err.message), (unknown.code, unknown.message))
        self.denial_logged("mbo", "25LQ", since)
        self.denial_logged("mbo", "25LP", since)

    def test_rmc_sees_only_the_pupils_living_in_its_region(self):
        home39 = self.pick(lambda p: p.registered and p.home_region == "39" and p.school_region == "39")
        school39_lives13 = self.pick(lambda p: p.registered and p.school_region == "39" and p.home_region == "13")
        school13_lives39 = self.pick(lambda p: p.registered and p.school_region == "13" and p.home_region == "39")
        mbo_only_13 = self.pick(lambda p: not p.registered and p.home_region == "13")
        mbo_only_14 = self.pick(lambda p: not p.registered and p.home_region == "14")
        cases = (("39", home39, True), ("13", home39, False), ("14", home39, False),
                 ("39", school39_lives13, False), ("13", school39_lives13, True),
                 ("39", school13_lives39, True), ("13", school13_lives39, False),
                 ("13", mbo_only_13, True), ("39", mbo_only_13, False),
                 ("14", mbo_only_14, True), ("39", mbo_only_14, False))
        since = len(self.daemon.log)
        denials = []
        for region, pupil, ok in cases:
            with self.subTest(rmc=region, pupil=pupil.pgn, scenario=pupil.scenario):
                env = self.query("rmc", region, pupil.pgn)
                if ok:
                    self.assertAnswered(env, pupil, f"rmc {region}")
                    self.assertEqual(env.pupil_reply.region, region)
                else:
                    denials.append(self.assertDenied(env, f"rmc {region}"))
        denials.append(self.assertDenied(self.query("rmc", "39", self.unknown_pgn()), "unknown PGN"))
        self.assertEqual(len({(e.code, e.message) for e in denials}), 1, denials)
        self.denial_logged("rmc", "39", since)

    def test_projectteam_may_not_ask_about_pupils_and_admin_sees_all(self):
        p = self.pick(lambda p: p.home_region == "39" and p.registered)
        since = len(self.daemon.log)
        with h.Client(self.daemon, "projectteam", "39") as c:
            self.assertDenied(c.request(pb.PupilQuery(pgn=p.pgn, cohort=COHORT)), "projectteam")
            self.assertEqual(c.ping(7).pong.t, 7, "the connection stays usable")
        self.denial_logged("projectteam", "39", since)
        self.assertTrue(re.search(r"role=projectteam org=39\b.*PupilQuery", self.daemon.log[since:]),
                        self.daemon.log[since:])
        # admin: every pupil answered (setUpClass asked for all of them)
        self.assertEqual({pgn for pgn, env in self.replies.items() if env.WhichOneof("body") == "pupil_reply"},
                         set(self.by_pgn))

    def test_denial_does_not_put_the_pgn_in_the_answer(self):
        p = self.pick(lambda p: p.registered and p.school == "02FC00")
        env = self.query("vo", "26HL00", p.pgn)
        err = self.assertDenied(env, "another school's pupil")
        self.assertNotIn(p.pgn, err.message)
        self.assertNotIn(p.name, err.message)

    def test_writers_stay_inside_their_role_and_code(self):
        """Through overstap-push: a vo school may not write mbo events nor use
        another school's code, an mbo not vo events nor another institution's
        code; the rest of the file is still processed; nothing changes for
        the pupils concerned."""
        vo_pupil = self.pick(lambda p: p.registered and p.school == "27ZJ00" and p.scenario == "geplaatst")
        m1_pupil = self.pick(lambda p: p.scenario == "niet_gestart_teldatum")
        t = self.year.clock["P3"] - 86400
        new_pgn = self.unknown_pgn()
        before = snapshot(self.db)
        vo_rows = [
            dict(event_id="scope-vo-1", pgn=vo_pupil.pgn, occurred_at=t, kind="VO_UITGESCHREVEN", cohort=COHORT,
                 school="27ZJ00", reason="geen"),                                   # another school's code
            dict(event_id="scope-vo-2", pgn=vo_pupil.pgn, occurred_at=t, kind="INGETROKKEN", cohort=COHORT,
                 school="26HL00", crebo="25180"),                                  # an mbo event
            dict(event_id="scope-vo-3", pgn=new_pgn, occurred_at=t, kind="OVERSTAPPER_GEREGISTREERD",
                 cohort=COHORT + 1, school="26HL00", woongemeente="GM0935", vo_soort="VMBO_BB",
                 birth_date=f"{COHORT - 16}-01-02", name="Nieuwe Leerling"),         # fine: another cohort
        ]
        mbo_rows = [
            dict(event_id="scope-mbo-1", pgn=m1_pupil.pgn, occurred_at=t, kind="INGESCHREVEN", cohort=COHORT,
                 school="25LP", crebo="25180"),                                    # 25LP's code, from 25LQ
            dict(event_id="scope-mbo-2", pgn=m1_pupil.pgn, occurred_at=t, kind="DIPLOMA_BEHAALD", cohort=COHORT,
                 school="25LQ"),                                                   # a vo event
        ]
        since = len(self.daemon.log)
        for role, org, rows, accepted in (("vo", "26HL00", vo_rows, 1), ("mbo", "25LQ", mbo_rows, 0)):
            path = self.work / f"scope-{org}.csv"
            path.write_text(sy.csv_text(rows), encoding="utf-8")
            r = self.tool("overstap-push", role, org, path)
            with self.subTest(org=org):
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertEqual(counts_of(r.stdout), (accepted, 0, len(rows) - accepted), r.stdout)
                for row in rows[:2]:
                    self.assertRegex(r.stdout, rf"(?m)^{row['event_id']} PERMISSION_DENIED \S", r.stdout)
            self.denial_logged(role, org, since)
        after = snapshot(self.db)
        self.assertEqual([s for s in after["state"] if s[1] == str(COHORT)],
                         [s for s in before["state"] if s[1] == str(COHORT)])
        self.assertEqual(h.psql(self.db, "SELECT count(*) FROM event WHERE event_id LIKE 'scope-%'"), [["1"]])
        for p in (vo_pupil, m1_pupil):
            self.assertAnswered(self.query("admin", "ops", p.pgn), p, "unchanged")

    # ---- pupils only an mbo reported ------------------------------------------------------

    def test_mbo_only_pupils_are_tracked_but_not_counted(self):
        only = [p for p in self.pupils if not p.registered]
        self.assertGreaterEqual(len(only), 3)
        for p in only:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                reply = self.reply_of(p.pgn)
                self.assertEqual(reply.vo_school, "")
                self.assertEqual(reply.woongemeente, p.woongemeente)   # as the mbo reported it
                self.assertEqual(reply.region, REGION_OF[p.woongemeente])
                self.assertEqual(pb.Status.Name(reply.status), "STATUS_" + self.expected_status(p))
                self.assertTrue(all(e.kind >= 10 for e in reply.timeline))
                for org in {r["school"] for r in self.year.facts_at(p, "P3")}:
                    self.assertAnswered(self.query("mbo", org, p.pgn), p, f"mbo {org}")
        # not overstappers: the statistics count the registered pupils only
        registered = [p for p in self.pupils if p.registered]
        with h.Client(self.daemon, "admin", "ops") as c:
            for group_by in (pb.GROUP_BY_REGION, pb.GROUP_BY_VO_SCHOOL, pb.GROUP_BY_MBO_INSTELLING,
                             pb.GROUP_BY_WOONGEMEENTE):
                with self.subTest(group_by=pb.GroupBy.Name(group_by)):
                    env = c.request(pb.StatsQuery(cohort=COHORT, group_by=group_by))
                    self.assertEqual(env.WhichOneof("body"), "stats_reply", env)
                    self.assertEqual(sum(r.overstappers for r in env.stats_reply.rows), len(registered))
            env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_REGION))
        rows = {r.key: r for r in env.stats_reply.rows}
        for region in ("39", "13", "14"):
            mine = [p for p in registered if p.school_region == region]
            st = collections.Counter(self.expected_status(p) for p in mine)
            with self.subTest(region=region):
                r = rows[region]
                self.assertEqual(r.overstappers, len(mine))
                self.assertEqual((r.aangemeld, r.geplaatst, r.ingeschreven, r.andere_bestemming),
                                 (st["AANGEMELD"], st["GEPLAATST"], st["INGESCHREVEN"], st["ANDERE_BESTEMMING"]))
                self.assertEqual(r.met_keuze, len(mine) - st["GEEN_KEUZE"])

    # ---- reference data ------------------------------------------------------------------------

    def test_reference_data_imports_are_idempotent_and_read_windows_1252(self):
        data = h.SHARED / "data"
        regions_csv, duo_csv = data / "rmc_regios.csv", data / "vo_hoofdvestigingen_duo_2016.csv"
        utf8 = reference_tables(self.db)          # imported by fresh_database
        self.assertGreater(len(utf8["school"]), 500)
        self.assertGreaterEqual(len(utf8["region"]), 40)
        db = h.fresh_database("it_tracking_refdata", reference_data=False)

        def ctl(*args):
            r = h.run_tool("overstapctl", [*args, "--db", db])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return r.stdout

        # a Windows-1252 copy of the DUO file, regions after it
        cp = self.work / "duo-cp1252.csv"
        cp.write_bytes(duo_csv.read_text(encoding="utf-8").encode("cp1252"))
        self.assertNotEqual(cp.read_bytes(), duo_csv.read_bytes())
        first = ctl("import-duo-vo", cp)
        self.assertRegex(first, r"schools \d+ \(\d+ new or changed\)")
        ctl("import-regions", regions_csv)
        tables = reference_tables(db)
        self.assertEqual(tables, utf8)
        naam = h.psql_value(db, "SELECT naam FROM school WHERE code = '00TQ00'")
        self.assertEqual(naam, "Scholengemeenschap Mariëndael VBO LWOO")
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM school WHERE naam LIKE '%Ã%' "
                                          "OR naam LIKE '%' || chr(65533) || '%'"), "0")
        # twice more, either encoding: nothing new, nothing changed
        for f in (cp, duo_csv, cp):
            out = ctl("import-duo-vo", f)
            self.assertRegex(out, r"schools \d+ \(0 new or changed\), gemeenten \d+ \(0 new or changed\), "
                                  r"regions \d+ \(0 new\)")
        for _ in range(2):
            self.assertRegex(ctl("import-regions", regions_csv), r"regions \d+ \(0 new or changed\)")
        self.assertEqual(reference_tables(db), utf8)
        counts = {t: len(rows) for t, rows in utf8.items()}
        self.assertEqual({t: len(rows) for t, rows in reference_tables(db).items()}, counts)


if __name__ == "__main__":
    import unittest
    unittest.main()
