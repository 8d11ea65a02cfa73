"""test_delivery.py — alert delivery end to end (DESIGN §4.2 Subscribe / Alert /
AlertAck, §4.3 queues per role, §5.1 delivery): a real overstapd with a
manual clock on a real PostgreSQL, pupils pushed by real vo and mbo
certificates, and subscribers speaking Subscribe/AlertAck over TLS — plus the
overstap-rmc client (§6.1).

Alerts are raised the cheap ways of §5.1: an mbo's NIET_GESTART report
(real-time NIET_GESTART), or a registration, keuze, diploma and application
followed by a withdrawal (real-time ZOMERLEK). Both go to rmc:<region of the
woongemeente> and vo:<school>.

The manual clock stands in March of the cohort year, before any deadline, so
no sweep adds alerts the tests do not expect; it moves only where a test
needs it (ack_timeout, escalation), by AdminRequest.set_clock.
"""
import collections
import json
import os
import threading
import time
import unittest

import harness as h
from harness import pb

COHORT = 2031
START = "2031-03-16T12:00:00Z"
ACK_TIMEOUT = 2  # seconds: the daemons below run with alerts.ack_timeout = 2s
CONFIG = {"alerts.ack_timeout": f"{ACK_TIMEOUT}s"}
QUIET = 0.3  # how long "nothing arrives" is watched (times harness.SLOW)

VO = ("vo", "25LX00")         # school in GM0777 (region 34); its pupils live in GM0935 (39)
VO_OTHER = ("vo", "25LY00")
MBO = ("mbo", "25LP")
RMC39 = ("rmc", "39")
RMC13 = ("rmc", "13")


# ---- pupils that raise alerts -----------------------------------------------------

def push_ok(client, updates):
    results = client.push(updates)
    bad = [f"{r.event_id}: {h.result_name(r)} {r.error_code} {r.error_message}" for r in results
           if r.result != pb.RESULT_ACCEPTED]
    assert not bad, bad
    return results


def register(daemon, pgns, school="25LX00", woongemeente="GM0935"):
    with h.Client(daemon, "vo", school) as vo:
        push_ok(vo, [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=COHORT, school=school,
                                   woongemeente=woongemeente, occurred_at="2030-10-01") for p in pgns])


def niet_gestart_updates(pgns):
    """An application at 25LP, then its no-show: an institution the pupil never
    applied to takes no part in the status (DESIGN §5)."""
    ups = []
    for p in pgns:
        ups += [h.make_update("AANGEMELD", pgn=p, cohort=COHORT, school="25LP", occurred_at="2031-03-01"),
                h.make_update("NIET_GESTART", pgn=p, cohort=COHORT, school="25LP", occurred_at="2031-03-05",
                              reason="niet verschenen")]
    return ups


def raise_niet_gestart(daemon, n, school="25LX00", woongemeente="GM0935"):
    """n pupils of `school` living in `woongemeente`, each reported NIET_GESTART
    by an mbo: one NIET_GESTART alert each for rmc:<region> and vo:<school>.
    Returns their PGNs (the alerts are committed when this returns)."""
    pgns = h.make_pgns(n)
    register(daemon, pgns, school, woongemeente)
    with h.Client(daemon, *MBO) as mbo:
        push_ok(mbo, niet_gestart_updates(pgns))
    return pgns


def prepare_zomerlek(daemon, pgns, school="25LX00"):
    """Registered, keuze MBO, applied, diploma: one withdrawal away from a
    real-time ZOMERLEK (DESIGN §5.1)."""
    with h.Client(daemon, "vo", school) as vo:
        ups = []
        for p in pgns:
            ups += [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=COHORT, school=school,
                                  occurred_at="2030-10-01"),
                    h.make_update("KEUZE_GEREGISTREERD", pgn=p, cohort=COHORT, school=school,
                                  occurred_at="2031-02-01"),
                    h.make_update("DIPLOMA_BEHAALD", pgn=p, cohort=COHORT, school=school,
                                  occurred_at="2031-03-10")]
        push_ok(vo, ups)
    with h.Client(daemon, *MBO) as mbo:
        push_ok(mbo, [h.make_update("AANGEMELD", pgn=p, cohort=COHORT, occurred_at="2031-03-01")
                      for p in pgns])


def withdrawals(pgns):
    return [h.make_update("INGETROKKEN", pgn=p, cohort=COHORT, crebo="25180", occurred_at="2031-03-12",
                          reason="andere opleiding gezocht") for p in pgns]


# ---- the queues in the database ------------------------------------------------------

def queued(db, recipient):
    """Ids of the alerts in recipient's queue (unacked), in alert_id order."""
    return [int(r[0]) for r in h.psql(db, f"SELECT id FROM alert WHERE recipient = '{recipient}' "
                                          "AND acked_at IS NULL ORDER BY id")]


