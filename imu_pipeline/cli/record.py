"""``imu-pipeline record``: two BLE sensors -> a crash-safe recording, with live feedback.

The async functions (:func:`scan_async`, :func:`record_async`) take the bleak backend
classes and the clock, so tests run the real commands over fake backends; the
``_cmd_*`` wrappers used by the CLI run them with the platform's backends.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from imu_pipeline.ble.clock import Clock
from imu_pipeline.ble.devices import (
    ProfileConfigError,
    make_profile,
    profile_names,
    recognise,
)
from imu_pipeline.ble.errors import BleError
from imu_pipeline.ble.profile import DeviceProfile
from imu_pipeline.ble.reader import ReconnectPolicy, device_filter, find_device
from imu_pipeline.ble.recorder import LiveFeedback, Recorder, SessionResult
from imu_pipeline.cli.options import add_analysis_options
from imu_pipeline.config import (
    ROLES,
    PipelineConfig,
    SensorSpec,
    load_config,
    load_sensor_config,
)
from imu_pipeline.errors import CalibrationError, RecordingError, UsageError

# --------------------------------------------------------------------------- record


def sensor_specs_from_args(args: argparse.Namespace) -> list[SensorSpec]:
    """Thigh and pelvis specs from ``--sensors FILE`` or ``--thigh/--pelvis/--profile``."""
    if args.sensors:
        if args.thigh or args.pelvis:
            raise UsageError("give either --sensors FILE or --thigh/--pelvis, not both")
        specs = load_sensor_config(args.sensors)
    else:
        if not (args.thigh and args.pelvis):
            raise UsageError("say which sensors to use: --sensors configs/sensors.toml, or --thigh ADDR "
                              "--pelvis ADDR --profile NAME (addresses from `imu-pipeline scan`)")
        specs = [SensorSpec(role="thigh", address=args.thigh, profile=args.profile),
                 SensorSpec(role="pelvis", address=args.pelvis, profile=args.profile)]
    if args.rate is not None:
        for s in specs:
            s.sample_rate_hz = args.rate
    if args.profile and args.sensors:
        for s in specs:
            s.profile = args.profile
    return specs


async def recognise_missing_profiles(specs: list[SensorSpec], *, timeout_s: float,
                                     scanner_backend: type[BaseBleakScanner] | None = None,
                                     clock: Clock | None = None) -> None:
    """Fill in ``profile`` of specs that have none, from the sensor's advertisement (built-in families)."""
    for s in specs:
        if s.profile:
            continue
        try:
            found = await find_device(device_filter(s.address, s.name, None), timeout_s,
                                      scanner_backend=scanner_backend, clock=clock)
        except BleError as e:
            raise UsageError(str(e)) from None
        who = s.address or f"name '{s.name}'"
        if found is None:
            raise UsageError(f"{s.role} sensor ({who}): not found within {timeout_s:g} s, so its kind cannot be "
                              "recognised; switch it on, or set its profile")
        name = recognise(found[1])
        if name is None:
            raise UsageError(f"{s.role} sensor ({who}): '{found[1].name or 'unnamed'}' does not look like a "
                              f"supported sensor; set profile = one of {', '.join(profile_names())}")
        s.profile = name


def profiles_for(specs: list[SensorSpec], base_dir: str | Path | None) -> dict[str, DeviceProfile]:
    """Configured profile per role; errors name the sensor."""
    out = {}
    for s in specs:
        if not s.profile:
            raise UsageError(f"{s.role} sensor: no profile; set profile = one of {', '.join(profile_names())} "
                              "(see `imu-pipeline scan`)")
        try:
            out[s.role] = make_profile(s.profile, s.sample_rate_hz, s.options, base_dir=base_dir)
        except ProfileConfigError as e:
            raise UsageError(f"{s.role} sensor: {e}") from None
    return out


def default_live(specs: list[SensorSpec], exercise: str | None = None, cfg: PipelineConfig | None = None,
                 pose: str | None = None) -> LiveFeedback:
    """The live analysis of the recording: :class:`imu_pipeline.pipeline.live.LivePipeline` with the
    sensors' declared mountings and rates, the config and pose (the same algorithms as ``analyze``)."""
    from imu_pipeline.pipeline.live import LivePipeline

    mounting = {r: next((s.mounting for s in specs if s.role == r), None) for r in ROLES}
    rates = {r: next((s.sample_rate_hz for s in specs if s.role == r), None) for r in ROLES}
    return LivePipeline(mounting=mounting, exercise=exercise, cfg=cfg, pose=pose, sample_rates=rates)


def check_record_args(args: argparse.Namespace) -> None:
    """The output name, rate and duration, before any Bluetooth is touched."""
    from imu_pipeline.io.recording import sidecar_path
    from imu_pipeline.report.files import check_folder_writable

    out = Path(args.out)
    if out.suffix != ".csv":
        raise UsageError(f"{args.out}: the recording name must end in .csv")
    if not args.force:
        for p in (out, sidecar_path(out)):
            if p.exists():
                raise UsageError(f"{p} already exists; choose another name or pass --force")
    if out.exists() and out.is_dir():
        raise UsageError(f"{args.out} is a folder")
    if not out.parent.resolve().is_dir():
        raise UsageError(f"{args.out}: the folder {out.parent} does not exist")
    check_folder_writable(out.parent, what=args.out)  # a read-only folder: said now, not after the scan
    if args.rate is not None and not args.rate > 0:
        raise UsageError(f"--rate must be positive (Hz), got {args.rate:g}")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be positive (s), got {args.duration:g}")
    if not args.give_up > 0 or not args.scan_timeout > 0:
        raise UsageError("--give-up and --scan-timeout must be positive (s)")


