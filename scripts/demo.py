#!/usr/bin/env python3
"""demo.py — `make demo`: one realistic school year for RMC region 39
(Zuid-Limburg) played through the real clients and sweeps.

The vo schools are the real ones of region 39 in ../shared/data (DUO); about
3,100 pupils with plausible proportions (most placed; a few percent zomerlek,
niet-gestart, late aanmelding, andere bestemming) from tests/integration/
schoolyear.py. Each school pushes its own CSV with its own certificate, the
two mbo institutions theirs; the clock (manual mode) moves through the
aanmelddatum, the summer and the teldatum — each move runs the deadline sweeps
that came due, and the demo reports the alerts they raised (from the daemon's
own record of its sweeps, sweep_run); the RMC of region 39 reads and acks its
alerts after every phase. At the end the report is printed and the daemon
keeps running with its dashboard (stop it with `make demo-stop`).

Usage: demo.py --build DIR --pki DIR --conninfo CI --shared DIR --workdir DIR
               [--port 7543] [--http-port 7580] [--pupils 3100] [--cohort C]
"""
import argparse
import csv
import datetime
import os
import subprocess
import sys
import time
import urllib.request

PSQL = '/usr/lib/postgresql/15/bin/psql'

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
import schoolyear  # noqa: E402

DEMO_WEIGHTS = {'geplaatst': 74, 'twee_aanmeldingen': 6, 'ingetrokken_nieuw': 3, 'afgewezen': 1,
                'geen_keuze': 1, 'keuze_zonder_aanmelding': 1, 'te_laat_aangemeld': 3,
                'niet_gestart_gemeld': 1, 'niet_gestart_teldatum': 1, 'zomerlek_opgelost': 1,
                'herexamen': 2, 'blijft_in_vo': 1, 'andere_bestemming': 5, 'niet_gestart_opgelost': 1,
                'alleen_mbo': 1}


def region_schools(shared, region):
    out = []
    with open(os.path.join(shared, 'data', 'vo_hoofdvestigingen_duo_2016.csv'), encoding='utf-8') as f:
        for row in csv.DictReader(f, delimiter=';'):
            if row['RMC-REGIO CODE'].strip() == region:
                out.append((row['BRIN NUMMER'].strip() + '00', 'GM' + row['GEMEENTENUMMER'].strip().zfill(4),
                            region))
    return out


