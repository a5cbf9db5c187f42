"""The coach view (``replay --view``) in a real browser: headless Chromium driven by Playwright.

What a coach sees must be what the analysis says: the reps appear one for one with ``analyze``'s
(count, labels, momentum) through the page's ``data-*`` hooks, the session summary appears, the
page raises no JavaScript error and makes no request off the machine; the server refuses what it
must (no token with ``--host 0.0.0.0``, path traversal, writes) and says so when its port is taken.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser_check import CHROMIUM, PageWatch, browser_needed, page_reps, wait_until

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "recordings" / "lying-mixed.csv"
#: 72 s of recording at 18x: about 4 s of replay; the whole test stays well under 30 s.
SPEED = "18"


def start_view(*extra: str, recording: Path = RECORDING) -> tuple[subprocess.Popen[str], str]:
    """``imu-pipeline replay REC --view --port 0 ...`` in a subprocess; returns it and the URL it printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "imu_pipeline", "replay", str(recording), "--view", "--port", "0",
                             "-q", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "coach view: " not in line:
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split("coach view: ", 1)[1].strip()


def wait_finished(state_url: str, timeout_s: float = 25.0) -> dict[str, Any]:
    """Poll ``/state`` until the session summary is there."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        state = json.loads(urllib.request.urlopen(state_url, timeout=5).read())
        if state["summary"] is not None:
            return state
        time.sleep(0.2)
    raise AssertionError("no session summary in time")


def stop_view(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Ctrl-C the server; its exit status and output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def analyze_reps() -> list[tuple[int, str, str]]:
    """``analyze``'s reps as the hooks state them: (index, label or 'none', 'true'/'false')."""
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording

    an = analyze_recording(read_recording(RECORDING, warn=False))
    return [(r.index, r.label or "none", "true" if r.momentum else "false") for r in an.reps]


@pytest.fixture(scope="module")
def browser() -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _block_off_machine(page: Any, watch_blocked: list[str]) -> None:
    """Abort (and remember) any request that would leave the machine."""
    def handler(route: Any) -> None:
        u = urllib.parse.urlsplit(route.request.url)
        if u.scheme in ("data", "blob") or u.hostname == "127.0.0.1":
            route.continue_()
        else:
            watch_blocked.append(route.request.url)
            route.abort()
    page.route("**/*", handler)


