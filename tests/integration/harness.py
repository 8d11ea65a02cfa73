"""harness.py — the integration tests' view of the world: a real overstapd on a
real PostgreSQL cluster with real certificates, and a real TLS client.

Environment (scripts/integration.sh sets it; the defaults suit a checkout):
  OVERSTAP_BUILD    build folder with overstapd and the clients (default build/)
  OVERSTAP_PKI      PKI folder made by deploy/pki.sh (default var/test-pki)
  OVERSTAP_PG_NAME  the scripts/pg.sh cluster (default test)
  OVERSTAP_PG_PORT  its port (default 54339)
  OVERSTAP_SHARED   ../shared, for the reference data in data/

What it offers:
  fresh_database(name)        drop + create a database, migrate, import reference data
  psql(db, sql)               rows as lists of strings (db: a name or a conninfo)
  Daemon(conninfo, clock=None, config={...})
                              overstapd on free ports; .stop() (SIGTERM, exit 0),
                              .kill9(), .restart(), .log, .http_get(path)
  Client(daemon, role, org)   TLS with the role's certificate; request(msg) -> reply,
                              send/recv, batch(updates)
  make_update(...), make_pgns(n), tls_refused(...), run_tool(name, args)
  TestCase                    unittest.TestCase with start_daemon()/client() that clean up

Wire: 4-byte big-endian length + a serialized overstap.v1.Envelope, generated from
proto/overstap.proto by protoc --python_out into BUILD/gen-py at first use.
A daemon whose log shows a sanitizer report fails the test that stops it.
"""
import atexit
import datetime as _dt
import itertools
import json
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("OVERSTAP_BUILD", REPO / "build")).resolve()
PKI = Path(os.environ.get("OVERSTAP_PKI", REPO / "var" / "test-pki")).resolve()
PG_NAME = os.environ.get("OVERSTAP_PG_NAME", "test")
PG_PORT = int(os.environ.get("OVERSTAP_PG_PORT", "54339"))
SHARED = Path(os.environ.get("OVERSTAP_SHARED", REPO.parent / "shared")).resolve()
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SANITIZED = "asan" in BUILD.parts or "asan" in BUILD.name
# Everything slows down under ASan; waits scale with this.
SLOW = 3.0 if SANITIZED else 1.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")

os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

sys.path.insert(0, str(REPO / "scripts"))
import mkconf  # noqa: E402  (scripts/mkconf.py)


# ---- protobuf -----------------------------------------------------------------

def _load_pb():
    out = BUILD / "gen-py"
    proto = REPO / "proto" / "overstap.proto"
    target = out / "overstap_pb2.py"
    if not target.exists() or target.stat().st_mtime < proto.stat().st_mtime:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out))
        subprocess.run(["protoc", f"--proto_path={proto.parent}", f"--python_out={tmp}", proto.name],
                       check=True)
        os.replace(tmp / "overstap_pb2.py", target)
        tmp.rmdir()
    sys.path.insert(0, str(out))
    import overstap_pb2
    return overstap_pb2


pb = _load_pb()
_BODY = {f.message_type.full_name: f.name for f in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields}


def enum_value(enum_type, value, prefix):
    """'AANGEMELD' / 'EVENT_KIND_AANGEMELD' / 11 -> 11."""
    if value is None or isinstance(value, int):
        return value or 0
    name = value if value.startswith(prefix) else prefix + value
    return enum_type.Value(name)


# ---- processes and set-up -----------------------------------------------------

def _sh(args, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    try:
        return subprocess.run([str(a) for a in args], **kw)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({e.returncode}):\n{e.stdout}{e.stderr}") from None


def pg(*args):
    """scripts/pg.sh CMD PG_NAME ARGS... -> its standard output."""
    cmd, rest = args[0], args[1:]
    return _sh(["bash", REPO / "scripts" / "pg.sh", cmd, PG_NAME, *rest]).stdout.strip()


_setup_done = False


def setup():
    """The test cluster runs and the PKI exists (both idempotent and quick)."""
    global _setup_done
    if _setup_done:
        return
    _sh(["bash", REPO / "deploy" / "pki.sh", PKI])
    pg("start", PG_PORT)
    _setup_done = True


def conninfo(db="postgres"):
    setup()
    return pg("conninfo", db)


def pg_stop(mode="fast"):
    """Stops the test cluster (pg_ctl stop -m MODE)."""
    pg("stop", mode)


def pg_start():
    pg("start", PG_PORT)


def psql(db, sql, *, check=True):
    """Runs sql; returns the rows as lists of strings (NULL is None)."""
    ci = db if "=" in db else conninfo(db)
    r = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-F", "\x1f", "-P", "null=\x1e", "-d", ci, "-c", sql],
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}\nSQL: {sql}")
    rows = []
    for line in r.stdout.splitlines():
        if line == "":
            continue
        rows.append([None if v == "\x1e" else v for v in line.split("\x1f")])
    return rows


