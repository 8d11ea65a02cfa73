"""test_setup.py — the wire contract end to end (DESIGN §4): a real overstapd on
a real PostgreSQL with real certificates, spoken to over TLS with real
protobuf frames.

Pushing and acknowledgement, idempotency, validation per update, roles and
scopes, refused handshakes, framing errors, Ping/Pong, unknown messages,
durability across kill -9 and across a PostgreSQL restart, and a clean SIGTERM.
"""
import json
import struct
import threading
import time
import unittest

import harness as h
from harness import pb

VO = ("vo", "25LX00")
MBO = ("mbo", "25LP")


def event_ids_in_db(db, org, ids):
    """The subset of ids stored as events of org."""
    if not ids:
        return set()
    arr = "{" + ",".join('"%s"' % i for i in ids) + "}"
    rows = h.psql(db, f"SELECT event_id FROM event WHERE org = '{org}' AND event_id = ANY('{arr}'::text[])")
    return {r[0] for r in rows}


def snapshot(db):
    """Everything an ingest may change, as text."""
    return {
        "event": h.psql(db, "SELECT org, event_id, pupil_id, cohort, kind, occurred_at, received_at, school, "
                            "woongemeente, vo_soort, bestemming, crebo, mbo_instelling FROM event ORDER BY 1, 2"),
        "pupil": h.psql(db, "SELECT id, pgn FROM pupil ORDER BY id"),
        "personal": h.psql(db, "SELECT pupil_id, cohort, source, is_registration, name, birth_date, at "
                               "FROM pupil_personal ORDER BY 1, 2, 3"),
        "state": h.psql(db, "SELECT pupil_id, cohort, encode(facts, 'hex'), status, version, updated_at "
                            "FROM pupil_state ORDER BY 1, 2"),
        "alert": h.psql(db, "SELECT id, recipient, kind, resolved_at FROM alert ORDER BY id"),
    }


