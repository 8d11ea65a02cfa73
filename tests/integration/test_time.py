"""Time (issue 14, DESIGN §4.2 StatsQuery.as_of, §5.2 Peildatum, §5.1
SCHOOL_STIL): figures on any peildatum, the cohort against last year's, and
schools that stop delivering.

A scripted school year on the manual clock takes the figures at several
moments; StatsQuery.as_of gives exactly those figures afterwards — for every
grouping, for the projectteam (suppressed) and admin (not), after later
events, sweeps, a transfer and a restart. A school that delivered and then
went silent for silent_after days raises one SCHOOL_STIL for its region's
projectteam, resolved when it delivers again; a school that never delivered
raises none.
"""
import json
import unittest

import harness as h
from harness import pb

COHORT = 2031
START = "2030-10-01T12:00:00Z"
SCHOOLS = {"26HL00": 9, "27ZJ00": 4, "27VG00": 7}  # region 39; 27ZJ00 is a small cell
ADMIN = ("admin", "ops")
PT39 = ("projectteam", "39")
GROUPINGS = [pb.GROUP_BY_REGION, pb.GROUP_BY_VO_SCHOOL, pb.GROUP_BY_WOONGEMEENTE, pb.GROUP_BY_MBO_INSTELLING,
             pb.GROUP_BY_VO_SOORT]


ensure_cert = h.ensure_cert
push_ok = h.push_as  # (daemon, (role, org), updates)


def admin(daemon, **op):
    with h.Client(daemon, *ADMIN) as c:
        env = c.request(pb.AdminRequest(**op))
    assert env.WhichOneof("body") == "admin_reply", env
    return env.admin_reply


def set_clock(daemon, when):
    admin(daemon, set_clock=pb.SetClock(at=h.unix(when) if isinstance(when, str) else when))


def rows_of(reply):
    return [tuple(getattr(r, f.name) for f in pb.StatsRow.DESCRIPTOR.fields) for r in reply.rows]


def figures(daemon, as_of=0):
    """Every grouping, for the projectteam of 39 and for admin (39 and the nation)."""
    out = {}
    for who, region in ((PT39, ""), (ADMIN, "39"), (ADMIN, "")):
        with h.Client(daemon, *who) as c:
            for by in GROUPINGS:
                env = c.request(pb.StatsQuery(cohort=COHORT, group_by=by, region=region, as_of=as_of))
                assert env.WhichOneof("body") == "stats_reply", (who, by, env)
                out[(who, region, by)] = rows_of(env.stats_reply)
    return out


def up(kind, pgn, school, at, **kw):
    return h.make_update(kind, pgn=pgn, cohort=COHORT, school=school, occurred_at=at, **kw)


