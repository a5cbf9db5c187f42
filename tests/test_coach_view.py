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
from browser_check import CHROMIUM, PageWatch, browser_needed, page_reps

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
        page.wait_for_function("[...document.querySelectorAll('.sensor')].every(e => /battery\\s*\\d+ %/"
                               ".test(e.innerText))", timeout=10_000)
        page.wait_for_selector("[data-session-summary]", timeout=40_000)
        shown = page_reps(page)
        assert watch.errors == [] and watch.off_machine() == []
    finally:
        code, printed, err = stop_view(proc)
    assert code == 0, err
    live_lines = [ln for ln in printed.splitlines() if ln.startswith("rep ")]  # printed as they happened
    assert len(live_lines) == len(shown) >= 1
    for (i, label, momentum), ln in zip(shown, live_lines):
        assert ln.split()[1] == str(i + 1)
        assert (label if label != "none" else "no label") in ln
        assert ("MOMENTUM" in ln) == (momentum == "true")