def psql_value(db, sql):
    rows = psql(db, sql)
    return rows[0][0] if rows else None


def _run_dir():
    d = REPO / "var" / "test-run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def migrate(ci):
    """overstapd --migrate against conninfo ci; raises with its output on failure."""
    conf = Path(tempfile.mkstemp(prefix="migrate-", suffix=".conf", dir=_run_dir())[1])
    try:
        conf.write_text(mkconf.render(1, ci, PKI))
        r = subprocess.run([str(BUILD / "overstapd"), "-c", str(conf), "--migrate"],
                           capture_output=True, text=True, timeout=120 * SLOW)
        out = r.stdout + r.stderr
        if r.returncode != 0 or any(m in out for m in SANITIZER_MARKERS):
            raise RuntimeError(f"overstapd --migrate failed ({r.returncode}):\n{out}")
    finally:
        conf.unlink(missing_ok=True)


def has_tool(name):
    return (BUILD / name).is_file() and os.access(BUILD / name, os.X_OK)


def import_reference_data(ci):
    """Regions and vo schools from SHARED/data, through overstapctl (when built).
    Returns True when imported."""
    if not has_tool("overstapctl"):
        return False
    env = dict(os.environ, **_pg_env(ci))
    data = SHARED / "data"
    for cmd, f in (("import-regions", "rmc_regios.csv"), ("import-duo-vo", "vo_hoofdvestigingen_duo_2016.csv")):
        r = subprocess.run([str(BUILD / "overstapctl"), cmd, str(data / f)], env=env,
                           capture_output=True, text=True, timeout=120 * SLOW)
        if r.returncode != 0 or any(m in r.stdout + r.stderr for m in SANITIZER_MARKERS):
            raise RuntimeError(f"overstapctl {cmd} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return True


def _pg_env(ci):
    kv = dict(p.split("=", 1) for p in ci.split())
    return {"PGHOST": kv["host"], "PGPORT": kv["port"], "PGUSER": kv.get("user", "postgres"),
            "PGDATABASE": kv["dbname"]}


def fresh_database(name, reference_data=True):
    """Drops and creates database `name` in the test cluster, applies the
    migrations and (when overstapctl exists) imports the reference data.
    Returns its conninfo."""
    setup()
    pg("dropdb", name)
    pg("createdb", name)
    ci = conninfo(name)
    migrate(ci)
    if reference_data:
        import_reference_data(ci)
    return ci


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns something truthy; returns that. what
    may be a callable, to say at the time out what was seen."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout * SLOW:.0f}s waiting for {said}")
        time.sleep(interval)


def iso(ts):
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(text):
    """'2031-04-01' or '2031-04-01T00:00:00Z' -> unix seconds (UTC)."""
    if len(text) == 10:
        text += "T00:00:00Z"
    return int(_dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp())


# ---- the daemon -----------------------------------------------------------------

_live = set()


@atexit.register
def _kill_leftovers():
    for d in list(_live):
        try:
            d.proc.kill()
        except Exception:
            pass


# A test process ended by a timeout (SIGTERM) still kills the daemons it started.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class DaemonError(AssertionError):
    pass