def alert_ids(db, recipient, pgns, kind=None):
    """Ids of recipient's alerts (acked or not) for these pupils."""
    arr = "{" + ",".join(pgns) + "}"
    k = f" AND a.kind = {kind}" if kind else ""
    return [int(r[0]) for r in h.psql(db, "SELECT a.id FROM alert a JOIN pupil p ON p.id = a.pupil_id "
                                          f"WHERE a.recipient = '{recipient}' AND p.pgn = ANY('{arr}'){k} "
                                          "ORDER BY a.id")]


def wait_acked(db, ids):
    arr = "{" + ",".join(map(str, ids)) + "}"
    h.wait_until(lambda: h.psql_value(db, f"SELECT count(*) FROM alert WHERE id = ANY('{arr}') "
                                          "AND acked_at IS NOT NULL") == str(len(ids)),
                 timeout=10, what=f"alerts {ids} acked in the database")


def unacked_among(db, ids):
    arr = "{" + ",".join(map(str, ids)) + "}"
    return [int(r[0]) for r in h.psql(db, f"SELECT id FROM alert WHERE id = ANY('{arr}') "
                                          "AND acked_at IS NULL ORDER BY id")]


def connections_open(daemon):
    v = h.metric(daemon, "overstapd_connections_open")
    return None if v is None else int(v)


def quiesce(daemon, db):
    """Every test starts with the daemon holding no connection (so no
    subscription of an earlier test can take a new alert) and with empty
    queues: what earlier tests left unacked is marked acked directly in the
    database."""
    h.wait_until(lambda: connections_open(daemon) == 0, timeout=10,
                 what="the connections of earlier tests closed in the daemon")
    h.psql(db, "UPDATE alert SET acked_at = 0, lease_until = NULL, lease_owner = NULL WHERE acked_at IS NULL")


def set_clock(daemon, at):
    with h.Client(daemon, "admin", "ops") as admin:
        env = admin.request(pb.AdminRequest(set_clock=pb.SetClock(at=at)))
    assert env.WhichOneof("body") == "admin_reply", env


# ---- a subscriber ---------------------------------------------------------------------

class Subscriber:
    """A TLS client that has sent Subscribe{max_in_flight}."""

    def __init__(self, test, daemon, role, org, max_in_flight=0):
        self.test = test
        self.c = test.client(daemon, role, org)
        self.label = f"{role}:{org}"
        self.c.send(pb.Subscribe(max_in_flight=max_in_flight))

    def take(self, n, timeout=10):
        """The next n frames, which must be Alerts."""
        out = []
        for _ in range(n):
            try:
                env = self.c.recv(timeout)
            except TimeoutError:
                self.test.fail(f"{self.label}: got {len(out)} of {n} alerts: {[a.alert_id for a in out]}")
            self.test.assertEqual(env.WhichOneof("body"), "alert", f"{self.label}: {env}")
            out.append(env.alert)
        return out

    def take_ids(self, n, timeout=10):
        return [a.alert_id for a in self.take(n, timeout)]

    def nothing(self, wait=QUIET):
        """Nothing arrives within wait (times harness.SLOW)."""
        try:
            env = self.c.recv(wait)
        except TimeoutError:
            return
        self.test.fail(f"{self.label}: expected nothing, got {env}")

    def ack(self, ids):
        self.c.send(pb.AlertAck(alert_ids=list(ids)))

    def close(self):
        self.c.close()


# ---- the tests ------------------------------------------------------------------------

