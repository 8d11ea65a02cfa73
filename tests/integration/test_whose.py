"""Whose pupil (issue 12, DESIGN §5 "Whose pupil", "Who may read a pupil",
§5.1, §5.2): each attack of the issue fails against the real daemon.

A school that registers another school's pupil changes nothing and gains
nothing (its claim competes, visibly); transfers work in either order; an mbo
institution reads only its applicants; every read of personal data is
audited, and retention removes it with the personal data but keeps every
count; no figure of a small cell follows from the others; /metrics names no
school; a pupil reported only by a diploma or an uitschrijving still gets
their zomerlek to the right RMC and school.
"""
import json
import time
import unittest

import harness as h
from harness import pb

COHORT = 2031
START = "2031-03-16T12:00:00Z"
OWNER = ("vo", "26HL00")    # Maastricht, region 39
HOSTILE = ("vo", "02FC00")  # Doetinchem, region 13
OTHER39 = ("vo", "27ZJ00")
MBO = ("mbo", "25LP")
MBO2 = ("mbo", "25LQ")
RMC39 = ("rmc", "39")
RMC13 = ("rmc", "13")
ADMIN = ("admin", "ops")


ensure_cert = h.ensure_cert
push_ok = h.push_ok


def reg(pgn, school, at, gemeente, name="Sam de Vries", **kw):
    return h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn, cohort=COHORT, school=school, occurred_at=at,
                         woongemeente=gemeente, name=name, **kw)


def vo(kind, pgn, school, at, **kw):
    return h.make_update(kind, pgn=pgn, cohort=COHORT, school=school, occurred_at=at, **kw)


def mbo(kind, pgn, at, school="25LP", **kw):
    return h.make_update(kind, pgn=pgn, cohort=COHORT, school=school, occurred_at=at, **kw)


def pupil_query(daemon, who, pgn):
    with h.Client(daemon, *who) as c:
        return c.request(pb.PupilQuery(pgn=pgn, cohort=COHORT))


def state_row(db, pgn):
    return h.psql(db, "SELECT s.vo_school, s.woongemeente, s.registered, s.left_vo, s.competing, s.status "
                      f"FROM pupil_state s JOIN pupil p ON p.id = s.pupil_id WHERE p.pgn = '{pgn}' "
                      f"AND s.cohort = {COHORT}")[0]


def alerts_of(db, pgn):
    return sorted(tuple(r) for r in h.psql(db, "SELECT a.recipient, a.kind, a.region FROM alert a JOIN pupil p "
                                               f"ON p.id = a.pupil_id WHERE p.pgn = '{pgn}' ORDER BY 1, 2"))


class WhosePupilTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        for who in (OWNER, HOSTILE, OTHER39, MBO2):
            ensure_cert(*who)
        cls.db = h.fresh_database("it_whose")
        cls.d = h.Daemon(cls.db, clock=START)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def test_a_takeover_changes_nothing_and_grants_nothing(self):
        [p] = h.make_pgns(1)
        with h.Client(self.d, *OWNER) as c:
            push_ok(c, [reg(p, "26HL00", "2030-10-01", "GM0935", name="Sanne Jansen"),
                        vo("DIPLOMA_BEHAALD", p, "26HL00", "2031-03-01")])
        with h.Client(self.d, *HOSTILE) as c:  # later, another gemeente, another name
            push_ok(c, [reg(p, "02FC00", "2031-03-10", "GM0222", name="Iemand Anders"),
                        vo("KEUZE_GEREGISTREERD", p, "02FC00", "2031-03-11", bestemming="HAVO", crebo=None,
                           mbo_instelling=None)])
        vo_school, gemeente, registered, left_vo, competing, status = state_row(self.db, p)
        self.assertEqual((vo_school, gemeente, competing), ("26HL00", "GM0935", "02FC00"))
        self.assertEqual(int(status), pb.STATUS_GEEN_KEUZE, "the other school's keuze does not count")
        # the hostile school reads nothing; the owner and its region's RMC do
        self.assertEqual(pupil_query(self.d, HOSTILE, p).error.code, "PERMISSION_DENIED")
        env = pupil_query(self.d, OWNER, p)
        self.assertEqual((env.pupil_reply.vo_school, env.pupil_reply.woongemeente, env.pupil_reply.region),
                         ("26HL00", "GM0935", "39"))
        self.assertEqual(pupil_query(self.d, RMC39, p).WhichOneof("body"), "pupil_reply")
        self.assertEqual(pupil_query(self.d, RMC13, p).error.code, "PERMISSION_DENIED")
        # an alert goes to the owner's RMC and school, with the owner's registration's name
        with h.Client(self.d, *MBO) as c:
            push_ok(c, [mbo("AANGEMELD", p, "2031-03-02"), mbo("INGETROKKEN", p, "2031-03-12")])
        self.assertEqual(alerts_of(self.db, p),
                         [("rmc:39", str(pb.ALERT_KIND_ZOMERLEK), "39"), ("vo:26HL00", str(pb.ALERT_KIND_ZOMERLEK), "39")])
        got = h.psql(self.db, "SELECT name FROM overstap_personal((SELECT id FROM pupil WHERE pgn = "
                              f"'{p}'), {COHORT})")
        self.assertEqual(got, [["Sanne Jansen"]])
        # the competing claim is listed for the projectteam (no personal data)
        r = h.run_tool("overstapctl", ["conflicts", "--cohort", str(COHORT), "--json"], env=h._pg_env(self.db))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        mine = [x for x in rows if x["vo_school"] == "26HL00" and x["competing"] == "02FC00"]
        self.assertTrue(mine, rows)
        self.assertNotIn(p, r.stdout)

    def test_a_transfer_moves_the_pupil_in_either_order(self):
        p1, p2 = h.make_pgns(2)
        old = [reg(p, "26HL00", "2030-10-01", "GM0935") for p in (p1, p2)]
        out = [vo("VO_UITGESCHREVEN", p, "26HL00", "2031-01-10") for p in (p1, p2)]
        new = [reg(p, "27ZJ00", "2031-01-15", "GM0935") for p in (p1, p2)]
        with h.Client(self.d, *OWNER) as a, h.Client(self.d, *OTHER39) as b:
            push_ok(a, old)
            push_ok(a, [out[0]])   # p1: the uitschrijving first
            push_ok(b, [new[0]])
            push_ok(b, [new[1]])   # p2: the new registration first ...
            self.assertEqual(state_row(self.db, p2)[4], "27ZJ00", "competing until the uitschrijving comes")
            push_ok(a, [out[1]])   # ... then the uitschrijving
        for p in (p1, p2):
            vo_school, _, registered, left_vo, competing, _ = state_row(self.db, p)
            self.assertEqual((vo_school, registered, left_vo, competing), ("27ZJ00", "t", "f", ""), p)
            self.assertEqual(pupil_query(self.d, OTHER39, p).WhichOneof("body"), "pupil_reply")
            self.assertEqual(pupil_query(self.d, OWNER, p).error.code, "PERMISSION_DENIED")

    def test_an_mbo_institution_reads_only_its_applicants(self):
        p, q = h.make_pgns(2)
        with h.Client(self.d, *OWNER) as c:
            push_ok(c, [reg(p, "26HL00", "2030-10-01", "GM0935"), reg(q, "26HL00", "2030-10-01", "GM0935")])
        with h.Client(self.d, *MBO2) as c:  # a withdrawal where it never applied
            push_ok(c, [mbo("INGETROKKEN", p, "2031-03-01", school="25LQ")])
        self.assertEqual(int(state_row(self.db, p)[5]), pb.STATUS_GEEN_KEUZE, "it changes nothing")
        self.assertEqual(pupil_query(self.d, MBO2, p).error.code, "PERMISSION_DENIED")
        with h.Client(self.d, *MBO) as c:
            push_ok(c, [mbo("AANMELDING_ONTVANGEN", q, "2031-03-01")])
        self.assertEqual(pupil_query(self.d, MBO, q).WhichOneof("body"), "pupil_reply")
        self.assertEqual(pupil_query(self.d, MBO2, q).error.code, "PERMISSION_DENIED")

    def test_every_read_of_personal_data_is_audited(self):
        [p] = h.make_pgns(1)
        with h.Client(self.d, *OWNER) as c:
            push_ok(c, [reg(p, "26HL00", "2030-10-01", "GM0935")])
        with h.Client(self.d, *MBO) as c:
            push_ok(c, [mbo("AANGEMELD", p, "2031-03-01"), mbo("NIET_GESTART", p, "2031-03-05")])
        self.assertEqual(pupil_query(self.d, OWNER, p).WhichOneof("body"), "pupil_reply")
        self.assertEqual(pupil_query(self.d, HOSTILE, p).error.code, "PERMISSION_DENIED")  # no answer, no row

        def take_alert_of(pgn):
            with h.Client(self.d, *RMC39) as c:
                c.send(pb.Subscribe(max_in_flight=1000))
                deadline = time.monotonic() + 10 * h.SLOW
                while time.monotonic() < deadline:
                    env = c.recv(timeout=10)
                    if env.WhichOneof("body") == "alert" and env.alert.pgn == pgn:
                        return env.alert.alert_id
            raise AssertionError("no alert")
        first = take_alert_of(p)
        again = take_alert_of(p)  # not acked: delivered again, audited again
        self.assertEqual(first, again)
        rows = h.psql(self.db, "SELECT a.role, a.org, a.what FROM audit a JOIN pupil p ON p.id = a.pupil_id "
                               f"WHERE p.pgn = '{p}' ORDER BY a.id")
        self.assertEqual(rows[0], ["vo", "26HL00", "pupil_query"])
        self.assertEqual(rows.count(["rmc", "39", "alert_delivery"]), 2, rows)
        self.assertNotIn(["vo", "02FC00", "pupil_query"], rows)
        r = h.run_tool("overstapctl", ["audit", p, "--cohort", str(COHORT), "--json"], env=h._pg_env(self.db))
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(listed), len(rows))
        self.assertEqual([x["what"] for x in listed], [w for _, _, w in reversed(rows)], "newest first")
        r = h.run_tool("overstapctl", ["audit", p], env=h._pg_env(self.db))
        self.assertIn("alert_delivery", r.stdout)
        self.assertIn("read_at", r.stdout)

    def test_a_pupil_reported_only_by_a_diploma_or_an_uitschrijving_gets_a_zomerlek(self):
        d = h.Daemon(h.fresh_database("it_whose_unregistered"), clock=START)
        self.addCleanup(d.close)
        p, q = h.make_pgns(2)
        with h.Client(d, *OWNER) as c:  # never registered
            push_ok(c, [vo("DIPLOMA_BEHAALD", p, "26HL00", "2031-03-01"),
                        vo("VO_UITGESCHREVEN", q, "26HL00", "2031-03-02")])
        with h.Client(d, *ADMIN) as c:
            env = c.request(pb.AdminRequest(set_clock=pb.SetClock(at=h.unix("2031-08-02"))))
            self.assertEqual(env.WhichOneof("body"), "admin_reply", env)
            env = c.request(pb.AdminRequest(sweep=pb.Sweep(at=h.unix("2031-08-02"))))
            self.assertEqual(env.WhichOneof("body"), "admin_reply", env)
        for pgn in (p, q):
            self.assertEqual(alerts_of(d.conninfo, pgn),
                             [("rmc:39", str(pb.ALERT_KIND_ZOMERLEK), "39"),
                              ("vo:26HL00", str(pb.ALERT_KIND_ZOMERLEK), "39")], pgn)


