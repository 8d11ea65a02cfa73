"""browser.py — headless Chromium with a client certificate, for the pages'
tests (issue 13) and the screenshots (scripts/screenshots.sh).

Chromium takes its client certificates from the NSS database in
$HOME/.pki/nssdb (../shared/PITFALLS.md, "Headless Chromium with a client
certificate"), so each Browser has a private HOME: an NSS database that
trusts the test CA and holds one certificate and key (certutil, pk12util:
libnss3-tools), and a fresh profile whose Preferences let Chromium pick that
certificate for the daemon's origin without a prompt (no policy file, no
root). Every run of Chromium is bounded by `timeout`.

  Browser(role, org, port)       the certificate PKI/<role>-<org>.crt (None: none)
    .dump_dom(url)               --dump-dom after the page's fetches (virtual time)
    .screenshot(url, png)        --screenshot at a laptop's window size
    .session(url)                a live page driven over --remote-debugging-pipe:
                                 .eval(js), .wait(js), .dom(), .screenshot(png),
                                 .problems() (script errors, CSP violations)
  parse(html) -> Element         a small tree of the DOM to read data-* attributes
"""
import fcntl
import html.parser
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import harness as h

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--disable-sync", "--mute-audio",
         "--disable-dev-shm-usage", "--lang=nl-NL"]
RUN_TIMEOUT = 60  # seconds for one run of Chromium, whatever the page does


def available():
    return CHROMIUM is not None and shutil.which("certutil") is not None and shutil.which("pk12util") is not None


