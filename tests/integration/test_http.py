"""test_http.py — the HTTP side (DESIGN §6.2): /healthz, /metrics (Prometheus
text, checked by promtool), /api/v1/stats (the same rows and numbers as
StatsQuery over TLS) and the dashboard `/`, rendered by headless Chromium and
read back through its data-* attributes.

A small cohort is pushed through real vo and mbo certificates: three vo
schools of region 39 (one with fewer than 5 pupils: a suppressed cell outside
the admin role) and one of region 13, with pupils in every status, DDD
files, and real-time ZOMERLEK and NIET_GESTART alerts.
"""
import collections
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness as h
from harness import pb

COHORT = 2031
START = "2031-06-01T12:00:00Z"
MBO = ("mbo", "25LP")
# school -> (region of its gemeente, number of pupils)
SCHOOLS = {"26HL00": ("39", 8), "27ZJ00": ("39", 6), "27VG00": ("39", 3), "02FC00": ("13", 5)}
GEMEENTE = {"39": "GM0935", "13": "GM0222"}
ELSEWHERE = ("26HL00", 5)  # this pupil of 26HL00 lives in region 13
SUPPRESS_BELOW = 5

# The scenario of pupil i of a school (statuses of DESIGN §5):
#  0 registered only             GEEN_KEUZE
#  1 keuze MBO                   KEUZE
#  2 + DDD, applied on time      AANGEMELD
#  3 + DDD, applied, placed      GEPLAATST
#  4 keuze HAVO                  ANDERE_BESTEMMING
#  5 applied, diploma, withdrew  ZONDER_PLEK (real-time ZOMERLEK)
#  6 + DDD, applied, no-show     NIET_GESTART (real-time NIET_GESTART)
#  7 + DDD, applied, enrolled    INGESCHREVEN
STATUS_OF = {0: "GEEN_KEUZE", 1: "KEUZE", 2: "AANGEMELD", 3: "GEPLAATST", 4: "ANDERE_BESTEMMING",
             5: "ZONDER_PLEK", 6: "NIET_GESTART", 7: "INGESCHREVEN"}
VO_SOORT = ("VMBO_KB", "VMBO_TL", "PRO")
COUNT_FIELDS = ("overstappers", "met_keuze", "aangemeld", "aangemeld_op_tijd", "geplaatst", "ingeschreven",
                "andere_bestemming", "ddd", "zomerlek", "niet_gestart")
PCT_FIELDS = ("in_beeld_pct", "definitief_pct", "ddd_pct")
BY = {"region": pb.GROUP_BY_REGION, "vo_school": pb.GROUP_BY_VO_SCHOOL, "woongemeente": pb.GROUP_BY_WOONGEMEENTE,
      "mbo_instelling": pb.GROUP_BY_MBO_INSTELLING, "vo_soort": pb.GROUP_BY_VO_SOORT}

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROMTOOL = shutil.which("promtool")


def ensure_cert(role, org):
    if not (h.PKI / f"{role}-{org}.crt").exists():
        h._sh(["bash", h.REPO / "deploy" / "pki.sh", "issue", h.PKI, role, org])


def push_ok(client, updates):
    results = client.push(updates)
    bad = [f"{r.event_id}: {h.result_name(r)} {r.error_code} {r.error_message}" for r in results
           if r.result != pb.RESULT_ACCEPTED]
    assert not bad, bad