class Daemon:
    """A real overstapd on free ports. config: {'alerts.ack_timeout': '2s', ...};
    clock: None (system) or '2031-01-01T00:00:00Z' (manual); env: extra
    environment (NOTIFY_SOCKET); prefix: a command the daemon runs under."""

    def __init__(self, conninfo, clock=None, config=None, *, http=True, https=True, log_level="info", crl=True,
                 start=True, pki=None, env=None, prefix=()):
        setup()
        self.conninfo = conninfo
        self.pki = Path(pki or PKI)
        self.port = free_port()
        self.http_port = free_port() if http else 0
        self.https_port = free_port() if https else 0
        self.dir = Path(tempfile.mkdtemp(prefix="overstapd-", dir=_run_dir()))
        self.conf_path = self.dir / "overstapd.conf"
        self.log_path = self.dir / "overstapd.log"
        self.conf_path.write_text(mkconf.render(self.port, conninfo, self.pki, http_port=self.http_port,
                                                https_port=self.https_port, clock=clock, log_level=log_level, crl=crl,
                                                overrides=config or {}))
        self.env = dict(os.environ, **(env or {}))
        self.prefix = [str(a) for a in prefix]
        self.proc = None
        self.exit_codes = []
        self._log_offset = 0
        if start:
            self.start()

    # -- life cycle

    def start(self, wait=True, timeout=30):
        assert self.proc is None, "already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([*self.prefix, str(BUILD / "overstapd"), "-c", str(self.conf_path)],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         env=self.env)
        _live.add(self)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=30):
        """Until /healthz answers 200 (the daemon listens and the database answers)."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                raise DaemonError(f"overstapd exited with {code} at start-up:\n{self.log_tail()}")
            if self.http_port:
                if self.healthz() == 200:
                    return
            elif self._tcp_open():
                return
            if time.monotonic() > deadline:
                raise DaemonError(f"overstapd not healthy after {timeout * SLOW:.0f}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _tcp_open(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, expect=0, timeout=40):
        """SIGTERM; the daemon must exit with `expect` (0) within timeout, with
        no sanitizer report in its log."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reap()
            raise DaemonError(f"overstapd did not exit {timeout * SLOW:.0f}s after SIGTERM:\n{self.log_tail()}")
        self._reap()
        self.check_log()
        if expect is not None and code != expect:
            raise DaemonError(f"overstapd exited with {code} after SIGTERM, expected {expect}:\n{self.log_tail()}")
        return code

    def kill9(self):
        """SIGKILL: no drain, no exit handlers."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self._reap()
        self.check_log()

    def restart(self, **kw):
        if self.running():
            self.stop()
        elif self.proc is not None:
            self._reap()
        return self.start(**kw)

    def _reap(self):
        if self.proc is not None:
            self.exit_codes.append(self.proc.returncode)
        _live.discard(self)
        self.proc = None

    def close(self):
        """Stops a running daemon (test clean-up); checks its log either way."""
        if self.running():
            self.stop()
        elif self.proc is not None:
            code = self.proc.returncode
            self._reap()
            self.check_log()
            raise DaemonError(f"overstapd had died with {code}:\n{self.log_tail()}")
        else:
            self.check_log()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            try:
                self.close()
            except Exception:
                pass  # the first failure is the interesting one
        return False

    # -- the log

    @property
    def log(self):
        """Everything the daemon wrote (all its runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_since_start(self):
        return self.log[self._log_offset:]

    def log_tail(self, lines=60):
        return "\n".join(self.log.splitlines()[-lines:])

    def sanitizer_report(self):
        text = self.log
        for m in SANITIZER_MARKERS:
            i = text.find(m)
            if i >= 0:
                return text[max(0, text.rfind("\n", 0, max(0, i - 200))):i + 4000]
        return None

    def check_log(self):
        rep = self.sanitizer_report()
        if rep:
            raise DaemonError(f"sanitizer report in the daemon's log ({self.log_path}):\n{rep}")

    # -- HTTP

    def http_get(self, path, timeout=10):
        """(status, body text)."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout * SLOW) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def https(self, method, path, role=None, org=None, *, name=None, cert=None, key=None, body=None,
              headers=None, timeout=10):
        """(status, parsed JSON or text, headers) over HTTPS with the certificate
        PKI/<role>-<org>.crt (or name=, or cert= and key=)."""
        import http.client
        if cert is None and (role or name):
            cert, key = cert_files(role, org, name)
        ctx = tls_context(cert, key)
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, context=ctx, timeout=timeout * SLOW)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            hdrs = {"Host": "localhost"}
            if isinstance(body, (dict, list)):
                hdrs["Content-Type"] = "application/json"
            hdrs.update(headers or {})
            # localhost: the server certificate names it, the loopback address is where it listens
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            kind = r.getheader("Content-Type") or ""
            return r.status, json.loads(text) if kind.startswith("application/json") else text, dict(r.getheaders())
        finally:
            conn.close()

    def healthz(self):
        try:
            return self.http_get("/healthz", timeout=2)[0]
        except (OSError, urllib.error.URLError):
            return None

    def tool_env(self, role, org, name=None):
        """Environment for the C clients: OVERSTAP_HOST/PORT/CERT/KEY/CA."""
        name = name or f"{role}-{org}"
        return {"OVERSTAP_HOST": "127.0.0.1", "OVERSTAP_PORT": str(self.port),
                "OVERSTAP_CERT": str(self.pki / f"{name}.crt"), "OVERSTAP_KEY": str(self.pki / f"{name}.key"),
                "OVERSTAP_CA": str(self.pki / "ca.crt")}


# ---- the client -------------------------------------------------------------------

class ConnectionClosed(Exception):
    pass


def _port_of(target):
    return target.port if isinstance(target, Daemon) else int(target)


def ensure_cert(role, org):
    """PKI/<role>-<org>.crt, issued by deploy/pki.sh when it is not there yet."""
    if not (PKI / f"{role}-{org}.crt").exists():
        _sh(["bash", REPO / "deploy" / "pki.sh", "issue", PKI, role, org])


def push_ok(client, updates):
    """Pushes updates; every one must be accepted."""
    results = client.push(updates)
    bad = [(r.event_id, r.error_code, r.error_message) for r in results if r.result != pb.RESULT_ACCEPTED]
    assert not bad, bad


def push_as(daemon, who, updates):
    """push_ok over a connection of its own with the certificate of who = (role, org)."""
    with Client(daemon, *who) as c:
        push_ok(c, updates)


def metric(daemon, name):
    """The value of an unlabelled metric of /metrics (None when absent)."""
    status, body = daemon.http_get("/metrics")
    for line in body.splitlines() if status == 200 else ():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def tls_context(cert=None, key=None, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca or PKI / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def cert_files(role=None, org=None, name=None):
    name = name or f"{role}-{org}"
    return PKI / f"{name}.crt", PKI / f"{name}.key"


class Client:
    """A TLS client with the certificate PKI/<role>-<org>.crt (or name=...)."""

    def __init__(self, target, role=None, org=None, *, name=None, cert=None, key=None, ca=None, timeout=15):
        if cert is None and (role or name):
            cert, key = cert_files(role, org, name)
        self.timeout = timeout * SLOW
        self.ctx = tls_context(cert, key, ca)
        raw = socket.create_connection(("127.0.0.1", _port_of(target)), timeout=self.timeout)
        try:
            self.sock = self.ctx.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise
        self._seq = itertools.count(1)
        self._buf = b""
        self.inbox = []  # frames received while waiting for another seq

    # -- frames

    def send_bytes(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def envelope(self, msg, seq=None):
        """msg: an Envelope, or a body message (StatusBatch, Ping, ...)."""
        if isinstance(msg, pb.Envelope):
            env = pb.Envelope()
            env.CopyFrom(msg)
        else:
            env = pb.Envelope()
            getattr(env, _BODY[msg.DESCRIPTOR.full_name]).CopyFrom(msg)
        if seq is not None:
            env.seq = seq
        elif not env.seq:
            env.seq = next(self._seq)
        return env

    def send(self, msg, seq=None):
        """Sends one frame; returns its seq."""
        env = self.envelope(msg, seq)
        self.send_frame(env.SerializeToString())
        return env.seq

    def _read_exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no frame within {timeout:.0f}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, ConnectionError) as e:
                raise ConnectionClosed(str(e)) from None
            if not chunk:
                raise ConnectionClosed("EOF")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def recv(self, timeout=None):
        """The next Envelope (frames set aside by request() first)."""
        if self.inbox:
            return self.inbox.pop(0)
        return self._recv_wire(timeout)

    def _recv_wire(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout * SLOW
        (n,) = struct.unpack(">I", self._read_exact(4, timeout))
        env = pb.Envelope()
        env.ParseFromString(self._read_exact(n, timeout))
        return env

    def request(self, msg, timeout=None):
        """Sends msg and returns the reply with the same seq; frames with
        another seq (alerts) wait in self.inbox for recv()."""
        seq = self.send(msg)
        return self.wait_reply(seq, timeout)

    def wait_reply(self, seq, timeout=None):
        for i, env in enumerate(self.inbox):
            if env.seq == seq and env.WhichOneof("body") != "alert":
                return self.inbox.pop(i)
        while True:
            env = self._recv_wire(timeout)
            if env.seq == seq and env.WhichOneof("body") != "alert":
                return env
            self.inbox.append(env)

    def expect_closed(self, timeout=10):
        """Reads until the server closes; returns the frames it sent before."""
        frames = []
        while True:
            try:
                frames.append(self._recv_wire(timeout))
            except ConnectionClosed:
                return frames

    # -- messages

    def batch(self, updates, timeout=None):
        """Sends one StatusBatch; returns the reply Envelope (batch_ack or error)."""
        return self.request(pb.StatusBatch(updates=list(updates)), timeout)

    def push(self, updates, timeout=None):
        """Sends one StatusBatch and returns its UpdateResults; fails on an Error reply."""
        env = self.batch(updates, timeout)
        if env.WhichOneof("body") != "batch_ack":
            raise AssertionError(f"expected a BatchAck, got {env}")
        return list(env.batch_ack.results)

    def ping(self, t=0):
        return self.request(pb.Ping(t=t))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def tls_refused(target, role=None, org=None, *, name=None, cert=None, key=None, ca=None, timeout=10):
    """True when the server refuses the TLS connection: the handshake fails, or
    (TLS 1.3: the client finishes first) the first read after a Ping fails.
    False when a Pong comes back."""
    if cert is None and (role or name):
        cert, key = cert_files(role, org, name)
    try:
        c = Client(target, cert=cert, key=key, ca=ca, timeout=timeout)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        c.send(pb.Ping(t=1))
        env = c.recv(timeout)
        return env.WhichOneof("body") != "pong"
    except (ConnectionClosed, ssl.SSLError, ConnectionError, BrokenPipeError):
        return True
    finally:
        c.close()


# ---- test data ----------------------------------------------------------------------

_event_ids = itertools.count(1)
_RUN = f"{os.getpid():x}{random.randrange(1 << 16):04x}"


def new_event_id(prefix="ev"):
    return f"{prefix}-{_RUN}-{next(_event_ids)}"


def bsn_check_digit(first8):
    s = sum((9 - i) * int(d) for i, d in enumerate(first8)) % 11
    return None if s == 10 else s


def is_bsn(pgn):
    if len(pgn) != 9 or not pgn.isdigit():
        return False
    s = sum((9 - i) * int(d) for i, d in enumerate(pgn[:8])) - int(pgn[8])
    return s % 11 == 0


_pgn_rng = random.Random()


def make_pgns(n, start=None):
    """n distinct valid BSNs (11-test), from `start` (an 8-digit prefix number)
    or from a random point so that tests do not meet each other's pupils."""
    if start is None:
        start = _pgn_rng.randrange(10_000_000, 89_000_000)
    out = []
    p = start
    while len(out) < n:
        first8 = f"{p:08d}"
        d = bsn_check_digit(first8)
        if d is not None and first8[0] != "0":
            out.append(first8 + str(d))
        p += 1
    return out


def bad_bsn(pgn):
    """The same number with its check digit broken."""
    return pgn[:8] + str((int(pgn[8]) + 1) % 10)


VO_KINDS = {"OVERSTAPPER_GEREGISTREERD", "KEUZE_GEREGISTREERD", "DDD_AANGELEVERD", "DIPLOMA_BEHAALD",
            "NIET_GESLAAGD", "VO_UITGESCHREVEN"}


def default_cohort():
    return _dt.datetime.now(_dt.timezone.utc).year + 1


def make_update(kind="OVERSTAPPER_GEREGISTREERD", pgn=None, school=None, cohort=None, occurred_at=None,
                event_id=None, **fields):
    """A StatusUpdate with sensible defaults for its kind. Enums take names
    without their prefix ('AANGEMELD', 'MBO', 'VMBO_KB', 'BOL'); occurred_at takes
    unix seconds or ISO text; a field given as None is left unset (for
    MISSING_FIELD tests)."""
    kind_name = kind if isinstance(kind, str) else pb.EventKind.Name(kind)[len("EVENT_KIND_"):]
    is_vo = kind_name in VO_KINDS
    d = {
        "event_id": event_id if event_id is not None else new_event_id(),
        "pgn": pgn or make_pgns(1)[0],
        "occurred_at": occurred_at if occurred_at is not None else int(time.time()) - 3600,
        "kind": kind,
        "cohort": cohort or default_cohort(),
        "school": school or ("25LX00" if is_vo else "25LP"),
    }
    if kind_name == "OVERSTAPPER_GEREGISTREERD":
        d.update(name="Sam de Vries", birth_date=f"{d['cohort'] - 16}-03-04", woongemeente="GM0935",
                 vo_soort="VMBO_KB")
    elif kind_name == "KEUZE_GEREGISTREERD":
        d.update(bestemming="MBO", crebo="25180", mbo_instelling="25LP")
    elif not is_vo and kind_name in {"AANMELDING_ONTVANGEN", "AANGEMELD", "OVEREENKOMST_AANGEBODEN",
                                     "INGESCHREVEN"}:
        d.update(crebo="25180", niveau=4, leerweg="BOL")
    d.update(fields)
    u = pb.StatusUpdate()
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, str) and k == "occurred_at":
            v = unix(v)
        if k == "kind":
            v = enum_value(pb.EventKind, v, "EVENT_KIND_")
        elif k == "vo_soort":
            v = enum_value(pb.VoSoort, v, "VO_SOORT_")
        elif k == "bestemming":
            v = enum_value(pb.Bestemming, v, "BESTEMMING_")
        elif k == "leerweg":
            v = enum_value(pb.Leerweg, v, "LEERWEG_")
        setattr(u, k, v)
    return u


