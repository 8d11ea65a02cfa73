#!/usr/bin/env python3
"""mkconf.py — writes an overstapd configuration (INI, the keys of daemon/config.c).

  mkconf.py --out var/overstapd.conf --port 7443 --http-port 7480 \\
            --conninfo "host=/tmp/x port=54329 user=postgres dbname=overstap" \\
            --pki var/pki [--clock 2031-01-01T00:00:00Z] [--log-level debug] \\
            [section.key=value ...]

--pki DIR takes server.crt, server.key and ca.crt from DIR, and crl.pem when it
is there (--no-crl leaves it out). --clock TIME sets [clock] mode = manual,
start = TIME. Each section.key=value sets or replaces one key, e.g.
alerts.ack_timeout=2s or targets.in_beeld_pct.2031=99 (the key is everything
after the first dot). --http-port 0 turns the HTTP side off. Without --out the
file goes to standard output. Also usable as a module: render(...) -> str.
"""
import argparse
import os
import sys

SECTIONS = ("server", "tls", "database", "log", "clock", "calendar", "alerts", "targets", "retention")


def parse_override(text):
    """'alerts.ack_timeout=2s' -> ('alerts', 'ack_timeout', '2s')."""
    key, eq, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not eq or not dot or not name:
        raise ValueError(f"override {text!r} is not section.key=value")
    if section not in SECTIONS:
        raise ValueError(f"override {text!r}: unknown section [{section}] (one of {', '.join(SECTIONS)})")
    if "\n" in value or ";" in value:
        raise ValueError(f"override {text!r}: value may not hold a newline or ';'")
    return section, name.strip(), value.strip()


def render(port, conninfo, pki, http_port=0, host="127.0.0.1", clock=None, log_level="info",
           crl=True, overrides=(), https_port=0):
    """The configuration text. overrides: {'alerts.ack_timeout': '2s'} or
    an iterable of 'section.key=value' strings or (section, key, value) tuples."""
    pki = os.path.abspath(pki)
    conf = {s: {} for s in SECTIONS}
    conf["server"]["listen"] = f"{host}:{port}"
    conf["server"]["http_listen"] = f"{host}:{http_port}" if http_port else ""
    if https_port:
        conf["server"]["https_listen"] = f"{host}:{https_port}"
    conf["tls"]["cert"] = os.path.join(pki, "server.crt")
    conf["tls"]["key"] = os.path.join(pki, "server.key")
    conf["tls"]["ca"] = os.path.join(pki, "ca.crt")
    if crl and os.path.exists(os.path.join(pki, "crl.pem")):
        conf["tls"]["crl"] = os.path.join(pki, "crl.pem")
    conf["database"]["conninfo"] = conninfo
    conf["log"]["level"] = log_level
    if clock:
        conf["clock"]["mode"] = "manual"
        conf["clock"]["start"] = clock
    if isinstance(overrides, dict):
        overrides = [f"{k}={v}" for k, v in overrides.items()]
    for o in overrides:
        section, name, value = o if isinstance(o, tuple) else parse_override(o)
        conf[section][name] = str(value)
    out = ["; written by scripts/mkconf.py"]
    for section in SECTIONS:
        if not conf[section]:
            continue
        out.append(f"\n[{section}]")
        out.extend(f"{k} = {v}" for k, v in conf[section].items())
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--out", help="file to write (default: standard output)")
    ap.add_argument("--host", default="127.0.0.1", help="address of both listeners (default 127.0.0.1)")
    ap.add_argument("--port", type=int, required=True, help="TLS/protobuf port")
    ap.add_argument("--http-port", type=int, default=0, help="HTTP port; 0 = off")
    ap.add_argument("--https-port", type=int, default=0, help="HTTPS port (API and pages); 0 = off")
    ap.add_argument("--conninfo", required=True, help="libpq conninfo of the database")
    ap.add_argument("--pki", required=True, help="folder with server.crt, server.key, ca.crt [, crl.pem]")
    ap.add_argument("--no-crl", action="store_true", help="leave [tls] crl out")
    ap.add_argument("--clock", metavar="TIME", help="manual clock starting at TIME (ISO 8601, UTC)")
    ap.add_argument("--log-level", default="info", choices=("debug", "info", "warn", "error"))
    ap.add_argument("overrides", nargs="*", metavar="section.key=value")
    a = ap.parse_args(argv)
    try:
        text = render(a.port, a.conninfo, a.pki, http_port=a.http_port, https_port=a.https_port, host=a.host, clock=a.clock,
                      log_level=a.log_level, crl=not a.no_crl, overrides=a.overrides)
    except ValueError as e:
        print(f"mkconf.py: {e}", file=sys.stderr)
        return 2
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
