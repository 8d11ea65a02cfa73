"""screenshots.py OUT — a PNG of each page (docs/pages.md), taken in headless
Chromium with each role's certificate from a daemon that played test_pages'
school year (region 39 and 13, cohort 2031, the clock on 10 August 2031),
and one of the region page's year chart from test_pages' stand-in for the
peildatum API the daemon does not have yet. Run by scripts/screenshots.sh."""
import sys
from pathlib import Path

import browser
import harness as h
import test_pages as tp

SIZE = (1400, 1000)
READY = 'document.body.dataset.ready === "true" && !document.body.dataset.loading'


def shot(b, path, png, *, wait=None, then=None, size=SIZE):
    """--screenshot of a page that needs nothing done; a DevTools session
    when it needs a click (then) or a condition (wait) first."""
    if not then and not wait:
        b.screenshot(path, png, size=size)
    else:
        with b.session(path) as s:
            s.wait(READY)
            if wait:
                s.wait(wait, timeout=60)
            if then:
                s.eval(then[0])
                s.wait(then[1])
            s.screenshot(png, size=size)
    print(f"screenshots: {png} ({Path(png).stat().st_size} bytes)")


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for who in tp.ROLES:
        tp.ensure_cert(*who)
    d = h.Daemon(h.fresh_database("screenshots"), clock=tp.START)
    try:
        pgn = tp.populate(d)
        c = f"/?cohort={tp.COHORT}"
        with browser.Browser(*tp.PT39, d.https_port) as b:
            shot(b, c, out / "region.png", wait='document.getElementById("chart-card").dataset.state !== "loading"',
                 size=(1400, 1500))
            shot(b, c, out / "region-signals.png", then=(
                'document.getElementById("signals").scrollIntoView()',
                'document.getElementById("signals").dataset.state === "ready"'), size=(1400, 600))
        with browser.Browser(*tp.ADMIN, d.https_port) as b:
            shot(b, c + "&by=vo_soort", out / "region-admin.png", size=(1400, 1000))
        with browser.Browser(*tp.RMC39, d.https_port) as b:
            sanne = pgn["Sanne de Vries"]
            shot(b, "/", out / "rmc.png", then=(
                f'document.querySelector("#worklist tr[data-pgn=\'{sanne}\'] td[data-field=name]").click()',
                'document.getElementById("detail").dataset.state === "ready"'))
        with browser.Browser(*tp.VO, d.https_port) as b:
            shot(b, c, out / "vo.png", size=(1400, 1300))
            shot(b, c + "&filter=niet_geplaatst", out / "vo-niet-geplaatst.png", then=(
                f'document.querySelector("#pupils tr[data-key=\'{pgn["Noor Visser"]}\'] td[data-field=name]").click()',
                'document.getElementById("detail").dataset.state === "ready"'))
        with browser.Browser(*tp.MBO, d.https_port) as b:
            shot(b, c, out / "mbo.png")
    finally:
        d.close()
    api = tp.StubApi()
    stub = tp.StubServer(api)
    try:
        with browser.Browser(*tp.PT39, stub.port) as b:
            shot(b, "/?as_of=2031-04-15", out / "region-chart.png",
                 wait='document.getElementById("chart-card").dataset.state === "done"', size=(1400, 1000))
    finally:
        stub.close()


if __name__ == "__main__":
    if not browser.available():
        sys.exit("screenshots: chromium and certutil/pk12util (libnss3-tools) are needed")
    main(sys.argv[1] if len(sys.argv) > 1 else h.REPO / "docs" / "screenshots")