class FiguresTest(h.TestCase):
    """No suppressed figure follows from the others and the region's total."""

    @classmethod
    def setUpClass(cls):
        ensure_cert("projectteam", "39")
        cls.db = h.fresh_database("it_whose_figures")
        cls.d = h.Daemon(cls.db, clock=START)
        # region 39: 26HL00 12 pupils, 27ZJ00 4 (small), 27VG00 7; two gemeenten, mbo's, school types
        sizes = {"26HL00": 12, "27ZJ00": 4, "27VG00": 7}
        for school, n in sizes.items():
            ensure_cert("vo", school)
            pgns = h.make_pgns(n)
            ups = [reg(p, school, "2030-10-01", "GM0935" if i % 3 else "GM0917",
                       vo_soort=("VMBO_KB", "VMBO_TL", "PRO")[i % 3]) for i, p in enumerate(pgns)]
            with h.Client(cls.d, "vo", school) as c:
                push_ok(c, ups)
            with h.Client(cls.d, *MBO) as c:
                push_ok(c, [mbo("AANGEMELD", p, "2031-03-01") for p in pgns[: n // 2]])

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def views(self, by):
        with h.Client(self.d, "projectteam", "39") as c:
            env = c.request(pb.StatsQuery(cohort=COHORT, group_by=by))
            total = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_REGION))
        status, body = self.d.http_get(f"/api/v1/stats?cohort={COHORT}&region=39&by="
                                       f"{pb.GroupBy.Name(by)[len('GROUP_BY_'):].lower()}")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        region_total = {r.key: r for r in total.stats_reply.rows}["39"]
        return env.stats_reply.rows, doc["rows"], region_total

    def test_no_suppressed_figure_follows_from_the_region_total(self):
        for by in (pb.GROUP_BY_VO_SCHOOL, pb.GROUP_BY_WOONGEMEENTE, pb.GROUP_BY_MBO_INSTELLING,
                   pb.GROUP_BY_VO_SOORT):
            rows, json_rows, total = self.views(by)
            for view, rs in (("protobuf", [(r.key, r.suppressed, r.overstappers, r.met_keuze) for r in rows]),
                             ("http", [(r["key"], r["suppressed"], r["overstappers"], r["met_keuze"])
                                       for r in json_rows])):
                with self.subTest(by=pb.GroupBy.Name(by), view=view):
                    hidden = [k for k, s, _, _ in rs if s]
                    self.assertNotEqual(len(hidden), 1, rs)
                    left = total.overstappers - sum(n for _, s, n, _ in rs if not s)
                    self.assertTrue(left == 0 or left >= 5, (left, rs))
                    left_keuze = total.met_keuze - sum(k for _, s, _, k in rs if not s)
                    if hidden:
                        self.assertGreaterEqual(left, 5)
                    self.assertGreaterEqual(left_keuze, 0)
        rows, _, _ = self.views(pb.GROUP_BY_VO_SCHOOL)
        self.assertEqual({r.key for r in rows if r.suppressed}, {"27ZJ00", "27VG00"},
                         "the small school, and the next smallest with it")

    def test_metrics_name_no_school(self):
        text = self.d.http_get("/metrics")[1]
        lines = [l for l in text.splitlines() if l.startswith("overstapd_queue_depth{")]
        self.assertTrue(all('role="' in l and 'region="' in l for l in lines), lines)
        self.assertFalse([l for l in text.splitlines() if "vo:" in l or 'recipient="' in l])


class RetentionTest(h.TestCase):
    def test_retention_removes_personal_data_and_audit_and_keeps_every_count(self):
        db = h.fresh_database("it_whose_retention")
        d = self.start_daemon(db, clock=START, config={"retention.personal_data_years": "2"})
        pgns = h.make_pgns(6)
        with h.Client(d, *OWNER) as c:
            push_ok(c, [reg(p, "26HL00", "2030-10-01", "GM0935") for p in pgns])
        with h.Client(d, *MBO) as c:
            push_ok(c, [mbo("AANGEMELD", p, "2031-03-01") for p in pgns[:3]])
        self.assertEqual(pupil_query(d, OWNER, pgns[0]).WhichOneof("body"), "pupil_reply")

        def set_clock(at):
            with h.Client(d, *ADMIN) as c:
                env = c.request(pb.AdminRequest(set_clock=pb.SetClock(at=h.unix(at))))
                self.assertEqual(env.WhichOneof("body"), "admin_reply", env)
                env = c.request(pb.AdminRequest(sweep=pb.Sweep(at=h.unix(at))))
                self.assertEqual(env.WhichOneof("body"), "admin_reply", env)

        def figures():
            with h.Client(d, *ADMIN) as c:
                out = {}
                for by in (pb.GROUP_BY_REGION, pb.GROUP_BY_VO_SCHOOL, pb.GROUP_BY_WOONGEMEENTE):
                    env = c.request(pb.StatsQuery(cohort=COHORT, group_by=by, region="39"))
                    out[by] = [str(r) for r in env.stats_reply.rows]
                return out
        set_clock("2031-12-01")  # every deadline of the cohort passed: its figures are final
        before = figures()
        self.assertGreater(int(h.psql_value(db, "SELECT count(*) FROM audit")), 0)
        self.assertEqual(int(h.psql_value(db, "SELECT count(*) FROM pupil_personal")), 6)
        set_clock("2033-09-01")  # two years after the cohort's start (2031-08-01), and a bit
        h.wait_until(lambda: h.psql_value(db, "SELECT count(*) FROM pupil_personal") == "0", what="retention")
        h.wait_until(lambda: h.psql_value(db, "SELECT count(*) FROM audit") == "0", what="the audit removed")
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM pupil WHERE pgn IS NOT NULL"), "0")
        self.assertEqual(figures(), before)


if __name__ == "__main__":
    unittest.main()
