"""The pages per role (issue 13, DESIGN §6.2) in headless Chromium with a
client certificate.

A small school year of region 39 (four schools, one with too few pupils to
show) and region 13 is pushed through the protobuf port with a manual clock;
then each role's page is loaded in Chromium with that role's certificate
(browser.py) and what it shows is compared with what the API answers the
same certificate: the headline figures, the funnel and every table row and
cell of the projectteam's page, the RMC's worklist, the decaan's pupils with
their applications, the mbo institution's applicants. Another role's data
never appears. The RMC's "Afgehandeld" button is clicked over the DevTools
protocol; the alert is then acknowledged for the API and a subscriber is not
given it again. Without a certificate the page does not load.
"""
import contextlib
import csv
import io
import json
import shutil
import tempfile
import time
import unittest
from pathlib import Path

import browser
import harness as h
from harness import pb

COHORT = 2031
START = "2031-03-16T12:00:00Z"
VO = ("vo", "26HL00")       # Terra Nigra, Maastricht, region 39
VO2 = ("vo", "27ZJ00")      # Bonnefantencollege, Maastricht, region 39
VO13 = ("vo", "02FC00")     # Ulenhof College, Doetinchem, region 13
MBO = ("mbo", "25LP")
MBO2 = ("mbo", "25LQ")
RMC39 = ("rmc", "39")
RMC13 = ("rmc", "13")
PT39 = ("projectteam", "39")
PT13 = ("projectteam", "13")
ADMIN = ("admin", "ops")
ROLES = (VO, VO2, VO13, MBO, MBO2, RMC39, RMC13, PT39, PT13, ADMIN, ("vo", "02DF00"), ("vo", "02IB00"))

HOSTILE = 'Zoë <b>Peters</b> & "Co" <img src=x onerror=alert(1)>'  # a name is text, never markup
# school -> (gemeente of the pupils, vo_soort, [(name, story)]); the stories are played below
SCHOOLS = {
    "26HL00": ("GM0935", "PRO", [
        ("Daan Jansen", "ingeschreven"), ("Sanne de Vries", "niet_gestart"), ("Milan Bakker", "zomerlek"),
        ("Noor Visser", "keuze_zomerlek"), ("Lucas Smit", "havo"), ("Emma Meijer", "aangemeld"),
        ("Sem de Boer", "niets"), ("Julia Mulder", "geplaatst")]),
    "27ZJ00": ("GM0935", "HAVO", [
        ("Finn de Groot", "ingeschreven"), ("Tess Bos", "geplaatst"), ("Levi Vos", "aangemeld"),
        (HOSTILE, "werk"), ("Luuk Hendriks", "zomerlek"), ("Mila van Leeuwen", "keuze"),
        ("Bram Dekker", "ingeschreven")]),
    "02DF00": ("GM0917", "VMBO_KB", [
        ("Fleur Brouwer", "geplaatst"), ("Thijs de Wit", "aangemeld"), ("Lotte Dijkstra", "keuze"),
        ("Jesse Smits", "niets"), ("Sara de Graaf", "ingeschreven")]),
    "02IB00": ("GM1883", "VMBO_BB", [("Ruben van der Meer", "aangemeld"), ("Isa van den Berg", "niets")]),
    "02FC00": ("GM0222", "VMBO_TL", [
        ("Stijn Kok", "aangemeld"), ("Anna Jacobs", "zomerlek"), ("Jan Willems", "geplaatst"),
        ("Eva Lambregts", "keuze"), ("Tim Post", "ingeschreven"), ("Roos Kuipers", "niets")]),
}
REGION_OF = {"26HL00": "39", "27ZJ00": "39", "02DF00": "39", "02IB00": "39", "02FC00": "13"}


def ensure_cert(role, org):
    if not (h.PKI / f"{role}-{org}.crt").exists():
        h._sh(["bash", h.REPO / "deploy" / "pki.sh", "issue", h.PKI, role, org])


def push_ok(daemon, who, updates):
    if not updates:
        return
    with h.Client(daemon, *who) as c:
        results = c.push(updates)
    bad = [(r.event_id, r.error_code, r.error_message) for r in results if r.result != pb.RESULT_ACCEPTED]
    assert not bad, bad


def set_clock(daemon, at, sweep=False):
    with h.Client(daemon, *ADMIN) as c:
        env = c.request(pb.AdminRequest(set_clock=pb.SetClock(at=h.unix(at))))
        assert env.WhichOneof("body") == "admin_reply", env
        if sweep:
            env = c.request(pb.AdminRequest(sweep=pb.Sweep(at=h.unix(at))))
            assert env.WhichOneof("body") == "admin_reply", env


