"""test_failover.py — overstapd on PostgreSQL streaming replication survives a
failover (issue 16, deploy/FAILOVER.md).

Two clusters of the test's own on free ports: a primary and a synchronous
standby made from it with pg_basebackup (synchronous_standby_names,
synchronous_commit = on). overstapd gets both hosts in one libpq conninfo with
target_session_attrs=read-write. While overstap-bench pushes at a steady rate
(and a probe client pushes one update at a time, timing each ack), the primary
is killed (pg_ctl stop -m immediate) and the standby promoted. Then: every
event acknowledged before, during and after is in the new primary; no session
of the daemon broke (the bench saw no error, the probe's connection held); a
push is acknowledged again within 5 s of the promotion.

SilentHostTest: a first host that is gone from the network — it takes the
connection and then says nothing, as a host does whose packets vanish — must
not hold the daemon: start-up waits 10 s for it (connect_timeout) and goes on
to the next host, and each lane, after its own 10 s, begins with the next host
(store.c turns the list), so the daemon comes up and acknowledges.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import harness as h
from harness import pb

PG = h.PG_BIN


def as_postgres(*args, check=True, timeout=120):
    r = subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)] if os.geteuid() == 0 else
                       list(map(str, args)), cwd="/", capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


class Cluster:
    def __init__(self, root, name, port):
        self.root, self.name, self.port = root, name, port
        self.data = root / name
        self.log = root / f"{name}.log"

    def conninfo(self, db="postgres"):
        return f"host={self.root} port={self.port} user=postgres dbname={db}"

    def start(self):
        as_postgres(PG / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        if (self.data / "postmaster.pid").exists():
            as_postgres(PG / "pg_ctl", "-D", self.data, "-w", "-t", "60", "stop", "-m", mode, check=False)

    def settings(self, text):
        as_postgres("sh", "-c", f'cat >>"{self.data}/postgresql.conf" <<"EOF"\n{text}\nEOF')


class FailoverTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        h.setup()
        root = Path(tempfile.mkdtemp(prefix="overstap-failover-", dir="/tmp"))
        cls.root = root
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
        cls.primary = Cluster(root, "primary", h.free_port())
        cls.standby = Cluster(root, "standby", h.free_port())
        try:
            cls._make_clusters()
        except BaseException:
            cls._stop_clusters()
            raise

    @classmethod
    def _make_clusters(cls):
        p, s = cls.primary, cls.standby
        as_postgres(PG / "initdb", "-D", p.data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                    "--auth-local=trust", "--auth-host=trust")
        p.settings(f"""listen_addresses = '127.0.0.1'
port = {p.port}
unix_socket_directories = '{cls.root}'
max_connections = 100
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 5
synchronous_commit = on
synchronous_standby_names = 'standby1'
fsync = on
log_min_messages = warning""")
        p.start()
        as_postgres(PG / "pg_basebackup", "-D", s.data, "-h", cls.root, "-p", p.port, "-U", "postgres",
                    "-X", "stream", "-c", "fast", "-R")
        # the standby names itself standby1 (walreceiver's application_name).
        # Promoted, it has no standby of its own: with the primary's
        # synchronous_standby_names every COMMIT would wait for one for ever
        # (Patroni's synchronous_mode clears it the same way).
        s.settings(f"""port = {s.port}