class Browser:
    """A private HOME with an NSS database holding the client certificate
    <role>-<org> of the test PKI (role None: no certificate at all) and a
    profile that selects it for https://127.0.0.1:PORT without asking."""

    def __init__(self, role, org, port, *, pki=None, name=None):
        self.pki = Path(pki or h.PKI)
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.home = Path(tempfile.mkdtemp(prefix="chromium-home-"))
        self.nssdb = self.home / ".pki" / "nssdb"
        self.nssdb.mkdir(parents=True)
        self._runs = 0
        self._nss("certutil", "-N", "--empty-password")
        self._nss("certutil", "-A", "-n", "overstapd test CA", "-t", "CT,,", "-i", str(self.pki / "ca.crt"))
        name = name or (f"{role}-{org}" if role else None)
        if name:
            p12 = self.home / "client.p12"
            subprocess.run(["openssl", "pkcs12", "-export", "-in", str(self.pki / f"{name}.crt"), "-inkey",
                            str(self.pki / f"{name}.key"), "-name", name, "-out", str(p12), "-passout",
                            "pass:test"], check=True, capture_output=True, timeout=30)
            self._nss("pk12util", "-i", str(p12), "-W", "test")
            p12.unlink()

    def _nss(self, tool, *args):
        r = subprocess.run([tool, "-d", f"sql:{self.nssdb}", *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {r.stdout}{r.stderr}")

    def _profile(self):
        """A fresh profile for each run, pre-filled to pick the certificate
        (Chromium otherwise waits for a picker that never shows)."""
        self._runs += 1
        profile = self.home / f"profile-{self._runs}"
        (profile / "Default").mkdir(parents=True)
        pattern = f"{self.origin},*"
        prefs = {"profile": {"content_settings": {"exceptions": {"auto_select_certificate": {
            pattern: {"setting": {"filters": [{}]}}}}}}}
        (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
        return profile

    def _env(self):
        return dict(os.environ, HOME=str(self.home), LANG="nl_NL.UTF-8", LANGUAGE="nl", TZ="Europe/Amsterdam")

    def _run(self, args, timeout):
        cmd = ["timeout", "-k", "5", str(timeout), CHROMIUM, *FLAGS, f"--user-data-dir={self._profile()}", *args]
        return subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=timeout + 15)

    def url(self, path="/"):
        return self.origin + path

    def dump_dom(self, path="/", budget_ms=8000, timeout=RUN_TIMEOUT):
        """The DOM once the page settled: --virtual-time-budget holds virtual
        time while fetches are pending, so the page's own API calls finish."""
        r = self._run(["--dump-dom", f"--virtual-time-budget={budget_ms}", self.url(path)], timeout)
        return r.stdout

    def screenshot(self, path, png, size=(1400, 1000), budget_ms=8000, timeout=RUN_TIMEOUT):
        r = self._run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars",
                       f"--virtual-time-budget={budget_ms}", self.url(path)], timeout)
        if not Path(png).exists():
            raise RuntimeError(f"no screenshot of {path}: {r.stderr[-2000:]}")

    def session(self, path="/", timeout=RUN_TIMEOUT):
        return Session(self, self.url(path), timeout)

    def close(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _above_4(fd):
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Session:
    """One Chromium whose page is driven over the DevTools protocol on a pipe
    (--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4), so a
    test clicks the page's own buttons. Bounded: Chromium runs under
    `timeout`, every call waits at most `timeout` seconds."""

    def __init__(self, browser, url, timeout):
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child's ends above 4, so that moving them to 3 and 4 overwrites neither
        to_chrome_r, from_chrome_w = _above_4(to_chrome_r), _above_4(from_chrome_w)
        cmd = ["timeout", "-k", "5", str(timeout + 30), CHROMIUM, *FLAGS, "--remote-debugging-pipe",
               f"--user-data-dir={browser._profile()}", "about:blank"]
        # the pipe's ends become fds 3 (Chromium reads) and 4 (Chromium writes)
        shell = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", shell, "bash", *cmd], env=browser._env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     pass_fds=(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._ids = iter(range(1, 1 << 30))
        self._replies = {}
        self._cond = threading.Condition()
        self._events = queue.Queue()
        self._stderr = []
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(line.decode(errors='replace') for line in self.proc.stderr),
                         daemon=True).start()
        try:
            targets = self.call("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self.sid = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Runtime.enable", session=True)
            self.call("Log.enable", session=True)
            self.navigate(url)
        except Exception:
            self.close()
            raise

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._replies[None] = "closed"
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self._events.put(msg)

    def call(self, method, session=False, **params):
        mid = next(self._ids)
        msg = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.sid
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if None in self._replies or left <= 0:
                    raise RuntimeError(f"Chromium gave no answer to {method}: {''.join(self._stderr)[-2000:]}")
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def problems(self):
        """What the page reported as wrong so far: uncaught exceptions, and
        console errors other than failed requests (a 404 the page expects,
        the favicon) — a Content-Security-Policy violation among them."""
        out = []
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return out
            p = ev.get("params", {})
            if ev.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif ev.get("method") == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") == "error" and e.get("source") != "network":
                    out.append(f"{e.get('source')}: {e.get('text')}")
            elif ev.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))

    def navigate(self, url):
        self.call("Page.navigate", session=True, url=url)

    def eval(self, expression):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expression, timeout=20, what=None):
        """Until the expression is truthy in the page; returns its value."""
        deadline = time.monotonic() + timeout * h.SLOW
        while True:
            try:
                v = self.eval(expression)
            except RuntimeError:
                v = None  # the page is between documents
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}; "
                                     f"body: {self.eval('document.body && document.body.outerHTML')!r:.3000}")
            time.sleep(0.1)

    def downloads_to(self, folder):
        """Downloads (an <a download> click) go to folder, without asking."""
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))

    def screenshot(self, png, size=(1400, 1000)):
        """A PNG of the page as it is now, at a laptop's window size."""
        import base64
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=size[0], height=size[1],
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)  # a layout at the new size
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        Path(png).write_bytes(base64.b64decode(data))

    def dom(self):
        return self.eval("document.documentElement.outerHTML")

    def close(self):
        try:
            os.write(self._to_chrome, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # `timeout` passes SIGTERM on to Chromium (a SIGKILL it would not)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- reading the DOM ------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []
        self._text = []

    @property
    def text(self):
        """All text inside, whitespace collapsed."""
        parts = []

        def walk(e):
            for c in e.children:
                if isinstance(c, str):
                    parts.append(c)
                else:
                    walk(c)
        walk(self)
        return " ".join("".join(parts).split())

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def iter(self):
        for c in self.children:
            if isinstance(c, Element):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, **attrs):
        """Elements below with the tag (None: any) and attributes
        (data_key='x' means data-key="x"; True: present)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        out = []
        for e in self.iter():
            if tag and e.tag != tag:
                continue
            if all((k in e.attrs) if v is True else e.attrs.get(k) == v for k, v in want.items()):
                out.append(e)
        return out

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def __repr__(self):
        return f"<{self.tag} {self.attrs}>"


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        e = Element(tag, [(k, v if v is not None else "") for k, v in attrs], self.cur)
        self.cur.children.append(e)
        if tag not in VOID:
            self.cur = e

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Element(tag, [(k, v if v is not None else "") for k, v in attrs], self.cur))

    def handle_endtag(self, tag):
        e = self.cur
        while e is not self.root and e.tag != tag:
            e = e.parent
        if e is not self.root:
            self.cur = e.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(text):
    p = _Parser()
    p.feed(text or "")
    p.close()
    return p.root
