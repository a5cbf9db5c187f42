"""Regenerate the screenshots in docs/ of the coach view and the HTML report (headless Chromium).

    /work/venv/bin/python tests/regen_screenshots.py        # or: .venv/bin/python tests/regen_screenshots.py

Needs Debian's Chromium (/usr/bin/chromium) and the playwright package (the ``test`` extra). Writes
``docs/coach-view-live.png`` (mid-session: a replay of recordings/lying-mixed.csv at 6x, after
the 5th rep), ``docs/coach-view-finished.png`` (the same session finished, with its summary),
``docs/coach-view-phone.png`` (the finished session on a phone-sized screen) and
``docs/report-html.png`` (``analyze --html``, opened from disk with the network refused).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RECORDING = ROOT / "recordings" / "lying-mixed.csv"
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    from playwright.sync_api import sync_playwright

    proc = subprocess.Popen([sys.executable, "-m", "imu_pipeline", "replay", str(RECORDING), "--view", "--port", "0",
                             "--speed", "6", "-q"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    url = proc.stdout.readline().split("coach view: ", 1)[1].strip()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1050})
            page.goto(url)
            page.wait_for_selector('[data-rep="4"]', timeout=60_000)
            page.wait_for_timeout(1200)  # a second of trace after the card
            page.screenshot(path=str(DOCS / "coach-view-live.png"))
            page.wait_for_selector("[data-session-summary]", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(DOCS / "coach-view-finished.png"))
            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            phone.goto(url)
            phone.wait_for_selector("[data-session-summary]", timeout=10_000)
            phone.wait_for_timeout(300)
            phone.screenshot(path=str(DOCS / "coach-view-phone.png"))

            out = Path(tmp) / "lying-mixed.html"
            subprocess.run([sys.executable, "-m", "imu_pipeline", "analyze", str(RECORDING), "--html", str(out), "-q"],
                           check=True, cwd=ROOT)
            rep = browser.new_page(viewport={"width": 1250, "height": 1500})
            rep.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                      else route.abort())
            rep.goto(out.as_uri())
            rep.wait_for_selector("#chart-hip canvas")
            rep.wait_for_timeout(300)
            rep.screenshot(path=str(DOCS / "report-html.png"))
        finally:
            browser.close()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    for name in ("coach-view-live.png", "coach-view-finished.png", "coach-view-phone.png", "report-html.png"):
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
