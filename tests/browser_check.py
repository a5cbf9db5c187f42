"""Helpers of the browser tests (coach view, HTML report): Debian's Chromium driven by Playwright."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


def _playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


browser_needed = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and _playwright_available()),
    reason="needs Debian's Chromium (/usr/bin/chromium: apt-get install -y chromium) and the playwright "
           "package (pip install '.[test]'); CI installs both (.ci/run)")


def wait_until(page: Any, expression: str, timeout_s: float = 10.0) -> None:
    """Wait until the JavaScript ``expression`` is true in the page. Not ``page.wait_for_function``:
    when the expression is not true at once, Playwright polls it with an eval inside the page, which
    our pages' Content Security Policy (no 'unsafe-eval') refuses (an intermittent EvalError in CI);
    ``page.evaluate`` runs outside that policy."""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s in the page: {expression}")
        page.wait_for_timeout(50)


def page_reps(page: Any) -> list[tuple[int, str, str]]:
    got = page.eval_on_selector_all(
        "[data-rep]", "els => els.map(e => [Number(e.dataset.rep), e.dataset.label, e.dataset.momentum])")
    return sorted((int(i), lab, mom) for i, lab, mom in got)


class PageWatch:
    """JavaScript errors, console errors and every request URL of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: self.urls.append(r.url))

    def off_machine(self) -> list[str]:
        bad = []
        for u in self.urls:
            p = urllib.parse.urlsplit(u)
            if p.scheme in ("data", "blob"):
                continue
            if p.scheme in ("http", "https", "ws", "wss") and p.hostname == "127.0.0.1":
                continue
            bad.append(u)
        return bad
