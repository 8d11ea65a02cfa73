"""The HTTPS side (issue 13, DESIGN §6.2): the API with client certificates.

Every route answers for the certificate's identity and scope, like the
protobuf port: a projectteam its region's figures, an RMC its queue with
the pupils, a vo school its own pupils, an mbo institution its applicants;
every answer with pupil rows is audited; an ack from the browser
acknowledges (the alert is not delivered again) and acks nothing outside
the caller's queue; no certificate, or one of another CA, gets no
handshake; the plain HTTP port carries nothing personal.
"""
import socket
import ssl
import unittest

import harness as h
from harness import pb

COHORT = 2031
START = "2031-03-16T12:00:00Z"
VO = ("vo", "26HL00")       # Maastricht, region 39
VO2 = ("vo", "27ZJ00")      # region 39 too
VO13 = ("vo", "02FC00")     # Doetinchem, region 13
MBO = ("mbo", "25LP")
MBO2 = ("mbo", "25LQ")
RMC39 = ("rmc", "39")
RMC13 = ("rmc", "13")
PT39 = ("projectteam", "39")
PT13 = ("projectteam", "13")
ADMIN = ("admin", "ops")


ensure_cert = h.ensure_cert
push_ok = h.push_ok


def up(kind, pgn, school, at, **kw):
    return h.make_update(kind, pgn=pgn, cohort=COHORT, school=school, occurred_at=at, **kw)


class WebTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        for who in (VO, VO2, VO13, MBO, MBO2, RMC39, RMC13, PT39, PT13, ADMIN):
            ensure_cert(*who)
        cls.db = h.fresh_database("it_web")
        cls.d = h.Daemon(cls.db, clock=START)
        cls.p = h.make_pgns(6)
        p = cls.p
        with h.Client(cls.d, *VO) as c:
            push_ok(c, [up("OVERSTAPPER_GEREGISTREERD", x, "26HL00", "2030-10-01", woongemeente="GM0935",
                           name=f"Leerling {i}", birth_date="2014-05-01", vo_soort=pb.VO_SOORT_VMBO_BB)
                        for i, x in enumerate(p[:4])])
            push_ok(c, [up("KEUZE_GEREGISTREERD", p[0], "26HL00", "2031-01-10", bestemming=pb.BESTEMMING_MBO,
                           crebo="25180", mbo_instelling="25LP", niveau=2, leerweg=pb.LEERWEG_BOL)])
        with h.Client(cls.d, *VO13) as c:
            push_ok(c, [up("OVERSTAPPER_GEREGISTREERD", p[4], "02FC00", "2030-10-01", woongemeente="GM0222",
                           name="Elders", vo_soort=pb.VO_SOORT_HAVO)])
        with h.Client(cls.d, *MBO) as c:
            push_ok(c, [up("AANGEMELD", p[0], "25LP", "2031-02-01", crebo="25180", niveau=2),
                        up("AANGEMELD", p[4], "25LP", "2031-02-02", crebo="25181", niveau=3)])
        with h.Client(cls.d, *MBO2) as c:
            push_ok(c, [up("AANGEMELD", p[0], "25LQ", "2031-02-03", crebo="25999", niveau=2)])
        # p[1] and p[2] leave vo with a diploma and nothing: zomerlek after 1 August
        with h.Client(cls.d, *ADMIN) as c:
            c.request(pb.AdminRequest(set_clock=pb.SetClock(at=h.unix("2031-06-25"))))
        with h.Client(cls.d, *VO) as c:
            push_ok(c, [up("DIPLOMA_BEHAALD", x, "26HL00", "2031-06-20") for x in p[1:3]])
        with h.Client(cls.d, *ADMIN) as c:
            c.request(pb.AdminRequest(set_clock=pb.SetClock(at=h.unix("2031-08-02"))))
            env = c.request(pb.AdminRequest(sweep=pb.Sweep(at=h.unix("2031-08-02"))))
            assert env.WhichOneof("body") == "admin_reply", env

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def get(self, path, who, **kw):
        return self.d.https("GET", path, *who, **kw)

    def audits(self, role, org):
        return int(h.psql_value(self.db, f"SELECT count(*) FROM audit WHERE what = 'web' AND role = '{role}' "
                                         f"AND org = '{org}'"))

    # -- the trust boundary

    def test_whoami_is_the_certificate(self):
        for who in (VO, MBO, RMC39, PT39, ADMIN):
            status, doc, _ = self.get("/api/v1/whoami", who)
            self.assertEqual(status, 200, doc)
            self.assertEqual((doc["role"], doc["organisation"]), who)
            self.assertEqual(doc["cohort"], 2032)  # August 2031: the next cohort starting in mbo

    def test_no_certificate_or_another_ca_gets_no_handshake(self):
        for kw in ({}, {"cert": h.PKI / "other-ca.crt", "key": h.PKI / "other-ca.key"},
                   {"name": "expired-vo-25LX00"}, {"name": "revoked-vo-25LX00"}):
            ctx = h.tls_context(kw.get("cert") or (h.PKI / f"{kw['name']}.crt" if "name" in kw else None),
                                kw.get("key") or (h.PKI / f"{kw['name']}.key" if "name" in kw else None))
            raw = socket.create_connection(("127.0.0.1", self.d.https_port), timeout=10)
            s = None
            try:
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                # TLS 1.3: the refusal arrives with the first read
                s.sendall(b"GET /api/v1/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
                got = s.recv(100)
                self.assertEqual(got, b"", kw)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                pass
            finally:
                (s or raw).close()
        self.assertTrue(self.d.proc.poll() is None)

    def test_silent_sockets_do_not_lock_anyone_out(self):
        silent = [socket.create_connection(("127.0.0.1", self.d.https_port), timeout=5) for _ in range(150)]
        self.addCleanup(lambda: [s.close() for s in silent])
        status, doc, _ = self.get("/api/v1/whoami", RMC39)
        self.assertEqual(status, 200, doc)
        self.assertGreater(h.metric(self.d, "overstapd_handshakes_dropped_total"), 0)

    def test_the_plain_http_port_serves_nothing_personal(self):
        for path in ("/api/v1/pupils?cohort=2031", f"/api/v1/pupils/{self.p[0]}?cohort=2031",
                     "/api/v1/whoami", "/api/v1/freshness?cohort=2031"):
            status, body = self.d.http_get(path)
            self.assertNotIn(self.p[0], body)
            self.assertNotIn("Leerling", body)
        status, body = self.d.http_get("/api/v1/alerts?cohort=2031&region=39")
        self.assertEqual(status, 200)
        self.assertNotIn(self.p[1], body)

    def test_requests_from_another_site_are_refused(self):
        status, doc, _ = self.get("/api/v1/alerts", RMC39, headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual(status, 403)
        self.assertEqual(doc["code"], "PERMISSION_DENIED")
        status, doc, _ = self.get("/api/v1/alerts", RMC39, headers={"Origin": "https://evil.example"})
        self.assertEqual(status, 403)
        status, doc, _ = self.d.https("POST", "/api/v1/alerts/ack", *RMC39, body=b"alert_ids=1",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415)

    # -- stats

    def test_stats_are_the_protobuf_answer_of_the_same_identity(self):
        for who, region in ((PT39, ""), (ADMIN, "39"), (ADMIN, "")):
            status, doc, _ = self.get(f"/api/v1/stats?cohort={COHORT}&by=vo_school&region={region}", who)
            self.assertEqual(status, 200, doc)
            with h.Client(self.d, *who) as c:
                env = c.request(pb.StatsQuery(cohort=COHORT, group_by=pb.GROUP_BY_VO_SCHOOL, region=region))
            want = [(r.key, r.overstappers, r.geplaatst, r.definitief_pct, r.suppressed) for r in env.stats_reply.rows]
            got = [(r["key"], r["overstappers"], r["geplaatst"], r["definitief_pct"], r["suppressed"])
                   for r in doc["rows"]]
            self.assertTrue(got, doc)
            self.assertEqual(got, want, who)
        status, doc, _ = self.get(f"/api/v1/stats?cohort={COHORT}&region=13", PT39)
        self.assertEqual(status, 403, doc)
        for who in (VO, MBO, RMC39):
            status, doc, _ = self.get(f"/api/v1/stats?cohort={COHORT}", who)
            self.assertEqual(status, 403, (who, doc))

    # -- the worklist

    def test_rmc_worklist_has_the_pupils_and_is_audited(self):
        before = self.audits("rmc", "39")
        status, doc, _ = self.get("/api/v1/alerts?state=all", RMC39)
        self.assertEqual(status, 200, doc)
        mine = [a for a in doc["alerts"] if a["kind"] == "ZOMERLEK"]
        self.assertEqual(sorted(a["pgn"] for a in mine), sorted(self.p[1:3]))
        self.assertTrue(all(a["name"].startswith("Leerling") for a in mine), mine)
        self.assertTrue(all(a["region"] == "39" and a["vo_school"] == "26HL00" for a in mine))
        ids = [a["alert_id"] for a in doc["alerts"]]
        self.assertEqual(ids, sorted(ids, reverse=True))  # newest first
        self.assertEqual(self.audits("rmc", "39") - before, len([a for a in doc["alerts"] if a["pgn"]]))
        status, doc, _ = self.get("/api/v1/alerts", RMC13)
        self.assertEqual(status, 200)
        self.assertFalse([a for a in doc["alerts"] if a["pgn"] in self.p[:4]], doc)

    def test_projectteam_queue_carries_no_pupil(self):
        status, doc, _ = self.get("/api/v1/alerts?state=all", PT39)
        self.assertEqual(status, 200, doc)
        self.assertTrue(all(a["pgn"] == "" and a["name"] == "" for a in doc["alerts"]), doc)
        for who in (MBO, ADMIN):
            self.assertEqual(self.get("/api/v1/alerts", who)[0], 403, who)

    def test_ack_from_the_browser_acknowledges_and_only_in_ones_own_queue(self):
        status, doc, _ = self.get("/api/v1/alerts?state=open", RMC39)
        target = next(a for a in doc["alerts"] if a["pgn"] == self.p[2] and a["kind"] == "ZOMERLEK")
        vo_queue = self.get("/api/v1/alerts?state=open", VO)[1]["alerts"]
        vo_alert = next(a for a in vo_queue if a["pgn"] == self.p[2])
        # another RMC acks it: nothing happens
        status, doc, _ = self.d.https("POST", "/api/v1/alerts/ack", *RMC13, body={"alert_ids": [target["alert_id"]]})
        self.assertEqual((status, doc), (200, {"alert_ids": []}))
        # the school acks the RMC's alert: nothing either (its own alert is another one)
        status, doc, _ = self.d.https("POST", "/api/v1/alerts/ack", *VO, body={"alert_ids": [target["alert_id"]]})
        self.assertEqual((status, doc), (200, {"alert_ids": []}))
        status, doc, _ = self.d.https("POST", "/api/v1/alerts/ack", *RMC39, body={"alert_ids": [target["alert_id"]]})
        self.assertEqual((status, doc), (200, {"alert_ids": [target["alert_id"]]}), doc)
        status, doc, _ = self.d.https("POST", "/api/v1/alerts/ack", *RMC39, body={"alert_ids": [target["alert_id"]]})
        self.assertEqual(doc, {"alert_ids": []})  # once
        open_ids = [a["alert_id"] for a in self.get("/api/v1/alerts?state=open", RMC39)[1]["alerts"]]
        self.assertNotIn(target["alert_id"], open_ids)
        listed = [a for a in self.get("/api/v1/alerts?state=all", RMC39)[1]["alerts"]
                  if a["alert_id"] == target["alert_id"]]
        self.assertEqual(len(listed), 1)
        self.assertTrue(listed[0]["acked"])
        # the subscriber is not given it again; the school's own alert is still open
        got = []
        with h.Client(self.d, *RMC39) as c:
            c.send(pb.Subscribe(max_in_flight=100))
            try:
                while True:
                    got.append(c.recv(timeout=2).alert.alert_id)
            except Exception:
                pass
        self.assertNotIn(target["alert_id"], got)
        self.assertIn(vo_alert["alert_id"], [a["alert_id"] for a in self.get("/api/v1/alerts", VO)[1]["alerts"]])
        for bad in ({"alert_ids": "1"}, {"alert_ids": [-1]}, {"ids": [1]}, [1]):
            self.assertEqual(self.d.https("POST", "/api/v1/alerts/ack", *RMC39, body=bad)[0], 400, bad)

    # -- the pupils of a school and of an institution

    def test_decaan_sees_own_pupils_with_applications_and_is_audited(self):
        before = self.audits("vo", "26HL00")
        status, doc, _ = self.get(f"/api/v1/pupils?cohort={COHORT}", VO)
        self.assertEqual(status, 200, doc)
        rows = {r["pgn"]: r for r in doc["pupils"]}
        self.assertEqual(sorted(rows), sorted(self.p[:4]))
        apps = sorted((a["mbo_instelling"], a["crebo"], a["status"]) for a in rows[self.p[0]]["applications"])
        self.assertEqual(apps, [("25LP", "25180", "AANGEMELD"), ("25LQ", "25999", "AANGEMELD")])
        self.assertEqual(rows[self.p[0]]["keuze"]["crebo"], "25180")
        self.assertEqual(rows[self.p[0]]["name"], "Leerling 0")
        self.assertIn("ZOMERLEK", rows[self.p[1]]["open_alerts"])
        self.assertEqual(rows[self.p[0]]["open_alerts"], [])
        self.assertEqual(self.audits("vo", "26HL00") - before, 4)
        status, doc, _ = self.get(f"/api/v1/pupils?cohort={COHORT}", VO2)
        self.assertEqual(doc["pupils"], [])

    def test_mbo_sees_its_applicants_and_only_its_own_applications(self):
        status, doc, _ = self.get(f"/api/v1/pupils?cohort={COHORT}", MBO)
        self.assertEqual(status, 200, doc)
        rows = {r["pgn"]: r for r in doc["pupils"]}
        self.assertEqual(sorted(rows), sorted([self.p[0], self.p[4]]))
        self.assertEqual([a["mbo_instelling"] for a in rows[self.p[0]]["applications"]], ["25LP"])
        self.assertNotIn("keuze", rows[self.p[0]])
        self.assertEqual(rows[self.p[0]]["last_event"]["kind"], "AANGEMELD")
        status, doc, _ = self.get(f"/api/v1/pupils?cohort={COHORT}", MBO2)
        self.assertEqual([r["pgn"] for r in doc["pupils"]], [self.p[0]])
        for who in (RMC39, PT39, ADMIN):
            self.assertEqual(self.get(f"/api/v1/pupils?cohort={COHORT}", who)[0], 403, who)

    def test_timeline_is_the_pupil_reply_scoped_and_audited(self):
        status, doc, _ = self.get(f"/api/v1/pupils/{self.p[0]}?cohort={COHORT}", VO)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["vo_school"], "26HL00")
        kinds = [e["kind"] for e in doc["timeline"]]
        self.assertIn("KEUZE_GEREGISTREERD", kinds)
        for who, pgn in ((VO2, self.p[0]), (RMC13, self.p[0]), (MBO2, self.p[4]), (VO, self.p[4])):
            status, doc, _ = self.get(f"/api/v1/pupils/{pgn}?cohort={COHORT}", who)
            self.assertEqual(status, 403, (who, doc))
        self.assertEqual(self.get(f"/api/v1/pupils/{self.p[4]}?cohort={COHORT}", RMC13)[0], 200)
        status, doc, _ = self.get(f"/api/v1/pupils/12345?cohort={COHORT}", VO)
        self.assertEqual(status, 400)
        self.assertEqual(doc["code"], "BAD_PGN")

    # -- pages

    def test_each_role_gets_its_page_without_inline_script(self):
        for who, page in ((VO, "vo"), (MBO, "mbo"), (RMC39, "rmc"), (PT39, "region"), (ADMIN, "region")):
            status, body, headers = self.get("/", who)
            self.assertEqual(status, 200)
            self.assertIn(f'data-page="{page}"', body.replace("data-page=" + page, f'data-page="{page}"'))
            self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        status, body, headers = self.get("/assets/common.js", VO)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/javascript"))
        self.assertEqual(self.get("/assets/nothing.js", VO)[0], 404)


if __name__ == "__main__":
    unittest.main()
