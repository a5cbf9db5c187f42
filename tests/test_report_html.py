"""``analyze --html``: one self-contained file that shows the analysis, offline, in a real browser."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from browser_check import CHROMIUM, PageWatch, browser_needed, page_reps

from imu_pipeline.cli import main
from imu_pipeline.io.recording import read_recording
from imu_pipeline.pipeline.offline import analyze_recording

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = [ROOT / "recordings" / "lying-mixed.csv", ROOT / "recordings" / "hanging-mixed.csv"]


def hooks_of(rec: Path) -> list[tuple[int, str, str]]:
    an = analyze_recording(read_recording(rec, warn=False))
    return [(r.index, r.label or "none", "true" if r.momentum else "false") for r in an.reps]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("html")
    paths = {}
    for rec in RECORDINGS:
        p = out / f"{rec.stem}.html"
        assert main(["analyze", str(rec), "--html", str(p), "-q"]) == 0
        paths[rec.stem] = p
    return paths


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.stem)
def test_report_is_self_contained_and_has_every_rep(reports: dict[str, Path], rec: Path) -> None:
    text = reports[rec.stem].read_text(encoding="utf-8")
    # nothing loaded from anywhere: no src/href to a URL, no import, and a policy that forbids any
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
    assert "@import" not in text and "url(http" not in text
    assert "default-src 'none'" in text and "connect-src" not in text  # so fetch/XHR fall under 'none'
    # the hooks: one element per rep, as analyze found them
    found = [(int(i), lab, mom) for i, lab, mom in
             re.findall(r'data-rep="(\d+)" data-label="([^"]+)" data-momentum="(true|false)"', text)]
    assert found == hooks_of(rec)
    assert text.count("data-session-summary") == 1
    for section in ('id="quality"', 'id="calibration"', 'id="config"', "abdominal_min_posterior_tilt_deg",
                    "decided by", "@media print"):
        assert section in text
    assert "uPlot" in text  # inlined, not fetched


def test_report_explains_momentum_and_quality(reports: dict[str, Path]) -> None:
    text = reports["hanging-mixed"].read_text(encoding="utf-8")
    # the hanging session has a thigh outage and swing/unsettled reps: both are in the report in words
    assert "kicked the body into a swing" in text or "swing" in text
    assert re.search(r"<td>thigh</td><td>22\.\d\d</td><td>25\.\d\d</td>", text), "the thigh outage is not listed"
    assert 'data-partial="true"' in text and 'data-label="none"' in text


def test_html_option_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = str(RECORDINGS[0])
    assert main(["analyze", rec, "--html", str(tmp_path / "missing" / "r.html"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["analyze", rec, "--html", str(tmp_path / "r.txt"), "-q"]) == 2
    assert "ending in .html" in capsys.readouterr().err
    same = str(tmp_path / "r.html")
    assert main(["analyze", rec, "--html", same, "--plot", same, "-q"]) == 2
    assert capsys.readouterr().err
    assert not (tmp_path / "r.html").exists() and list(tmp_path.iterdir()) == []


@browser_needed
@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.stem)
def test_report_in_browser_offline(reports: dict[str, Path], rec: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            watch = PageWatch(page)
            refused: list[str] = []

            def only_files(route: Any) -> None:
                if route.request.url.startswith(("file:", "data:", "blob:")):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)
            page.goto(reports[rec.stem].as_uri())
            page.wait_for_selector("#chart-tilt canvas", timeout=10_000)
            assert page_reps(page) == hooks_of(rec)
            assert page.query_selector("[data-session-summary]") is not None
            sizes = page.eval_on_selector_all("canvas", "cs => cs.map(c => [c.width, c.height])")
            assert len(sizes) == 2 and all(w > 200 and h >= 200 for w, h in sizes), sizes
            # the traces hold the session: as many points as the thinned angles, over its whole span
            n, x0, x1 = page.evaluate("[ImuReport.charts[0].data[0].length, ImuReport.charts[0].scales.x.min, "
                                      "ImuReport.charts[0].scales.x.max]")
            assert n > 1000 and x1 - x0 > 50
            # zoom: drag across the hip chart; the tilt chart follows
            box = page.query_selector("#chart-hip .u-over").bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=5)
            page.mouse.up()
            z = page.evaluate("ImuReport.charts.map(c => [c.scales.x.min, c.scales.x.max])")
            assert z[0][1] - z[0][0] < (x1 - x0) / 3
            assert z[1] == pytest.approx(z[0])
            # paper: the hints go, the tables stay; a PDF can be made
            page.emulate_media(media="print")
            assert page.eval_on_selector(".hint", "e => getComputedStyle(e).display") == "none"
            pdf = page.pdf(format="A4")
            assert pdf[:4] == b"%PDF" and len(pdf) > 20_000
            assert watch.errors == []
            assert refused == []
            assert all(urllib.parse.urlsplit(u).scheme in ("file", "data", "blob") for u in watch.urls), watch.urls
        finally:
            browser.close()


def test_report_key_and_pose_advice(reports: dict[str, Path]) -> None:
    """The key names the hatched outages and what the dashed 90° line means in this pose; a back
    arch gets the advice for the pose (hanging: not 'press the low back down')."""
    hanging = reports["hanging-mixed"].read_text(encoding="utf-8")
    lying = reports["lying-mixed"].read_text(encoding="utf-8")
    assert 'class="sw out"' in hanging and "hatched: a sensor outage" in hanging
    assert "90°, legs horizontal (hanging)" in hanging and "90°, legs vertical (lying)" in lying
    assert "curl the pelvis up" in hanging and "press the low back" not in hanging
    assert "press the low back down" in lying and "curl the pelvis" not in lying


@browser_needed
def test_report_on_a_phone_fits_the_screen(reports: dict[str, Path]) -> None:
    """390 px wide: nothing wider than the screen, the rep table stacked (each value under its
    column's name), the 'decided by' text at the width of the screen, not one word a line; the
    back arch on one line on a wide screen; an outage hatched on the chart."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            watch = PageWatch(page)
            page.goto(reports["hanging-mixed"].as_uri())
            page.wait_for_selector("#chart-tilt canvas")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # (the long tables of numbers scroll inside themselves; the rep table and the text fit)
            wide = page.evaluate("[...document.querySelectorAll('body *')].filter(e => "
                                 "!e.closest('table:not(.reps)') && e.getBoundingClientRect().right > innerWidth + 1)"
                                 ".map(e => e.tagName + '.' + e.className)")
            assert wide == [], wide
            why = page.eval_on_selector("tbody.rep tr.why ul", "e => e.getBoundingClientRect().width")
            assert why > 300, why
            before = page.eval_on_selector("tbody.rep td.when", "e => getComputedStyle(e, '::before').content")
            assert before == '"time"'
            page.set_viewport_size({"width": 1200, "height": 900})
            lines = page.evaluate("""() => [...document.querySelectorAll('tbody.rep td.arch')].map(td => {
                const r = document.createRange(); r.selectNodeContents(td);
                return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })""")
            assert lines and set(lines) == {1}, lines
            # the thigh outage (22-25 s) is hatched on the hip chart: dark stripes on light
            contrast = page.evaluate("""() => { const u = ImuReport.charts[0], ctx = u.ctx;
                const x0 = Math.round(u.valToPos(22.6, 'x', true)), x1 = Math.round(u.valToPos(24.6, 'x', true));
                const y = Math.round(u.bbox.top + u.bbox.height * 0.37);
                const d = ctx.getImageData(x0, y, x1 - x0, 1).data, l = [];
                for (let i = 0; i < d.length; i += 4) l.push((d[i] + d[i + 1] + d[i + 2]) / 3);
                return Math.max(...l) - Math.min(...l); }""")
            assert contrast > 40, contrast
            assert watch.errors == []
        finally:
            browser.close()