async def record_async(args: argparse.Namespace, *, backend: type[BaseBleakClient] | None = None,
                       scanner_backend: type[BaseBleakScanner] | None = None, clock: Clock | None = None,
                       out: Callable[[str], None] = print, status_out: Callable[[str], None] | None = None,
                       live_factory: Callable[..., LiveFeedback | None] = default_live,
                       stop: asyncio.Event | None = None, policy: ReconnectPolicy | None = None) -> SessionResult:
    """Run ``record``: connect both sensors and write ``args.out`` (+ sidecar) until done."""
    from imu_pipeline.io.writer import RecordingWriter

    check_record_args(args)  # everything that can be wrong without Bluetooth, before touching it
    specs = sensor_specs_from_args(args)
    cfg = load_config(getattr(args, "config", None))
    await recognise_missing_profiles(specs, timeout_s=args.scan_timeout, scanner_backend=scanner_backend, clock=clock)
    profiles = profiles_for(specs, Path(args.sensors).parent if args.sensors else None)
    try:
        writer = RecordingWriter(args.out, meta={"exercise": args.exercise} if args.exercise else {},
                                 overwrite=args.force)
    except FileExistsError:
        raise UsageError(f"{args.out} already exists; choose another name or pass --force") from None
    live = (default_live(specs, args.exercise, cfg, getattr(args, "pose", None)) if live_factory is default_live
            else live_factory(specs))
    rec = Recorder(specs, profiles, writer, live=live, backend=backend,
                   scanner_backend=scanner_backend, clock=clock, out=out, status_out=status_out,
                   policy=policy or ReconnectPolicy(give_up_after_s=args.give_up),
                   scan_timeout_s=args.scan_timeout)
    try:
        return await rec.run(args.duration, stop)
    except BleError as e:
        if writer.rows_written == 0:  # nothing recorded: leave no empty recording behind
            from imu_pipeline.io.recording import sidecar_path

            for p in (Path(args.out), sidecar_path(args.out)):
                p.unlink(missing_ok=True)
        raise UsageError(str(e)) from None


class _TtyStatus:
    """Rewrites one status line in place on a terminal; prints every 10th line otherwise."""

    def __init__(self, stream: Any = sys.stdout) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.count = 0
        self.pending = False

    def status(self, line: str) -> None:
        self.count += 1
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self.pending = True
        elif self.count % 10 == 1:
            print(line, file=self.stream, flush=True)

    def line(self, text: str) -> None:
        if self.pending:
            self.stream.write("\r\x1b[K")
            self.pending = False
        print(text, file=self.stream, flush=True)


def _cmd_record(args: argparse.Namespace) -> int:
    printer = _TtyStatus()

    async def main() -> SessionResult:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            printer.line("stopping (Ctrl-C again to abort at once) ...")
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts for real

        try:
            loop.add_signal_handler(signal.SIGINT, on_signal)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            pass
        return await record_async(args, out=printer.line, status_out=printer.status, stop=stop)

    result = asyncio.run(main())
    _print_session_analysis(args, printer.line)
    if result.lost_sensor is not None:
        raise UsageError(f"session ended early: {result.end_reason}; the recording {args.out} is complete "
                          f"up to {result.duration_s:.1f} s")
    return 0


def _print_session_analysis(args: argparse.Namespace, out: Callable[[str], None]) -> None:
    """After recording: the same session summary `imu-pipeline analyze` prints (offline path)."""
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.text import summary_text

    try:
        an = analyze_recording(read_recording(args.out, warn=False), load_config(getattr(args, "config", None)),
                               pose=getattr(args, "pose", None))
    except (RecordingError, CalibrationError) as e:
        out(f"no session analysis: {e}")
        return
    out("")
    for line in summary_text(an).splitlines():
        out(line)


# --------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    """Add ``record`` to the ``imu-pipeline`` command line."""
    pr = subparsers.add_parser(
        "record", help="record the thigh and pelvis sensors to OUT.csv (+ OUT.json)",
        description="Connect both sensors, stream them to a format v1 recording with a live status line; "
                    "Ctrl-C or --duration ends the session cleanly.")
    pr.add_argument("out", help="recording to write (.csv; the .json sidecar goes beside it)")
    pr.add_argument("--sensors", help="sensor config TOML ([[sensor]] tables, see configs/sensors.example.toml)")
    pr.add_argument("--thigh", help="thigh sensor address (instead of --sensors)")
    pr.add_argument("--pelvis", help="pelvis sensor address (instead of --sensors)")
    pr.add_argument("--profile", help=f"device profile for both: {', '.join(profile_names())} or a generic .toml "
                                      "(default: recognised from the advertisement)")
    pr.add_argument("--rate", type=float, help="sample rate (Hz) for both sensors, overrides the config")
    pr.add_argument("--duration", type=float, help="stop after this many seconds")
    pr.add_argument("--exercise", help="exercise name stored in the sidecar (e.g. lying-leg-raise)")
    pr.add_argument("--give-up", type=float, default=60.0,
                    help="end the session when a sensor stays disconnected this long (s, default 60)")
    pr.add_argument("--scan-timeout", type=float, default=10.0, help="look for each sensor this long (s, default 10)")
    pr.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_analysis_options(pr)
    pr.set_defaults(func=_cmd_record)
