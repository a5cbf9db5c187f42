"""The coach view: a local web server that shows a live (or replayed) session in a browser.

:class:`CoachServer` serves one page (package data ``report/static/coach.html``) and pushes the
session to it with Server-Sent Events: the hip flexion and pelvic tilt traces, the current phase,
a card per rep as soon as it is judged, running totals, sensor status and, at the end, the session
summary. A page opened late first receives the whole state so far (``state``), then the updates.

Why aiohttp: the live path already runs on asyncio (bleak, ``record``'s recorder), aiohttp is an
asyncio server with Server-Sent Events (``StreamResponse``) and WebSockets built in, it needs no
separate worker process or WSGI bridge, and it is one well-maintained dependency (the standard
library's ``http.server`` is thread-per-connection, has no streaming helpers, and is documented as
not for production use). The server runs on its own event loop in a daemon thread, so the
synchronous replay loop and ``record``'s asyncio loop publish to it alike, by thread-safe calls
that never block the caller.

Endpoints (GET only; anything else is 405):

- ``/`` — the page;
- ``/assets/NAME`` — a fixed set of files from the package (``coach.js``, ``coach.css``,
  ``charts.js``, ``uPlot.iife.min.js``, ``uPlot.min.css``), looked up in a dict: no request
  path ever reaches the file system, any other name is 404;
- ``/events`` — the Server-Sent Events stream (below);
- ``/state`` — the whole state as one JSON document (for scripts and tests).

Messages (``event: TYPE`` / ``data: JSON``): ``state`` (everything so far: ``meta``, ``trace``,
``phase``, ``reps``, ``totals``, ``status``, ``summary``), ``samples`` (``{"t": [...], "hip": [...],
"tilt": [...]}``, s and degrees, ``null`` where not measured), ``phase`` (``{"phase", "detail"}``),
``rep`` (a rep as in the summary JSON plus ``words``, and the new ``totals``), ``status``
(per sensor: connected, battery, loss, rate, outages), ``summary`` (the session summary JSON
plus a whole-session ``trace``, the final rep ``cards`` and a ``cards_note`` when the final
analysis counted other reps than the live one) and ``error`` (``{"title", "message"}``: the
analysis refused the session, or could not be made; the page shows it in the verdict line).

Security: it binds 127.0.0.1 unless told otherwise; any other host requires a random token
(``secrets.token_urlsafe``) in every request's query (``?token=...``), else 403. Responses carry a
Content-Security-Policy that only allows the page's own origin, and the page loads nothing from
elsewhere (no CDN, no web fonts).
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
import secrets
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from importlib import resources
from types import SimpleNamespace
from typing import Any

from imu_pipeline.errors import ImuPipelineError
from imu_pipeline.report.words import rep_card
from imu_pipeline.reps import Rep, rep_totals

#: Hosts that only this machine can reach: no token needed.
LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: Seconds of trace a late page receives (the page shows the last ~20 s).
TRACE_KEEP_S = 30.0

#: How often queued samples are sent to the pages (s): smooth enough, and one message per tick.
FLUSH_S = 0.1

#: The files the server can send, by fixed name -> (package folder, file, content type).
ASSETS: dict[str, tuple[str, str, str]] = {
    "coach.js": ("static", "coach.js", "text/javascript; charset=utf-8"),
    "coach.css": ("static", "coach.css", "text/css; charset=utf-8"),
    "charts.js": ("static", "charts.js", "text/javascript; charset=utf-8"),
    "uPlot.iife.min.js": ("vendor/uplot", "uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "uPlot.min.css": ("vendor/uplot", "uPlot.min.css", "text/css; charset=utf-8"),
}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ViewError(ImuPipelineError):
    """The coach view cannot start (port in use, address not available, bad option)."""


def package_text(folder: str, name: str) -> str:
    """A text file shipped in ``imu_pipeline/report/<folder>/`` (package data, fixed names)."""
    res = resources.files("imu_pipeline.report")
    for part in folder.split("/"):
        res = res / part
    return (res / name).read_text(encoding="utf-8")


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> float, recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and callable(v.item):  # numpy scalar
        return _clean(v.item())
    return v


def sse(event: str, data: Any, seq: int) -> bytes:
    """One Server-Sent Event (``id``, ``event``, one ``data`` line of JSON)."""
    text = json.dumps(_clean(data), allow_nan=False, separators=(",", ":"))
    return f"id: {seq}\nevent: {event}\ndata: {text}\n\n".encode()


class CoachState:
    """Everything the page shows, kept so a late page gets it all (mutated on the server's loop only)."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.meta: dict[str, Any] = dict(meta)
        self.trace: deque[tuple[float, float | None, float | None]] = deque()
        self.phase: dict[str, Any] = {"phase": "waiting", "detail": "waiting for data"}
        self.reps: list[dict[str, Any]] = []
        self.totals: dict[str, Any] = rep_totals([])
        self.status: dict[str, Any] = {}
        self.summary: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def add_rows(self, rows: Sequence[tuple[float, float | None, float | None]]) -> None:
        self.trace.extend(rows)
        if self.trace:
            last = self.trace[-1][0]
            while self.trace and self.trace[0][0] < last - TRACE_KEEP_S:
                self.trace.popleft()

    def trace_dict(self) -> dict[str, list[Any]]:
        return {"t": [x[0] for x in self.trace], "hip": [x[1] for x in self.trace],
                "tilt": [x[2] for x in self.trace]}

    def snapshot(self) -> dict[str, Any]:
        return {"meta": self.meta, "trace": self.trace_dict(), "phase": self.phase, "reps": self.reps,
                "totals": self.totals, "status": self.status, "summary": self.summary, "error": self.error}


def lan_addresses() -> list[str]:
    """This machine's IPv4 address(es) other devices on the network can use, found with sockets
    only: the source address of the default route (a UDP socket's ``connect`` sends no packet; no
    name lookup, nothing leaves the machine); loopback left out. Empty when the machine has no
    network."""
    import socket

    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))  # no packet: a UDP connect only chooses the route
            found.append(s.getsockname()[0])
        except OSError:
            pass
    return [a for i, a in enumerate(found) if a not in found[:i] and not a.startswith(("127.", "0."))]