def populate(daemon):
    """Pushes the cohort; returns {school: [(pgn, scenario), ...]}."""
    pupils = {}
    mbo_updates = []
    for school, (region, n) in SCHOOLS.items():
        pgns = h.make_pgns(n)
        pupils[school] = list(zip(pgns, range(n)))
        vo = []
        for pgn, i in pupils[school]:
            home = GEMEENTE["13"] if (school, i) == ELSEWHERE else GEMEENTE[region]

            def u(kind, when, **kw):
                return h.make_update(kind, pgn=pgn, cohort=COHORT, school=school, occurred_at=when, **kw)
            vo.append(u("OVERSTAPPER_GEREGISTREERD", "2030-10-01", woongemeente=home,
                        vo_soort=VO_SOORT[i % len(VO_SOORT)]))
            if i >= 1:
                vo.append(u("KEUZE_GEREGISTREERD", "2031-01-15", **({"bestemming": "HAVO", "crebo": None,
                                                                     "mbo_instelling": None} if i == 4 else {})))
            if i in (2, 3, 6, 7):
                vo.append(u("DDD_AANGELEVERD", "2031-02-15"))
            if i == 5:
                vo.append(u("DIPLOMA_BEHAALD", "2031-05-01"))

            def m(kind, when, **kw):
                return h.make_update(kind, pgn=pgn, cohort=COHORT, school="25LP", occurred_at=when, **kw)
            if i in (2, 3, 5, 6, 7):
                mbo_updates.append(m("AANGEMELD", "2031-03-01"))
            if i == 3:
                mbo_updates.append(m("OVEREENKOMST_AANGEBODEN", "2031-04-15"))
            if i == 5:
                mbo_updates.append(m("INGETROKKEN", "2031-05-10", crebo="25180"))
            if i == 6:
                mbo_updates.append(m("NIET_GESTART", "2031-05-15", reason="niet verschenen"))
            if i == 7:
                mbo_updates.append(m("INGESCHREVEN", "2031-05-20"))
        with h.Client(daemon, "vo", school) as c:
            push_ok(c, vo)
    with h.Client(daemon, *MBO) as c:
        push_ok(c, mbo_updates)
    return pupils


def design_suppression(rows, group_of):
    """The keys a view below region level withholds, written from the text of
    DESIGN §5.2: every row under 5 overstappers, and within each group (a
    region's rows) the smallest others (fewest, then key), one at a time,
    until the suppressed rows number at least two and hold at least 5 — or
    every row of the group is suppressed. rows: (key, overstappers)."""
    sup = {k for k, n in rows if n < SUPPRESS_BELOW}
    groups = collections.defaultdict(list)
    for k, n in rows:
        groups[group_of(k)].append((k, n))
    for members in groups.values():
        held = [(k, n) for k, n in members if k in sup]
        while held and (len(held) < 2 or sum(n for _, n in held) < SUPPRESS_BELOW):
            rest = sorted(((n, k.encode()), k, n) for k, n in members if k not in sup)
            if not rest:
                break
            _, k, n = rest[0]
            sup.add(k)
            held.append((k, n))
    return sup


def expected_by_school():
    """The counts DESIGN §5.2 gives for each school of the cohort above."""
    out = {}
    for school, (_, n) in SCHOOLS.items():
        st = [STATUS_OF[i] for i in range(n)]
        r = {"overstappers": n, "met_keuze": sum(s != "GEEN_KEUZE" for s in st)}
        for f, s in (("aangemeld", "AANGEMELD"), ("geplaatst", "GEPLAATST"), ("ingeschreven", "INGESCHREVEN"),
                     ("andere_bestemming", "ANDERE_BESTEMMING")):
            r[f] = st.count(s)
        r["aangemeld_op_tijd"] = sum(i in (2, 3, 5, 6, 7) for i in range(n))
        r["ddd"] = sum(i in (2, 3, 6, 7) for i in range(n))
        r["zomerlek"] = int(n > 5)
        r["niet_gestart"] = int(n > 6)
        r["in_beeld_pct"] = 100.0 * r["met_keuze"] / n
        r["definitief_pct"] = 100.0 * (r["ingeschreven"] + r["andere_bestemming"]) / n
        r["ddd_pct"] = 100.0 * r["ddd"] / n
        out[school] = r
    return out


