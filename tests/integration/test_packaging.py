"""test_packaging.py — overstapd installs like a Debian daemon (issue 16).

`make install` and the Debian package are installed for real, as root, into a
throwaway copy of this machine: an overlay of / in a mount namespace of the
test's own, entered with chroot, so nothing stays behind on the machine. There
`systemd-analyze verify` checks the installed unit (its ExecStart and its
Documentation= man page must exist), `man` renders every page without a
warning, the package creates its system user, and that user can run
--check-config on the installed configuration. The package is built with
dpkg-buildpackage in a copy of the tree and must be lintian-clean of errors.
Runs once (the normal build), not again under the sanitizers.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest
from pathlib import Path

import harness as h

MAN_PAGES = ["overstapd.8", "overstap-push.1", "overstap-rmc.1", "overstap-report.1", "overstapctl.1",
             "overstap-bench.1"]


def _overlay_works():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    d = Path(tempfile.mkdtemp(prefix="ovl-probe-", dir=h._run_dir()))
    for sub in ("upper", "work", "merged"):
        (d / sub).mkdir()
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"mount -t overlay overlay -o lowerdir=/,upperdir={d}/upper,workdir={d}/work {d}/merged"],
                       capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    return r.returncode == 0


def in_scratch_root(script, timeout=300):
    """Runs `script` (sh) as root in a chroot onto an overlay of /: every change
    it makes is gone afterwards. Returns the CompletedProcess."""
    d = Path(tempfile.mkdtemp(prefix="scratch-root-", dir=h._run_dir()))
    for sub in ("upper", "work", "merged"):
        (d / sub).mkdir()
    (d / "script.sh").write_text(script)
    outer = (f"set -e; m={d}/merged; "
             f"mount -t overlay overlay -o lowerdir=/,upperdir={d}/upper,workdir={d}/work $m; "
             "mount -t proc proc $m/proc; mount --rbind /dev $m/dev; "
             f"exec chroot $m /bin/sh -e {d}/script.sh")
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", outer],
                              capture_output=True, text=True, timeout=timeout * h.SLOW)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class PackagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if h.SANITIZED:
            raise unittest.SkipTest("installation is tested once, on the normal build")
        if not _overlay_works():
            raise unittest.SkipTest("needs root, unshare(1) and overlayfs for a throwaway root")
        h.setup()

    def test_make_install_gives_a_unit_systemd_accepts_and_man_pages_man_renders(self):
        pki = h.PKI
        r = in_scratch_root(f"""
make -s -C {h.REPO} install B={h.BUILD} >/dev/null
echo "== unit"; cat /usr/local/lib/systemd/system/overstapd.service
echo "== verify"; systemd-analyze verify /usr/local/lib/systemd/system/overstapd.service 2>&1; echo "verify rc=$?"
for p in {' '.join(MAN_PAGES)}; do
  s=$(echo $p | sed 's/.*\\.//')
  f=/usr/local/share/man/man$s/$p
  test -f $f || echo "missing $f"
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $f 2>&1 >/dev/null | sed "s|^|$p: |"
done
echo "== files"; ls /usr/local/sbin/overstapd /usr/local/bin/overstap-push /usr/local/bin/overstap-rmc \
  /usr/local/bin/overstap-report /usr/local/bin/overstapctl /usr/local/bin/overstap-bench \
  /usr/local/etc/overstapd/overstapd.conf /usr/local/share/doc/overstapd/examples/overstapd.conf
echo "== check-config"
sed -e 's|/usr/local/etc/overstapd/tls/|{pki}/|' /usr/local/etc/overstapd/overstapd.conf >/tmp/o.conf
/usr/local/sbin/overstapd -c /tmp/o.conf --check-config
""")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        unit = out.split("== unit")[1].split("== verify")[0]
        self.assertIn("ExecStart=/usr/local/sbin/overstapd -c /usr/local/etc/overstapd/overstapd.conf\n", unit)
        self.assertIn("Type=notify", unit)
        self.assertIn("WatchdogSec=", unit)
        verify = out.split("== verify")[1].split("== files")[0]
        self.assertEqual(verify.strip(), "verify rc=0", out)  # clean: no complaint at all
        self.assertNotIn("missing", out)
        self.assertFalse(re.search(r"^\S+\.[18]: ", out, re.M), out)  # no man warning
        self.assertIn("/tmp/o.conf: ok", out)

    def test_debian_package_builds_installs_its_user_and_is_lintian_clean(self):
        for tool in ("dpkg-buildpackage", "dh", "lintian"):
            if not shutil.which(tool):
                self.fail(f"{tool} is missing (scripts/deps.sh test installs it)")
        work = Path(tempfile.mkdtemp(prefix="deb-", dir=h._run_dir()))
        src = work / "overstapd"
        src.mkdir()
        files = subprocess.run(["git", "-C", str(h.REPO), "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], capture_output=True, check=True).stdout
        subprocess.run(f"tar -C {h.REPO} --null -T - -cf - | tar -C {src} -xf -", shell=True, input=files,
                       check=True)
        # the package's own unit-test run must not add to this run's counts
        env = {k: v for k, v in os.environ.items() if k != "OVERSTAP_COUNTS"}
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, capture_output=True, text=True,
                           timeout=900, env=env)
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr)[-6000:])
        debs = sorted(p.name for p in work.glob("*.deb"))
        self.assertIn("overstapd_0.1.0_amd64.deb", debs)
        self.assertIn("overstap-clients_0.1.0_amd64.deb", debs)
        changes = next(work.glob("*.changes"))
        lint = subprocess.run(["lintian", "--no-tag-display-limit", str(changes)], capture_output=True, text=True,
                              timeout=600)
        errors = [line for line in (lint.stdout + lint.stderr).splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], lint.stdout + lint.stderr)
        pki = h.PKI
        r = in_scratch_root(f"""