def _nullable(values: Sequence[float]) -> list[float | None]:
    return [round(float(v), 2) if v is not None and math.isfinite(v) else None for v in values]


class CoachServer:
    """The coach view's web server (see the module docstring).

    Parameters
    ----------
    host, port : where to listen (port 0: any free port, see :attr:`url`)
    meta : shown in the page's header: ``title`` (the recording), ``source`` (``replay`` / ``record``),
        ``pose``, ``speed`` ...
    token : required in every request when the host is not loopback; None makes a random one then
        (``secrets.token_urlsafe``). On loopback a token given is also required.

    Use ``start()``, the ``publish_*`` methods (from any thread), then ``stop()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *, meta: Mapping[str, Any] | None = None,
                 token: str | None = None) -> None:
        self.host = host
        self.port = int(port)
        if not 0 <= self.port <= 65535:
            raise ViewError(f"--port must be between 0 and 65535, got {port}")
        self.token = token if token is not None else (None if host in LOOPBACK else secrets.token_urlsafe(24))
        self.state = CoachState(meta or {})
        self._seq = 0
        self._clients: set[asyncio.Queue[bytes | None]] = set()
        self._pending: list[tuple[float, float | None, float | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._stopped = threading.Event()
        self._bound_port: int | None = None
        self._ticker_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """The page's address (with the token when one is required)."""
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        q = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self._bound_port or self.port}/{q}"

    def network_urls(self) -> list[str]:
        """With ``--host 0.0.0.0``: the page's address at each of this machine's LAN addresses
        (:func:`lan_addresses`), with the token; else nothing (the URL already names the host)."""
        if self.host not in ("0.0.0.0", "::"):
            return []
        q = f"?token={self.token}" if self.token else ""
        return [f"http://{a}:{self._bound_port or self.port}/{q}" for a in lan_addresses()]

    def start(self) -> str:
        """Start listening in a background thread; returns :attr:`url`. A port in use or an address
        that is not this machine's is a :class:`ViewError`."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as e:  # reported to start()
                failure.append(e)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="coach-view", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._stopped.set()
            raise self._start_error(failure[0])
        return self.url

    def _start_error(self, e: BaseException) -> ImuPipelineError:
        where = f"{self.host}:{self.port}"
        if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
            return ViewError(f"cannot start the coach view: port {self.port} on {self.host} is in use (another "
                             "coach view?); choose another with --port N, or --port 0 for any free port")
        if isinstance(e, OSError) and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return ViewError(f"cannot start the coach view on {where}: that address is not one of this "
                             "machine's (--host 127.0.0.1, or 0.0.0.0 for every network interface)")
        if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM):
            return ViewError(f"cannot start the coach view on {where}: no permission to use that port "
                             "(ports below 1024 need root); choose --port 8765 or above")
        if isinstance(e, OSError):
            return ViewError(f"cannot start the coach view on {where}: {e.strerror or e}")
        return ViewError(f"cannot start the coach view on {where}: {type(e).__name__}: {e}")

    def stop(self) -> None:
        """Close every page's stream and stop the server (idempotent)."""
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (True) or ``timeout`` s passed (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> CoachServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ publishing (any thread)
    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn(*args)  # not started (or stopped): just keep the state
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile
            fn(*args)

    def publish_samples(self, t: Sequence[float], hip_deg: Sequence[float], tilt_deg: Sequence[float],
                        phase: str | None = None, detail: str = "") -> None:
        """Angles in degrees on the session clock (NaN: not measured), sent to the pages every
        :data:`FLUSH_S`; optionally the current rep's phase."""
        rows = list(zip([round(float(x), 3) for x in t], _nullable(hip_deg), _nullable(tilt_deg)))
        self._call(self._apply_samples, rows)
        if phase is not None:
            self.publish_phase(phase, detail)

    def publish_phase(self, phase: str, detail: str = "") -> None:
        """The current rep's phase (``calibrating``, ``legs down``, ``up``, ``top``, ``down`` ...)."""
        self._call(self._apply_phase, {"phase": phase, "detail": detail})

    def publish_rep(self, rep: Rep | Mapping[str, Any], pose: str | None = None) -> None:
        """A rep as soon as it is judged (a :class:`Rep` or its ``to_dict()``); ``pose`` (``lying``,
        ``hanging``) chooses the advice words."""
        d = rep.to_dict() if isinstance(rep, Rep) else dict(rep)
        self._call(self._apply_rep, _clean(rep_card(d, pose)))

    def publish_status(self, status: Mapping[str, Any]) -> None:
        """Sensor status: ``{"stream_s": s, "sensors": {"thigh": {"connected", "battery_percent",
        "loss_percent", "loss_is_estimate", "rate_hz", "outages": [...]}, ...}, "note": str}``."""
        self._call(self._apply_status, _clean(dict(status)))

    def publish_summary(self, summary: Mapping[str, Any], trace: Mapping[str, Sequence[Any]] | None = None) -> None:
        """The session summary (``summary_dict``) and optionally the whole session's trace
        (``{"t", "hip", "tilt"}`` in s and degrees) the page then shows zoomable."""
        pose = summary.get("exercise")
        cards = [{**rep_card(dict(r), pose), "final": True} for r in summary.get("reps") or []]
        d = {**summary, "trace": dict(trace) if trace is not None else None, "cards": cards}
        self._call(self._apply_summary, _clean(d))

    def publish_error(self, message: str, title: str = "Analysis refused") -> None:
        """The session has no analysis: ``title`` (a few words, the page's verdict line) and the
        ``message`` (the error, as the terminal prints it). The page keeps what it showed."""
        self._call(self._apply_error, {"title": title, "message": message})

    # ------------------------------------------------------------------ on the loop
    def _broadcast(self, event: str, data: Any) -> None:
        self._seq += 1
        msg = sse(event, data, self._seq)
        for q in self._clients:
            q.put_nowait(msg)

    def _flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._broadcast("samples", {"t": [r[0] for r in rows], "hip": [r[1] for r in rows],
                                    "tilt": [r[2] for r in rows]})

    def _apply_samples(self, rows: list[tuple[float, float | None, float | None]]) -> None:
        if rows:
            self.state.add_rows(rows)
            self._pending.extend(rows)

    def _apply_phase(self, phase: dict[str, Any]) -> None:
        if phase != self.state.phase:
            self.state.phase = phase
            self._broadcast("phase", phase)

    def _apply_rep(self, card: dict[str, Any]) -> None:
        self._flush()
        self.state.reps.append(card)
        self.state.totals = _totals(self.state.reps)
        self._broadcast("rep", {"rep": card, "totals": self.state.totals})

    def _apply_status(self, status: dict[str, Any]) -> None:
        self.state.status = status
        self._broadcast("status", status)

    def _apply_summary(self, summary: dict[str, Any]) -> None:
        self._flush()
        live = len(self.state.reps)
        cards = summary.get("cards") or []
        if live != len(cards):
            summary["cards_note"] = (f"The live analysis counted {live} rep{'s' if live != 1 else ''}; the "
                                     f"analysis of the whole session found {len(cards)}: the cards show the final "
                                     "ones.")
        self.state.reps = cards
        self.state.summary = summary
        if summary.get("totals"):
            self.state.totals = summary["totals"]
        self.state.phase = {"phase": "finished", "detail": "session finished"}
        self._broadcast("summary", summary)

    def _apply_error(self, error: dict[str, Any]) -> None:
        self._flush()
        self.state.error = error
        self.state.phase = {"phase": "refused" if "refused" in error["title"].lower() else "finished",
                            "detail": error["message"]}
        self._broadcast("error", error)

    # ------------------------------------------------------------------ the web app
    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(middlewares=[self._make_guard()])
        app.router.add_get("/", self._page)
        app.router.add_get("/assets/{name}", self._asset)
        app.router.add_get("/events", self._events)
        app.router.add_get("/state", self._state)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port, reuse_address=False)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        server = getattr(site, "_server", None)
        socks = getattr(server, "sockets", None) or []
        self._bound_port = socks[0].getsockname()[1] if socks else self.port
        self._ticker_task = asyncio.get_running_loop().create_task(self._ticker())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self._flush()

    async def _shutdown(self) -> None:
        for q in list(self._clients):
            q.put_nowait(None)
        if self._ticker_task is not None:
            self._ticker_task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def _headers(self, content_type: str) -> dict[str, str]:
        return {"Content-Type": content_type, "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

    def _make_guard(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.method not in ("GET", "HEAD"):
                return web.Response(status=405, text="read-only: GET only\n", headers={"Allow": "GET"})
            if self.token is not None and not secrets.compare_digest(request.query.get("token", ""), self.token):
                return web.Response(status=403, text="forbidden: this coach view needs its token (?token=...)\n")
            return await handler(request)

        return guard

    def _token_qs(self) -> str:
        return f"?token={self.token}" if self.token else ""

    async def _page(self, request: Any) -> Any:
        from aiohttp import web

        html = package_text("static", "coach.html").replace("{{QS}}", self._token_qs())
        return web.Response(text=html, headers=self._headers("text/html; charset=utf-8"))

    async def _asset(self, request: Any) -> Any:
        from aiohttp import web

        entry = ASSETS.get(request.match_info.get("name", ""))
        if entry is None:
            raise web.HTTPNotFound(text="not found\n")
        folder, name, ctype = entry
        return web.Response(text=package_text(folder, name), headers=self._headers(ctype))

    async def _state(self, request: Any) -> Any:
        from aiohttp import web

        self._flush()
        body = json.dumps(_clean(self.state.snapshot()), allow_nan=False)
        return web.Response(text=body, headers=self._headers("application/json; charset=utf-8"))

    async def _events(self, request: Any) -> Any:
        from aiohttp import web

        resp = web.StreamResponse(headers={**self._headers("text/event-stream; charset=utf-8"),
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._flush()  # what is pending goes to the pages already open; the snapshot has it too
        self._seq += 1
        first = sse("state", self.state.snapshot(), self._seq)
        self._clients.add(q)  # snapshot and registration with no await between: nothing lost or doubled
        try:
            await resp.write(b"retry: 1000\n\n" + first)
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), timeout=15.0)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if msg is None:
                    break
                await resp.write(msg)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(q)
        return resp


def _totals(cards: list[dict[str, Any]]) -> dict[str, Any]:
    """Running totals from the rep cards: the summary's ``totals`` definition (:func:`rep_totals`,
    which reads the same fields off a card as off a :class:`Rep`)."""
    return rep_totals([SimpleNamespace(**c) for c in cards])  # type: ignore[misc]