class DeliveryTest(h.TestCase):
    """One database and one daemon (manual clock, ack_timeout 2 s) for the
    class; each test starts with empty queues (quiesce)."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_delivery")
        cls.daemon = h.Daemon(cls.db, clock=START, config=CONFIG)
        cls.now = h.unix(START)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def setUp(self):
        quiesce(self.daemon, self.db)

    def subscribe(self, role, org, max_in_flight=0):
        return Subscriber(self, self.daemon, role, org, max_in_flight)

    def move_clock(self, seconds):
        type(self).now += seconds
        set_clock(self.daemon, type(self).now)

    # ---- order, window, ack -------------------------------------------------------------

    def test_queue_comes_in_alert_id_order_at_most_max_in_flight_and_ack_removes(self):
        pgns = raise_niet_gestart(self.daemon, 3) + raise_niet_gestart(self.daemon, 2)
        ids = queued(self.db, "rmc:39")
        self.assertEqual(ids, alert_ids(self.db, "rmc:39", pgns))
        self.assertEqual(len(ids), 5)
        sub = self.subscribe(*RMC39, max_in_flight=2)
        got = sub.take_ids(2)
        self.assertEqual(got, ids[:2])
        sub.nothing()  # the window is full
        for i in range(2, 5):
            sub.ack([got[i - 2]])
            got += sub.take_ids(1)
            sub.nothing()  # one acked, one more: never more than 2 unacked
        self.assertEqual(got, ids, "delivered in alert_id order, each once")
        sub.ack(got[3:])
        sub.ack([got[2]])
        wait_acked(self.db, ids)
        self.assertEqual(queued(self.db, "rmc:39"), [])
        sub.close()
        # a new subscription gets nothing of what was acked — but does get what comes next
        sub2 = self.subscribe(*RMC39, max_in_flight=10)
        sub2.nothing()
        later = raise_niet_gestart(self.daemon, 1)
        self.assertEqual(sub2.take_ids(1), alert_ids(self.db, "rmc:39", later))
        sub2.nothing()

    def test_default_window_delivers_the_whole_small_queue(self):
        raise_niet_gestart(self.daemon, 4)
        ids = queued(self.db, "rmc:39")
        sub = self.subscribe(*RMC39)  # max_in_flight unset: 100
        self.assertEqual(sub.take_ids(4), ids)
        sub.nothing()
        sub.ack(ids)
        wait_acked(self.db, ids)

    def test_unacked_alerts_come_again_on_the_next_subscription(self):
        pgns = raise_niet_gestart(self.daemon, 3)
        ids = alert_ids(self.db, "rmc:39", pgns)
        sub = self.subscribe(*RMC39, max_in_flight=10)
        first = sub.take(3)
        self.assertEqual([a.alert_id for a in first], ids)
        sub.ack([ids[0]])
        wait_acked(self.db, [ids[0]])
        sub.close()  # disconnects holding ids[1:] unacked
        again = self.subscribe(*RMC39, max_in_flight=10)
        second = again.take(2)
        self.assertEqual([a.alert_id for a in second], ids[1:])
        for a, b in zip(first[1:], second):
            self.assertEqual(a, b, "the same alert, field for field")
        again.nothing()  # not the acked one
        again.ack(ids[1:])
        wait_acked(self.db, ids)
        again.close()
        self.subscribe(*RMC39, max_in_flight=10).nothing()

    def test_unacked_alerts_come_again_after_ack_timeout_on_the_same_subscription(self):
        pgns = raise_niet_gestart(self.daemon, 2)
        ids = alert_ids(self.db, "rmc:39", pgns)
        sub = self.subscribe(*RMC39, max_in_flight=10)
        self.assertEqual(sub.take_ids(2), ids)
        sub.nothing()  # the daemon's (manual) time stands still: no redelivery
        self.move_clock(ACK_TIMEOUT - 1)
        sub.nothing()  # not before ack_timeout
        self.move_clock(2)
        self.assertEqual(sub.take_ids(2), ids, "redelivered after ack_timeout, in order")
        sub.nothing()
        sub.ack(ids)
        wait_acked(self.db, ids)
        self.move_clock(ACK_TIMEOUT + 1)
        sub.nothing()  # acked: never again

    # ---- real time ------------------------------------------------------------------------

    def test_alert_raised_while_subscribed_arrives_within_a_second(self):
        pgn = h.make_pgns(1)[0]
        prepare_zomerlek(self.daemon, [pgn])
        rmc = self.subscribe(*RMC39, max_in_flight=10)
        vo = self.subscribe(*VO, max_in_flight=10)
        rmc.nothing(0.3)
        vo.nothing(0.1)
        mbo = self.client(self.daemon, *MBO)
        t0 = time.monotonic()
        seq = mbo.send(pb.StatusBatch(updates=withdrawals([pgn])))
        [a] = rmc.take(1, timeout=5)
        latency = time.monotonic() - t0
        [b] = vo.take(1, timeout=5)
        latency_vo = time.monotonic() - t0
        self.assertEqual(mbo.wait_reply(seq).WhichOneof("body"), "batch_ack")
        self.assertLess(latency, 1.0, f"ZOMERLEK reached rmc:39 after {latency:.3f} s")
        self.assertLess(latency_vo, 1.0, f"ZOMERLEK reached vo:25LX00 after {latency_vo:.3f} s")
        # the fields of DESIGN §4.2
        for alert, recipient in ((a, "rmc:39"), (b, "vo:25LX00")):
            with self.subTest(recipient=recipient):
                self.assertEqual(alert.alert_id, alert_ids(self.db, recipient, [pgn])[0])
                self.assertEqual(alert.kind, pb.ALERT_KIND_ZOMERLEK)
                self.assertEqual(alert.cohort, COHORT)
                self.assertEqual(alert.pgn, pgn)
                self.assertEqual(alert.name, "Sam de Vries")
                self.assertEqual(alert.birth_date, f"{COHORT - 16}-03-04")
                self.assertEqual(alert.woongemeente, "GM0935")
                self.assertEqual(alert.vo_school, "25LX00")
                self.assertEqual(alert.region, "39")
                self.assertEqual(alert.status, pb.STATUS_ZONDER_PLEK)
                self.assertEqual(alert.mbo_instelling, "25LP")
                self.assertEqual(alert.raised_at, type(self).now, "raised at the daemon's (manual) time")
                self.assertTrue(alert.reason)
                self.assertEqual((alert.resolves_alert_id, alert.escalated_alert_id), (0, 0))
        rmc.ack([a.alert_id])
        vo.ack([b.alert_id])
        # enrolled elsewhere after all: OPGELOST to both, in real time, naming the alert
        with self.client(self.daemon, "mbo", "25LQ") as other:
            t0 = time.monotonic()
            push_ok(other, [h.make_update("INGESCHREVEN", pgn=pgn, cohort=COHORT, school="25LQ",
                                          occurred_at="2031-03-14")])
        [ra] = rmc.take(1, timeout=5)
        [rb] = vo.take(1, timeout=5)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual((ra.kind, ra.resolves_alert_id, ra.pgn), (pb.ALERT_KIND_OPGELOST, a.alert_id, pgn))
        self.assertEqual((rb.kind, rb.resolves_alert_id, rb.pgn), (pb.ALERT_KIND_OPGELOST, b.alert_id, pgn))
        rmc.ack([ra.alert_id])
        vo.ack([rb.alert_id])
        wait_acked(self.db, [a.alert_id, b.alert_id, ra.alert_id, rb.alert_id])
        rmc.nothing()

    def test_niet_gestart_report_while_subscribed_arrives_within_a_second(self):
        pgns = h.make_pgns(3)
        register(self.daemon, pgns)
        rmc = self.subscribe(*RMC39, max_in_flight=10)
        rmc.nothing(0.3)
        mbo = self.client(self.daemon, *MBO)
        t0 = time.monotonic()
        mbo.send(pb.StatusBatch(updates=niet_gestart_updates(pgns)))
        got = rmc.take(3, timeout=5)
        latency = time.monotonic() - t0
        self.assertLess(latency, 1.0, f"three NIET_GESTART alerts took {latency:.3f} s")
        self.assertEqual([a.alert_id for a in got], alert_ids(self.db, "rmc:39", pgns))
        self.assertEqual({(a.kind, a.status, a.reason != "") for a in got},
                         {(pb.ALERT_KIND_NIET_GESTART, pb.STATUS_NIET_GESTART, True)})
        self.assertEqual(sorted(a.pgn for a in got), sorted(pgns))
        rmc.ack([a.alert_id for a in got])
        wait_acked(self.db, [a.alert_id for a in got])

    def test_alerts_raised_by_concurrent_transactions_arrive_in_alert_id_order(self):
        """Alert ids come from a sequence at insert, not at commit: without
        ordering, a transaction holding id 24 could commit before the one
        holding 23, and a subscriber would get 24 first. Four mbo connections
        report NIET_GESTART in small batches at once (groups on both ingest
        shards committing side by side); the subscriber must see every alert
        in increasing alert_id order."""
        n_conn, per_conn, per_batch = 4, 50, 1
        pgns = h.make_pgns(n_conn * per_conn)
        register(self.daemon, pgns)
        sub = self.subscribe(*RMC39, max_in_flight=len(pgns))
        errors = []

        def report(mine):
            try:
                with h.Client(self.daemon, *MBO) as mbo:
                    for i in range(0, len(mine), per_batch):
                        push_ok(mbo, niet_gestart_updates(mine[i:i + per_batch]))
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=report, args=(pgns[k * per_conn:(k + 1) * per_conn],))
                   for k in range(n_conn)]
        for t in threads:
            t.start()
        got = sub.take_ids(len(pgns), timeout=30)
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        inversions = [(a, b) for a, b in zip(got, got[1:]) if b <= a]
        self.assertEqual(inversions, [], "delivered out of alert_id order")
        self.assertEqual(got, alert_ids(self.db, "rmc:39", pgns))
        sub.ack(got)
        wait_acked(self.db, got)

    # ---- several subscribers -----------------------------------------------------------------

    def test_two_subscribers_on_one_queue_never_hold_the_same_alert(self):
        pgns = raise_niet_gestart(self.daemon, 8)
        ids = alert_ids(self.db, "rmc:39", pgns)
        a = self.subscribe(*RMC39, max_in_flight=3)
        held_a = set(a.take_ids(3))
        b = self.subscribe(*RMC39, max_in_flight=3)
        held_b = set(b.take_ids(3))
        self.assertEqual(held_a & held_b, set(), "both hold the same alert")
        a.nothing(0.2)
        b.nothing(0.2)
        # a acks: a gets the two left, b nothing
        a.ack(sorted(held_a))
        done = set(held_a)
        held_a = set(a.take_ids(2))
        self.assertEqual(held_a & held_b, set())
        b.nothing()
        b.ack(sorted(held_b))
        done |= held_b
        a.ack(sorted(held_a))
        done |= held_a
        self.assertEqual(sorted(done), ids, "together they got the whole queue")
        wait_acked(self.db, ids)
        a.nothing(0.2)
        b.nothing(0.2)
        self.assertEqual(h.psql(self.db, "SELECT DISTINCT deliveries FROM alert WHERE id = ANY('{%s}')"
                                         % ",".join(map(str, ids))), [["1"]], "each delivered once")

    def test_alerts_of_a_subscriber_that_leaves_go_to_the_other_at_once(self):
        pgns = raise_niet_gestart(self.daemon, 4)
        ids = alert_ids(self.db, "rmc:39", pgns)
        b = self.subscribe(*RMC39, max_in_flight=3)
        held_b = b.take_ids(3)
        a = self.subscribe(*RMC39, max_in_flight=10)
        first = a.take_ids(1)
        self.assertEqual(sorted(first + held_b), ids)
        a.nothing(0.2)
        b.close()  # leaves without acking: its three are a's now, not at a's next ack
        self.assertEqual(sorted(a.take_ids(3, timeout=2)), sorted(held_b))
        a.ack(ids)
        wait_acked(self.db, ids)

    def test_two_busy_subscribers_share_a_queue_without_overlap(self):
        pgns = raise_niet_gestart(self.daemon, 24)
        ids = alert_ids(self.db, "rmc:39", pgns)
        lock = threading.Lock()
        holder = {}          # alert id -> subscriber holding it now
        got = collections.defaultdict(list)
        problems = []

        def consume(name, client):
            try:
                client.send(pb.Subscribe(max_in_flight=4))
                while True:
                    with lock:
                        if sum(len(v) for v in got.values()) >= len(ids):
                            return
                    try:
                        env = client.recv(2)
                    except TimeoutError:
                        continue
                    if env.WhichOneof("body") != "alert":
                        problems.append(f"{name}: {env}")
                        return
                    i = env.alert.alert_id
                    with lock:
                        if i in holder:
                            problems.append(f"{i} given to {name} while {holder[i]} holds it")
                        holder[i] = name
                        got[name].append(i)
                    time.sleep(0.005)
                    with lock:
                        del holder[i]
                    client.send(pb.AlertAck(alert_ids=[i]))
            except Exception as e:  # noqa: BLE001 — reported below
                problems.append(f"{name}: {e!r}")

        clients = {n: self.client(self.daemon, *RMC39) for n in ("A", "B")}
        threads = [threading.Thread(target=consume, args=(n, c), daemon=True) for n, c in clients.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60 * h.SLOW)
        self.assertFalse(any(t.is_alive() for t in threads), "the consumers did not finish")
        self.assertEqual(problems, [])
        every = got["A"] + got["B"]
        self.assertEqual(sorted(every), ids, "each alert once, none lost")
        self.assertTrue(got["A"] and got["B"], f"both took part: {dict(got)}")
        self.assertEqual(got["A"], sorted(got["A"]))
        self.assertEqual(got["B"], sorted(got["B"]))
        wait_acked(self.db, ids)

    # ---- who gets what ----------------------------------------------------------------------

    def test_queues_are_per_region_and_per_school(self):
        p39 = raise_niet_gestart(self.daemon, 2)                          # 25LX00, living in 39
        p13 = raise_niet_gestart(self.daemon, 1, woongemeente="GM0222")   # 25LX00, living in 13
        pother = raise_niet_gestart(self.daemon, 2, school="25LY00")      # 25LY00, living in 39
        rmc39_ids = alert_ids(self.db, "rmc:39", p39 + pother)
        rmc13_ids = alert_ids(self.db, "rmc:13", p13)
        self.assertEqual((len(rmc39_ids), len(rmc13_ids)), (4, 1))
        # rmc/13 gets the one pupil living in 13 and nothing of 39
        rmc13 = self.subscribe(*RMC13, max_in_flight=50)
        got13 = rmc13.take(1)
        rmc13.nothing()
        self.assertEqual([a.alert_id for a in got13], rmc13_ids)
        self.assertEqual((got13[0].pgn, got13[0].region, got13[0].woongemeente), (p13[0], "13", "GM0222"))
        # acking another queue's alerts changes nothing there
        rmc13.ack(rmc39_ids)
        rmc13.ack(rmc13_ids)
        wait_acked(self.db, rmc13_ids)
        self.assertEqual(unacked_among(self.db, rmc39_ids), rmc39_ids)
        # rmc/39: exactly its four, all of region 39
        rmc39 = self.subscribe(*RMC39, max_in_flight=50)
        got39 = rmc39.take(4)
        rmc39.nothing()
        self.assertEqual([a.alert_id for a in got39], rmc39_ids)
        self.assertEqual({a.region for a in got39}, {"39"})
        self.assertEqual(sorted(a.pgn for a in got39), sorted(p39 + pother))
        # a vo school gets vo:<its code> only
        for (role, org), pupils in ((VO, p39 + p13), (VO_OTHER, pother)):
            with self.subTest(school=org):
                exp = alert_ids(self.db, f"vo:{org}", pupils)
                self.assertEqual(len(exp), len(pupils))
                sub = self.subscribe(role, org, max_in_flight=50)
                got = sub.take(len(exp))
                sub.nothing()
                self.assertEqual([a.alert_id for a in got], exp)
                self.assertEqual({a.vo_school for a in got}, {org})
        # the projectteam's queue holds escalations only
        self.subscribe("projectteam", "39", max_in_flight=50).nothing()

    def test_mbo_has_no_queue(self):
        raise_niet_gestart(self.daemon, 1)
        for role, org in (MBO, ("mbo", "25LQ")):
            with self.subTest(role=role, org=org):
                c = self.client(self.daemon, role, org)
                env = c.request(pb.Subscribe(max_in_flight=5))
                self.assertEqual(env.WhichOneof("body"), "error", env)
                self.assertEqual(env.error.code, "PERMISSION_DENIED")
                env = c.request(pb.AlertAck(alert_ids=queued(self.db, "rmc:39")))
                self.assertEqual(env.WhichOneof("body"), "error", env)
                self.assertEqual(env.error.code, "PERMISSION_DENIED")
                with self.assertRaises(TimeoutError, msg="an alert reached an mbo"):
                    c.recv(QUIET)
                self.assertEqual(c.ping(3).pong.t, 3, "the connection stays usable")
        self.assertEqual(len(queued(self.db, "rmc:39")), 1, "the denied AlertAck acked nothing")


class MultiInstanceTest(h.TestCase):
    """Two daemons on one database (deploy/MULTI-INSTANCE.md): an alert raised
    through one reaches a subscriber on the other at once (NOTIFY)."""

    def test_alert_raised_through_one_instance_reaches_a_subscriber_on_the_other(self):
        db = h.fresh_database("it_delivery_two")
        a = self.start_daemon(db, clock=START, config=dict(CONFIG, **{"server.instance": "overstapd-a"}))
        b = self.start_daemon(db, clock=START, config=dict(CONFIG, **{"server.instance": "overstapd-b"}))
        sub = Subscriber(self, a, *RMC39, max_in_flight=10)
        sub.nothing(0.3)
        t0 = time.monotonic()
        pgns = raise_niet_gestart(b, 2)
        got = sub.take(2, timeout=5)
        self.assertLess(time.monotonic() - t0, 1.0 * h.SLOW, "alert from the other instance took too long")
        self.assertEqual(sorted(x.pgn for x in got), sorted(pgns))
        sub.ack([x.alert_id for x in got])


class EscalationTest(h.TestCase):
    """ESCALATIE (DESIGN §4.2, §5.1): an RMC alert unacked for escalate_after
    (7 days) goes to projectteam:<region>, without personal data."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_delivery_escalation")

    def test_unacked_rmc_alert_escalates_without_personal_data(self):
        d = self.start_daemon(self.db, clock=START, config=CONFIG)
        t = h.unix(START)
        pgns = raise_niet_gestart(d, 2)
        rmc_ids = alert_ids(self.db, "rmc:39", pgns)
        vo_ids = alert_ids(self.db, "vo:25LX00", pgns)
        # the RMC acks the first pupil's alert only
        rmc = Subscriber(self, d, *RMC39, max_in_flight=1)
        self.assertEqual(rmc.take_ids(1), rmc_ids[:1])
        rmc.ack(rmc_ids[:1])
        wait_acked(self.db, rmc_ids[:1])
        rmc.close()
        pt = Subscriber(self, d, "projectteam", "39", max_in_flight=10)
        pt13 = Subscriber(self, d, "projectteam", "13", max_in_flight=10)
        set_clock(d, t + 7 * 86400 - 60)
        pt.nothing()  # not yet
        set_clock(d, t + 7 * 86400 + 1)
        [e] = pt.take(1)
        pt.nothing()
        pt13.nothing(0.2)
        self.assertEqual(e.kind, pb.ALERT_KIND_ESCALATIE)
        self.assertEqual(e.escalated_alert_id, rmc_ids[1], "the unacked RMC alert, not the acked one")
        self.assertEqual((e.cohort, e.region, e.vo_school, e.raised_at), (COHORT, "39", "25LX00", t + 7 * 86400 + 1))
        self.assertEqual((e.pgn, e.name, e.birth_date, e.woongemeente), ("", "", "", ""),
                         "ESCALATIE carries no personal data")
        # vo alerts never escalate
        self.assertEqual(h.psql_value(self.db, "SELECT count(*) FROM alert WHERE kind = 4 AND escalated_alert_id "
                                               "= ANY('{%s}')" % ",".join(map(str, vo_ids))), "0")
        pt.ack([e.alert_id])
        wait_acked(self.db, [e.alert_id])
        # once escalated, never again
        set_clock(d, t + 14 * 86400 + 2)
        pt.nothing()