def result_name(r):
    return pb.Result.Name(r.result)[len("RESULT_"):]


# ---- the C clients ----------------------------------------------------------------

def run_tool(name, args=(), *, daemon=None, role=None, org=None, env=None, input=None, timeout=120,
             check=False):
    """Runs BUILD/<name> args; with daemon + role/org, the OVERSTAP_* connection
    environment is set. Returns a CompletedProcess (text). Sanitizer reports in
    its output fail."""
    path = BUILD / name
    if not has_tool(name):
        raise unittest.SkipTest(f"{path} is not built")
    e = dict(os.environ)
    if daemon is not None and role:
        e.update(daemon.tool_env(role, org))
    e.update(env or {})
    r = subprocess.run([str(path), *map(str, args)], env=e, input=input, capture_output=True, text=True,
                       timeout=timeout * SLOW)
    out = r.stdout + r.stderr
    for m in SANITIZER_MARKERS:
        if m in out:
            raise AssertionError(f"sanitizer report from {name}:\n{out[-6000:]}")
    if check and r.returncode != 0:
        raise AssertionError(f"{name} {' '.join(map(str, args))} exited {r.returncode}:\n{out[-4000:]}")
    return r


# ---- unittest glue ---------------------------------------------------------------------

class TestCase(unittest.TestCase):
    """start_daemon() and client() register their own clean-up: a daemon is
    stopped with SIGTERM at the end of the test and must exit 0 without a
    sanitizer report."""

    def start_daemon(self, conninfo, clock=None, config=None, **kw):
        d = Daemon(conninfo, clock=clock, config=config, **kw)
        self.addCleanup(d.close)
        return d

    def client(self, daemon, role=None, org=None, **kw):
        c = Client(daemon, role, org, **kw)
        self.addCleanup(c.close)
        return c

    def assertResults(self, results, expected):
        """expected: list of 'ACCEPTED' / 'DUPLICATE' / ('REJECTED', 'BAD_PGN')."""
        got = [result_name(r) if result_name(r) != "REJECTED" else ("REJECTED", r.error_code)
               for r in results]
        self.assertEqual(got, list(expected), [f"{r.event_id}: {r.error_code} {r.error_message}" for r in results])