class WireTest(h.TestCase):
    """One database and one daemon for the whole class; each test uses pupils
    of its own."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_setup_wire")
        cls.daemon = h.Daemon(cls.db)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.close()  # SIGTERM, exit 0, no sanitizer report

    def vo(self):
        return self.client(self.daemon, *VO)

    # ---- push, ack, idempotency ---------------------------------------------

    def test_pushed_events_are_acked_and_stored(self):
        pgn = h.make_pgns(1)[0]
        reg = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn)
        keuze = h.make_update("KEUZE_GEREGISTREERD", pgn=pgn, occurred_at=reg.occurred_at + 60)
        env = self.vo().batch([reg, keuze])
        self.assertEqual(env.WhichOneof("body"), "batch_ack", env)
        self.assertResults(env.batch_ack.results, ["ACCEPTED", "ACCEPTED"])
        self.assertEqual([r.event_id for r in env.batch_ack.results], [reg.event_id, keuze.event_id])
        rows = h.psql(self.db, "SELECT e.event_id, e.kind, e.cohort, e.school FROM event e "
                               f"JOIN pupil p ON p.id = e.pupil_id WHERE p.pgn = '{pgn}' ORDER BY e.kind")
        self.assertEqual(rows, [[reg.event_id, "1", str(reg.cohort), "25LX00"],
                                [keuze.event_id, "2", str(reg.cohort), "25LX00"]])
        status = h.psql_value(self.db, "SELECT s.status FROM pupil_state s JOIN pupil p ON p.id = s.pupil_id "
                                       f"WHERE p.pgn = '{pgn}' AND s.cohort = {reg.cohort}")
        self.assertEqual(status, str(pb.STATUS_KEUZE))

    def test_overstap_bench_takes_the_connection_options_of_every_client(self):
        """DESIGN §6.1: --host/--port/--cert/--key/--ca (and OVERSTAP_*) for
        overstap-bench too; its identity is read from the certificate. --pki
        with --identity still names several certificates by role and code."""
        run = h.new_event_id("bench")
        env = self.daemon.tool_env(*VO)
        r = h.run_tool("overstap-bench", ["--events", "300", "--connections", "2", "--batch", "50",
                                          "--run-id", run, "--json"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual((out["accepted"], out["rejected"], out["errors"]), (300, 0, 0), out)
        self.assertEqual(h.psql(self.db, f"SELECT org, count(*) FROM event WHERE event_id LIKE '{run}-%' "
                                         "GROUP BY org"), [["25LX00", "300"]])
        # the same through the flags, with the mbo certificate
        run2 = h.new_event_id("bench")
        m = self.daemon.tool_env(*MBO)
        r = h.run_tool("overstap-bench", ["--host", "127.0.0.1", "--port", m["OVERSTAP_PORT"],
                                          "--cert", m["OVERSTAP_CERT"], "--key", m["OVERSTAP_KEY"],
                                          "--ca", m["OVERSTAP_CA"], "--events", "100", "--batch", "50",
                                          "--run-id", run2, "--json"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(h.psql(self.db, f"SELECT org, count(*) FROM event WHERE event_id LIKE '{run2}-%' "
                                         "GROUP BY org"), [["25LP", "100"]])
        # --pki names its identities; the certificate of the environment is not used then
        run3 = h.new_event_id("bench")
        r = h.run_tool("overstap-bench", ["--pki", str(h.PKI), "--identity", "mbo:25LP", "--events", "100",
                                          "--batch", "50", "--run-id", run3, "--json"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(h.psql(self.db, f"SELECT org, count(*) FROM event WHERE event_id LIKE '{run3}-%' "
                                         "GROUP BY org"), [["25LP", "100"]])
        # a certificate that names no role is refused before connecting
        r = h.run_tool("overstap-bench", ["--cert", m["OVERSTAP_CA"], "--events", "10"], env=env)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no single valid OU", r.stderr)

    def test_resend_is_duplicate_and_changes_nothing(self):
        pgn = h.make_pgns(1)[0]
        batch = [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn),
                 h.make_update("DDD_AANGELEVERD", pgn=pgn)]
        c = self.vo()
        self.assertResults(c.push(batch), ["ACCEPTED", "ACCEPTED"])
        before = snapshot(self.db)
        self.assertResults(c.push(batch), ["DUPLICATE", "DUPLICATE"])
        # the same event ids with other content are still the same events
        changed = [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgn, event_id=batch[0].event_id,
                                 name="Iemand Anders", occurred_at=batch[0].occurred_at + 100),
                   h.make_update("KEUZE_GEREGISTREERD", pgn=pgn, event_id=batch[1].event_id)]
        self.assertResults(c.push(changed), ["DUPLICATE", "DUPLICATE"])
        # and from another connection
        self.assertResults(self.vo().push(batch), ["DUPLICATE", "DUPLICATE"])
        self.assertEqual(snapshot(self.db), before)

    def test_duplicate_within_one_batch_is_stored_once(self):
        u = h.make_update("OVERSTAPPER_GEREGISTREERD")
        self.assertResults(self.vo().push([u, u]), ["ACCEPTED", "DUPLICATE"])
        self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM event WHERE event_id = '{u.event_id}'"), "1")

    def test_duplicate_in_pipelined_batches_is_accepted_once(self):
        c = self.vo()
        u = h.make_update("OVERSTAPPER_GEREGISTREERD")
        seqs = [c.send(pb.StatusBatch(updates=[u])) for _ in range(3)]
        got = [h.result_name(c.wait_reply(s).batch_ack.results[0]) for s in seqs]
        self.assertEqual(got, ["ACCEPTED", "DUPLICATE", "DUPLICATE"])
        self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM event WHERE event_id = '{u.event_id}'"), "1")

    def test_invalid_updates_are_rejected_and_the_rest_accepted(self):
        pgns = h.make_pgns(8)
        good1 = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgns[0])
        bad_pgn = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=h.bad_bsn(pgns[1]))
        short_pgn = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn="12345")
        good2 = h.make_update("KEUZE_GEREGISTREERD", pgn=pgns[2], bestemming="HAVO", crebo=None,
                              mbo_instelling=None)
        no_cohort = h.make_update("DDD_AANGELEVERD", pgn=pgns[3])
        no_cohort.cohort = 0
        bad_gemeente = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgns[4], woongemeente="0935")
        bad_kind = h.make_update("DDD_AANGELEVERD", pgn=pgns[5])
        bad_kind.kind = 7  # no such EventKind
        bad_crebo = h.make_update("KEUZE_GEREGISTREERD", pgn=pgns[6], crebo="25l80")
        bad_date = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgns[7], birth_date="2011-02-30")
        no_name = h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=pgns[7], name=None)
        future = h.make_update("DDD_AANGELEVERD", pgn=pgns[7], occurred_at=int(time.time()) + 3 * 86400)
        no_id = h.make_update("DDD_AANGELEVERD", pgn=pgns[7], event_id="")
        good3 = h.make_update("DDD_AANGELEVERD", pgn=pgns[0], occurred_at=good1.occurred_at + 1)
        batch = [good1, bad_pgn, short_pgn, good2, no_cohort, bad_gemeente, bad_kind, bad_crebo, bad_date,
                 no_name, future, no_id, good3]
        results = self.vo().push(batch)
        self.assertResults(results, [
            "ACCEPTED", ("REJECTED", "BAD_PGN"), ("REJECTED", "BAD_PGN"), "ACCEPTED",
            ("REJECTED", "BAD_COHORT"), ("REJECTED", "BAD_GEMEENTE"), ("REJECTED", "BAD_KIND"),
            ("REJECTED", "BAD_CREBO"), ("REJECTED", "BAD_DATE"), ("REJECTED", "BAD_NAME"),
            ("REJECTED", "BAD_DATE"), ("REJECTED", "BAD_EVENT_ID"), "ACCEPTED"])
        for u, r in zip(batch, results):
            self.assertEqual(r.event_id, u.event_id)
            if r.result == pb.RESULT_REJECTED:
                self.assertTrue(r.error_message, f"{r.event_id} {r.error_code} has no message")
        ids = [u.event_id for u in batch if u.event_id]
        self.assertEqual(event_ids_in_db(self.db, "25LX00", ids), {good1.event_id, good2.event_id, good3.event_id})
        self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM pupil WHERE pgn = '{pgns[1]}' "
                                               f"OR pgn = '{h.bad_bsn(pgns[1])}' OR pgn = '{pgns[4]}'"), "0")

    def test_batch_over_ten_thousand_is_bad_request(self):
        u = h.make_update("DDD_AANGELEVERD")
        env = self.vo().batch([u] * 10001, timeout=60)
        self.assertEqual(env.WhichOneof("body"), "error", env)
        self.assertEqual(env.error.code, "BAD_REQUEST")
        self.assertEqual(event_ids_in_db(self.db, "25LX00", [u.event_id]), set())

    # ---- roles and scopes (DESIGN §4.3) -------------------------------------

    def test_mbo_sending_a_vo_event_is_permission_denied(self):
        u = h.make_update("OVERSTAPPER_GEREGISTREERD", school="25LP")
        ok = h.make_update("AANGEMELD", school="25LP")
        results = self.client(self.daemon, *MBO).push([u, ok])
        self.assertResults(results, [("REJECTED", "PERMISSION_DENIED"), "ACCEPTED"])
        self.assertEqual(event_ids_in_db(self.db, "25LP", [u.event_id, ok.event_id]), {ok.event_id})
        self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM pupil WHERE pgn = '{u.pgn}'"), "0")
        h.wait_until(lambda: "org=25LP" in self.daemon.log and "denied" in self.daemon.log,
                     what="the denial logged with the certificate's identity")

    def test_vo_sending_an_mbo_event_is_permission_denied(self):
        u = h.make_update("INGESCHREVEN", school="25LX00")
        self.assertResults(self.vo().push([u]), [("REJECTED", "PERMISSION_DENIED")])
        self.assertEqual(event_ids_in_db(self.db, "25LX00", [u.event_id]), set())

    def test_event_with_another_schools_code_is_permission_denied(self):
        other_vo = h.make_update("OVERSTAPPER_GEREGISTREERD", school="25LY00")
        own = h.make_update("OVERSTAPPER_GEREGISTREERD", school="25LX00")
        self.assertResults(self.vo().push([other_vo, own]), [("REJECTED", "PERMISSION_DENIED"), "ACCEPTED"])
        other_mbo = h.make_update("AANGEMELD", school="25LQ")
        self.assertResults(self.client(self.daemon, *MBO).push([other_mbo]), [("REJECTED", "PERMISSION_DENIED")])
        self.assertEqual(event_ids_in_db(self.db, "25LX00", [other_vo.event_id, own.event_id]), {own.event_id})
        self.assertEqual(h.psql_value(self.db, "SELECT count(*) FROM event WHERE event_id IN "
                                               f"('{other_vo.event_id}', '{other_mbo.event_id}')"), "0")

    def test_roles_without_the_right_get_a_permission_denied_error(self):
        u = h.make_update("OVERSTAPPER_GEREGISTREERD")
        for role, org, msg in (("rmc", "39", pb.StatusBatch(updates=[u])),
                               ("projectteam", "39", pb.StatusBatch(updates=[u])),
                               ("vo", "25LX00", pb.AdminRequest(sweep=pb.Sweep(at=1))),
                               ("rmc", "39", pb.StatsQuery(cohort=2031)),
                               ("mbo", "25LP", pb.Subscribe(max_in_flight=1))):
            with self.subTest(role=role, message=msg.DESCRIPTOR.name):
                c = self.client(self.daemon, role, org)
                env = c.request(msg)
                self.assertEqual(env.WhichOneof("body"), "error", env)
                self.assertEqual(env.error.code, "PERMISSION_DENIED")
                self.assertEqual(c.ping(5).pong.t, 5, "the connection stays usable")
        self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM pupil WHERE pgn = '{u.pgn}'"), "0")

    # ---- TLS ---------------------------------------------------------------

    def test_handshake_is_refused_without_a_valid_client_certificate(self):
        self.assertFalse(h.tls_refused(self.daemon, *VO), "the valid certificate must get through")
        for name, kw in (("no client certificate", {}),
                         ("a certificate from another CA", {"name": "other-ca"}),
                         ("an expired certificate", {"name": "expired-vo-25LX00"}),
                         ("a revoked certificate", {"name": "revoked-vo-25LX00"})):
            with self.subTest(name):
                self.assertTrue(h.tls_refused(self.daemon, **kw), f"{name} was let in")
        self.assertEqual(self.vo().ping(9).pong.t, 9)

    # ---- framing -------------------------------------------------------------

    def assert_error_then_close(self, c, what):
        frames = c.expect_closed()
        self.assertEqual(len(frames), 1, f"{what}: expected one Error frame before the close, got {frames}")
        self.assertEqual(frames[0].WhichOneof("body"), "error", frames[0])
        self.assertTrue(frames[0].error.code)
        return frames[0].error

    def test_zero_length_frame_gets_an_error_and_the_connection_closes(self):
        c = self.vo()
        c.send_bytes(b"\0\0\0\0")
        self.assert_error_then_close(c, "zero-length frame")
        self.assertEqual(self.vo().ping(1).pong.t, 1)

    def test_oversized_frame_gets_an_error_and_the_connection_closes(self):
        c = self.vo()
        c.send_bytes(struct.pack(">I", 8 * 1024 * 1024 + 1) + b"\x08\x01")  # DESIGN §4.1: 8 MiB
        self.assert_error_then_close(c, "oversized frame")
        c = self.vo()
        c.send_bytes(b"\xff\xff\xff\xff")
        self.assert_error_then_close(c, "frame of 4 GiB")
        self.assertEqual(self.vo().ping(1).pong.t, 1)

    def test_undecodable_frame_gets_an_error_and_the_connection_closes(self):
        c = self.vo()
        c.send_frame(b"\xff\xff\xff\xff\xff")
        self.assert_error_then_close(c, "undecodable frame")

    def test_frames_split_over_many_writes_and_pipelined_are_answered(self):
        c = self.vo()
        data = b""
        for seq in range(1, 51):
            env = pb.Envelope(seq=seq, ping=pb.Ping(t=1000 + seq))
            body = env.SerializeToString()
            data += struct.pack(">I", len(body)) + body
        for i in range(0, len(data), 7):
            c.send_bytes(data[i:i + 7])
        got = [c.recv() for _ in range(50)]
        self.assertEqual([(e.seq, e.WhichOneof("body"), e.pong.t) for e in got],
                         [(s, "pong", 1000 + s) for s in range(1, 51)])

    # ---- messages --------------------------------------------------------------

    def test_ping_gets_a_pong_with_the_same_seq(self):
        c = self.vo()
        c.send(pb.Ping(t=1234567890123), seq=77)
        env = c.recv()
        self.assertEqual(env.seq, 77)
        self.assertEqual(env.WhichOneof("body"), "pong")
        self.assertEqual(env.pong.t, 1234567890123)
        for role, org in (MBO, ("rmc", "39"), ("projectteam", "39"), ("admin", "ops")):
            self.assertEqual(self.client(self.daemon, role, org).ping(3).pong.t, 3, role)

    def test_unknown_or_server_only_message_gets_an_error(self):
        c = self.vo()
        # an envelope without a body
        c.send_frame(pb.Envelope(seq=5).SerializeToString())
        env = c.recv()
        self.assertEqual((env.seq, env.WhichOneof("body")), (5, "error"), env)
        # a message of a later version: a body field this daemon does not know (field 99)
        c.send_frame(pb.Envelope(seq=6).SerializeToString() + b"\x9a\x06\x02\x08\x01")
        env = c.recv()
        self.assertEqual((env.seq, env.WhichOneof("body")), (6, "error"), env)
        # messages only the server sends
        for seq, msg in ((7, pb.BatchAck()), (8, pb.Pong(t=1)), (9, pb.Alert(alert_id=1)),
                         (10, pb.StatsReply()), (11, pb.AdminReply())):
            c.send(msg, seq=seq)
            env = c.recv()
            self.assertEqual((env.seq, env.WhichOneof("body")), (seq, "error"), env)
            self.assertTrue(env.error.code)
        self.assertEqual(c.ping(12).pong.t, 12, "the connection stays usable")


class DurabilityTest(h.TestCase):
    """Each test with a daemon of its own: they kill it or take PostgreSQL away."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_setup_durability")

    def test_sigterm_exits_zero(self):
        d = self.start_daemon(self.db)
        c = h.Client(d, *VO)
        self.assertResults(c.push([h.make_update("OVERSTAPPER_GEREGISTREERD")]), ["ACCEPTED"])
        self.assertEqual(d.stop(), 0)
        c.close()
        self.assertIn("stopped", d.log)

    def test_sigterm_with_batches_in_flight_acks_them_and_exits_zero(self):
        d = self.start_daemon(self.db)
        c = self.client(d, *VO)
        batches = [[h.make_update("OVERSTAPPER_GEREGISTREERD") for _ in range(200)] for _ in range(5)]
        seqs = [c.send(pb.StatusBatch(updates=b)) for b in batches]
        d.proc.send_signal(h.signal.SIGTERM)
        acked = []
        try:
            for seq in seqs:
                env = c.wait_reply(seq, timeout=30)
                if env.WhichOneof("body") == "batch_ack":
                    acked += [r.event_id for r in env.batch_ack.results if r.result == pb.RESULT_ACCEPTED]
        except (h.ConnectionClosed, TimeoutError):
            pass
        self.assertEqual(d.stop(), 0)
        self.assertEqual(event_ids_in_db(self.db, "25LX00", acked), set(acked))

    def test_kill9_right_after_an_ack_loses_no_acked_event(self):
        d = self.start_daemon(self.db)
        c = h.Client(d, *VO)
        batches = [[h.make_update("OVERSTAPPER_GEREGISTREERD") for _ in range(100)] for _ in range(10)]
        seqs = [c.send(pb.StatusBatch(updates=b)) for b in batches]
        acked = []
        for seq in seqs[:4]:
            env = c.wait_reply(seq, timeout=30)
            self.assertEqual(env.WhichOneof("body"), "batch_ack", env)
            acked += [r.event_id for r in env.batch_ack.results if r.result == pb.RESULT_ACCEPTED]
        d.kill9()  # right after the fourth ack, with six batches still in flight
        c.close()
        self.assertEqual(len(acked), 400)
        self.assertEqual(event_ids_in_db(self.db, "25LX00", acked), set(acked))
        d.start()
        c = h.Client(d, *VO)
        for i, b in enumerate(batches):
            results = c.push(b)
            if i < 4:
                self.assertEqual({h.result_name(r) for r in results}, {"DUPLICATE"}, f"batch {i}")
            else:
                self.assertLessEqual({h.result_name(r) for r in results}, {"ACCEPTED", "DUPLICATE"}, f"batch {i}")
        all_ids = [u.event_id for b in batches for u in b]
        self.assertEqual(event_ids_in_db(self.db, "25LX00", all_ids), set(all_ids))
        c.close()
        self.assertEqual(d.stop(), 0)

    def test_postgres_restart_while_pushing_loses_no_acked_event(self):
        d = self.start_daemon(self.db, config={"database.reconnect_max_ms": "500"})
        self.addCleanup(h.pg_start)  # whatever happens, the cluster runs again
        n_batches, per_batch = 200, 25
        batches = [[h.make_update("OVERSTAPPER_GEREGISTREERD") for _ in range(per_batch)] for _ in range(n_batches)]
        acked, errors, progress = set(), [], []
        stop_now = threading.Event()

        def pusher():
            c = None
            try:
                for b in batches:
                    deadline = time.monotonic() + 120 * h.SLOW
                    while not stop_now.is_set():
                        if time.monotonic() > deadline:
                            errors.append("a batch was not acked within 120 s")
                            return
                        try:
                            if c is None:
                                c = h.Client(d, *VO)
                            env = c.batch(b, timeout=60)
                        except (h.ConnectionClosed, OSError, TimeoutError) as e:
                            if c:
                                c.close()
                            c = None
                            progress.append(f"reconnect after {e!r}")
                            time.sleep(0.2)
                            continue
                        if env.WhichOneof("body") == "batch_ack":
                            for r in env.batch_ack.results:
                                if r.result in (pb.RESULT_ACCEPTED, pb.RESULT_DUPLICATE):
                                    acked.add(r.event_id)
                                else:
                                    errors.append(f"{r.event_id}: {r.error_code} {r.error_message}")
                            progress.append("ack")
                            time.sleep(0.02)
                            break
                        progress.append(f"error {env.error.code}: resend")  # e.g. unavailable: send again
                        time.sleep(0.2)
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))
            finally:
                if c:
                    c.close()

        t = threading.Thread(target=pusher, daemon=True)
        t.start()
        h.wait_until(lambda: progress.count("ack") >= 10, timeout=60, what="ten acked batches")
        h.pg_stop("fast")
        acks_before_restart = progress.count("ack")
        time.sleep(2)
        h.pg_start()
        t.join(timeout=300 * h.SLOW)
        stop_now.set()
        self.assertFalse(t.is_alive(), "the pusher did not finish")
        self.assertEqual(errors, [])
        self.assertLess(acks_before_restart, n_batches, "PostgreSQL went away in the middle of the pushing")
        # DESIGN §3: while the database is away, sessions stop reading instead of failing
        self.assertEqual([p for p in progress if p != "ack"], [], "the session should have waited, not failed")
        all_ids = {u.event_id for b in batches for u in b}
        self.assertEqual(acked, all_ids, "every batch was acked in the end")
        self.assertEqual(event_ids_in_db(self.db, "25LX00", sorted(acked)), acked)
        r = h.run_tool("overstapctl", ["verify", "--db", self.db])
        self.assertEqual(r.returncode, 0, "every event names a pupil and every state equals its rebuild:\n"
                         + r.stdout + r.stderr)
        # still serving
        h.wait_until(lambda: d.healthz() == 200, timeout=30, what="/healthz 200 again")
        with h.Client(d, *VO) as c:
            self.assertEqual(c.ping(4).pong.t, 4)
            self.assertResults(c.push([h.make_update("OVERSTAPPER_GEREGISTREERD")]), ["ACCEPTED"])
        self.assertEqual(d.stop(), 0)

    def test_a_group_that_runs_again_keeps_every_pupil(self):
        """A group whose transaction fails and runs again (here a serialization
        failure injected once into the state write, after the group inserted
        its new pupils) must not remember pupil ids from the rolled-back
        insert: every event and state names a pupil row, and the pupils
        answer PupilQuery — also after a second batch about the same pupils."""
        db = h.fresh_database("it_setup_retry")
        h.psql(db, "CREATE SEQUENCE it_fail_once; "
                   "CREATE FUNCTION it_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF nextval('it_fail_once') = 1 THEN "
                   "RAISE EXCEPTION 'injected by the test' USING ERRCODE = '40001'; END IF; "
                   "RETURN NULL; END $$; "
                   "CREATE TRIGGER it_fail_once BEFORE INSERT ON pupil_state "
                   "FOR EACH STATEMENT EXECUTE FUNCTION it_fail_once()")
        d = self.start_daemon(db)
        pgns = h.make_pgns(20)
        cohort = h.default_cohort()
        c = self.client(d, *VO)
        self.assertResults(c.push([h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=cohort) for p in pgns]),
                           ["ACCEPTED"] * len(pgns))
        self.assertGreaterEqual(int(h.psql_value(db, "SELECT last_value FROM it_fail_once")), 2,
                                "the injected failure fired and the group ran again")
        self.assertIn("retrying", d.log)
        self.assertResults(c.push([h.make_update("KEUZE_GEREGISTREERD", pgn=p, cohort=cohort) for p in pgns]),
                           ["ACCEPTED"] * len(pgns))
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM event e WHERE NOT EXISTS "
                                          "(SELECT 1 FROM pupil p WHERE p.id = e.pupil_id)"), "0")
        states = h.psql(db, "SELECT p.pgn, s.status FROM pupil_state s JOIN pupil p ON p.id = s.pupil_id "
                            f"WHERE s.cohort = {cohort}")
        self.assertEqual({r[0] for r in states}, set(pgns))
        with h.Client(d, "admin", "ops") as a:
            for p in pgns:
                env = a.request(pb.PupilQuery(pgn=p, cohort=cohort))
                self.assertEqual(env.WhichOneof("body"), "pupil_reply", f"{p}: {env}")
                self.assertEqual(pb.Status.Name(env.pupil_reply.status), "STATUS_KEUZE", p)
                self.assertEqual(len(env.pupil_reply.timeline), 2, p)
        r = h.run_tool("overstapctl", ["verify", "--db", db])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # and verify does see an event that names no pupil
        h.psql(db, "UPDATE event SET pupil_id = -1 WHERE event_id = (SELECT min(event_id) FROM event)")
        r = h.run_tool("overstapctl", ["verify", "--db", db])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("event: 1 rows name a pupil_id that is not in pupil", r.stdout)

    def test_a_wrong_guess_of_new_pupils_runs_the_group_again_and_loses_nothing(self):
        """After a restart the caches are empty, so a group takes pupils the
        database has for new ones and events it has for new ones: the guess
        (one round trip, sql/007) must fail, nothing of that attempt stay, and
        the group run again in two steps — one pupil row per PGN, both events
        in each state, the resent event DUPLICATE, the new pupils new."""
        db = h.fresh_database("it_setup_guess")
        cohort = h.default_cohort()
        pgns = h.make_pgns(23)
        old, new, warm = pgns[:10], pgns[10:20], pgns[20:]
        first = [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=cohort) for p in old]
        d = self.start_daemon(db, log_level="debug")
        with h.Client(d, *VO) as c:
            self.assertResults(c.push(first), ["ACCEPTED"] * 10)
        d.restart()
        with h.Client(d, *VO) as c:
            # new pupils only: a group in two steps that fills the pool of reserved ids
            self.assertResults(c.push([h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=cohort)
                                       for p in warm]), ["ACCEPTED"] * 3)
        mixed = ([h.make_update("KEUZE_GEREGISTREERD", pgn=p, cohort=cohort) for p in old[:9]] +
                 [first[9]] +
                 [h.make_update("OVERSTAPPER_GEREGISTREERD", pgn=p, cohort=cohort) for p in new])
        with h.Client(d, *VO) as c:
            self.assertResults(c.push(mixed), ["ACCEPTED"] * 9 + ["DUPLICATE"] + ["ACCEPTED"] * 10)
        self.assertIn("overstapd guessed", d.log_since_start(), "the group guessed, and the guess failed")
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM pupil"), "23")
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM event"), "32")
        self.assertEqual(h.psql_value(db, "SELECT count(*) FROM pupil_state"), "23")
        with h.Client(d, "admin", "ops") as a:
            for p in old[:9]:
                env = a.request(pb.PupilQuery(pgn=p, cohort=cohort))
                self.assertEqual(pb.Status.Name(env.pupil_reply.status), "STATUS_KEUZE", p)
                self.assertEqual(len(env.pupil_reply.timeline), 2, p)
            for p in new:
                env = a.request(pb.PupilQuery(pgn=p, cohort=cohort))
                self.assertEqual(len(env.pupil_reply.timeline), 1, p)
        r = h.run_tool("overstapctl", ["verify", "--db", db])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_healthz_is_503_while_postgres_is_down(self):
        d = self.start_daemon(self.db, config={"database.reconnect_max_ms": "500"})
        self.addCleanup(h.pg_start)
        self.assertEqual(d.healthz(), 200)
        h.pg_stop("fast")
        h.wait_until(lambda: d.healthz() == 503, timeout=20, what="/healthz 503 with PostgreSQL down")
        h.pg_start()
        h.wait_until(lambda: d.healthz() == 200, timeout=30, what="/healthz 200 after PostgreSQL is back")
        self.assertEqual(d.stop(), 0)

    def test_daemon_started_before_postgres_waits_for_it(self):
        self.addCleanup(h.pg_start)
        h.pg_stop("fast")
        d = h.Daemon(self.db, config={"database.reconnect_max_ms": "500"}, start=False)
        self.addCleanup(d.close)
        d.start(wait=False)
        h.wait_until(lambda: "waiting for the database" in d.log, timeout=20, what="the daemon waiting")
        self.assertTrue(d.running(), "the daemon gave up instead of waiting")
        h.pg_start()
        d.wait_healthy(timeout=30)
        with h.Client(d, *VO) as c:
            self.assertResults(c.push([h.make_update("OVERSTAPPER_GEREGISTREERD")]), ["ACCEPTED"])
        self.assertEqual(d.stop(), 0)

    def test_a_database_whose_code_numbers_differ_is_refused(self):
        """The rows of a database mean what its code numbers said when they
        were written (code_value); a binary with other numbers must not start."""
        db = h.fresh_database("it_setup_codes", reference_data=False)
        self.assertEqual(h.psql_value(db, "SELECT value FROM code_value WHERE name = 'ALERT_ZOMERLEK'"), "1")
        h.psql(db, "UPDATE code_value SET value = 7 WHERE name = 'ALERT_ZOMERLEK'")
        with self.assertRaises(RuntimeError) as e:
            h.migrate(db)
        self.assertIn("code ALERT_ZOMERLEK is 7 in this database but 1 in this binary", str(e.exception))
        h.psql(db, "UPDATE code_value SET value = 1 WHERE name = 'ALERT_ZOMERLEK'")
        h.migrate(db)  # the same numbers again: accepted

if __name__ == "__main__":
    unittest.main()