class CrashTest(h.TestCase):
    """kill -9 between delivery and ack loses nothing (DESIGN §5.1 at-least-once)."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_delivery_crash")

    def test_kill9_between_delivery_and_ack_loses_nothing(self):
        d = self.start_daemon(self.db, clock=START, config=CONFIG)
        pgns = raise_niet_gestart(d, 4)
        ids = alert_ids(self.db, "rmc:39", pgns)
        vo_ids = alert_ids(self.db, "vo:25LX00", pgns)
        sub = Subscriber(self, d, *RMC39, max_in_flight=10)
        first = sub.take(4)
        self.assertEqual([a.alert_id for a in first], ids)
        sub.ack(ids[:2])
        wait_acked(self.db, ids[:2])
        # the other two are delivered, leased, unacked
        self.assertEqual(h.psql(self.db, "SELECT count(*) FROM alert WHERE id = ANY('{%s}') AND lease_until "
                                         "IS NOT NULL" % ",".join(map(str, ids[2:]))), [["2"]])
        d.kill9()
        sub.close()
        d.start()
        again = Subscriber(self, d, *RMC39, max_in_flight=10)
        second = again.take(2)
        self.assertEqual([a.alert_id for a in second], ids[2:], "the unacked ones, and only those")
        for a, b in zip(first[2:], second):
            self.assertEqual(a, b)
        again.nothing()
        again.ack(ids[2:])
        wait_acked(self.db, ids)
        # the vo queue was never touched: all four are still there after the crash
        vo = Subscriber(self, d, *VO, max_in_flight=10)
        self.assertEqual(vo.take_ids(4), vo_ids)
        vo.ack(vo_ids)
        wait_acked(self.db, vo_ids)
        # and a second crash brings nothing back that was acked
        d.kill9()
        again.close()
        vo.close()
        d.start()
        Subscriber(self, d, *RMC39, max_in_flight=10).nothing()
        Subscriber(self, d, *VO, max_in_flight=10).nothing(0.2)


class SystemClockTest(h.TestCase):
    """ack_timeout on the real clock: a lease runs out by itself."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_delivery_sysclock")

    def test_unacked_alert_comes_again_after_ack_timeout(self):
        d = self.start_daemon(self.db, config=CONFIG)
        pgns = h.make_pgns(1)
        with h.Client(d, *VO) as vo:
            push_ok(vo, [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgns[0])])
        with h.Client(d, *MBO) as mbo:  # an application, then its no-show (system clock: now)
            push_ok(mbo, [h.make_update("AANGEMELD", pgn=pgns[0]), h.make_update("NIET_GESTART", pgn=pgns[0])])
        [i] = alert_ids(self.db, "rmc:39", pgns)
        sub = Subscriber(self, d, *RMC39, max_in_flight=10)
        self.assertEqual(sub.take_ids(1), [i])
        t0 = time.monotonic()
        self.assertEqual(sub.take_ids(1, timeout=ACK_TIMEOUT + 3), [i])
        waited = time.monotonic() - t0
        # leases are in whole seconds of the daemon's clock: at least ack_timeout - 1 s
        self.assertGreater(waited, ACK_TIMEOUT - 1, f"redelivered after {waited:.2f} s")
        self.assertLess(waited, (ACK_TIMEOUT + 1.5) * h.SLOW, f"redelivered after {waited:.2f} s")
        sub.ack([i])
        wait_acked(self.db, [i])
        sub.nothing(ACK_TIMEOUT + 0.5)