class PeildatumTest(h.TestCase):
    """Figures taken during a school year are reproduced exactly by as_of."""

    @classmethod
    def setUpClass(cls):
        for school in SCHOOLS:
            ensure_cert("vo", school)
        for who in (("mbo", "25LP"), ("mbo", "25LQ"), PT39, ADMIN):
            ensure_cert(*who)
        cls.db = h.fresh_database("it_time")
        cls.d = h.Daemon(cls.db, clock=START)
        d = cls.d
        pgns = {s: h.make_pgns(n) for s, n in SCHOOLS.items()}
        cls.pgns = pgns
        cls.snap = {}
        # October: the schools register their examenjaar
        for s, ps in pgns.items():
            push_ok(d, ("vo", s), [up("OVERSTAPPER_GEREGISTREERD", p, s, "2030-10-01",
                                      woongemeente="GM0935" if i % 3 else "GM0917",
                                      vo_soort=("VMBO_KB", "HAVO", "VWO")[i % 3]) for i, p in enumerate(ps)])
        cls.take("registered")
        set_clock(d, "2031-01-15T12:00:00Z")
        for s, ps in pgns.items():
            push_ok(d, ("vo", s), [up("KEUZE_GEREGISTREERD", p, s, "2031-01-10", bestemming="MBO", crebo="25180",
                                      mbo_instelling="25LP" if i % 2 else "25LQ")
                                   for i, p in enumerate(ps[:-1])])
        # an admin sends for a school too (a correction): that pupil is the school's as well
        # (only an mbo event follows: the region's replay finds this pupil through the admin's event)
        cls.by_admin = h.make_pgns(1)[0]
        push_ok(d, ADMIN, [up("OVERSTAPPER_GEREGISTREERD", cls.by_admin, "27VG00", "2031-01-14",
                              woongemeente="GM0935", vo_soort="VWO")])
        cls.take("keuze")
        set_clock(d, "2031-03-20T12:00:00Z")
        for s, ps in pgns.items():
            for i, p in enumerate(ps[:-2]):
                push_ok(d, ("mbo", "25LP" if i % 2 else "25LQ"),
                        [up("AANGEMELD", p, "25LP" if i % 2 else "25LQ", "2031-03-15")])
        push_ok(d, ("mbo", "25LP"), [up("AANGEMELD", cls.by_admin, "25LP", "2031-03-16")])
        cls.take("aangemeld")
        # the aanmelddatum passes (GEEN_AANMELDING), then a transfer and placements
        set_clock(d, "2031-04-02T12:00:00Z")
        admin(d, sweep=pb.Sweep(at=h.unix("2031-04-02T12:00:00Z")))
        cls.take("after_aanmelddatum")
        set_clock(d, "2031-05-10T12:00:00Z")
        moved = pgns["26HL00"][0]
        push_ok(d, ("vo", "26HL00"), [up("VO_UITGESCHREVEN", moved, "26HL00", "2031-05-01")])
        push_ok(d, ("vo", "27VG00"), [up("OVERSTAPPER_GEREGISTREERD", moved, "27VG00", "2031-05-02",
                                         woongemeente="GM0935", vo_soort="HAVO")])
        for s, ps in pgns.items():
            for i, p in enumerate(ps[:-3]):
                inst = "25LP" if i % 2 else "25LQ"
                push_ok(d, ("mbo", inst), [up("OVEREENKOMST_AANGEBODEN", p, inst, "2031-05-05")])
        cls.take("placed")
        # summer: diplomas, the zomer sweep (ZOMERLEK for those without a place)
        set_clock(d, "2031-06-25T12:00:00Z")
        for s, ps in pgns.items():
            push_ok(d, ("vo", s), [up("DIPLOMA_BEHAALD", p, s, "2031-06-20") for p in ps])
            push_ok(d, ("vo", s), [up("DDD_AANGELEVERD", p, s, "2031-06-21") for p in ps[:3]])
        set_clock(d, "2031-08-02T12:00:00Z")
        admin(d, sweep=pb.Sweep(at=h.unix("2031-08-02T12:00:00Z")))
        cls.take("after_zomer")
        # the teldatum: enrolments, then the sweep (NIET_GESTART)
        set_clock(d, "2031-09-01T12:00:00Z")
        for s, ps in pgns.items():
            for i, p in enumerate(ps[:-4]):
                inst = "25LP" if i % 2 else "25LQ"
                push_ok(d, ("mbo", inst), [up("INGESCHREVEN", p, inst, "2031-08-30")])
        cls.take("enrolled")
        set_clock(d, "2031-10-02T12:00:00Z")
        admin(d, sweep=pb.Sweep(at=h.unix("2031-10-02T12:00:00Z")))
        cls.take("after_teldatum")
        set_clock(d, "2031-10-05T12:00:00Z")

    @classmethod
    def take(cls, name):
        at = cls.clock_now()  # every push before was acked: committed
        cls.snap[name] = (at, figures(cls.d))
        # nothing later may share the moment: the manual clock moves on a second
        set_clock(cls.d, at + 1)

    @classmethod
    def clock_now(cls):
        """The daemon's clock (its whoami over HTTPS says it)."""
        status, doc, _ = cls.d.https("GET", "/api/v1/whoami", *ADMIN)
        return doc["now"]

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def check_all(self):
        for name, (at, want) in self.snap.items():
            got = figures(self.d, as_of=at)
            for key in want:
                self.assertEqual(got[key], want[key], f"{name} at {at}: {key}")

    def test_the_figures_of_every_moment_come_back_exactly(self):
        self.assertGreater(len(self.snap), 6)
        # the figures did change through the year (else the test proves nothing)
        totals = [s[1][(ADMIN, "39", pb.GROUP_BY_REGION)] for s in self.snap.values()]
        self.assertGreater(len(set(map(str, totals))), 5)
        self.check_all()

    def test_and_again_after_a_restart(self):
        self.d.restart()
        set_clock(self.d, "2031-10-05T12:00:00Z")  # the manual clock starts at [clock] start again
        self.check_all()

    def test_a_moment_after_the_clock_or_before_the_log_has_no_figures(self):
        with h.Client(self.d, *PT39) as c:
            env = c.request(pb.StatsQuery(cohort=COHORT, as_of=self.clock_now() + 3600))
            self.assertEqual(env.error.code, "BAD_REQUEST", env)
            env = c.request(pb.StatsQuery(cohort=COHORT, as_of=h.unix("2030-09-01")))
            self.assertEqual(env.error.code, "AS_OF_UNAVAILABLE", env)
            self.assertIn("2030-10-01", env.error.message)

    def test_https_takes_a_date_and_reports_the_same(self):
        at, want = self.snap["placed"]
        status, doc, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&by=vo_school&as_of={at}", *PT39)
        self.assertEqual(status, 200, doc)
        self.assertEqual([r["overstappers"] for r in doc["rows"]],
                         [r[2] for r in want[(PT39, "", pb.GROUP_BY_VO_SCHOOL)]])
        self.assertEqual(doc["as_of"], at)
        status, doc, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&as_of=2099-01-01", *PT39)
        self.assertEqual(status, 400, doc)
        status, doc, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&as_of=2030-09-01", *PT39)
        self.assertEqual((status, doc["code"]), (409, "AS_OF_UNAVAILABLE"))
        status, doc, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&as_of=gisteren", *PT39)
        self.assertEqual(status, 400, doc)