def populate(daemon):
    """Plays the school year of SCHOOLS (cohort 2031) on a daemon started
    with clock=START; returns {name: pgn}. Ends on 2031-08-10 with zomerlek
    alerts (one acked by the RMC, one escalated), a NIET_GESTART, and a
    pupil registered by two schools."""
    names = [n for _, _, pupils in SCHOOLS.values() for n, _ in pupils]
    pgn = dict(zip(names, h.make_pgns(len(names))))

    def up(kind, who, school, at, **kw):
        return h.make_update(kind, pgn=pgn[who], cohort=COHORT, school=school, occurred_at=at, **kw)

    phases = [({}, {}), ({}, {}), ({}, {})]

    def add(phase, sender, u):
        (phases[phase][0] if len(sender) == 6 else phases[phase][1]).setdefault(sender, []).append(u)

    for school, (gemeente, soort, pupils) in SCHOOLS.items():
        for i, (name, story) in enumerate(pupils):
            add(0, school, up("OVERSTAPPER_GEREGISTREERD", name, school, f"2030-10-{1 + i:02d}", name=name,
                              birth_date=f"2015-0{1 + i % 9}-1{i % 10}", woongemeente=gemeente, vo_soort=soort))
            inst = "25LQ" if i % 3 == 2 else "25LP"
            crebo = ("25180", "25181", "25999")[i % 3]
            if story in ("ingeschreven", "niet_gestart", "geplaatst", "aangemeld", "keuze", "keuze_zomerlek"):
                add(0, school, up("KEUZE_GEREGISTREERD", name, school, "2031-01-12", bestemming="MBO", crebo=crebo,
                                  mbo_instelling=inst, niveau=2 + i % 3, leerweg="BOL"))
            if story in ("havo", "werk"):
                add(0, school, up("KEUZE_GEREGISTREERD", name, school, "2031-01-20",
                                  bestemming="HAVO" if story == "havo" else "WERK", crebo=None, mbo_instelling=None))
            if story in ("ingeschreven", "niet_gestart", "geplaatst"):
                add(0, school, up("DDD_AANGELEVERD", name, school, "2031-03-02"))
            if story in ("ingeschreven", "niet_gestart", "geplaatst", "aangemeld"):
                add(0, inst, up("AANGEMELD", name, inst, "2031-02-10", crebo=crebo, niveau=2 + i % 3))
            if story == "ingeschreven" and i % 2 == 0:  # also applied elsewhere
                other = "25LQ" if inst == "25LP" else "25LP"
                add(0, other, up("AANGEMELD", name, other, "2031-02-20", crebo="25999", niveau=2))
            if story in ("ingeschreven", "niet_gestart", "geplaatst"):
                add(1, inst, up("OVEREENKOMST_AANGEBODEN", name, inst, "2031-05-15", crebo=crebo, niveau=2 + i % 3))
            if story in ("zomerlek", "keuze_zomerlek", "ingeschreven", "niet_gestart", "geplaatst"):
                add(1, school, up("DIPLOMA_BEHAALD", name, school, "2031-06-20"))
            if story == "ingeschreven":
                add(2, inst, up("INGESCHREVEN", name, inst, "2031-08-05", crebo=crebo, niveau=2 + i % 3))
            if story == "niet_gestart":
                add(2, inst, up("NIET_GESTART", name, inst, "2031-08-09", crebo=crebo))
    # a competing claim: Grotius registers a pupil of the Bonnefantencollege too
    add(0, "02DF00", up("OVERSTAPPER_GEREGISTREERD", "Mila van Leeuwen", "02DF00", "2030-11-15",
                        name="Mila van Leeuwen", woongemeente="GM0917", vo_soort="VMBO_KB"))

    def play(phase):
        for sender, ups in phases[phase][0].items():
            push_ok(daemon, ("vo", sender), ups)
        for sender, ups in phases[phase][1].items():
            push_ok(daemon, ("mbo", sender), ups)

    play(0)
    set_clock(daemon, "2031-04-02T12:00:00Z", sweep=True)  # aanmelddatum passed: GEEN_AANMELDING
    set_clock(daemon, "2031-06-25T12:00:00Z")
    play(1)
    set_clock(daemon, "2031-08-02T12:00:00Z", sweep=True)  # 1 August passed: ZOMERLEK
    # the RMC handles one zomerlek at once; the other waits and escalates
    status, doc, _ = daemon.https("GET", "/api/v1/alerts?state=open", *RMC39)
    assert status == 200, doc
    luuk = [a["alert_id"] for a in doc["alerts"] if a["pgn"] == pgn["Luuk Hendriks"]]
    assert luuk, doc
    status, doc, _ = daemon.https("POST", "/api/v1/alerts/ack", *RMC39, body={"alert_ids": luuk})
    assert status == 200 and doc["alert_ids"] == luuk, doc
    set_clock(daemon, "2031-08-10T12:00:00Z", sweep=True)  # escalate_after (7 days) passed
    play(2)
    return pgn


def stats_rows_equal(testcase, table, rows, what):
    """The <table data-table=stats-…> of the page against the API's rows."""
    trs = [tr for tr in table.find_all("tr") if tr.get("data-key") is not None]
    testcase.assertEqual([tr.get("data-key") for tr in trs], [r["key"] for r in rows], what)
    for tr, r in zip(trs, rows):
        for f in ("overstappers", "met_keuze", "aangemeld", "aangemeld_op_tijd", "geplaatst", "ingeschreven",
                  "andere_bestemming", "ddd", "zomerlek", "niet_gestart", "in_beeld_pct", "definitief_pct", "ddd_pct"):
            td = tr.find("td", data_field=f)
            testcase.assertIsNotNone(td, (what, r["key"], f))
            if r["suppressed"]:
                testcase.assertEqual((td.get("data-suppressed"), td.get("data-value")), ("true", None), (what, r, f))
                testcase.assertEqual(td.text, "klein aantal")
            else:
                testcase.assertEqual(float(td.get("data-value")), float(r[f]), (what, r["key"], f))
                if f.endswith("_pct"):
                    testcase.assertEqual(td.text.rstrip("▼ "), f"{r[f]:.1f}".replace(".", ",") + "%")