class RmcClientTest(h.TestCase):
    """overstap-rmc (DESIGN §6.1): --json lines, --out FILE appended and synced
    before the ack, --max N, --idle-exit SECONDS, exit codes."""

    @classmethod
    def setUpClass(cls):
        if not h.has_tool("overstap-rmc"):
            raise unittest.SkipTest("overstap-rmc is not built")
        cls.db = h.fresh_database("it_delivery_rmc")
        cls.daemon = h.Daemon(cls.db, clock=START, config=CONFIG)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()

    def setUp(self):
        quiesce(self.daemon, self.db)

    def rmc(self, *args, role="rmc", org="39", expect=0):
        t0 = time.monotonic()
        args = [str(a) for a in args]
        r = h.run_tool("overstap-rmc", args, daemon=self.daemon, role=role, org=org, timeout=60)
        r.seconds = time.monotonic() - t0
        if expect is not None:
            self.assertEqual(r.returncode, expect, f"overstap-rmc {' '.join(args)}:\n{r.stdout}{r.stderr}")
        return r

    def test_json_lines_then_acked(self):
        pgns = raise_niet_gestart(self.daemon, 3)
        ids = alert_ids(self.db, "rmc:39", pgns)
        r = self.rmc("--json", "--idle-exit", "1")
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([a["alert_id"] for a in lines], ids)
        for a in lines:
            self.assertEqual((a["kind"], a["cohort"], a["region"], a["vo_school"], a["status"]),
                             ("NIET_GESTART", COHORT, "39", "25LX00", "NIET_GESTART"))
            self.assertIn(a["pgn"], pgns)
            self.assertTrue(a["name"] and a["birth_date"] and a["reason"])
            self.assertEqual(set(a) >= {"alert_id", "kind", "cohort", "pgn", "name", "birth_date", "woongemeente",
                                        "vo_school", "status", "mbo_instelling", "crebo", "raised_at", "reason",
                                        "resolves_alert_id", "region", "escalated_alert_id"}, True, a)
        wait_acked(self.db, ids)
        self.assertEqual(self.rmc("--json", "--idle-exit", "1").stdout, "", "acked: not again")

    def test_text_lines(self):
        pgns = raise_niet_gestart(self.daemon, 2)
        ids = alert_ids(self.db, "rmc:39", pgns)
        out = self.rmc("--idle-exit", "1").stdout.splitlines()
        self.assertEqual(len(out), 2, out)
        for line, i in zip(out, ids):
            self.assertTrue(line.startswith(f"{i} NIET_GESTART"), line)
            self.assertRegex(line, r"pgn=(%s)" % "|".join(pgns))
        wait_acked(self.db, ids)

    def test_out_file_is_appended_then_acked(self):
        path = h.Path(self.daemon.dir) / "rmc-out.jsonl"
        path.unlink(missing_ok=True)
        # a file the RMC already has: what is in it stays
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b'{"earlier": true}\n')
        os.close(fd)
        pgns = raise_niet_gestart(self.daemon, 2)
        ids = alert_ids(self.db, "rmc:39", pgns)
        r = self.rmc("--json", "--out", path, "--idle-exit", "1")
        self.assertEqual(r.stdout, "")
        wait_acked(self.db, ids)
        more = raise_niet_gestart(self.daemon, 3)
        more_ids = alert_ids(self.db, "rmc:39", more)
        self.rmc("--json", "--out", path, "--idle-exit", "1")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        self.assertEqual(lines[0], {"earlier": True})
        self.assertEqual([a["alert_id"] for a in lines[1:]], ids + more_ids, "appended, nothing lost or repeated")
        # a new file is created for the owner only (personal data)
        fresh = h.Path(self.daemon.dir) / "rmc-new.jsonl"
        fresh.unlink(missing_ok=True)
        raise_niet_gestart(self.daemon, 1)
        self.rmc("--json", "--out", fresh, "--idle-exit", "1")
        self.assertEqual(len(fresh.read_text().splitlines()), 1)
        self.assertEqual(os.stat(fresh).st_mode & 0o777, 0o600)
        wait_acked(self.db, more_ids)

    def test_output_that_cannot_be_written_acks_nothing(self):
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        pgns = raise_niet_gestart(self.daemon, 2)
        ids = alert_ids(self.db, "rmc:39", pgns)
        r = self.rmc("--json", "--out", "/dev/full", "--idle-exit", "1", expect=2)
        self.assertIn("/dev/full", r.stderr)
        time.sleep(0.3 * h.SLOW)
        self.assertEqual(unacked_among(self.db, ids), ids, "not written, so not acked")
        # delivered again to the next run
        lines = self.rmc("--json", "--idle-exit", "1").stdout.splitlines()
        self.assertEqual([json.loads(x)["alert_id"] for x in lines], ids)
        wait_acked(self.db, ids)

    def test_max_stops_after_n_and_acks_only_those(self):
        pgns = raise_niet_gestart(self.daemon, 5)
        ids = alert_ids(self.db, "rmc:39", pgns)
        r = self.rmc("--json", "--max", "2")
        self.assertEqual([json.loads(x)["alert_id"] for x in r.stdout.splitlines()], ids[:2])
        self.assertLess(r.seconds, 10 * h.SLOW)
        wait_acked(self.db, ids[:2])
        time.sleep(0.3 * h.SLOW)
        self.assertEqual(unacked_among(self.db, ids), ids[2:])
        r = self.rmc("--json", "--max", "10", "--idle-exit", "1")
        self.assertEqual([json.loads(x)["alert_id"] for x in r.stdout.splitlines()], ids[2:])
        wait_acked(self.db, ids)

    def test_idle_exit_on_an_empty_queue(self):
        r = self.rmc("--json", "--idle-exit", "1")
        self.assertEqual(r.stdout, "")
        self.assertGreaterEqual(r.seconds, 0.9)
        self.assertLess(r.seconds, 1 + 5 * h.SLOW)
        r = self.rmc("--json", "--idle-exit", "2")
        self.assertGreaterEqual(r.seconds, 1.9)

    def test_refused_subscription_exits_1(self):
        r = self.rmc("--json", "--idle-exit", "1", role="mbo", org="25LP", expect=1)
        self.assertEqual(r.stdout, "")
        self.assertIn("PERMISSION_DENIED", r.stderr)


if __name__ == "__main__":
    unittest.main()