class PreviousCohortTest(h.TestCase):
    """Two school years: cohort 2032 on a date beside cohort 2031 a year earlier."""

    def test_compare_previous_and_trend(self):
        for who in (("vo", "26HL00"), ("mbo", "25LP"), PT39, ADMIN):
            ensure_cert(*who)
        db = h.fresh_database("it_time_two_years")
        d = h.Daemon(db, clock="2030-10-01T12:00:00Z")
        self.addCleanup(d.close)
        first, second = h.make_pgns(6), h.make_pgns(6)

        def year(cohort, pgns, keuzes, aangemeld):
            c = {"cohort": cohort}
            push_ok(d, ("vo", "26HL00"), [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, school="26HL00",
                                                        occurred_at=f"{cohort - 1}-10-01", **c) for p in pgns])
            push_ok(d, ("vo", "26HL00"), [h.make_update("KEUZE_GEREGISTREERD", pgn=p, school="26HL00",
                                                        occurred_at=f"{cohort - 1}-10-01", **c)
                                          for p in pgns[:keuzes]])
            push_ok(d, ("mbo", "25LP"), [h.make_update("AANGEMELD", pgn=p, school="25LP",
                                                       occurred_at=f"{cohort - 1}-10-01", **c)
                                         for p in pgns[:aangemeld]])

        year(2031, first, 5, 2)
        # 20 March 2031, 00:00 in Amsterdam: the figures then
        set_clock(d, "2031-03-19T23:00:00Z")
        with h.Client(d, *PT39) as c:
            then = rows_of(c.request(pb.StatsQuery(cohort=2031, group_by=pb.GROUP_BY_VO_SCHOOL)).stats_reply)
        set_clock(d, "2031-03-26T12:00:00Z")
        push_ok(d, ("mbo", "25LP"), [h.make_update("AANGEMELD", pgn=p, school="25LP", cohort=2031,
                                                   occurred_at="2031-03-25") for p in first[2:5]])
        set_clock(d, "2031-11-01T12:00:00Z")
        year(2032, second, 6, 4)
        set_clock(d, "2032-04-01T12:00:00Z")
        r = h.run_tool("overstap-report", ["--cohort", "2032", "--by", "vo_school", "--as-of", "2032-03-20",
                                           "--compare-previous", "--format", "json"], daemon=d, role="projectteam",
                       org="39")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        prev = doc["previous"]["rows"]
        self.assertEqual([(x["key"], x["overstappers"], x["met_keuze"], x["aangemeld"]) for x in prev],
                         [(t[0], t[2], t[3], t[4]) for t in then])
        self.assertEqual([(x["overstappers"], x["aangemeld"]) for x in prev], [(6, 2)])  # not the later 5
        self.assertEqual([(x["overstappers"], x["aangemeld"]) for x in doc["current"]["rows"]], [(6, 4)])
        table = h.run_tool("overstap-report", ["--cohort", "2032", "--as-of", "2032-03-20", "--compare-previous"],
                           daemon=d, role="projectteam", org="39")
        self.assertIn("cohort 2032 on 2032-03-20 against cohort 2031 on 2031-03-20", table.stdout)
        trend = h.run_tool("overstap-report", ["--cohort", "2032", "--trend", "--format", "json",
                                               "--as-of", "2032-03-20"], daemon=d, role="projectteam", org="39")
        self.assertEqual(trend.returncode, 0, trend.stderr)
        pts = json.loads(trend.stdout)["points"]
        self.assertEqual(pts[0]["date"], "2031-09-01")
        self.assertIsNone(pts[0]["previous"])  # 2030-09-01: before the daemon's log began
        last = pts[-1]
        self.assertEqual(last["current"]["aangemeld_pct"], 100.0 * 4 / 6)
        self.assertTrue(any(p["previous"] and p["previous"]["aangemeld_pct"] == 100.0 * 2 / 6 for p in pts))