cluster_name = 'standby1'
hot_standby = on
synchronous_standby_names = ''""")
        s.start()
        h.wait_until(lambda: h.psql(p.conninfo(), "SELECT application_name, sync_state FROM pg_stat_replication")
                     == [["standby1", "sync"]], timeout=30, what="the standby streaming synchronously")

    @classmethod
    def _stop_clusters(cls):
        for c in (cls.standby, cls.primary):
            c.stop("immediate")
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._stop_clusters()

    def test_a_promoted_synchronous_standby_takes_over_without_losing_an_acked_event(self):
        p, s = self.primary, self.standby
        as_postgres(PG / "createdb", "-h", self.root, "-p", p.port, "-U", "postgres", "failover")
        h.migrate(p.conninfo("failover"))
        h.import_reference_data(p.conninfo("failover"))
        conninfo = (f"host=127.0.0.1,127.0.0.1 port={p.port},{s.port} user=postgres dbname=failover "
                    "target_session_attrs=read-write")
        d = self.start_daemon(conninfo, log_level=os.environ.get("FAILOVER_LOG_LEVEL", "info"))

        # the probe: one update at a time on one connection, each ack timed
        probe = self.client(d, "vo", "25LY00", timeout=60)
        probe_acks, probe_errors, stop = [], [], threading.Event()

        def run_probe():
            while not stop.is_set():
                u = h.make_update("OVERSTAPPER_GEREGISTREERD", school="25LY00", event_id=h.new_event_id("probe"))
                try:
                    env = probe.batch([u], timeout=60)
                except Exception as e:  # a broken session is the failure we look for
                    probe_errors.append(repr(e))
                    return
                if env.WhichOneof("body") != "batch_ack" or \
                        env.batch_ack.results[0].result != pb.RESULT_ACCEPTED:
                    probe_errors.append(str(env))
                    return
                probe_acks.append((time.monotonic(), u.event_id))
                time.sleep(0.05)

        run = h.new_event_id("fo")
        acked_file = self.root / "bench-acked.txt"
        secs = 14
        bench = subprocess.Popen([str(h.BUILD / "overstap-bench"), "--pki", str(h.PKI), "--identity", "vo:25LX00",
                                  "--identity", "mbo:25LP", "--port", str(d.port), "--connections", "4",
                                  "--batch", "25", "--pipeline", "2", "--rate", "400", "--duration", str(secs),
                                  "--run-id", run, "--acked", str(acked_file), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        prober = threading.Thread(target=run_probe, daemon=True)
        prober.start()
        try:
            time.sleep(3)
            self.assertTrue(probe_acks, "no ack before the failover")
            # the primary dies
            p.stop("immediate")
            t_kill = time.monotonic()
            h.wait_until(lambda: "database=down" in d.log, timeout=10, what="the daemon noticing")
            time.sleep(1)
            # the standby is promoted
            as_postgres(PG / "pg_ctl", "-D", s.data, "-w", "-t", "60", "promote")
            t_promoted = time.monotonic()
            out, err = bench.communicate(timeout=(secs + 60) * h.SLOW)
        finally:
            stop.set()
            prober.join(timeout=70)
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        self.assertEqual((probe_errors, bench.returncode), ([], 0), f"{out}\n{err}\n{d.log_tail(200)}")
        res = json.loads(out)
        self.assertEqual((res["errors"], res["rejected"]), (0, 0), res)
        self.assertGreater(res["accepted"], 0)

        # pushes came back within 5 s of the promotion
        after = [t for t, _ in probe_acks if t > t_promoted]
        self.assertTrue(after, "no ack after the promotion")
        print(f"\n  primary killed; promoted {t_promoted - t_kill:.2f} s later; first ack {after[0] - t_promoted:.2f} s "
              f"after the promotion; {res['accepted']} bench events, {len(probe_acks)} probe events acked",
              file=sys.stderr)
        self.assertLess(after[0] - t_promoted, 5.0, f"first ack {after[0] - t_promoted:.2f} s after the promotion")
        during = [t for t, _ in probe_acks if t_kill < t <= t_promoted]
        self.assertEqual(during, [], "an ack while no primary was up")

        # every acknowledged event is in the new primary
        acked = acked_file.read_text().split()
        self.assertEqual(len(acked), res["accepted"] + res["duplicate"])
        probe_ids = [i for _, i in probe_acks]
        new_primary = s.conninfo("failover")
        self.assertEqual(h.psql_value(new_primary, "SELECT pg_is_in_recovery()"), "f")
        tmp = self.root / "acked.csv"
        tmp.write_text("\n".join(acked + probe_ids) + "\n")
        os.chmod(tmp, 0o644)
        rows = h.psql(new_primary, "CREATE TEMP TABLE a (event_id text); "
                                   f"COPY a FROM '{tmp}'; "
                                   "SELECT count(*), count(e.event_id) FROM a LEFT JOIN event e USING (event_id)")
        self.assertEqual(rows, [[str(len(acked) + len(probe_ids))] * 2], "acknowledged events missing")
        # the daemon is on the new primary and still healthy; its sessions held
        self.assertEqual(d.healthz(), 200)
        self.assertNotIn("closing code=", d.log_since_start())


class SilentHostTest(h.TestCase):
    def test_a_silent_first_host_does_not_hold_the_daemon(self):
        ci = h.fresh_database("silent_host")
        kv = dict(p.split("=", 1) for p in ci.split())
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        silent.settimeout(0.2)
        held, stop = [], threading.Event()

        def hold():  # takes every connection and never answers
            while not stop.is_set():
                try:
                    held.append(silent.accept()[0])
                except OSError:
                    pass

        t = threading.Thread(target=hold, daemon=True)
        t.start()

        def release():
            stop.set()
            t.join(5)
            for c in held:
                c.close()
            silent.close()
        self.addCleanup(release)
        conninfo = (f"host=127.0.0.1,{kv['host']} port={silent.getsockname()[1]},{kv['port']} "
                    f"user={kv.get('user', 'postgres')} dbname={kv['dbname']}")
        began = time.monotonic()
        d = self.start_daemon(conninfo, start=False)
        d.start(timeout=90)
        push_began = time.monotonic()
        h.push_as(d, ("vo", "25LX00"), [h.make_update(school="25LX00")])
        log = d.log_since_start()
        self.assertIn("connect timed out", log)  # the lanes met the silent host, and went on
        self.assertGreater(len(held), 0)
        self.assertLess(push_began - began, 60 * h.SLOW)


if __name__ == "__main__":
    unittest.main()