@unittest.skipUnless(browser.CHROMIUM, "chromium is not installed")
class PagesTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        for who in ROLES:
            ensure_cert(*who)
        cls.db = h.fresh_database("it_pages")
        cls.d = h.Daemon(cls.db, clock=START)
        try:
            cls.pgn = populate(cls.d)
        except Exception:
            cls.d.close()
            raise
        cls.browsers = {}

    @classmethod
    def tearDownClass(cls):
        for b in cls.browsers.values():
            b.close()
        cls.d.close()

    def browser(self, who):
        if who not in self.browsers:
            self.browsers[who] = browser.Browser(*who, self.d.https_port)
        return self.browsers[who]

    def api(self, path, who):
        status, doc, _ = self.d.https("GET", path, *who)
        self.assertEqual(status, 200, (path, who, doc))
        return doc

    @contextlib.contextmanager
    def session(self, who, path="/"):
        """A live page of `who`, once whoami and its first load answered;
        at the end, the page must have reported no script error and no
        Content-Security-Policy violation."""
        s = self.browser(who).session(path)
        try:
            s.wait('document.body.dataset.ready === "true" && !document.body.dataset.loading', what=f"{path} of {who}")
            self.assertEqual(s.eval("document.body.dataset.error || ''"), "", f"the page of {who} says")
            yield s
            self.assertEqual(s.problems(), [], f"the page of {who} reported")
        finally:
            s.close()

    @staticmethod
    def dom(s):
        return browser.parse(s.dom())

    def rows_of(self, root, table):
        t = root.find("table", data_table=table)
        self.assertIsNotNone(t, f"no table {table}")
        return [tr for tr in t.find_all("tr") if tr.get("data-key") is not None]

    def assertNoneOf(self, text, needles, what):
        found = [n for n in needles if n in text]
        self.assertEqual(found, [], what)

    # -- every page

    def test_each_role_page_loads_with_its_certificate(self):
        for who, page in ((VO, "vo"), (MBO, "mbo"), (RMC39, "rmc"), (PT39, "region"), (ADMIN, "region")):
            root = browser.parse(self.browser(who).dump_dom(f"/?cohort={COHORT}"))
            body = root.find("body")
            self.assertIsNotNone(body, who)
            self.assertEqual((body.get("data-page"), body.get("data-ready"), body.get("data-error")), (page, "true", None),
                             who)
            w = root.find(id="who")
            self.assertEqual((w.get("data-role"), w.get("data-organisation")), who)

    def test_without_a_certificate_the_page_does_not_load(self):
        with browser.Browser(None, None, self.d.https_port) as b:
            text = b.dump_dom("/", budget_ms=2000)
        self.assertNotIn("data-page", text)
        self.assertNotIn("Overstap", text)

    # -- the projectteam's region

    def test_region_headline_and_funnel_are_the_api_figures_against_the_targets(self):
        doc = self.api(f"/api/v1/stats?cohort={COHORT}&by=region", PT39)
        [row] = doc["rows"]
        t = doc["targets"]
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            root = self.dom(s)
        kpis = {k.get("data-metric"): k for k in root.find(id="kpis").find_all(data_metric=True)}
        self.assertEqual(int(kpis["overstappers"].get("data-value")), row["overstappers"])
        self.assertEqual(row["overstappers"], 22)  # 8 + 7 + 5 + 2 pushed in region 39
        for key in ("in_beeld_pct", "definitief_pct", "ddd_pct"):
            k = kpis[key]
            self.assertEqual(float(k.get("data-value")), row[key], key)
            self.assertEqual(float(k.get("data-target")), t[key], key)
            met = row[key] >= t[key]
            self.assertEqual(k.get("data-met"), str(met).lower(), key)
            self.assertIn("miss" if not met else "met", k.get("class").split())
            self.assertIn("onder doel" if not met else "gehaald", k.text)  # said in words, not colour alone
            self.assertIn(f"{row[key]:.1f}".replace(".", ",") + "%", k.text)
        funnel = {f.get("data-funnel"): int(f.get("data-value")) for f in root.find(id="funnel").find_all(data_funnel=True)}
        self.assertEqual(funnel, {
            "overstappers": row["overstappers"], "met_keuze": row["met_keuze"],
            "aangemeld": row["aangemeld"] + row["geplaatst"] + row["ingeschreven"],
            "geplaatst": row["geplaatst"] + row["ingeschreven"], "ingeschreven": row["ingeschreven"],
            "andere_bestemming": row["andere_bestemming"]})
        self.assertEqual(funnel["andere_bestemming"], 2)  # Lucas (havo) and Zoë (werk)

    def test_region_school_table_is_the_api_rows_with_small_cells_suppressed(self):
        doc = self.api(f"/api/v1/stats?cohort={COHORT}&by=vo_school", PT39)
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("groups").dataset.state === "ready"')
            root = self.dom(s)
        table = root.find("table", data_table="stats-vo_school")
        stats_rows_equal(self, table, doc["rows"], "by vo_school")
        suppressed = sorted(r["key"] for r in doc["rows"] if r["suppressed"])
        self.assertEqual(suppressed, ["02DF00", "02IB00"])  # 2 pupils, and the smallest other with them
        text = root.text
        self.assertNoneOf(text, ["02FC00", "Ulenhof"], "region 13's school on region 39's page")
        self.assertNoneOf(text, list(self.pgn) + list(self.pgn.values()), "a pupil on the projectteam's page")

    def test_region_views_by_gemeente_instelling_and_schoolsoort_and_their_csv(self):
        downloads = Path(tempfile.mkdtemp(prefix="downloads-"))
        self.addCleanup(shutil.rmtree, downloads, True)
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            s.downloads_to(downloads)
            for by in ("woongemeente", "mbo_instelling", "vo_soort", "vo_school"):
                doc = self.api(f"/api/v1/stats?cohort={COHORT}&by={by}", PT39)
                self.assertTrue(doc["rows"], by)
                s.eval(f'document.querySelector("#tabs button[data-view={by}]").click()')
                s.wait(f'document.getElementById("groups").dataset.state === "ready" && '
                       f'document.getElementById("groups").dataset.by === "{by}"', what=by)
                stats_rows_equal(self, self.dom(s).find("table", data_table=f"stats-{by}"), doc["rows"], by)
                # the CSV is the API's rows: its field names, its values, blank where suppressed
                for old in downloads.iterdir():
                    old.unlink()
                name = s.eval('(() => { const a = document.querySelector("#groups a[data-csv]"); a.click(); '
                              'return a.download; })()')
                self.assertTrue(name.startswith(f"overstap-{by}-39-{COHORT}"), name)
                file = downloads / name
                h.wait_until(lambda: file.exists() and file.stat().st_size > 0, what=f"the download {name}")
                got = list(csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig"))))
                self.assertEqual(len(got), len(doc["rows"]), by)
                for g, r in zip(got, doc["rows"]):
                    self.assertEqual(set(g), set(r), by)
                    for f, v in r.items():
                        if r["suppressed"] and f not in ("key", "label", "suppressed"):
                            self.assertEqual(g[f], "", (by, f))
                        elif isinstance(v, bool):
                            self.assertEqual(g[f], str(v).lower(), (by, f))
                        elif isinstance(v, (int, float)):
                            self.assertEqual(float(g[f]), float(v), (by, f))
                        else:
                            self.assertEqual(g[f], v, (by, f))

    def test_region_table_sorts_by_a_column_with_suppressed_rows_last(self):
        doc = self.api(f"/api/v1/stats?cohort={COHORT}&by=vo_school", PT39)
        shown = sorted((r for r in doc["rows"] if not r["suppressed"]), key=lambda r: r["overstappers"])
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("groups").dataset.state === "ready"')
            order = s.eval('(() => { document.querySelector("th[data-sort=overstappers] button").click(); '
                           'return [...document.querySelectorAll("table[data-table=stats-vo_school] tbody tr")]'
                           '.map(tr => tr.dataset.key); })()')
            self.assertEqual(order[:len(shown)], [r["key"] for r in shown])
            self.assertEqual(sorted(order[len(shown):]), sorted(r["key"] for r in doc["rows"] if r["suppressed"]))
            again = s.eval('(() => { document.querySelector("th[data-sort=overstappers] button").click(); '
                           'return [...document.querySelectorAll("table[data-table=stats-vo_school] tbody tr")]'
                           '.map(tr => tr.dataset.key); })()')
            self.assertEqual(again[:len(shown)], [r["key"] for r in reversed(shown)])

    def test_region_freshness_and_chart_follow_what_the_server_offers(self):
        fstatus, fdoc, _ = self.d.https("GET", f"/api/v1/freshness?cohort={COHORT}", *PT39)
        cstatus, cdoc, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&by=region&as_of=2031-05-01", *PT39)
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            s.wait('["ready", "unavailable", "error"].includes(document.getElementById("freshness").dataset.state)')
            s.wait('["done", "unavailable", "error", "none"].includes(document.getElementById("chart-card").dataset.state)',
                   timeout=60)
            root = self.dom(s)
        fresh = root.find(id="freshness")
        if fstatus == 404:
            self.assertEqual(fresh.get("data-state"), "unavailable")
        else:
            self.assertEqual(fstatus, 200, fdoc)
            trs = self.rows_of(root, "freshness")
            self.assertEqual([tr.get("data-key") for tr in trs], [x["vo_school"] for x in fdoc["schools"]])
            for tr, x in zip(trs, fdoc["schools"]):
                self.assertEqual(int(tr.find("td", data_field="events_14d").get("data-value")), x["events_14d"])
                self.assertEqual(int(tr.find("td", data_field="competing_claims").get("data-value")),
                                 x["competing_claims"])
                self.assertEqual(tr.get("data-silent"), str(x["silent"]).lower())
        chart = root.find(id="chart-card")
        if cstatus == 200 and "milestones" not in cdoc and "as_of" not in cdoc:
            self.assertEqual(chart.get("data-state"), "unavailable")  # the server ignores as_of
        else:
            self.assertEqual(chart.get("data-state"), "done")
            dots = root.find_all("circle", data_series="definitief", data_cohort=str(COHORT))
            self.assertTrue(dots)
            for dot in dots[:3]:
                _, p, _ = self.d.https("GET", f"/api/v1/stats?cohort={COHORT}&by=region&as_of={dot.get('data-date')}",
                                       *PT39)
                self.assertAlmostEqual(float(dot.get("data-value")), p["rows"][0]["definitief_pct"])

    def test_admin_sees_the_nation_and_picks_a_region(self):
        doc = self.api(f"/api/v1/stats?cohort={COHORT}&by=region&region=", ADMIN)
        with self.session(ADMIN, f"/?cohort={COHORT}") as s:
            root = self.dom(s)
            self.assertEqual(int(root.find(data_metric="overstappers").get("data-value")),
                             sum(r["overstappers"] for r in doc["rows"]))
            options = [o.get("value") for o in root.find("select", id="region").find_all("option")]
            self.assertEqual(options, [""] + [r["key"] for r in doc["rows"] if r["key"]])
            s.eval('(() => { const sel = document.getElementById("region"); sel.value = "13"; '
                   'sel.dispatchEvent(new Event("change")); })()')
            s.wait('!document.body.dataset.loading && document.getElementById("groups").dataset.state === "ready" && '
                   'document.getElementById("kpis").dataset.key === "13"')
            root = self.dom(s)
        [r13] = [r for r in doc["rows"] if r["key"] == "13"]
        self.assertEqual(int(root.find(data_metric="overstappers").get("data-value")), r13["overstappers"])
        self.assertEqual(r13["overstappers"], 6)
        by_school = self.api(f"/api/v1/stats?cohort={COHORT}&by=vo_school&region=13", ADMIN)
        stats_rows_equal(self, root.find("table", data_table="stats-vo_school"), by_school["rows"], "admin region 13")
        self.assertEqual([r["key"] for r in by_school["rows"]], ["02FC00"])

    # -- the RMC's worklist

    def test_rmc_worklist_is_the_api_queue_newest_first_with_escalations_marked(self):
        with self.session(RMC39, "/") as s:
            s.wait('document.getElementById("worklist").dataset.state === "ready"')
            want = self.api("/api/v1/alerts?state=open", RMC39)["alerts"]
            root = self.dom(s)
            s.eval('document.querySelector("#worklist button[data-state=all]").click()')
            s.wait('document.getElementById("worklist").dataset.state === "ready" && '
                   'document.getElementById("worklist").dataset.alertState === "all"')
            every = self.api("/api/v1/alerts?state=all", RMC39)["alerts"]
            root_all = self.dom(s)
        trs = self.rows_of(root, "alerts")
        self.assertEqual([int(tr.get("data-key")) for tr in trs], [a["alert_id"] for a in want])
        self.assertTrue(want)
        for tr, a in zip(trs, want):
            self.assertEqual(tr.get("data-pgn"), a["pgn"])
            self.assertEqual(tr.find("td", data_field="name").text, a["name"])
            self.assertEqual(tr.find("td", data_field="vo_school").get("data-value"), a["vo_school"])
            self.assertEqual(tr.find("td", data_field="status_now").get("data-value"), a["status_now"])
            self.assertEqual(tr.get("data-escalated"), str(a["escalated"]).lower())
            self.assertEqual(bool(tr.find(data_escalated="true", tag="span")), a["escalated"])
            self.assertIsNotNone(tr.find("button", data_ack=str(a["alert_id"])))
        self.assertTrue(any(a["escalated"] for a in want), "the scenario escalates a zomerlek")
        all_ids = [int(tr.get("data-key")) for tr in self.rows_of(root_all, "alerts")]
        self.assertEqual(all_ids, [a["alert_id"] for a in every])
        luuk = next(tr for tr in self.rows_of(root_all, "alerts") if tr.get("data-pgn") == self.pgn["Luuk Hendriks"])
        self.assertEqual(luuk.get("data-acked"), "true")
        self.assertIsNone(luuk.find("button", data_ack=True))

    def test_rmc_of_another_region_sees_none_of_region_39(self):
        with self.session(RMC13, "/?state=all") as s:
            s.wait('document.getElementById("worklist").dataset.state === "ready"')
            root = self.dom(s)
        want = self.api("/api/v1/alerts?state=all", RMC13)["alerts"]
        self.assertEqual([tr.get("data-pgn") for tr in self.rows_of(root, "alerts")], [a["pgn"] for a in want])
        self.assertEqual([a["pgn"] for a in want], [self.pgn["Anna Jacobs"]])  # region 13's own zomerlek
        region39 = [n for school, (_, _, ps) in SCHOOLS.items() if REGION_OF[school] == "39" for n, _ in ps]
        self.assertNoneOf(root.text, region39 + [self.pgn[n] for n in region39], "region 39 on rmc 13's page")

    def test_rmc_row_opens_the_pupils_timeline(self):
        pgn = self.pgn["Sanne de Vries"]
        want = self.api(f"/api/v1/pupils/{pgn}?cohort={COHORT}", RMC39)
        with self.session(RMC39, "/") as s:
            s.wait('document.getElementById("worklist").dataset.state === "ready"')
            s.eval(f'document.querySelector("#worklist tr[data-pgn=\'{pgn}\'] td[data-field=name]").click()')
            s.wait(f'document.getElementById("detail").dataset.state === "ready" && '
                   f'document.getElementById("detail").dataset.pgn === "{pgn}"')
            root = self.dom(s)
        items = root.find("ol", data_timeline=pgn).find_all("li")
        self.assertEqual([(li.get("data-kind"), int(li.get("data-at"))) for li in items],
                         [(e["kind"], e["occurred_at"]) for e in want["timeline"]])
        self.assertIn("NIET_GESTART", [e["kind"] for e in want["timeline"]])
        self.assertEqual(root.find(id="detail").find("dd", data_field="status").text, "niet gestart")

    def test_ack_button_acknowledges_and_the_alert_is_not_delivered_again(self):
        target = next(a for a in self.api("/api/v1/alerts?state=open", RMC39)["alerts"]
                      if a["pgn"] == self.pgn["Noor Visser"] and a["kind"] == "ZOMERLEK")
        aid = target["alert_id"]
        with self.session(RMC39, "/") as s:
            s.wait('document.getElementById("worklist").dataset.state === "ready"')
            s.eval(f'document.querySelector("#worklist button[data-ack=\'{aid}\']").click()')
            s.wait(f'document.getElementById("worklist").dataset.lastAck === "{aid}"', what="the ack's answer")
            self.assertEqual(s.eval('document.getElementById("worklist").dataset.lastAckResult'), "acked")
            self.assertFalse(s.eval(f'!!document.querySelector("#worklist tr[data-key=\'{aid}\']")'),
                             "the row leaves the open list")
        self.assertNotIn(aid, [a["alert_id"] for a in self.api("/api/v1/alerts?state=open", RMC39)["alerts"]])
        [listed] = [a for a in self.api("/api/v1/alerts?state=all", RMC39)["alerts"] if a["alert_id"] == aid]
        self.assertTrue(listed["acked"])
        got = []
        with h.Client(self.d, *RMC39) as c:
            c.send(pb.Subscribe(max_in_flight=100))
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    env = c.recv(timeout=1)
                except Exception:
                    break
                if env.WhichOneof("body") == "alert":
                    got.append(env.alert.alert_id)
        self.assertTrue(got, "the other open alerts are delivered")
        self.assertNotIn(aid, got)

    def test_region_page_lists_the_projectteams_own_alerts_without_personal_data_and_acks_one(self):
        want = self.api("/api/v1/alerts?state=open", PT39)["alerts"]
        self.assertIn("ESCALATIE", [a["kind"] for a in want], "the scenario escalates a zomerlek to projectteam 39")
        with self.session(PT39, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("signals").dataset.state === "ready"')
            root = self.dom(s)
            aid = want[0]["alert_id"]
            s.eval(f'document.querySelector("#signals button[data-ack=\'{aid}\']").click()')
            s.wait(f'document.getElementById("signals").dataset.lastAck === "{aid}"', what="the ack's answer")
            self.assertEqual(s.eval('document.getElementById("signals").dataset.lastAckResult'), "acked")
        section = root.find(id="signals")
        self.assertIsNone(section.get("hidden"))
        trs = self.rows_of(section, "alerts")
        self.assertEqual([int(tr.get("data-key")) for tr in trs], [a["alert_id"] for a in want])
        for tr, a in zip(trs, want):
            self.assertEqual(tr.get("data-kind"), a["kind"])
            self.assertEqual(tr.find("td", data_field="reason").text, a["reason"])
            self.assertEqual(tr.find("td", data_field="vo_school").get("data-value"), a["vo_school"])
            self.assertIsNone(tr.find("td", data_field="name"))
            self.assertEqual((a["pgn"], a["name"]), ("", ""), "the API gives the projectteam no pupil")
        names = [n for _, (_, _, ps) in SCHOOLS.items() for n, _ in ps]
        self.assertNoneOf(section.text, names + list(self.pgn.values()), "pupils in the projectteam's alerts")
        [acked] = [a for a in self.api("/api/v1/alerts?state=all", PT39)["alerts"] if a["alert_id"] == aid]
        self.assertTrue(acked["acked"])
        self.assertNotIn(aid, [a["alert_id"] for a in self.api("/api/v1/alerts?state=open", PT39)["alerts"]])
        # admin has no queue of its own: the region page shows none
        admin = browser.parse(self.browser(ADMIN).dump_dom(f"/?cohort={COHORT}"))
        self.assertIsNotNone(admin.find(id="signals").get("hidden"))

    # -- the decaan

    def test_vo_page_shows_its_pupils_applications_and_filters(self):
        want = {p["pgn"]: p for p in self.api(f"/api/v1/pupils?cohort={COHORT}", VO)["pupils"]}
        with self.session(VO, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("pupils").dataset.state === "ready"')
            root = self.dom(s)
            shown = {}
            for f in ("niets", "niet_geplaatst"):
                s.eval(f'document.querySelector("#pupils button[data-filter={f}]").click()')
                s.wait(f'document.getElementById("pupils").dataset.filter === "{f}"')
                shown[f] = sorted(tr.get("data-key") for tr in self.rows_of(self.dom(s), "pupils"))
        trs = self.rows_of(root, "pupils")
        self.assertEqual(sorted(tr.get("data-key") for tr in trs), sorted(want))
        self.assertEqual(sorted(want), sorted(self.pgn[n] for n, _ in SCHOOLS["26HL00"][2]))
        for tr in trs:
            p = want[tr.get("data-key")]
            self.assertEqual(tr.find("td", data_field="name").text, p["name"])
            self.assertEqual(tr.find("td", data_field="status").get("data-value"), p["status"])
            self.assertEqual(tr.find("td", data_field="has_ddd").get("data-value"), "1" if p["has_ddd"] else "0")
            apps = sorted((li.get("data-instelling"), li.get("data-crebo"), li.get("data-status"))
                          for li in tr.find("td", data_field="applications").find_all("li"))
            self.assertEqual(apps, sorted((a["mbo_instelling"], a["crebo"], a["status"]) for a in p["applications"]))
            k = tr.find("td", data_field="keuze").find(data_bestemming=True)
            self.assertEqual(k and (k.get("data-bestemming"), k.get("data-crebo")),
                             p.get("keuze") and (p["keuze"]["bestemming"], p["keuze"]["crebo"]))
            alerts = sorted(x.get("data-alert") for x in tr.find("td", data_field="open_alerts").find_all(data_alert=True))
            self.assertEqual(alerts, sorted(p["open_alerts"]))
        daan = want[self.pgn["Daan Jansen"]]
        self.assertEqual(sorted(a["mbo_instelling"] for a in daan["applications"]), ["25LP", "25LQ"])
        # nog niets: no keuze and no application; niet geplaatst: not placed, enrolled or elsewhere
        self.assertEqual(shown["niets"], sorted(self.pgn[n] for n in ("Milan Bakker", "Sem de Boer")))
        self.assertEqual(shown["niet_geplaatst"], sorted(
            g for g, p in want.items() if p["status"] not in ("GEPLAATST", "INGESCHREVEN", "ANDERE_BESTEMMING")))
        others = [n for school, (_, _, ps) in SCHOOLS.items() if school != "26HL00" for n, _ in ps]
        self.assertNoneOf(root.text, others + [self.pgn[n] for n in others], "another school's pupil")

    def test_vo_page_of_another_school_shows_none_of_these_pupils(self):
        with self.session(VO2, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("pupils").dataset.state === "ready" && '
                   'document.getElementById("worklist").dataset.state === "ready"')
            root = self.dom(s)
        want = sorted(p["pgn"] for p in self.api(f"/api/v1/pupils?cohort={COHORT}", VO2)["pupils"])
        self.assertEqual(sorted(tr.get("data-key") for tr in self.rows_of(root, "pupils")), want)
        mine = [n for n, _ in SCHOOLS["26HL00"][2]]
        self.assertNoneOf(root.text, mine + [self.pgn[n] for n in mine], "Terra Nigra's pupil on Bonnefanten's page")
        [zoe] = [tr for tr in self.rows_of(root, "pupils") if tr.get("data-key") == self.pgn[HOSTILE]]
        cell = zoe.find("td", data_field="name")
        self.assertEqual(cell.text, " ".join(HOSTILE.split()))
        self.assertEqual([c.tag for c in cell.iter()], [], "the name became markup")

    # -- the mbo institution

    def test_mbo_page_shows_its_applicants_with_only_its_own_applications(self):
        want = {p["pgn"]: p for p in self.api(f"/api/v1/pupils?cohort={COHORT}", MBO)["pupils"]}
        with self.session(MBO, f"/?cohort={COHORT}") as s:
            s.wait('document.getElementById("pupils").dataset.state === "ready"')
            root = self.dom(s)
        trs = self.rows_of(root, "pupils")
        self.assertEqual(sorted(tr.get("data-key") for tr in trs), sorted(want))
        self.assertIn(self.pgn["Stijn Kok"], want)  # an applicant from region 13 too
        for tr in trs:
            p = want[tr.get("data-key")]
            self.assertEqual(tr.find("td", data_field="status").get("data-value"), p["status"])
            lis = tr.find("td", data_field="applications").find_all("li")
            self.assertEqual(sorted((li.get("data-crebo"), li.get("data-status")) for li in lis),
                             sorted((a["crebo"], a["status"]) for a in p["applications"]))
            self.assertEqual({li.get("data-instelling") for li in lis}, {"25LP"})
        never = [n for _, (_, _, ps) in SCHOOLS.items() for n, _ in ps if self.pgn[n] not in want]
        self.assertNoneOf(root.text, never + [self.pgn[n] for n in never], "a pupil who did not apply here")
        self.assertNotIn("25LQ", root.find(id="pupils").text)


# ---- a stand-in server: the chart's cases on demand -------------------------------------

class StubApi:
    """The page's side of the contract (DESIGN §6.2) for the cases a real
    daemon cannot be made to show in a short test: stats with as_of and
    milestones over a whole year with a gap, freshness. A model of
    a region of 100 overstappers (the previous cohort 90) filling up over the
    year; as_of in the first half of December 2030 is AS_OF_UNAVAILABLE
    (retention), later than `now` BAD_REQUEST. Serves web/ like the daemon,
    with the daemon's CSP."""

    NOW = "2031-06-15"
    GAP = ("2030-12-01", "2030-12-15")
    MILESTONES = [{"figure": "aangemeld", "pct": 95, "date": "2031-04-01"},
                  {"figure": "definitief", "pct": 98, "date": "2031-10-01"},
                  {"figure": "in_beeld", "pct": 90, "date": "2031-02-01"}]
    SCHOOLS = [{"vo_school": "26HL00", "label": "Terra Nigra", "last_received_at": h.unix("2031-06-14"),
                "events_14d": 12, "silent": False, "competing_claims": 0},
               {"vo_school": "02IB00", "label": "DaCapo", "last_received_at": h.unix("2031-05-01"),
                "events_14d": 0, "silent": True, "competing_claims": 2}]

    def __init__(self):
        self.requests = []

    @staticmethod
    def row(cohort, as_of):
        """Region 39's figures on a date (YYYY-MM-DD) for a cohort."""
        import datetime as dt
        start = dt.date(cohort - 1, 10, 1)
        day = (dt.date.fromisoformat(as_of) - start).days
        n = 100 if cohort == 2031 else 90
        f = max(0.0, min(1.0, day / (240 if cohort == 2031 else 290)))  # the previous cohort was slower
        c = {"overstappers": n, "met_keuze": round(n * 0.97 * f), "aangemeld": round(n * 0.4 * f),
             "geplaatst": round(n * 0.3 * f), "ingeschreven": round(n * 0.2 * max(0.0, (day - 300) / 65)),
             "andere_bestemming": round(n * 0.05 * f), "ddd": round(n * 0.6 * f), "zomerlek": 0, "niet_gestart": 0,
             "aangemeld_op_tijd": round(n * 0.3 * f)}
        c["ingeschreven"] = min(c["ingeschreven"], c["geplaatst"])
        r = {"key": "39", "label": "Gewest Zuid-Limburg", **c,
             "in_beeld_pct": 100 * c["met_keuze"] / n, "definitief_pct": 100 * (c["ingeschreven"] + c["andere_bestemming"]) / n,
             "ddd_pct": 100 * c["ddd"] / n, "suppressed": False}
        return r

    def answer(self, path, query):
        """(status, JSON document)."""
        self.requests.append((path, query))
        if path == "/api/v1/whoami":
            return 200, {"role": "projectteam", "organisation": "39", "cohort": 2031, "now": h.unix(self.NOW) + 43200}
        if path == "/api/v1/freshness":
            return 200, {"cohort": int(query["cohort"]), "region": "39", "silent_after_days": 14, "schools": self.SCHOOLS}
        if path == "/api/v1/alerts":
            return 200, {"alerts": []}
        if path == "/api/v1/stats":
            cohort = int(query["cohort"])
            as_of = query.get("as_of", "") or self.NOW
            if as_of > self.NOW:
                return 400, {"code": "BAD_REQUEST", "message": "as_of is later than now"}
            if self.GAP[0] <= as_of <= self.GAP[1] or (cohort == 2030 and self.GAP[0][5:] <= as_of[5:] <= self.GAP[1][5:]):
                return 409, {"code": "AS_OF_UNAVAILABLE", "message": "retention removed the data of that day"}
            row = self.row(cohort, as_of)
            by = query.get("by", "region")
            rows = [row] if by == "region" else [dict(row, key="26HL00", label="Terra Nigra")]
            return 200, {"rows": rows, "targets": {"in_beeld_pct": 98.0, "definitief_pct": 98.0, "ddd_pct": 97.0},
                         "cohort": cohort, "region": "39", "group_by": by, "as_of": as_of,
                         "milestones": self.MILESTONES if cohort == 2031 else []}
        return 404, {"code": "BAD_REQUEST", "message": "no such route"}


class StubServer:
    """HTTPS with a client certificate required (the test PKI's server
    certificate and CA); a thread per connection, the handshake outside
    accept() (../shared/PITFALLS.md)."""

    CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
           "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
    TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

    def __init__(self, api, page="region.html"):
        import http.server
        import socketserver
        import ssl
        import threading
        import urllib.parse
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.connection.do_handshake()

            def send(self, status, body, kind, csp=False):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if csp:
                    self.send_header("Content-Security-Policy", stub.CSP)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path.startswith("/api/"):
                    status, doc = api.answer(u.path, dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
                    self.send(status, json.dumps(doc).encode(), "application/json")
                    return
                name = page if u.path == "/" else u.path[len("/assets/"):] if u.path.startswith("/assets/") else ""
                f = h.REPO / "web" / name
                if not name or "/" in name or not f.is_file():
                    self.send(404, b"no such page", "text/plain")
                    return
                self.send(200, f.read_bytes(), stub.TYPES[f.suffix], csp=True)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(h.PKI / "server.crt"), str(h.PKI / "server.key"))
        ctx.load_verify_locations(str(h.PKI / "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                sock.settimeout(20)
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                import sys
                import traceback
                if not issubclass(sys.exc_info()[0], (OSError, ssl.SSLError)):  # a browser hanging up is no error
                    traceback.print_exc()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@unittest.skipUnless(browser.CHROMIUM, "chromium is not installed")
class RegionChartTest(unittest.TestCase):
    """The region page's peildatum, chart and freshness against a stand-in
    (as_of, milestones, /api/v1/freshness): a year of points with a gap of
    AS_OF_UNAVAILABLE, the contract rather than the daemon (PagesTest
    checks the same parts against the daemon's own answers)."""

    def setUp(self):
        self.api = StubApi()
        self.stub = StubServer(self.api)
        self.addCleanup(self.stub.close)
        self.browser = browser.Browser(*PT39, self.stub.port)
        self.addCleanup(self.browser.close)

    def open(self, path):
        s = self.browser.session(path)
        self.addCleanup(s.close)
        self.addCleanup(lambda: self.assertEqual(s.problems(), [], "the page reported"))  # before the close
        s.wait('document.body.dataset.ready === "true" && !document.body.dataset.loading')
        s.wait('document.body.dataset.error || ["done", "unavailable", "error", "none"].includes('
               'document.getElementById("chart-card").dataset.state)', timeout=60)
        self.assertEqual(s.eval("document.body.dataset.error || ''"), "")
        return s

    def test_chart_is_fetched_week_by_week_against_the_previous_cohort_with_milestones(self):
        import datetime as dt
        s = self.open("/")
        root = browser.parse(s.dom())
        card = root.find(id="chart-card")
        self.assertEqual(card.get("data-state"), "done")
        weeks = [dt.date(2030, 10, 1) + dt.timedelta(days=7 * i) for i in range(53)]
        weeks = [w.isoformat() for w in weeks if w.isoformat() <= StubApi.NOW]
        asked = [(int(q["cohort"]), q["as_of"]) for p, q in self.api.requests if p == "/api/v1/stats" and "as_of" in q]
        self.assertEqual(sorted(a for a in asked if a[0] == 2031), sorted((2031, w) for w in weeks))
        self.assertEqual(len([a for a in asked if a[0] == 2030]), len(weeks))
        gap = [w for w in weeks if StubApi.GAP[0] <= w <= StubApi.GAP[1]]
        self.assertEqual(len(gap), 2)
        self.assertEqual(int(card.get("data-skipped")), 2 * len(gap))  # both cohorts' points there left out
        figures = {"in_beeld": lambda r: r["in_beeld_pct"],
                   "aangemeld": lambda r: 100 * (r["aangemeld"] + r["geplaatst"] + r["ingeschreven"]) / r["overstappers"],
                   "geplaatst": lambda r: 100 * (r["geplaatst"] + r["ingeschreven"]) / r["overstappers"],
                   "definitief": lambda r: r["definitief_pct"], "ddd": lambda r: r["ddd_pct"]}
        for fig, value in figures.items():
            for cohort in (2031, 2030):
                dots = root.find_all("circle", data_series=fig, data_cohort=str(cohort))
                dates = [d.get("data-date") for d in dots]
                want = [w if cohort == 2031 else f"{int(w[:4]) - 1}{w[4:]}" for w in weeks if w not in gap]
                self.assertEqual(dates, want, (fig, cohort))
                for d in dots:
                    self.assertAlmostEqual(float(d.get("data-value")), value(StubApi.row(cohort, d.get("data-date"))),
                                           msg=(fig, cohort, d.get("data-date")))
                self.assertIsNotNone(root.find("polyline", data_line=fig, data_cohort=str(cohort)))
        marks = sorted((m.get("data-milestone"), float(m.get("data-pct")), m.get("data-date"))
                       for m in root.find_all("g", data_milestone=True))
        self.assertEqual(marks, sorted((m["figure"], float(m["pct"]), m["date"]) for m in StubApi.MILESTONES))

    def test_peildatum_gives_the_figures_of_that_date_and_an_unknown_one_says_so(self):
        s = self.open("/?as_of=2031-03-01")
        root = browser.parse(s.dom())
        row = StubApi.row(2031, "2031-03-01")
        self.assertEqual(float(root.find(data_metric="in_beeld_pct").get("data-value")), row["in_beeld_pct"])
        self.assertEqual(int(root.find(data_funnel="met_keuze").get("data-value")), row["met_keuze"])
        self.assertIsNotNone(root.find("line", data_asof="2031-03-01"))
        self.assertIn(("/api/v1/stats", {"cohort": "2031", "by": "vo_school", "as_of": "2031-03-01"}), self.api.requests)
        s.eval('(() => { const i = document.getElementById("as_of"); i.value = "2030-12-08"; '
               'i.dispatchEvent(new Event("change")); })()')
        s.wait('document.getElementById("headline").dataset.state === "error"')
        self.assertIn("geen exacte cijfers", s.eval('document.getElementById("asof-note").textContent'))
        self.assertIn("geen exacte cijfers", s.eval('document.getElementById("groups").textContent'))

    def test_freshness_marks_silent_schools_and_competing_claims(self):
        s = self.open("/")
        s.wait('document.getElementById("freshness").dataset.state === "ready"')
        root = browser.parse(s.dom())
        trs = [tr for tr in root.find("table", data_table="freshness").find_all("tr") if tr.get("data-key")]
        self.assertEqual([tr.get("data-key") for tr in trs], [x["vo_school"] for x in StubApi.SCHOOLS])
        for tr, x in zip(trs, StubApi.SCHOOLS):
            self.assertEqual(tr.get("data-silent"), str(x["silent"]).lower())
            self.assertEqual(int(tr.find("td", data_field="events_14d").get("data-value")), x["events_14d"])
            self.assertEqual(int(tr.find("td", data_field="last_received_at").get("data-value")), x["last_received_at"])
            self.assertEqual(int(tr.find("td", data_field="competing_claims").get("data-value")), x["competing_claims"])
            self.assertEqual("stil" in tr.find("td", data_field="silent").text, x["silent"])


if __name__ == "__main__":
    unittest.main()
