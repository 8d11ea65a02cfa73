"""test_schoolyear.py — a whole school year for two RMC regions, played in
seconds with the manual clock through the real clients (overstap-push,
overstapctl, overstap-rmc, overstap-report) and checked against the outcome
tests/integration/schoolyear.py predicts independently (issues 4 and 5).

Region 39 (Zuid-Limburg) has an RMC that reads and acks its alerts after every
step; region 13 (Achterhoek) never acks until the end, so its unacked RMC
alerts escalate to its projectteam. Some pupils live in the other region than
their school: their RMC alerts go to the region they live in.
"""
import collections
import json
import os

import harness as h
from harness import pb
import schoolyear as sy

COHORT = 2031
SCHOOLS = [("26HL00", "GM0935", "39"), ("27ZJ00", "GM0935", "39"),
           ("02FC00", "GM0222", "13"), ("02NZ00", "GM0222", "13")]
ELSEWHERE = {"39": "GM0935", "13": "GM0222"}


def ensure_cert(role, org):
    if not (h.PKI / f"{role}-{org}.crt").exists():
        h._sh(["bash", h.REPO / "deploy" / "pki.sh", "issue", h.PKI, role, org])


class SchoolYearTest(h.TestCase):
    """The year is played once in setUpClass; each test checks one aspect."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_schoolyear")
        cls.year = sy.SchoolYear(COHORT, SCHOOLS, pupils=240, seed=4, elsewhere=ELSEWHERE)
        for org in cls.year.senders():
            ensure_cert("mbo" if org in cls.year.mbo else "vo", org)
        for s in SCHOOLS:
            ensure_cert("vo", s[0])
        # the school year's pupil alerts; schools that fall silent (SCHOOL_STIL) are
        # test_time's: with a year of silence allowed none does here
        cls.daemon = h.Daemon(cls.db, clock=sy.iso(cls.year.clock["START"]),
                              config={"alerts.silent_after": "365"})
        cls.work = h.Path(cls.daemon.dir)
        cls.rmc39 = []
        cls.stats_after = {}
        try:
            cls.play()
        except BaseException:
            cls.daemon.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    # ---- playing the year --------------------------------------------------------

    @classmethod
    def tool(cls, name, role, org, *args):
        r = h.run_tool(name, args, daemon=cls.daemon, role=role, org=org)
        if r.returncode != 0:
            raise AssertionError(f"{name} {' '.join(map(str, args))} ({role}:{org}) exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}\n{cls.daemon.log_tail()}")
        return r.stdout

    @classmethod
    def move_clock(cls, t):
        cls.tool("overstapctl", "admin", "ops", "clock", "set", sy.iso(t))
        cls.tool("overstapctl", "admin", "ops", "sweep", "--at", sy.iso(t))
        # the escalation check runs after the clock moved and after each sweep:
        # wait until nothing it should escalate is left
        h.wait_until(lambda: h.psql_value(cls.db, (
            "SELECT count(*) = 0 FROM alert WHERE acked_at IS NULL AND escalated_at IS NULL "
            "AND resolved_at IS NULL AND kind IN (1, 2) AND recipient LIKE 'rmc:%' "
            f"AND raised_at <= {t} - 7 * 86400")) == "t", what="the escalation check")

    @classmethod
    def drain_rmc39(cls):
        out = cls.tool("overstap-rmc", "rmc", "39", "--json", "--idle-exit", "1")
        cls.rmc39 += [json.loads(line) for line in out.splitlines() if line.strip()]

    @classmethod
    def play(cls):
        y = cls.year
        steps = [("P1", None), ("P2", "aanmelddatum"), ("P3", "zomer"), ("P4", "teldatum"), ("END", None)]
        for phase, deadline in steps:
            if deadline:
                cls.move_clock(y.deadlines[deadline] + 3600)
                cls.drain_rmc39()
            cls.move_clock(y.clock[phase])
            if phase == "END":
                break
            for org in y.senders(phase):
                role = "mbo" if org in y.mbo else "vo"
                path = cls.work / f"{phase}-{org}.csv"
                path.write_text(sy.csv_text([r for _, r in y.events(phase, org)]))
                out = cls.tool("overstap-push", role, org, path)
                assert out.startswith("accepted "), out
                assert ", rejected 0" in out, out
            cls.drain_rmc39()
            cls.stats_after[phase] = cls.admin_stats(pb.GROUP_BY_VO_SCHOOL)

    @classmethod
    def admin_stats(cls, group_by, region=""):
        with h.Client(cls.daemon, "admin", "ops") as c:
            env = c.request(pb.StatsQuery(cohort=COHORT, group_by=group_by, region=region))
        assert env.WhichOneof("body") == "stats_reply", env
        return env.stats_reply

    # ---- helpers -------------------------------------------------------------------

    def expected_for(self, recipient):
        exp = self.year.expected_alerts("END", acking_regions=("39",))
        return collections.Counter({(pgn, kind): n for (pgn, kind, r), n in exp.items() if r == recipient})

    def drain(self, role, org):
        out = self.tool("overstap-rmc", role, org, "--json", "--idle-exit", "1")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    @staticmethod
    def counted(alerts):
        return collections.Counter((a["pgn"], a["kind"]) for a in alerts)

    # ---- alerts ----------------------------------------------------------------------

    def test_rmc39_received_exactly_its_alerts(self):
        got = self.counted(self.rmc39)
        self.assertEqual(got, self.expected_for("rmc:39"))
        self.assertTrue(any(k == "ZOMERLEK" for _, k in got) and any(k == "NIET_GESTART" for _, k in got)
                        and any(k == "OPGELOST" for _, k in got), got)
        # nothing twice: every alert id once
        ids = [a["alert_id"] for a in self.rmc39]
        self.assertEqual(len(ids), len(set(ids)))
        # only pupils living in region 39
        home = {p.pgn: p.home_region for p in self.year.pupils}
        self.assertEqual({home[a["pgn"]] for a in self.rmc39}, {"39"})
        for a in self.rmc39:
            self.assertEqual(a["region"], "39")
            self.assertTrue(a["name"] and a["birth_date"], a)

    def test_rmc13_gets_its_unacked_alerts_and_nothing_of_39(self):
        got = self.drain("rmc", "13")
        self.assertEqual(self.counted(got), self.expected_for("rmc:13"))
        home = {p.pgn: p.home_region for p in self.year.pupils}
        self.assertEqual({home[a["pgn"]] for a in got}, {"13"})
        # acked now: a second subscription gets nothing more
        self.assertEqual(self.drain("rmc", "13"), [])

    def test_vo_schools_get_their_own_alerts(self):
        for code, _, _ in SCHOOLS:
            with self.subTest(school=code):
                got = self.drain("vo", code)
                self.assertEqual(self.counted(got), self.expected_for(f"vo:{code}"))
                self.assertTrue(all(a["vo_school"] == code for a in got))

    def test_escalation_to_the_projectteam_without_personal_data(self):
        got13 = self.drain("projectteam", "13")
        exp = self.expected_for("projectteam:13")
        self.assertGreater(sum(exp.values()), 0)
        self.assertEqual(collections.Counter(a["kind"] for a in got13),
                         collections.Counter({k: n for (_, k), n in exp.items()}))
        for a in got13:
            self.assertEqual((a["pgn"], a["name"], a["birth_date"]), ("", "", ""), a)
            self.assertEqual(a["region"], "13")
            if a["kind"] == "ESCALATIE":
                self.assertNotEqual(a["escalated_alert_id"], 0)
        self.assertEqual(self.drain("projectteam", "39"), [])

    def test_no_duplicate_open_alerts_and_totals(self):
        exp = self.year.expected_alerts("END", acking_regions=("39",))
        self.assertEqual(int(h.psql_value(self.db, f"SELECT count(*) FROM alert WHERE cohort = {COHORT}")),
                         sum(exp.values()))
        rows = h.psql(self.db, "SELECT pupil_id, kind, recipient, count(*) FROM alert "
                               "WHERE kind IN (1, 2, 3) GROUP BY 1, 2, 3 HAVING count(*) > 1")
        self.assertEqual(rows, [])
        # every sweep ran exactly once
        self.assertEqual(h.psql(self.db, f"SELECT deadline FROM sweep_run WHERE cohort = {COHORT} ORDER BY 1"),
                         [["aanmelddatum"], ["teldatum"], ["zomer"]])

    def test_opgelost_names_the_alert_it_resolves(self):
        rows = h.psql(self.db, "SELECT o.recipient = a.recipient, a.resolved_at IS NOT NULL FROM alert o "
                               "JOIN alert a ON a.id = o.resolves_alert_id WHERE o.kind = 5")
        self.assertGreater(len(rows), 0)
        self.assertEqual({tuple(r) for r in rows}, {("t", "t")})

    # ---- statuses and figures -----------------------------------------------------------

    def test_final_statuses(self):
        rows = dict(h.psql(self.db, "SELECT p.pgn, s.status FROM pupil_state s JOIN pupil p ON p.id = s.pupil_id "
                                    f"WHERE s.cohort = {COHORT}"))
        for p in self.year.pupils:
            with self.subTest(pupil=p.pgn, scenario=p.scenario):
                self.assertEqual(sy.STATUS_NAME[int(rows[p.pgn])], p.final_status)
                self.assertEqual(sy.status_of(self.year.facts_at(p, "END"), True), p.final_status)

    def check_stats(self, reply, expected, label):
        got = {r.key: r for r in reply.rows}
        self.assertEqual(set(got), set(expected), label)
        for key, e in expected.items():
            r = got[key]
            for f, v in e.items():
                with self.subTest(step=label, group=key, field=f):
                    if f.endswith("_pct"):
                        self.assertAlmostEqual(getattr(r, f), v, places=9)
                    else:
                        self.assertEqual(getattr(r, f), v)

    def test_figures_by_school_after_every_phase(self):
        for phase in sy.PHASES:
            exp = self.year.stats(phase, key=lambda p: p.school)
            self.check_stats(self.stats_after[phase], exp, phase)

    def test_figures_by_region_over_tls_and_http(self):
        exp = self.year.stats("END", key=lambda p: p.school_region)
        self.check_stats(self.admin_stats(pb.GROUP_BY_REGION), exp, "admin by region")
        # the projectteam of 13 sees its own region only, whatever it asks
        with h.Client(self.daemon, "projectteam", "13") as c:
            env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_REGION))
            self.check_stats(env.stats_reply, {"13": exp["13"]}, "projectteam 13")
            env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_VO_SCHOOL, region="39"))
            self.assertTrue(env.WhichOneof("body") == "error" or
                            all(r.key in ("02FC00", "02NZ00") for r in env.stats_reply.rows), env)
        status, body = self.daemon.http_get(f"/api/v1/stats?cohort={COHORT}&region=39&by=vo_school")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        rows = {r["key"]: r for r in doc["rows"]}
        exp39 = self.year.stats("END", key=lambda p: p.school if p.school_region == "39" else None)
        exp39.pop(None, None)
        self.assertEqual(set(rows), set(exp39))
        for key, e in exp39.items():
            for f, v in e.items():
                self.assertAlmostEqual(rows[key][f], v, places=9, msg=f"{key} {f}")

    def test_figures_without_kept_figures_are_the_same(self):
        # a second daemon on the same database that computes every answer
        # (stats_cache_ttl = 0): the region statement and the nation statement
        other = h.Daemon(self.db, clock=sy.iso(self.year.clock["END"]),
                         config={"server.stats_cache_ttl": "0", "alerts.silent_after": "365"})
        try:
            for region in ("39", "13"):
                exp = self.year.stats("END", key=lambda p: p.school if p.school_region == region else None)
                exp.pop(None, None)
                for _ in range(2):
                    with h.Client(other, "projectteam", region) as c:
                        env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_VO_SCHOOL))
                    self.assertEqual(env.WhichOneof("body"), "stats_reply", env)
                    got = {r.key: r for r in env.stats_reply.rows}
                    self.assertEqual(set(got), set(exp))
                    for key, e in exp.items():
                        self.assertEqual(got[key].overstappers, e["overstappers"])
                        self.assertEqual(got[key].ingeschreven, e["ingeschreven"])
            with h.Client(other, "admin", "ops") as c:
                env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_REGION))
            exp = self.year.stats("END", key=lambda p: p.school_region)
            self.check_stats(env.stats_reply, exp, "nation, nothing kept")
        finally:
            other.close()

    def test_report_client_shows_targets_and_gap(self):
        out = self.tool("overstap-report", "projectteam", "39", "--cohort", COHORT, "--by", "vo_school",
                        "--format", "json")
        doc = json.loads(out)
        self.assertEqual(doc["targets"], {"in_beeld_pct": 98.0, "definitief_pct": 98.0, "ddd_pct": 97.0})
        exp = self.year.stats("END", key=lambda p: p.school)
        for row in doc["rows"]:
            e = exp[row["key"]]
            self.assertAlmostEqual(row["definitief_pct"], e["definitief_pct"], places=9)
            self.assertAlmostEqual(row["definitief_gap"], e["definitief_pct"] - 98.0, places=9)
        table = self.tool("overstap-report", "projectteam", "39", "--cohort", COHORT, "--by", "vo_school")
        self.assertIn("26HL00", table)
        self.assertNotIn("02FC00", table)


if __name__ == "__main__":
    import unittest
    unittest.main()