def get(daemon, path, method="GET", timeout=10):
    """(status, headers, body text) of an HTTP request to the daemon."""
    req = urllib.request.Request(f"http://127.0.0.1:{daemon.http_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout * h.SLOW) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def parse_metrics(text):
    """Prometheus text -> (types {family: type}, samples {(name, frozenset(labels)): value})."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return types, samples


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def stats_over_tls(daemon, role, org, by, region=""):
    with h.Client(daemon, role, org) as c:
        env = c.request(pb.StatsQuery(cohort=COHORT, group_by=BY[by], region=region))
    assert env.WhichOneof("body") == "stats_reply", env
    return env.stats_reply


def row_dict(row):
    d = {f: getattr(row, f) for f in COUNT_FIELDS + PCT_FIELDS}
    d.update(key=row.key, label=row.label, suppressed=row.suppressed)
    return d


class HttpTest(h.TestCase):
    """One daemon (manual clock in June of the cohort year) and one cohort."""

    @classmethod
    def setUpClass(cls):
        for s in SCHOOLS:
            ensure_cert("vo", s)
        cls.db = h.fresh_database("it_http")
        cls.daemon = h.Daemon(cls.db, clock=START)
        try:
            cls.pupils = populate(cls.daemon)
        except BaseException:
            cls.daemon.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def api(self, query):
        status, headers, body = get(self.daemon, f"/api/v1/stats?{query}")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("application/json"), headers["Content-Type"])
        return json.loads(body)

    # ---- /healthz ----------------------------------------------------------------

    def test_healthz_is_200_while_the_database_answers(self):
        status, headers, body = get(self.daemon, "/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        status, _, _ = get(self.daemon, "/healthz", method="HEAD")
        self.assertEqual(status, 200)

    # ---- /metrics ----------------------------------------------------------------

    def metrics(self):
        status, headers, body = get(self.daemon, "/metrics")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers["Content-Type"])
        return body

    @unittest.skipUnless(PROMTOOL, "promtool not installed (Debian package prometheus; scripts/deps.sh test)")
    def test_metrics_pass_promtool(self):
        body = self.metrics()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), f"promtool check metrics:\n{body}")

    def test_metrics_have_the_families_of_the_design(self):
        types, s = parse_metrics(self.metrics())
        for family, typ in (("overstapd_connections_open", "gauge"), ("overstapd_events_total", "counter"),
                            ("overstapd_batch_size", "histogram"),
                            ("overstapd_commit_latency_seconds", "histogram"),
                            ("overstapd_queue_depth", "gauge"), ("overstapd_alerts_raised_total", "counter")):
            with self.subTest(family=family):
                self.assertEqual(types.get(family), typ)
        for result in ("accepted", "duplicate", "rejected"):
            self.assertIsNotNone(sample(s, "overstapd_events_total", result=result), result)
        # histograms: cumulative buckets up to +Inf = _count
        for family in ("overstapd_batch_size", "overstapd_commit_latency_seconds"):
            with self.subTest(histogram=family):
                buckets = sorted(((float(dict(lbl)["le"]), v) for (n, lbl), v in s.items()
                                  if n == family + "_bucket"))
                self.assertGreater(len(buckets), 3)
                self.assertEqual(buckets[-1][0], float("inf"))
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), "buckets are cumulative")
                self.assertEqual(counts[-1], sample(s, family + "_count"))
                self.assertGreater(sample(s, family + "_count"), 0)
                self.assertGreaterEqual(sample(s, family + "_sum"), 0)
        # queue depth per role and region (never per school, DESIGN §6.2) = unacked alerts
        depth = {(dict(lbl)["role"], dict(lbl)["region"]): v for (n, lbl), v in s.items()
                 if n == "overstapd_queue_depth"}
        db = {(r[0], r[1]): float(r[2]) for r in h.psql(self.db, "SELECT split_part(recipient, ':', 1), region, "
                                                                 "count(*) FROM alert WHERE acked_at IS NULL "
                                                                 "GROUP BY 1, 2")}
        self.assertEqual(depth, db)
        self.assertIn(("rmc", "39"), depth)
        self.assertFalse([lbl for (n, lbl) in s if n == "overstapd_queue_depth" and "recipient" in dict(lbl)],
                         "no metric names a school's queue")
        # alerts by kind = what this daemon raised (all of the database's alerts)
        db = collections.Counter({int(k): int(n) for k, n in h.psql(self.db, "SELECT kind, count(*) FROM alert "
                                                                              "GROUP BY 1")})
        for k, name in ((1, "ZOMERLEK"), (2, "NIET_GESTART"), (3, "GEEN_AANMELDING"), (4, "ESCALATIE"),
                        (5, "OPGELOST")):
            with self.subTest(kind=name):
                self.assertEqual(sample(s, "overstapd_alerts_raised_total", kind=name), db[k])
        self.assertGreater(db[1] * db[2], 0, "the cohort raised ZOMERLEK and NIET_GESTART alerts")

    def test_metrics_count_what_happens(self):
        _, before = parse_metrics(self.metrics())
        pgn = h.make_pgns(1)[0]
        reg = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn, cohort=COHORT, school="26HL00",
                            occurred_at="2030-10-01")
        bad = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=h.bad_bsn(pgn), cohort=COHORT, school="26HL00",
                            occurred_at="2030-10-01")
        with h.Client(self.daemon, "vo", "26HL00") as vo:
            self.assertResults(vo.push([reg]), ["ACCEPTED"])
            self.assertResults(vo.push([reg, bad]), ["DUPLICATE", ("REJECTED", "BAD_PGN")])
            _, during = parse_metrics(self.metrics())
            self.assertGreaterEqual(sample(during, "overstapd_connections_open"), 1)
        with h.Client(self.daemon, *MBO) as mbo:
            # an application, then its no-show (an institution the pupil never applied to takes no part)
            push_ok(mbo, [h.make_update("AANGEMELD", pgn=pgn, cohort=COHORT, occurred_at="2031-05-01"),
                          h.make_update("NIET_GESTART", pgn=pgn, cohort=COHORT, occurred_at="2031-05-20")])
        _, after = parse_metrics(self.metrics())

        def delta(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)
        self.assertEqual([delta("overstapd_events_total", result=r) for r in ("accepted", "duplicate", "rejected")],
                         [3, 1, 1])
        self.assertEqual(delta("overstapd_batch_size_count"), 3)
        self.assertEqual(delta("overstapd_batch_size_sum"), 5)
        self.assertGreaterEqual(delta("overstapd_commit_latency_seconds_count"), 2)
        self.assertGreaterEqual(delta("overstapd_connections_accepted_total"), 2)
        # registered after the aanmelddatum without an application: GEEN_AANMELDING to the school
        # (DESIGN §5.1, a pupil first seen after a deadline); the no-show: NIET_GESTART to rmc:39 and the school
        self.assertEqual(delta("overstapd_alerts_raised_total", kind="GEEN_AANMELDING"), 1)
        self.assertEqual(delta("overstapd_alerts_raised_total", kind="NIET_GESTART"), 2)
        self.assertEqual(delta("overstapd_queue_depth", role="rmc", region="39"), 1)
        self.assertEqual(delta("overstapd_queue_depth", role="vo", region="39"), 2)

    # ---- /api/v1/stats --------------------------------------------------------------

    def assert_same_rows(self, doc, reply, *, admin, label):
        """The JSON rows equal the StatsReply rows: keys and labels in the
        same order, every number; against the admin's reply a small cell
        below region level is suppressed in the JSON (HTTP has no certificate:
        the non-admin view, DESIGN §5.2)."""
        got = doc["rows"]
        self.assertEqual([(r["key"], r["label"]) for r in got], [(r.key, r.label) for r in reply.rows], label)
        withheld = set()
        if admin and doc["by"] != "region":
            school_region = {k: reg for k, (reg, _) in SCHOOLS.items()}
            withheld = design_suppression([(r.key, r.overstappers) for r in reply.rows],
                                          lambda k: school_region[k] if doc["by"] == "vo_school" else doc["region"])
        for j, r in zip(got, reply.rows):
            exp = row_dict(r)
            if r.key in withheld:
                exp = dict(exp, suppressed=True, **{f: 0 for f in COUNT_FIELDS + PCT_FIELDS})
            for f in COUNT_FIELDS + PCT_FIELDS + ("suppressed",):
                with self.subTest(view=label, key=r.key, field=f):
                    self.assertEqual(j[f], exp[f])
        t = reply.targets
        self.assertEqual(doc["targets"], {"in_beeld_pct": t.in_beeld_pct, "definitief_pct": t.definitief_pct,
                                          "ddd_pct": t.ddd_pct}, label)

    def test_api_stats_equals_statsquery(self):
        checked_suppressed = False
        for region, by in (("39", "vo_school"), ("13", "vo_school"), ("39", "woongemeente"),
                           ("39", "mbo_instelling"), ("39", "vo_soort"), ("39", "region"), ("", "region"),
                           ("", "vo_school")):
            doc = self.api(f"cohort={COHORT}&region={region}&by={by}")
            label = f"region={region or 'national'} by={by}"
            self.assertEqual((doc["cohort"], doc["region"], doc["by"]), (COHORT, region, by), label)
            self.assertTrue(doc["rows"], f"{label}: no rows")
            self.assert_same_rows(doc, stats_over_tls(self.daemon, "admin", "ops", by, region), admin=True,
                                  label=f"admin {label}")
            checked_suppressed |= any(r["suppressed"] for r in doc["rows"])
            if region:  # the projectteam sees the same non-admin view of its own region
                self.assert_same_rows(doc, stats_over_tls(self.daemon, "projectteam", region, by), admin=False,
                                      label=f"projectteam {label}")
        self.assertTrue(checked_suppressed, "the small school was compared as a suppressed cell")
        # the default grouping is by region
        self.assertEqual(self.api(f"cohort={COHORT}")["rows"], self.api(f"cohort={COHORT}&by=region")["rows"])

    def test_api_stats_numbers_by_school(self):
        doc = self.api(f"cohort={COHORT}&by=vo_school")
        rows = {r["key"]: r for r in doc["rows"]}
        exp = expected_by_school()
        self.assertEqual(set(rows), set(exp))
        # 27VG00 (3) is small; 27ZJ00 (6), the next smallest of region 39, goes
        # with it so that the region's total does not give 27VG00 away; region 13's
        # only school (5) is not small
        withheld = design_suppression([(k, e["overstappers"]) for k, e in exp.items()], lambda k: SCHOOLS[k][0])
        self.assertEqual(withheld, {"27VG00", "27ZJ00"})
        for school, e in exp.items():
            for f, v in e.items():
                with self.subTest(school=school, field=f):
                    if school in withheld:
                        self.assertTrue(rows[school]["suppressed"])
                        self.assertEqual(rows[school][f], 0)
                    else:
                        self.assertFalse(rows[school]["suppressed"])
                        self.assertAlmostEqual(rows[school][f], v, places=9)

    def test_api_bad_parameters_are_400_with_a_json_error(self):
        for query in ("", "cohort=", "cohort=abc", "cohort=2031x", "cohort=1800", "cohort=99999",
                      f"cohort={COHORT}&region=3", f"cohort={COHORT}&region=abc", f"cohort={COHORT}&region=3a",
                      f"cohort={COHORT}&region=039", f"cohort={COHORT}&by=school", f"cohort={COHORT}&by=REGION;",
                      f"region=39&by=vo_school"):
            for path in ("/api/v1/stats", "/api/v1/alerts"):
                if path.endswith("alerts") and "by=" in query:
                    continue
                with self.subTest(path=path, query=query):
                    status, headers, body = get(self.daemon, f"{path}?{query}")
                    self.assertEqual(status, 400, body)
                    self.assertTrue(headers["Content-Type"].startswith("application/json"),
                                    headers["Content-Type"])
                    doc = json.loads(body)
                    self.assertIsInstance(doc.get("error"), str, doc)
                    self.assertTrue(doc["error"])
        status, _, _ = get(self.daemon, "/api/v1/nothing-here")
        self.assertEqual(status, 404)
        status, _, _ = get(self.daemon, f"/api/v1/stats?cohort={COHORT}", method="POST")
        self.assertIn(status, (405, 501))

    # ---- the dashboard ----------------------------------------------------------------

    def test_dashboard_loads_nothing_from_outside(self):
        status, headers, page = get(self.daemon, "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        csp = headers.get("Content-Security-Policy", "")
        self.assertIn("default-src 'none'", csp)
        for directive in csp.split(";"):
            self.assertNotRegex(directive, r"https?:|\*", f"CSP lets the page load from outside: {csp}")
        # every absolute URL in the page is the SVG namespace name (an identifier, never fetched)
        urls = set(re.findall(r"""(?:https?:)?//[^\s"'<>()]+""", page))
        self.assertLessEqual(urls, {"http://www.w3.org/2000/svg"}, urls)
        self.assertNotRegex(page, r"""(?i)\b(?:src|href|action|poster|srcset)\s*=""", "no fetched attributes")
        self.assertNotRegex(page, r"(?i)@import|url\(", "no CSS imports or urls")
        # what the script fetches: its own API only
        fetched = re.findall(r"""\b(?:get|fetch)\(\s*['"]((?:/|https?:)[^'"]*)""", page)
        self.assertTrue(fetched, "the page fetches its figures from the API")
        for m in fetched:
            self.assertTrue(m.startswith("/api/v1/"), m)


def cohort_region_rows(daemon, region):
    doc = json.loads(get(daemon, f"/api/v1/stats?cohort={COHORT}&by=region")[2])
    return doc, next((r for r in doc["rows"] if r["key"] == region), None)


class DomReader(html.parser.HTMLParser):
    """Collects the attributes of every element with a data-* attribute."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.body = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if any(k.startswith("data-") for k in a):
            self.elements.append((tag, a))

    def find(self, attr, value=None):
        return [a for _, a in self.elements if attr in a and (value is None or a[attr] == value)]


@unittest.skipUnless(CHROMIUM, "chromium not installed (Debian package chromium; scripts/deps.sh test)")
class DashboardBrowserTest(h.TestCase):
    """The dashboard rendered by headless Chromium: what it shows is what the
    API says, and it fetches nothing but its own origin."""

    @classmethod
    def setUpClass(cls):
        for s in SCHOOLS:
            ensure_cert("vo", s)
        cls.db = h.fresh_database("it_http_dashboard")
        cls.daemon = h.Daemon(cls.db, clock=START)
        try:
            populate(cls.daemon)
        except BaseException:
            cls.daemon.close()
            raise
        cls.tmp = tempfile.mkdtemp(prefix="chromium-", dir=cls.daemon.dir)
        cls.runs = 0

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def chromium(self, path, *args):
        type(self).runs += 1
        profile = os.path.join(self.tmp, f"profile-{self.runs}")
        url = f"http://127.0.0.1:{self.daemon.http_port}{path}"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
               # nothing but loopback resolves: the test never reaches outside, whatever Chromium tries
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args, url]
        env = dict(os.environ, HOME=self.tmp)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120 * h.SLOW, env=env)
        self.assertEqual(r.returncode, 0, f"{' '.join(cmd)}:\n{r.stderr[-3000:]}")
        return r

    def dom(self, path, *args):
        r = self.chromium(path, "--dump-dom", *args)
        d = DomReader()
        d.feed(r.stdout)
        self.assertEqual(d.body.get("data-ready"), "true",
                         f"the page did not finish loading its figures:\n{r.stdout[:3000]}")
        return d

    def check_page(self, d, region):
        """Every figure with a data-* attribute equals the API's."""
        self.assertEqual(d.body.get("data-cohort"), str(COHORT))
        self.assertEqual(d.body.get("data-region"), region)
        doc, row = cohort_region_rows(self.daemon, region)
        self.assertIsNotNone(row, f"no region {region} in the API's rows")
        # KPIs
        kpi = {a["data-metric"]: a["data-value"] for a in d.find("data-metric")}
        self.assertEqual(set(kpi), {"overstappers", "in_beeld_pct", "definitief_pct", "ddd_pct"})
        for k, v in kpi.items():
            with self.subTest(region=region, kpi=k):
                self.assertEqual(float(v), row[k])
        # the funnel
        funnel = {a["data-funnel"]: int(a["data-value"]) for a in d.find("data-funnel")}
        self.assertEqual(funnel, {
            "overstappers": row["overstappers"], "keuze": row["met_keuze"],
            "aangemeld": row["aangemeld"] + row["geplaatst"] + row["ingeschreven"],
            "geplaatst": row["geplaatst"] + row["ingeschreven"], "ingeschreven": row["ingeschreven"]})
        # a bar per vo school: definitief_pct, or marked suppressed
        by_school = json.loads(get(self.daemon, f"/api/v1/stats?cohort={COHORT}&region={region}&by=vo_school")[2])
        shown = {a["data-school"]: a for a in d.find("data-school")}
        self.assertEqual(set(shown), {r["key"] for r in by_school["rows"]})
        for r in by_school["rows"]:
            with self.subTest(region=region, school=r["key"]):
                a = shown[r["key"]]
                if r["suppressed"]:
                    self.assertEqual(a.get("data-suppressed"), "true")
                    self.assertNotIn("data-value", a)
                else:
                    self.assertEqual(float(a["data-value"]), r["definitief_pct"])
        [target] = d.find("data-target", "definitief_pct")
        self.assertEqual(float(target["data-value"]), by_school["targets"]["definitief_pct"])
        # open alerts by kind
        al = json.loads(get(self.daemon, f"/api/v1/alerts?cohort={COHORT}&region={region}")[2])
        shown = {a["data-alert-kind"]: int(a["data-value"]) for a in d.find("data-alert-kind")}
        self.assertEqual(shown, al["open"])
        return row, by_school, al

    def test_dashboard_shows_the_apis_figures(self):
        d = self.dom(f"/?cohort={COHORT}&region=39")
        row, by_school, al = self.check_page(d, "39")
        # and they are the cohort's real figures, not zeros
        self.assertEqual(row["overstappers"], sum(n for r, n in SCHOOLS.values() if r == "39"))
        self.assertEqual({r["key"] for r in by_school["rows"]}, {s for s, (r, _) in SCHOOLS.items() if r == "39"})
        self.assertTrue(any(r["suppressed"] for r in by_school["rows"]))
        self.assertGreater(al["open"]["ZOMERLEK"], 0)
        self.assertGreater(al["open"]["NIET_GESTART"], 0)

    def test_dashboard_defaults_to_the_coming_cohort_and_the_first_region(self):
        doc, _ = cohort_region_rows(self.daemon, "")
        first = [r["key"] for r in doc["rows"] if r["key"]][0]
        d = self.dom("/")
        self.check_page(d, first)

    def test_dashboard_fetches_only_from_its_own_origin(self):
        log = os.path.join(self.tmp, "netlog.json")
        self.dom(f"/?cohort={COHORT}&region=39", f"--log-net-log={log}")
        with open(log) as f:
            net = json.load(f)
        names = {v: k for k, v in net["constants"]["logEventTypes"].items()}
        origin = f"http://127.0.0.1:{self.daemon.http_port}"
        page_requests = []
        for e in net["events"]:
            p = e.get("params") or {}
            if names.get(e["type"]) == "URL_REQUEST_START_JOB" and p.get("initiator") == origin:
                page_requests.append(p["url"])
        self.assertTrue(page_requests, "the page's own API requests should be in the net log")
        outside = [u for u in page_requests if not u.startswith(origin + "/")]
        self.assertEqual(outside, [], "the page loaded something from outside")
        self.assertTrue(any("/api/v1/stats" in u for u in page_requests))

    def test_dashboard_screenshot(self):
        shot = os.path.join(self.tmp, "dashboard.png")
        self.chromium(f"/?cohort={COHORT}&region=39", f"--screenshot={shot}", "--window-size=1280,1600")
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n", "a PNG")
        width, height = struct.unpack(">II", png[16:24])
        self.assertEqual((width, height), (1280, 1600))
        self.assertGreater(len(png), 20_000, "a page with content, not a blank one")


class DatabaseDownTest(h.TestCase):
    """HTTP while the test cluster is stopped (each test restores it)."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_http_down")

    def stop_postgres(self, d):
        self.assertEqual(d.healthz(), 200)
        h.pg_stop("fast")
        self.addCleanup(h.pg_start)  # whatever happens, the cluster runs again (pg_start is idempotent)

    def test_healthz_503_while_postgres_is_stopped(self):
        d = self.start_daemon(self.db, config={"database.reconnect_max_ms": "500"})
        self.stop_postgres(d)
        try:
            h.wait_until(lambda: d.healthz() == 503, timeout=15, what="/healthz 503")
            status, _, body = get(d, "/healthz")
            self.assertEqual(status, 503)
            self.assertTrue(body.strip())
        finally:
            h.pg_start()
        h.wait_until(lambda: d.healthz() == 200, timeout=30, what="/healthz 200 again")
        self.assertEqual(d.stop(), 0)

    def test_metrics_answer_while_postgres_is_stopped(self):
        # /metrics is what a monitor reads during an outage: it answers at
        # once, with overstapd_database_up 0 (the queue depths, which come
        # from the database, may be missing)
        d = self.start_daemon(self.db, config={"database.reconnect_max_ms": "500"})
        self.stop_postgres(d)
        try:
            h.wait_until(lambda: d.healthz() == 503, timeout=15, what="/healthz 503")
            t0 = time.monotonic()
            try:
                status, _, body = get(d, "/metrics", timeout=5)
            except (TimeoutError, OSError) as e:
                self.fail(f"/metrics did not answer within {5 * h.SLOW:.0f} s while PostgreSQL is stopped "
                          f"({e!r}; waited {time.monotonic() - t0:.1f} s)")
            self.assertEqual(status, 200, body)
            _, s = parse_metrics(body)
            self.assertEqual(sample(s, "overstapd_database_up"), 0)
        finally:
            h.pg_start()
        h.wait_until(lambda: d.healthz() == 200, timeout=30, what="/healthz 200 again")
        _, s = parse_metrics(get(d, "/metrics")[2])
        self.assertEqual(sample(s, "overstapd_database_up"), 1)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
