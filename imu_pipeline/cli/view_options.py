"""``--view``, ``--port``, ``--host``: the coach view options shared by ``replay`` and ``record``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from imu_pipeline.errors import UsageError

#: The coach view's default port (a fixed one, so a bookmark or a tablet keeps working).
DEFAULT_PORT = 8765


def add_view_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("coach view (browser)")
    g.add_argument("--view", action="store_true",
                   help="show the session live in a browser (prints the URL; keeps serving the finished "
                        "session until Ctrl-C); see docs/coach-view.md")
    g.add_argument("--port", type=int, default=None,
                   help=f"coach view port (default {DEFAULT_PORT}; 0 = any free port)")
    g.add_argument("--host", default=None,
                   help="coach view address (default 127.0.0.1, this machine only; 0.0.0.0 serves the "
                        "network, with a random token in the URL)")


def check_view_args(args: argparse.Namespace) -> None:
    """``--port``/``--host`` only with ``--view``; a port in range."""
    if not getattr(args, "view", False):
        if getattr(args, "port", None) is not None or getattr(args, "host", None) is not None:
            raise UsageError("--port and --host are options of the coach view: add --view")
        return
    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")


def start_view(args: argparse.Namespace, meta: Mapping[str, Any], out: Callable[[str], None] = print) -> Any:
    """Start the coach view (a :class:`~imu_pipeline.report.coach.CoachServer`) and print its URL."""
    from imu_pipeline.report.coach import LOOPBACK, CoachServer

    check_view_args(args)
    host = args.host or "127.0.0.1"
    server = CoachServer(host, DEFAULT_PORT if args.port is None else args.port, meta=meta)
    url = server.start()
    out(f"coach view: {url}")
    if host not in LOOPBACK:
        for other in server.network_urls():
            out(f"  from another device: {other}")
        out("  served to the network: the token in this URL is required (anyone with the URL can watch; "
            "read-only)")
    return server


def serve_until_interrupted(server: Any, out: Callable[[str], None] = print, what: str = "session finished") -> int:
    """Keep serving the finished session until Ctrl-C (or the server stops); 0. ``what`` starts
    the line printed."""
    out(f"{what}; the coach view stays at {server.url} — Ctrl-C to stop")
    try:
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    out("coach view stopped")
    return 0


class RecordView:
    """``record --view``: the coach view beside a recording session (glue for ``cli/record.py``).

    ``record_kwargs()`` gives ``record_async`` a live factory that wraps its LivePipeline in a
    :class:`~imu_pipeline.report.coach_feed.CoachFeed`; ``status(printer)`` wraps the status-line
    printer so the page also gets each sensor's connection, battery and loss; ``finish(args)``
    publishes the offline analysis of the closed recording (what the terminal prints) and serves the
    finished session until Ctrl-C.
    """

    def __init__(self, args: argparse.Namespace, out: Callable[[str], None] = print) -> None:
        from pathlib import Path

        self.out = out
        title = "demo session" if getattr(args, "demo", False) else Path(args.out).name
        self.server = start_view(args, {"title": title, "source": "record"}, out)
        self.feed: Any = None

    def record_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        from imu_pipeline.cli.record import default_live
        from imu_pipeline.config import load_config
        from imu_pipeline.report.coach_feed import CoachFeed

        def factory(specs: list[Any]) -> Any:
            lp = default_live(specs, args.exercise, load_config(getattr(args, "config", None)),
                              getattr(args, "pose", None))
            self.feed = CoachFeed(lp, self.server)
            return self.feed

        return {"live_factory": factory}

    def status(self, printer: Callable[[str], None]) -> Callable[[str], None]:
        def status(line: str) -> None:
            printer(line)
            if self.feed is not None:
                self.feed.on_status_line(line)

        return status

    def finish(self, args: argparse.Namespace) -> int:
        """The closed recording's offline analysis to the page, then serve until Ctrl-C."""
        from imu_pipeline.errors import CalibrationError, MountingCheckError, RecordingError
        from imu_pipeline.io.recording import read_recording
        from imu_pipeline.pipeline.offline import analyze_recording
        from imu_pipeline.report.html import session_trace
        from imu_pipeline.report.summary import summary_dict

        try:
            from imu_pipeline.config import load_config

            an = analyze_recording(read_recording(args.out, warn=False), load_config(getattr(args, "config", None)),
                                   pose=getattr(args, "pose", None))
            self.server.publish_summary(summary_dict(an), session_trace(an, 20.0))
        except (RecordingError, CalibrationError) as e:
            refused = isinstance(e, MountingCheckError)
            self.server.publish_error(str(e), "Analysis refused" if refused else "No analysis of this session")
        return serve_until_interrupted(self.server, self.out)

    def stop(self) -> None:
        self.server.stop()
