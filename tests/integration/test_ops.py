"""test_ops.py — overstapd as an operator meets it (issue 16): log records one
per line in logfmt (also in the journal, with fields), systemd's notify
protocol (ready, watchdog, reloading, stopping), --check-config opening every
file, `make install` with a unit that `systemd-analyze verify` accepts and man
pages `man` renders without a warning, and what a newcomer trips over in the
clients and in `make demo`.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import harness as h

VO = ("vo", "25LX00")

# ---- an independent logfmt reader ------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def parse_logfmt(line):
    """[(key, value)] of one logfmt record; ValueError when it is not one."""
    out, i, n = [], 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*=").match(line, i)
        if not m:
            raise ValueError(f"no key at {i}: {line[i:i + 40]!r}")
        key, i = m.group()[:-1], m.end()
        if i < n and line[i] == '"':
            i += 1
            buf = bytearray()
            while True:
                if i >= n:
                    raise ValueError(f"unclosed quote in {key}")
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = line[i + 1]
                    if e in _ESCAPES:
                        buf += _ESCAPES[e].encode()
                        i += 2
                    elif e == "u":
                        buf += chr(int(line[i + 2:i + 6], 16)).encode()
                        i += 6
                    elif e == "x":
                        buf.append(int(line[i + 2:i + 4], 16))
                        i += 4
                    else:
                        raise ValueError(f"bad escape \\{e}")
                    continue
                if ord(c) < 0x20:
                    raise ValueError("raw control character inside quotes")
                buf += c.encode()
                i += 1
            value = buf.decode("utf-8", "replace")
            if i < n and line[i] != " ":
                raise ValueError(f"text after the closing quote of {key}")
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            value = line[i:j]
            if '"' in value or "=" in value:
                raise ValueError(f"bare value of {key} holds a quote or '='")
            i = j
        out.append((key, value))
    return out


def records(text):
    """Every line of a daemon log as a dict (sanitizer reports aside: none expected)."""
    return [dict(parse_logfmt(line)) for line in text.splitlines() if line]


class LogTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_ops_log", reference_data=False)

    def test_a_multi_line_database_error_is_one_logfmt_record(self):
        d = self.start_daemon(self.db)
        dbname = self.db.split("dbname=")[1].split()[0]
        # terminating the daemon's backends: libpq's message spans several lines
        h.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()")
        h.wait_until(lambda: "connection lost" in d.log, what="the lost connection logged")
        h.wait_until(lambda: d.healthz() == 200, what="the daemon back on the database")
        lines = d.log.splitlines()
        for line in lines:
            self.assertTrue(line.startswith("ts="), f"a line that is no record: {line!r}")
            parse_logfmt(line)  # raises on anything that is not logfmt
        lost = [r for r in records(d.log) if "connection lost" in r.get("msg", "")]
        self.assertTrue(lost, d.log)
        r = lost[0]
        self.assertEqual((r["level"], r["module"]), ("warn", "store"))
        self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIn("lane", r)
        # the message had its own newlines: they are in the value, not in the log
        self.assertIn("\n", r["msg"].strip(), r["msg"])
        # libpq's own report of the FATAL (its notice processor wrote it raw to stderr)
        said = [r for r in records(d.log) if "terminating connection" in r.get("msg", "")]
        self.assertTrue(said, d.log)
        self.assertEqual((said[0]["module"], said[0]["level"]), ("store", "warn"))

    def test_a_value_with_spaces_is_quoted(self):
        d = self.start_daemon(self.db, clock="2030-09-01T00:00:00Z")
        rec = [r for r in records(d.log) if r.get("clock") == "manual"]
        self.assertTrue(rec, d.log)
        self.assertEqual(rec[0]["start"], "2030-09-01T00:00:00Z")
        self.assertEqual(rec[0]["msg"], "— for tests and demonstrations only")
        self.assertIn('msg="— for tests and demonstrations only"', d.log)


def _journal_fields(datagram):
    """The fields of one journal native-protocol datagram."""
    out, i = {}, 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            out[k.decode()] = v.decode()
            i = nl + 1
        else:
            size = int.from_bytes(datagram[nl + 1:nl + 9], "little")
            out[line.decode()] = datagram[nl + 9:nl + 9 + size].decode()
            i = nl + 9 + size + 1
    return out


def _unshare_works():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run"],
                       capture_output=True)
    return r.returncode == 0


class JournalTest(h.TestCase):
    """The journal's socket is /run/systemd/journal/socket, fixed in
    libsystemd: the daemon runs in a mount namespace of its own where that
    folder is one of the test's, with the test listening on it."""

    @classmethod
    def setUpClass(cls):
        if not _unshare_works():
            raise unittest.SkipTest("needs root and unshare(1) for a private /run")
        cls.db = h.fresh_database("it_ops_journal", reference_data=False)

    def journal(self):
        """(records received so far, the command prefix). A thread reads the
        socket all the time, as journald does: a full socket queue blocks the
        sender."""
        d = Path(tempfile.mkdtemp(prefix="journal-", dir=h._run_dir()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(str(d / "socket"))
        s.settimeout(0.2)
        got, stop = [], threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    got.append(_journal_fields(s.recv(1 << 20)))
                except socket.timeout:
                    continue
                except OSError:
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.addCleanup(s.close)
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                  'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
                  'mount --bind "$0" /run/systemd/journal && exec "$@"', str(d)]
        return got, prefix

    def read_until(self, got, pred, timeout=10):
        h.wait_until(lambda: pred(list(got)), timeout=timeout, what=f"journal records (so far: {got[-5:]})")
        return list(got)

    def test_records_go_to_the_journal_with_one_field_per_key(self):
        journal, prefix = self.journal()
        d = self.start_daemon(self.db, config={"log.target": "journal"}, prefix=prefix)
        got = self.read_until(journal, lambda g: any("OVERSTAP_LISTENING" in f for f in g))
        rec = [f for f in got if "OVERSTAP_LISTENING" in f][0]
        self.assertEqual(rec["OVERSTAP_LISTENING"], f"127.0.0.1:{d.port}")
        self.assertEqual(rec["OVERSTAP_MODULE"], "main")
        self.assertEqual(rec["PRIORITY"], "6")
        self.assertEqual(rec["SYSLOG_IDENTIFIER"], "overstapd")
        # MESSAGE is the logfmt record (the journal keeps the time itself)
        self.assertTrue(rec["MESSAGE"].startswith("level=info module=main listening="), rec["MESSAGE"])
        self.assertNotIn("\n", rec["MESSAGE"])
        # a value with newlines stays whole in its field
        dbname = self.db.split("dbname=")[1].split()[0]
        h.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()")
        got = self.read_until(journal, lambda g: any("connection lost" in f.get("OVERSTAP_MSG", "") for f in g))
        lost = [f for f in got if "connection lost" in f.get("OVERSTAP_MSG", "")][0]
        self.assertEqual(lost["PRIORITY"], "4")
        self.assertIn("\n", lost["OVERSTAP_MSG"].strip())
        self.assertNotIn("\n", lost["MESSAGE"])
        self.assertNotIn("listening=", d.log)  # nothing of it on stderr

    def test_auto_takes_the_journal_when_stderr_is_the_journal_stream(self):
        journal, prefix = self.journal()
        d = h.Daemon(self.db, start=False, prefix=prefix)
        self.addCleanup(d.close)
        d.log_path.touch()
        st = d.log_path.stat()
        d.env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        d.start()
        self.read_until(journal, lambda g: any("OVERSTAP_LISTENING" in f for f in g))
        self.assertNotIn("listening=", d.log)


class NotifyTest(h.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_ops_notify", reference_data=False)

    def notify_socket(self):
        path = Path(tempfile.mkdtemp(prefix="notify-", dir=h._run_dir())) / "notify"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(path))
        s.settimeout(0.2)
        self.addCleanup(s.close)
        return s, path

    def wait_for(self, sock, word, seen, timeout=15):
        deadline = time.monotonic() + timeout * h.SLOW
        while time.monotonic() < deadline:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                continue
            seen.append(msg)
            if word in msg.split("\n"):
                return msg
        raise AssertionError(f"no {word} from the daemon; it sent {seen}")

    def test_ready_watchdog_reloading_and_stopping_reach_systemd(self):
        sock, path = self.notify_socket()
        d = self.start_daemon(self.db, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
        seen = []
        self.wait_for(sock, "READY=1", seen)
        # the watchdog is fed from the loop at half the interval
        t0 = time.monotonic()
        for _ in range(3):
            self.wait_for(sock, "WATCHDOG=1", seen)
        self.assertLess(time.monotonic() - t0, 3 * h.SLOW)
        d.proc.send_signal(signal.SIGHUP)
        msg = self.wait_for(sock, "RELOADING=1", seen)
        self.assertRegex(msg, r"MONOTONIC_USEC=\d+")
        self.wait_for(sock, "READY=1", seen)
        d.stop()  # SIGTERM, exit 0
        self.wait_for(sock, "STOPPING=1", seen)
        self.assertTrue(any(m.startswith("STATUS=database up") for m in seen), seen)

    def test_without_notify_socket_nothing_changes(self):
        d = self.start_daemon(self.db)
        self.assertEqual(d.healthz(), 200)
        self.assertNotIn("watchdog", d.log)


class CheckConfigTest(h.TestCase):
    """--check-config opens every file the configuration names."""

    def check(self, config=None, crl=True):
        d = h.Daemon("host=/nonexistent dbname=x", config=config or {}, start=False, crl=crl)
        r = subprocess.run([str(h.BUILD / "overstapd"), "-c", str(d.conf_path), "--check-config"],
                           capture_output=True, text=True, timeout=30 * h.SLOW)
        return r.returncode, r.stdout + r.stderr

    def test_a_good_configuration_is_ok(self):
        code, out = self.check()
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r": ok\n$")

    def test_a_missing_certificate_is_named(self):
        code, out = self.check({"tls.cert": "/nonexistent/server.crt"})
        self.assertEqual(code, 2, out)
        self.assertIn("[tls] cert /nonexistent/server.crt: cannot open: No such file or directory", out)

    def test_a_missing_key_ca_or_crl_is_named(self):
        for key in ("key", "ca", "crl"):
            with self.subTest(key=key):
                code, out = self.check({f"tls.{key}": f"/nonexistent/{key}.pem"})
                self.assertEqual(code, 2, out)
                self.assertIn(f"[tls] {key} /nonexistent/{key}.pem: cannot open", out)

    def test_a_key_of_another_certificate_is_refused(self):
        code, out = self.check({"tls.key": str(h.PKI / "vo-25LX00.key")})
        self.assertEqual(code, 2, out)
        self.assertIn("does not belong to the certificate", out)

    def test_an_expired_certificate_is_refused(self):
        code, out = self.check({"tls.cert": str(h.PKI / "expired-vo-25LX00.crt"),
                                 "tls.key": str(h.PKI / "expired-vo-25LX00.key")})
        self.assertEqual(code, 2, out)
        self.assertIn("has expired", out)

    def test_a_conninfo_that_does_not_parse_is_refused(self):
        code, out = self.check({"database.conninfo": "host=/tmp dbname"})
        self.assertEqual(code, 2, out)
        self.assertIn("[database] conninfo", out)

    def test_the_usage_line_names_check_config(self):
        r = subprocess.run([str(h.BUILD / "overstapd"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout.splitlines()[0])


class ClientFindingsTest(h.TestCase):
    """What a newcomer tripped over in the clients (issue 16)."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_database("it_ops_clients")

    def test_bench_connections_zero_names_the_option(self):
        r = h.run_tool("overstap-bench", ["--connections", "0"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip(), "overstap-bench: --connections must be a whole number from 1 to "
                                           "100000, not '0'")
        self.assertNotIn("usage", r.stdout + r.stderr)

    def test_bench_reports_nothing_when_nothing_connects(self):
        port = h.free_port()  # nothing listens there
        r = h.run_tool("overstap-bench", ["--pki", str(h.PKI), "--port", str(port), "--connections", "2",
                                          "--duration", "1"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("events/s", r.stdout)
        self.assertIn("Connection refused", r.stderr)
        self.assertIn(f"no connection to 127.0.0.1:{port} succeeded (2 of 2 failed)", r.stderr)

    def test_bench_host_takes_a_name_and_ipv6(self):
        # localhost: whichever address the resolver gives first, the daemon listens there
        first = socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)[0]
        local = "[::1]" if first[0] == socket.AF_INET6 else "127.0.0.1"
        for host, listen in (("::1", "[::1]"), ("localhost", local)):
            with self.subTest(host=host):
                d = self.start_daemon(self.db, config={"server.listen": f"{listen}:{h.free_port()}"})
                port = d.log.split(f"listening={listen}:")[1].split()[0]
                run = h.new_event_id("b6")
                acked = Path(tempfile.mkstemp(prefix="acked-", dir=h._run_dir())[1])
                r = h.run_tool("overstap-bench", ["--pki", str(h.PKI), "--identity", "vo:25LX00", "--host", host,
                                                  "--port", port, "--events", "100", "--batch", "50",
                                                  "--run-id", run, "--acked", acked, "--json"])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(json.loads(r.stdout)["accepted"], 100)
                ids = acked.read_text().split()
                self.assertEqual(len(ids), 100)
                self.assertEqual(h.psql_value(self.db, f"SELECT count(*) FROM event WHERE event_id LIKE '{run}-%'"),
                                 "100")

    def test_bench_unknown_host_is_named(self):
        r = h.run_tool("overstap-bench", ["--pki", str(h.PKI), "--host", "no-such-host.invalid", "--duration", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot resolve --host no-such-host.invalid", r.stderr)

    def test_import_regions_explains_a_malformed_csv(self):
        bad = Path(tempfile.mkstemp(prefix="regions-", suffix=".csv", dir=h._run_dir())[1])
        bad.write_text('code;naam\n39;Zuid-Limburg\n13;Midden "Brabant" x"\n')
        r = h.run_tool("overstapctl", ["import-regions", "--db", self.db, bad])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("strict checking", r.stdout + r.stderr)
        self.assertIn("a quote inside an unquoted field", r.stdout + r.stderr)
        self.assertIn(f"{bad}:3: malformed CSV", r.stdout + r.stderr)  # the line

    def test_report_cohort_out_of_range_names_the_valid_years(self):
        r = h.run_tool("overstap-report", ["--cohort", "1900"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--cohort must be a year from 1990 to 2200", r.stderr)
        self.assertIn("'1900'", r.stderr)

    def test_http_stats_json_says_group_by_and_still_by(self):
        d = self.start_daemon(self.db)
        cohort = h.default_cohort()
        status, body = d.http_get(f"/api/v1/stats?cohort={cohort}&region=39&by=vo_school")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc["group_by"], doc["by"]), ("vo_school", "vo_school"))


class DemoTest(h.TestCase):
    """make demo's school year, small: the alerts each clock move raised are
    reported (they were '0 alerts raised': the sweep request found nothing
    left to run)."""

    def test_demo_reports_the_alerts_the_clock_moves_raise(self):
        db = h.fresh_database("it_ops_demo")
        work = Path(tempfile.mkdtemp(prefix="demo-", dir=h._run_dir()))
        port, http_port = h.free_port(), h.free_port()
        r = subprocess.run(["/usr/bin/python3", str(h.REPO / "scripts" / "demo.py"), "--build", str(h.BUILD),
                            "--pki", str(h.PKI), "--conninfo", db, "--shared", str(h.SHARED), "--workdir", str(work),
                            "--port", str(port), "--http-port", str(http_port), "--pupils", "150"],
                           capture_output=True, text=True, timeout=600 * h.SLOW)
        pid_file = work / "overstapd.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        reported = {(int(c), dl): int(n) for dl, c, n in
                    re.findall(r"sweep (\w+) \(cohort (\d+)\) ran: (\d+) alerts raised", r.stdout)}
        # every sweep that raised alerts was reported (the ones of old cohorts
        # the daemon caught up at start-up raise none)
        stored = {(int(c), dl): int(n) for c, dl, n in
                  h.psql(db, "SELECT cohort, deadline, alerts FROM sweep_run WHERE alerts > 0")}
        reported = {k: v for k, v in reported.items() if v > 0}
        self.assertEqual(reported, stored, r.stdout)
        self.assertGreater(sum(reported.values()), 0, r.stdout)
        self.assertNotIn("0 alerts raised (alerts raised", r.stdout)
        self.assertIn("make demo-stop", r.stdout)
        # the daemon it left running stops cleanly
        h.wait_until(lambda: not _alive(pid), timeout=40, what="the demo daemon to stop")
        log = (work / "overstapd.log").read_text()
        for m in h.SANITIZER_MARKERS:
            self.assertNotIn(m, log)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        # a zombie of a process not ours still answers kill 0
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main()