class SchoolStilTest(h.TestCase):
    """A school that goes silent in the season is noticed, and forgiven."""

    @classmethod
    def setUpClass(cls):
        for s in ("26HL00", "27ZJ00"):
            ensure_cert("vo", s)
        for who in (PT39, ADMIN):
            ensure_cert(*who)

    def open_stil(self, db):
        return h.psql(db, "SELECT vo_school, recipient, region, cohort FROM alert WHERE kind = 6 "
                          "AND resolved_at IS NULL ORDER BY 1")

    def test_silence_raises_one_alert_and_delivery_resolves_it(self):
        db = h.fresh_database("it_time_stil")
        d = h.Daemon(db, clock="2030-11-01T12:00:00Z")
        self.addCleanup(d.close)
        p = h.make_pgns(2)
        push_ok(d, ("vo", "26HL00"), [up("OVERSTAPPER_GEREGISTREERD", p[0], "26HL00", "2030-10-20")])
        # 27ZJ00 never delivers: never silent
        set_clock(d, "2030-11-14T12:00:00Z")
        self.assertEqual(self.open_stil(db), [])
        status, doc, _ = d.https("GET", f"/api/v1/freshness?cohort={COHORT}", *PT39)
        self.assertEqual(status, 200, doc)
        rows = {s["vo_school"]: s for s in doc["schools"]}
        self.assertEqual(rows["26HL00"]["events_14d"], 1)
        self.assertFalse(rows["26HL00"]["silent"])
        self.assertEqual(rows["27ZJ00"]["last_received_at"], 0)
        set_clock(d, "2030-11-15T12:00:01Z")  # 14 days after its last delivery
        rows = h.wait_until(lambda: self.open_stil(db) or None, timeout=10, what="a SCHOOL_STIL")
        self.assertEqual([tuple(r) for r in rows], [("26HL00", "projectteam:39", "39", str(COHORT))])
        set_clock(d, "2030-11-20T12:00:00Z")  # still one
        self.assertEqual(len(self.open_stil(db)), 1)
        body = d.http_get("/metrics")[1]
        self.assertIn('overstapd_schools_silent{region="39"} 1', body)
        self.assertIn('overstapd_alerts_raised_total{kind="SCHOOL_STIL"} 1', body)
        self.assertNotIn("26HL00", body)  # per region, never per school
        status, doc, _ = d.https("GET", "/api/v1/alerts", *PT39)
        stil = [a for a in doc["alerts"] if a["kind"] == "SCHOOL_STIL"]
        self.assertEqual(len(stil), 1)
        self.assertEqual((stil[0]["vo_school"], stil[0]["pgn"], stil[0]["name"]), ("26HL00", "", ""))
        self.assertIn("2030", stil[0]["reason"])
        rows = {s["vo_school"]: s for s in d.https("GET", f"/api/v1/freshness?cohort={COHORT}", *PT39)[1]["schools"]}
        self.assertTrue(rows["26HL00"]["silent"] and rows["26HL00"]["alert_open"])
        # another cohort's events do not count as delivering for this one
        push_ok(d, ("vo", "26HL00"), [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p[1], cohort=COHORT + 1,
                                                    school="26HL00", occurred_at="2030-11-19")])
        self.assertEqual(len(self.open_stil(db)), 1)
        push_ok(d, ("vo", "26HL00"), [up("DDD_AANGELEVERD", p[0], "26HL00", "2030-11-19")])
        h.wait_until(lambda: not self.open_stil(db), timeout=10, what="the SCHOOL_STIL resolved")
        resolved = h.psql(db, "SELECT a.kind, a.recipient FROM alert a JOIN alert s ON s.id = a.resolves_alert_id "
                              "WHERE s.kind = 6")
        self.assertEqual([tuple(r) for r in resolved], [(str(pb.ALERT_KIND_OPGELOST), "projectteam:39")])
        # silent again later: a new one
        set_clock(d, "2030-12-05T12:00:00Z")
        h.wait_until(lambda: self.open_stil(db) or None, timeout=10, what="a second SCHOOL_STIL")

    def test_no_alert_outside_the_season(self):
        db = h.fresh_database("it_time_stil_season")
        d = h.Daemon(db, clock="2031-09-20T12:00:00Z")
        self.addCleanup(d.close)
        push_ok(d, ("vo", "26HL00"), [up("DDD_AANGELEVERD", h.make_pgns(1)[0], "26HL00", "2031-09-19")])
        set_clock(d, "2031-10-10T12:00:00Z")  # past the teldatum of 2031: its season is over
        set_clock(d, "2031-10-11T12:00:00Z")
        self.assertEqual(self.open_stil(db), [])


if __name__ == "__main__":
    unittest.main()