@browser_needed
def test_replay_view_shows_analyze_reps_live_then_summary(browser: Any, analyze_reps: list) -> None:
    proc, url = start_view("--speed", SPEED)
    try:
        assert url.startswith("http://127.0.0.1:") and "token=" not in url
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        blocked: list[str] = []
        _block_off_machine(page, blocked)
        page.goto(url)
        # reps arrive one by one while the replay runs, before the summary
        page.wait_for_selector("[data-rep]", timeout=20_000)
        assert page.query_selector("[data-session-summary]") is None, "the first rep came with the summary"
        page.wait_for_selector("[data-session-summary]", timeout=25_000)
        assert page_reps(page) == analyze_reps
        assert len(analyze_reps) >= 10
        assert {lab for _, lab, _ in analyze_reps} == {"abdominal-engaging", "hip-flexor-only"}
        assert {m for _, _, m in analyze_reps} == {"true", "false"}
        summary = page.inner_text("[data-session-summary]")
        assert f"{len(analyze_reps)}" in summary and "reps" in summary
        # the totals bar counts what the cards show
        totals = page.inner_text("#totals")
        assert f"{len(analyze_reps)}reps" in totals.replace("\n", "").replace(" ", "")
        # the charts were drawn at a real size, with the whole session after the summary
        sizes = page.eval_on_selector_all("canvas", "cs => cs.map(c => [c.width, c.height])")
        assert len(sizes) == 2 and all(w > 200 and h > 100 for w, h in sizes), sizes
        # each card says why (momentum reasons in words) and the big verdict line is the session's
        card = page.inner_text('[data-momentum="true"]')
        assert "momentum:" in card
        assert page.inner_text("#verdict").startswith("Finished:")
        # the session is over: the sensors say so (not "connected")
        assert set(page.eval_on_selector_all(".sensor .state", "es => es.map(e => e.textContent)")) == {"finished"}
        # a page opened late gets the whole state at once
        late = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        late_watch = PageWatch(late)
        late.goto(url)
        late.wait_for_selector("[data-session-summary]", timeout=10_000)
        assert page_reps(late) == analyze_reps
        assert late.evaluate("document.documentElement.scrollWidth") <= 390 + 1, "the phone layout overflows"
        for w in (watch, late_watch):
            assert w.errors == []
            assert w.off_machine() == []
        assert blocked == []
        assert any(u.endswith("/events") for u in watch.urls)
    finally:
        code, out, err = stop_view(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert "coach view stopped" in out


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_network_host_requires_the_token() -> None:
    proc, url = start_view("--speed", "max", "--host", "0.0.0.0")
    try:
        parts = urllib.parse.urlsplit(url)
        token = urllib.parse.parse_qs(parts.query)["token"][0]
        assert len(token) >= 24
        base = f"http://127.0.0.1:{parts.port}"
        for path in ("/", "/state", "/events", "/assets/coach.js", "/assets/uPlot.iife.min.js"):
            assert _get(base + path)[0] == 403, path
            wrong = token[:-1] + ("y" if token[-1] != "y" else "z")
            assert _get(base + path + "?token=" + wrong)[0] == 403, path
        assert _get(base + "/?token=" + token)[0] == 200
        assert wait_finished(base + "/state?token=" + token)["summary"]["totals"]["reps"] > 0
        status, body = _get(base + "/assets/coach.js?token=" + token)
        assert status == 200 and b"EventSource" in body
        # the page asks for its assets with the token
        page = urllib.request.urlopen(base + "/?token=" + token, timeout=5).read().decode()
        assert f"assets/coach.js?token={token}" in page
    finally:
        code, _, err = stop_view(proc)
    assert code == 0, err


def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.putrequest("GET", path, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_no_path_reaches_the_file_system_and_only_get() -> None:
    proc, url = start_view("--speed", "max")
    try:
        port = urllib.parse.urlsplit(url).port
        assert port
        for path in ("/assets/../../../../etc/passwd", "/assets/..%2f..%2f..%2fpyproject.toml",
                     "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd", "/assets/coach.html",
                     "/assets/LICENSE", "/assets/", "/static/coach.js", "/assets/coach.js/../../summary.py",
                     "/etc/passwd", "/assets/..\\..\\pyproject.toml", "/assets/%2fetc%2fpasswd",
                     "/report/vendor/uplot/LICENSE", "/coach.py"):
            status, body = _raw_get(port, path)
            assert status == 404, (path, status)
            assert b"root:" not in body and b"[project]" not in body
        assert _raw_get(port, "/assets/uPlot.min.css")[0] == 200
        for method in ("POST", "PUT", "DELETE"):
            assert _get(f"http://127.0.0.1:{port}/state", method)[0] == 405
        assert len(wait_finished(f"http://127.0.0.1:{port}/state")["reps"]) > 0
    finally:
        code, _, err = stop_view(proc)
    assert code == 0, err


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "imu_pipeline", "replay", str(RECORDING), "--view", "--port",
                            str(port), "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr and "--port 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_host_and_port_need_view() -> None:
    r = subprocess.run([sys.executable, "-m", "imu_pipeline", "replay", str(RECORDING), "--port", "9000", "-q"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "add --view" in r.stderr


def test_server_state_and_late_snapshot_in_process() -> None:
    """The server object alone: what is published is in /state, totals count the reps, and the
    recorder's status line is understood (battery, loss, reconnecting)."""
    from imu_pipeline.ble.reader import SensorStatus
    from imu_pipeline.ble.recorder import format_status
    from imu_pipeline.report.coach import CoachServer
    from imu_pipeline.report.coach_feed import parse_status_line

    st_thigh = SensorStatus(samples=990, lost_samples=10, battery_percent=87.0, connected=True)
    st_pelvis = SensorStatus(samples=500, lost_samples=0, loss_is_estimate=True, connected=False)
    line = format_status(12.5, {"thigh": st_thigh, "pelvis": st_pelvis}, 12.5)
    parsed = parse_status_line(line)
    assert parsed["thigh"]["battery_percent"] == 87.0 and parsed["thigh"]["connected"] is True
    assert parsed["thigh"]["loss_percent"] == pytest.approx(1.0, abs=0.05)
    assert parsed["pelvis"]["battery_percent"] is None and parsed["pelvis"]["connected"] is False
    assert parsed["pelvis"]["loss_is_estimate"] is True

    server = CoachServer("127.0.0.1", 0, meta={"title": "unit"})
    url = server.start()
    try:
        rep = {"index": 0, "start_s": 1.0, "peak_s": 2.0, "end_s": 3.0, "label": "hip-flexor-only", "momentum": True,
               "momentum_reasons": ["fast"], "back_arch": False, "peak_hip_flexion_deg": 80.0,
               "peak_posterior_tilt_deg": 2.0, "concentric_s": 0.5, "top_s": 0.1, "eccentric_s": 0.6,
               "label_confidence": "normal", "partial": False, "decided_by": {"fast": "up 0.50 s"}}
        server.publish_samples([0.0, 0.02], [1.0, float("nan")], [0.5, 0.4], phase="up")
        server.publish_rep(rep)
        server.publish_status({"sensors": parsed})
        time.sleep(0.3)
        state = json.loads(urllib.request.urlopen(url + "state", timeout=5).read())
        assert state["trace"] == {"t": [0.0, 0.02], "hip": [1.0, None], "tilt": [0.5, 0.4]}
        assert state["phase"]["phase"] == "up"
        assert state["totals"]["reps"] == 1 and state["totals"]["momentum"] == 1
        assert state["totals"]["hip_flexor_only"] == 1
        assert state["reps"][0]["words"]["headline"] == "Rep 1 — hip flexors only · too fast"
        assert state["status"]["sensors"]["thigh"]["battery_percent"] == 87.0
    finally:
        server.stop()
    assert server.wait(5)


def _record_has_demo() -> bool:
    r = subprocess.run([sys.executable, "-m", "imu_pipeline", "record", "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    return "--demo" in r.stdout


@browser_needed
def test_record_demo_view_shows_the_reps_it_prints(browser: Any, tmp_path: Path) -> None:
    """``record --view`` over the simulated sensors (``--demo``, real time, 14 s): the page shows the
    reps the terminal prints, the BLE status (battery), then the analysis of the closed file."""
    if not _record_has_demo():
        pytest.skip("record has no --demo option (simulated sensors) in this tree")
    out = tmp_path / "demo.csv"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "imu_pipeline", "record", str(out), "--demo", "--duration", "14",
                             "--view", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "coach view: http://127.0.0.1:" in first, first
    url = first.split("coach view: ", 1)[1].strip()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        page.goto(url)
        page.wait_for_selector(".sensor .state.ok", timeout=15_000)
        # the BLE status line's battery reading reaches the sensor cards (a replay has none: "not known")
        wait_until(page, "[...document.querySelectorAll('.sensor')].every(e => /battery\\s*\\d+ %/"
                         ".test(e.innerText))", timeout_s=10.0)
        page.wait_for_selector("[data-session-summary]", timeout=40_000)
        shown = page_reps(page)
        finals = page.eval_on_selector_all("[data-rep]", "els => els.map(e => e.dataset.final)")
        assert watch.errors == [] and watch.off_machine() == []
    finally:
        code, printed, err = stop_view(proc)
    assert code == 0, err
    live_lines = [ln for ln in printed.splitlines() if ln.startswith("rep ")]  # printed as they happened
    assert len(live_lines) >= 1
    # after the session the cards are the closed file's offline analysis (what the summary counts), final
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording

    offline = analyze_recording(read_recording(out, warn=False)).reps
    assert shown == [(r.index, r.label or "none", "true" if r.momentum else "false") for r in offline]
    assert finals and set(finals) == {"true"}


# --------------------------------------------------------------------------- trial 13


@pytest.mark.parametrize("speed", ["1e-12", "0.001", "0", "-1", "inf", "nan", "1e400", "fast"])
@pytest.mark.parametrize("view", [False, True], ids=["plain", "view"])
def test_speed_out_of_range_is_one_clear_line(speed: str, view: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """``--speed 1e-12`` used to overflow time.sleep (a traceback); every unusable speed is one line."""
    from imu_pipeline.cli import main

    extra = ["--view", "--port", "0"] if view else []
    assert main(["replay", str(RECORDING), "--speed", speed, "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert "--speed" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_replay_api_refuses_a_speed_that_would_overflow() -> None:
    from imu_pipeline.cli.replay import parse_speed
    from imu_pipeline.errors import UsageError
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.replay import live_pipeline_for, replay
    from imu_pipeline.report.coach import CoachServer
    from imu_pipeline.report.coach_feed import replay_to_view

    assert parse_speed("0.01") == 0.01 and parse_speed("max") is None and parse_speed("1e6") == 1e6
    rec = read_recording(RECORDING, warn=False)
    with pytest.raises(UsageError):
        replay(rec, 1e-12)
    with pytest.raises(UsageError):
        replay_to_view(rec, live_pipeline_for(rec), CoachServer("127.0.0.1", 0), float("inf"))


def _swapped_recording(tmp_path: Path) -> Path:
    """A simulated lying session with the thigh and pelvis names swapped (CSV and sidecar)."""
    from imu_pipeline.simulate import SimulationOptions, simulate_session, write_simulation

    p = write_simulation(simulate_session(SimulationOptions(seed=5, pose="lying", n_reps=4)), tmp_path / "sw.csv",
                         overwrite=True)["csv"]
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace(",thigh,", ",TMP,").replace(",pelvis,", ",thigh,").replace(",TMP,", ",pelvis,"),
                 encoding="utf-8")
    side = p.with_suffix(".json")
    meta = json.loads(side.read_text(encoding="utf-8"))
    s = meta["sensors"]
    s["thigh"], s["pelvis"] = s["pelvis"], s["thigh"]
    side.write_text(json.dumps(meta), encoding="utf-8")
    return p


def _wait_state(state_url: str, key: str, timeout_s: float = 25.0) -> dict[str, Any]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        state = json.loads(urllib.request.urlopen(state_url, timeout=5).read())
        if state.get(key) is not None:
            return state
        time.sleep(0.2)
    raise AssertionError(f"no {key} in /state in time")


@browser_needed
def test_a_refused_recording_is_shown_in_the_verdict_and_served_until_ctrl_c(browser: Any, tmp_path: Path) -> None:
    rec = _swapped_recording(tmp_path)
    proc, url = start_view("--speed", "max", recording=rec)
    try:
        state = _wait_state(url + "state", "error")
        assert state["error"]["title"] == "Analysis refused" and "swapped" in state["error"]["message"]
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        page.goto(url)
        page.wait_for_selector('#verdict[data-error="true"]', timeout=10_000)
        verdict = page.inner_text("#verdict")
        assert verdict.startswith("Analysis refused") and "swapped" in verdict and "Waiting" not in verdict
        # the title is big (readable from 3 m), the reason below it
        px = page.eval_on_selector("#verdict .vt", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert px >= 32, px
        assert page.inner_text("#phase") == "refused"
        assert page.inner_text("#link") == "finished"
        # still served after the page has it all: the command waits for Ctrl-C
        assert proc.poll() is None
        assert json.loads(urllib.request.urlopen(url + "state", timeout=5).read())["error"] is not None
        assert watch.errors == [] and watch.off_machine() == []
    finally:
        code, out, err = stop_view(proc)
    assert code == 2, (out, err)
    assert "error:" in err and "swapped" in err and "Traceback" not in err
    assert "Ctrl-C to stop" in out and "coach view stopped" in out


def test_back_arch_advice_fits_the_pose() -> None:
    from imu_pipeline.report.words import rep_card

    rep = {"index": 0, "label": "hip-flexor-only", "momentum": False, "momentum_reasons": [], "back_arch": True,
           "peak_anterior_tilt_low_deg": 8.14, "label_confidence": "normal"}
    hanging = rep_card(rep, "hanging")["words"]
    lying = rep_card(rep, "lying")["words"]
    assert "curl the pelvis up" in hanging["advice"] and "press the low back" not in hanging["advice"]
    assert "press the low back down" in lying["advice"]
    assert hanging["arch"] == "yes · 8.1° anterior"
    assert rep_card({**rep, "back_arch": False}, "hanging")["words"]["advice"] == ""


@pytest.fixture(scope="module")
def lying_summary() -> dict[str, Any]:
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.html import session_trace
    from imu_pipeline.report.summary import summary_dict

    an = analyze_recording(read_recording(RECORDING, warn=False))
    return {"summary": summary_dict(an), "trace": session_trace(an, 20.0)}


def _png_band_ink(page: Any, sel: str) -> dict[str, Any]:
    """Pixels of a chart (CSS px = canvas px / dpr): the darkest pixel in the band above the plot
    area over each rep span, the hatch contrast inside each outage span."""
    return page.evaluate("""([sel]) => {
      const root = document.querySelector(sel);
      const u = root.__uplot;
      const ctx = u.ctx, dpr = devicePixelRatio, top = u.bbox.top;
      const lum = (x, y, w, h) => { const d = ctx.getImageData(x, y, w, h).data; const out = [];
        for (let i = 0; i < d.length; i += 4) out.push(d[i + 3] === 0 ? 255 : (d[i] + d[i + 1] + d[i + 2]) / 3);
        return out; };
      return {top: top / dpr, spans: root.__spans.reps.map(r => {
        const x0 = Math.round(u.valToPos(r.start_s, "x", true)), x1 = Math.round(u.valToPos(r.end_s, "x", true));
        return Math.min(...lum(x0, Math.max(0, top - 16 * dpr), Math.max(1, x1 - x0), 14 * dpr)); }),
        outages: root.__spans.outages.map(o => {
        const x0 = Math.round(u.valToPos(o.start_s, "x", true)), x1 = Math.round(u.valToPos(o.end_s, "x", true));
        const row = lum(x0 + 2, Math.round(top + u.bbox.height * 0.37), Math.max(1, x1 - x0 - 4), 1);
        return Math.max(...row) - Math.min(...row); })};
    }""", [sel])


@browser_needed
def test_chart_key_outage_hatch_and_rep_numbers_above_the_plot(browser: Any) -> None:
    """The key names the dashed 90° line and the sensor outages; an outage is hatched (not the flat
    grey of a rep with no label); the rep numbers sit in a band above the plot area."""
    from imu_pipeline.report.coach import CoachServer

    server = CoachServer("127.0.0.1", 0, meta={"title": "unit"})
    url = server.start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        page.goto(url)
        page.wait_for_selector("#chart-hip canvas")
        key = page.inner_text("#chart-note")
        assert "sensor outage" in key and "90°" in key and "vertical when lying" in key and "horizontal" in key
        out_bg = page.eval_on_selector("#chart-note .sw.out", "e => getComputedStyle(e).backgroundImage")
        nm_bg = page.eval_on_selector("#chart-note .sw.nm", "e => getComputedStyle(e).backgroundImage")
        assert "gradient" in out_bg and out_bg != nm_bg
        # a chart of our own with the page's chart code: one no-label rep, one outage, no trace
        page.evaluate("""() => {
          const el = document.createElement('div'); el.id = 'probe'; el.style.width = '800px';
          document.body.prepend(el);
          const spans = {reps: [{index: 6, start_s: 2, end_s: 4, label: null, momentum: false}],
                         outages: [{sensor: 'thigh', start_s: 6, end_s: 8}]};
          const u = ImuCharts.traceChart(el, {title: 'probe', yLabel: 'y', colour: '#000', range: [0, 100],
                                             getSpans: () => spans, height: 300});
          const t = [], y = []; for (let i = 0; i <= 100; i++) { t.push(i / 10); y.push(null); }
          u.setData([t, y]); el.__uplot = u; el.__spans = spans;
        }""")
        ink = _png_band_ink(page, "#probe")
        assert ink["spans"][0] < 120, ink  # the rep number's dark pixels, above the plot area
        assert ink["outages"][0] > 40, ink  # hatched: dark stripes on light
        status = {"sensors": {"thigh": {"connected": True, "outages": []}}, "pose": "hanging"}
        server.publish_status(status)
        wait_until(page, "document.getElementById('ref-line').textContent.includes('horizontal (hanging)')",
                   timeout_s=30.0)
        assert watch.errors == []
    finally:
        server.stop()


@browser_needed
def test_offline_summary_replaces_the_live_cards(browser: Any, lying_summary: dict[str, Any]) -> None:
    """``record --view``: the live reps (low confidence, one missing) are replaced by the offline
    analysis's when its summary arrives, marked final, with a note that the counts differ; the
    sensors then say finished; a hanging back arch gets the hanging advice."""
    from imu_pipeline.report.coach import CoachServer

    summary = lying_summary["summary"]
    offline = summary["reps"]
    server = CoachServer("127.0.0.1", 0, meta={"title": "unit", "source": "record"})
    url = server.start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        watch = PageWatch(page)
        page.goto(url)
        page.wait_for_selector("#chart-hip canvas")
        server.publish_status({"sensors": {"thigh": {"connected": True, "outages": []},
                                           "pelvis": {"connected": True, "outages": []}}})
        live = [{**r, "label_confidence": "low", "label": "hip-flexor-only"} for r in offline[:-1]]
        for r in live:
            server.publish_rep(r, pose="hanging")
        page.wait_for_selector(f'[data-rep="{len(live) - 1}"]')
        arched = [r["index"] for r in live if r["back_arch"]]
        assert arched
        card = page.inner_text(f'[data-rep="{arched[0]}"]')
        assert "curl the pelvis up" in card and "press the low back" not in card
        assert page.eval_on_selector_all(".sensor .state", "es => es.map(e => e.textContent)") == ["connected"] * 2
        server.publish_summary(summary, lying_summary["trace"])
        page.wait_for_selector("[data-session-summary]")
        shown = page.eval_on_selector_all("[data-rep]", """els => els.map(e => [Number(e.dataset.rep),
            e.dataset.label, e.dataset.momentum, e.dataset.final, e.innerText])""")
        shown.sort()
        assert [(i, lab, mom) for i, lab, mom, _, _ in shown] == [
            (r["index"], r["label"] or "none", "true" if r["momentum"] else "false") for r in offline]
        assert all(final == "true" for _, _, _, final, _ in shown)
        for (_, _, _, _, text), r in zip(shown, offline):
            assert "FINAL" in text.upper() and f"label confidence\n{r['label_confidence']}" in text
            assert "(low confidence)" not in text or r["label_confidence"] == "low"
        note = page.inner_text("#reps-note")
        assert f"counted {len(live)} reps" in note and f"found {len(offline)}" in note
        assert page.eval_on_selector_all(".sensor .state", "es => es.map(e => e.textContent)") == ["finished"] * 2
        # the lying session's own back arch: the lying advice
        lying_arch = [r["index"] for r in offline if r["back_arch"]][0]
        assert "press the low back down" in page.inner_text(f'[data-rep="{lying_arch}"]')
        assert watch.errors == []
    finally:
        server.stop()


@browser_needed
def test_phone_chart_axis_labels_fit_and_arch_on_one_line(browser: Any, lying_summary: dict[str, Any]) -> None:
    from imu_pipeline.report.coach import CoachServer

    server = CoachServer("127.0.0.1", 0, meta={"title": "unit"})
    url = server.start()
    try:
        server.publish_summary(lying_summary["summary"], lying_summary["trace"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(url)
        page.wait_for_selector("[data-session-summary]")
        page.wait_for_timeout(100)  # one animation frame for the charts
        for i in (0, 1):  # the y axis's label (drawn along the plot area's height) is not cut
            plot_h, text_w = page.evaluate("""(i) => {
              const u = ImuCoach.charts[i], ax = u.axes[1];
              const c = document.createElement('canvas').getContext('2d');
              c.font = ax.labelFont ? ax.labelFont[0] : 'bold 12px system-ui, -apple-system, sans-serif';
              return [u.bbox.height / devicePixelRatio, c.measureText(ax.label).width]; }""", i)
            assert plot_h >= text_w + 4, (i, plot_h, text_w)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 900})
        arch = [r["index"] for r in lying_summary["summary"]["reps"] if r["back_arch"]][0]
        lines = page.evaluate("""(i) => { const dd = [...document.querySelectorAll(`[data-rep="${i}"] dd`)]
            .find(d => d.textContent.startsWith('yes')); const r = document.createRange();
            r.selectNodeContents(dd); return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }""",
                              arch)
        assert lines == 1
    finally:
        server.stop()


def test_network_host_prints_the_lan_addresses_with_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from imu_pipeline.cli.view_options import start_view as start
    from imu_pipeline.report import coach

    real = coach.lan_addresses()
    assert all(a.count(".") == 3 and not a.startswith("127.") for a in real), real
    monkeypatch.setattr(coach, "lan_addresses", lambda: ["192.0.2.7"])
    printed: list[str] = []
    server = start(argparse.Namespace(view=True, host="0.0.0.0", port=0), {"title": "unit"}, printed.append)
    try:
        port = urllib.parse.urlsplit(server.url).port
        assert any(f"http://192.0.2.7:{port}/?token={server.token}" in ln for ln in printed), printed
        assert printed[0] == f"coach view: {server.url}"
    finally:
        server.stop()
    printed.clear()
    server = start(argparse.Namespace(view=True, host=None, port=0), {"title": "unit"}, printed.append)
    server.stop()
    assert not any("192.0.2.7" in ln for ln in printed)