def sweeps_run(conninfo):
    """{(cohort, deadline): alerts} of every sweep the daemon has recorded."""
    r = subprocess.run([PSQL, '-X', '-q', '-A', '-t', '-F', ' ', '-d', conninfo, '-c',
                        'SELECT cohort, deadline, alerts FROM sweep_run ORDER BY ran_at, cohort, deadline'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        if line.strip():
            cohort, deadline, alerts = line.split()
            out[(int(cohort), deadline)] = int(alerts)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', required=True)
    ap.add_argument('--pki', required=True)
    ap.add_argument('--conninfo', required=True)
    ap.add_argument('--shared', required=True)
    ap.add_argument('--workdir', required=True)
    ap.add_argument('--port', type=int, default=7543)
    ap.add_argument('--http-port', type=int, default=7580)
    ap.add_argument('--https-port', type=int, default=7544)
    ap.add_argument('--pupils', type=int, default=3100)
    ap.add_argument('--cohort', type=int, default=datetime.date.today().year)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    b = a.build

    def run(*args, quiet=False):
        r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print(r.stdout, file=sys.stderr)
            raise SystemExit(f'demo: {" ".join(args[:3])} … exited {r.returncode}')
        if not quiet:
            for line in r.stdout.splitlines()[:3]:
                print('   ', line)
        return r.stdout

    def tls(role, org):
        return ['--host', '127.0.0.1', '--port', str(a.port), '--cert', f'{a.pki}/{role}-{org}.crt',
                '--key', f'{a.pki}/{role}-{org}.key', '--ca', f'{a.pki}/ca.crt']

    schools = region_schools(a.shared, '39')
    year = schoolyear.SchoolYear(a.cohort, schools, pupils=a.pupils, seed=39, weights=DEMO_WEIGHTS)
    print(f'demo: cohort {a.cohort}, {len(schools)} vo schools of region 39, {len(year.pupils)} pupils')
    for org in year.senders():
        role = 'mbo' if org in year.mbo else 'vo'
        if not os.path.exists(f'{a.pki}/{role}-{org}.crt'):
            subprocess.run(['bash', os.path.join(HERE, '..', 'deploy', 'pki.sh'), 'issue', a.pki, role, org],
                           check=True, stdout=subprocess.DEVNULL)

    conf = os.path.join(a.workdir, 'overstapd.conf')
    with open(conf, 'w') as f:
        f.write(f"""[server]
listen = 127.0.0.1:{a.port}
http_listen = 127.0.0.1:{a.http_port}
https_listen = 127.0.0.1:{a.https_port}
[tls]
cert = {a.pki}/server.crt
key = {a.pki}/server.key
ca = {a.pki}/ca.crt
[database]
conninfo = {a.conninfo}
[clock]
mode = manual
start = {schoolyear.iso(year.clock['START'])}
""")
    log = open(os.path.join(a.workdir, 'overstapd.log'), 'w')
    daemon = subprocess.Popen([f'{b}/overstapd', '-c', conf], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    with open(os.path.join(a.workdir, 'overstapd.pid'), 'w') as f:
        f.write(f'{daemon.pid}\n')
    for _ in range(100):
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{a.http_port}/healthz', timeout=1)
            break
        except Exception:
            if daemon.poll() is not None:
                raise SystemExit(f'demo: overstapd exited; see {a.workdir}/overstapd.log')
            time.sleep(0.1)

    admin = tls('admin', 'ops')
    for phase in schoolyear.PHASES:
        at = schoolyear.iso(year.clock[phase])
        print(f'\n== {phase}: clock {at}')
        before = sweeps_run(a.conninfo)
        run(f'{b}/overstapctl', *admin, 'clock', 'set', at)
        # The clock move itself runs every sweep that came due; this request
        # only waits until they have all run (and runs any still missing).
        run(f'{b}/overstapctl', *admin, 'sweep', '--at', at, quiet=True)
        after = sweeps_run(a.conninfo)
        new = [(k, v) for k, v in after.items() if k not in before]
        for (cohort, deadline), alerts in new:
            print(f'    sweep {deadline} (cohort {cohort}) ran: {alerts} alerts raised')
        if not new:
            print('    no deadline came due')
        for org in year.senders(phase):
            role = 'mbo' if org in year.mbo else 'vo'
            path = os.path.join(a.workdir, f'{phase}-{org}.csv')
            with open(path, 'w') as f:
                f.write(schoolyear.csv_text([r for _, r in year.events(phase, org)]))
            out = run(f'{b}/overstap-push', *tls(role, org), path, quiet=True)
            print(f'   {org:7} {out.splitlines()[-1] if out else ""}')
        print('   RMC 39 reads its alerts:')
        run(f'{b}/overstap-rmc', *tls('rmc', '39'), '--idle-exit', '2', '--out',
            os.path.join(a.workdir, 'rmc-39-alerts.txt'), quiet=True)
        with open(os.path.join(a.workdir, 'rmc-39-alerts.txt')) as f:
            print(f'   {sum(1 for _ in f)} alerts in {a.workdir}/rmc-39-alerts.txt so far')
    print('\n== the figures of region 39, by vo school')
    print(run(f'{b}/overstap-report', *tls('projectteam', '39'), '--cohort', str(a.cohort), '--by', 'vo_school',
              quiet=True))
    print(f'overstapd is running (pid {daemon.pid}, log {a.workdir}/overstapd.log)')
    print(f'  dashboard:  http://127.0.0.1:{a.http_port}/?cohort={a.cohort}&region=39')
    print(f'  API:        http://127.0.0.1:{a.http_port}/api/v1/stats?cohort={a.cohort}&region=39&by=vo_school')
    print(f'  metrics:    http://127.0.0.1:{a.http_port}/metrics')
    print(f'  pages:      https://127.0.0.1:{a.https_port}/ (a client certificate of {a.pki} in the browser)')
    print(f'  TLS:        127.0.0.1:{a.port} (certificates in {a.pki})')
    print(f'  stop with:  make demo-stop   (or: kill {daemon.pid})')


if __name__ == '__main__':
    main()