dpkg -i {work}/overstapd_0.1.0_amd64.deb {work}/overstap-clients_0.1.0_amd64.deb >/tmp/dpkg.log 2>&1 || {{ cat /tmp/dpkg.log; exit 3; }}
echo "== user"; getent passwd overstapd
echo "== etc"; stat -c '%n %U:%G %a' /etc/overstapd /etc/overstapd/overstapd.conf /etc/overstapd/tls
echo "== verify"; systemd-analyze verify /lib/systemd/system/overstapd.service 2>&1; echo "verify rc=$?"
echo "== man"; man -w overstapd overstap-push overstap-rmc overstap-report overstapctl overstap-bench
echo "== check-config as the user"
install -o root -g overstapd -m 0640 {pki}/server.crt {pki}/server.key {pki}/ca.crt {pki}/crl.pem /etc/overstapd/tls/
sed -i -e 's|^crl = .*|crl = /etc/overstapd/tls/crl.pem|' /etc/overstapd/overstapd.conf
runuser -u overstapd -- /usr/sbin/overstapd -c /etc/overstapd/overstapd.conf --check-config
echo "== purge"; dpkg --purge overstap-clients overstapd >/dev/null; test ! -e /usr/sbin/overstapd && echo gone
""")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r"== user\noverstapd:x:\d+:\d+:[^:]*:/nonexistent:/usr/sbin/nologin\n")
        self.assertIn("/etc/overstapd root:overstapd 750", out)
        self.assertIn("/etc/overstapd/overstapd.conf root:overstapd 640", out)
        self.assertIn("/etc/overstapd/tls root:overstapd 750", out)
        verify = out.split("== verify")[1].split("== man")[0]
        self.assertEqual(verify.strip(), "verify rc=0", out)
        self.assertEqual(len(re.findall(r"^/usr/share/man/man[18]/\S+\.gz$", out, re.M)), 6, out)
        self.assertIn("/etc/overstapd/overstapd.conf: ok", out)
        self.assertIn("gone", out)
        shutil.rmtree(work, ignore_errors=True)

    def test_patroni_example_is_valid_for_patroni(self):
        """patroni --validate-config on deploy/patroni.yml. The validator
        connects to every address it names, so they are moved to loopback
        first (127.0.0.2: Patroni refuses 127.0.0.1 as a connect address):
        listen addresses to free ports, etcd hosts to listeners of this test."""
        if not shutil.which("patroni"):
            self.fail("patroni is missing (scripts/deps.sh test installs it)")
        text = (h.REPO / "deploy" / "patroni.yml").read_text()
        listeners = []

        def loopback(m):
            port = h.free_port()
            if m.group(0).endswith(":2379"):  # etcd: must answer
                s = socket.socket()
                s.bind(("127.0.0.2", port))
                s.listen()
                listeners.append(s)
            return f"127.0.0.2:{port}"

        text = re.sub(r"10\.0\.0\.\d+:\d+", loopback, text)
        self.addCleanup(lambda: [s.close() for s in listeners])
        # nothing but loopback is left for the validator to reach
        self.assertFalse(re.findall(r"\b(?!127\.0\.0\.2\b)\d+\.\d+\.\d+\.\d+:\d+", text), text)
        conf = Path(tempfile.mkstemp(prefix="patroni-", suffix=".yml", dir=h._run_dir())[1])
        conf.write_text(text)
        r = subprocess.run(["patroni", "--validate-config", str(conf)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("synchronous_mode: true", text)


if __name__ == "__main__":
    unittest.main()
