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
from imu_pipeline.ble.demo import (
    DEMO_DEFAULT_DURATION_S,
    DEMO_MAX_DURATION_S,
    DROP_EDGE_S,
    DROP_SEPARATION_S,
    DemoWorld,
    max_link_drops,
)
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
from imu_pipeline.cli.options import add_analysis_options, check_pose_and_exercise
from imu_pipeline.cli.view_options import RecordView, add_view_options
from imu_pipeline.config import (
    ROLES,
    PipelineConfig,
    SensorSpec,
    load_config,
    load_sensor_config,
)
from imu_pipeline.errors import CalibrationError, OutputError, RecordingError, UsageError

#: How often a recording is flushed and fsynced (s): a crash loses at most about this much.
FLUSH_INTERVAL_S = 0.5

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
    if out.suffix.lower() != ".csv":  # .CSV too: analyze and every reader take it
        raise UsageError(f"{args.out}: the recording name must end in .csv (e.g. session.csv)")
    if out.is_dir():  # before 'already exists': --force cannot replace a folder
        raise UsageError(f"{out} is a folder; the recording needs the name of a new .csv file "
                         f"(e.g. {out / 'session.csv'})")
    if sidecar_path(out).is_dir():
        raise UsageError(f"{sidecar_path(out)} is a folder, where the recording's sidecar would go; choose another "
                         "recording name")
    if not args.force:
        for p in (out, sidecar_path(out)):
            if p.exists():
                raise UsageError(f"{p} already exists; choose another name or pass --force")
    if not out.parent.resolve().is_dir():
        raise UsageError(f"{args.out}: the folder {out.parent} does not exist")
    check_folder_writable(out.parent, what=args.out)  # a read-only folder: said now, not after the scan
    if args.rate is not None and not args.rate > 0:
        raise UsageError(f"--rate must be positive (Hz), got {args.rate:g}")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be positive (s), got {args.duration:g}")
    if not args.give_up > 0 or not args.scan_timeout > 0:
        raise UsageError("--give-up and --scan-timeout must be positive (s)")
    check_pose_and_exercise(getattr(args, "pose", None), args.exercise)


def demo_world(args: argparse.Namespace, clock: Clock | None,
               out: Callable[[str], None] | None = None) -> DemoWorld | None:
    """The simulated sensors of ``--demo`` (None without it); refuses real-sensor options beside it
    and more ``--demo-disconnects`` than fit in the session (:func:`~imu_pipeline.ble.demo.max_link_drops`).
    ``out`` is told first that the session is being simulated (a long one takes a few seconds)."""
    if not getattr(args, "demo", False):
        if getattr(args, "demo_disconnects", 0):
            raise UsageError("--demo-disconnects needs --demo")
        return None
    from imu_pipeline.calibration import infer_pose

    if args.sensors or args.thigh or args.pelvis or args.profile or args.rate is not None:
        raise UsageError("--demo plays two simulated sensors; it takes no --sensors, --thigh, --pelvis, "
                          "--profile or --rate")
    pose = getattr(args, "pose", None) or infer_pose(args.exercise) or "lying"
    duration = args.duration if args.duration is not None else DEMO_DEFAULT_DURATION_S
    if duration > DEMO_MAX_DURATION_S:
        raise UsageError(f"--duration with --demo is at most {DEMO_MAX_DURATION_S:g} s (the simulated session's "
                          f"length), got {duration:g}")
    if args.demo_disconnects < 0:
        raise UsageError(f"--demo-disconnects must be 0 or more, got {args.demo_disconnects}")
    most = max_link_drops(duration)
    if args.demo_disconnects > most:
        raise UsageError(f"--demo-disconnects {args.demo_disconnects} does not fit in a {duration:g} s session: "
                          f"at most {most} for --duration {duration:g} (each sensor's link drops need "
                          f"{DROP_SEPARATION_S:g} s between them to reconnect and settle, and none falls in the "
                          f"first or last {DROP_EDGE_S:g} s); give fewer or a longer --duration")
    if args.demo_seed < 0:
        raise UsageError(f"--demo-seed must be >= 0, got {args.demo_seed}")
    if args.exercise is None:
        args.exercise = f"{pose}-leg-raise"
    if out is not None:
        out(f"preparing the simulated session ({duration:g} s, {pose}, seed {args.demo_seed}) ...")
    return DemoWorld(duration, pose=pose, seed=args.demo_seed, disconnects=args.demo_disconnects, clock=clock)


def check_distinct_sensors(specs: list[SensorSpec]) -> None:
    """The thigh and the pelvis must be two devices that can be told apart before connecting."""
    by_role = {s.role: s for s in specs}
    th, pe = by_role.get("thigh"), by_role.get("pelvis")
    if th is None or pe is None:
        return
    if th.address and pe.address and th.address.strip().lower() == pe.address.strip().lower():
        raise UsageError(f"the thigh and the pelvis sensor have the same address ({th.address}); they must be two "
                          "sensors (addresses from `imu-pipeline scan`)")
    if not th.address and not pe.address and (th.name or "") == (pe.name or ""):
        raise UsageError("the thigh and the pelvis sensor cannot be told apart (no address and the same name"
                          + (f" '{th.name}'" if th.name else "") + "); give each its address or its own name")


async def record_async(args: argparse.Namespace, *, backend: type[BaseBleakClient] | None = None,
                       scanner_backend: type[BaseBleakScanner] | None = None, clock: Clock | None = None,
                       out: Callable[[str], None] = print, status_out: Callable[[str], None] | None = None,
                       live_factory: Callable[..., LiveFeedback | None] = default_live,
                       stop: asyncio.Event | None = None, policy: ReconnectPolicy | None = None) -> SessionResult:
    """Run ``record``: connect both sensors and write ``args.out`` (+ sidecar) until done."""
    from imu_pipeline.io.writer import RecordingWriter

    check_record_args(args)  # everything that can be wrong without Bluetooth, before touching it
    demo = demo_world(args, clock, out)
    if demo is not None:  # simulated sensors behind the real BleakClient/BleakScanner
        specs = demo.sensor_specs()
        backend, scanner_backend = demo.client_backend(), demo.scanner_backend()
    else:
        specs = sensor_specs_from_args(args)
    check_distinct_sensors(specs)
    cfg = load_config(getattr(args, "config", None))
    await recognise_missing_profiles(specs, timeout_s=args.scan_timeout, scanner_backend=scanner_backend, clock=clock)
    profiles = profiles_for(specs, Path(args.sensors).parent if args.sensors else None)
    meta: dict[str, Any] = {"exercise": args.exercise} if args.exercise else {}
    if demo is not None:
        meta["demo"] = demo.describe()
    try:
        writer = RecordingWriter(args.out, meta=meta, overwrite=args.force, flush_interval_s=FLUSH_INTERVAL_S)
    except FileExistsError:
        raise UsageError(f"{args.out} already exists; choose another name or pass --force") from None
    live = (default_live(specs, args.exercise, cfg, getattr(args, "pose", None)) if live_factory is default_live
            else live_factory(specs))
    rec = Recorder(specs, profiles, writer, live=live, backend=backend,
                   scanner_backend=scanner_backend, clock=clock, out=out, status_out=status_out,
                   policy=policy or ReconnectPolicy(give_up_after_s=args.give_up),
                   scan_timeout_s=args.scan_timeout, explain_loss=demo.loss_reason if demo is not None else None)
    try:
        if demo is None:
            return await rec.run(args.duration, stop)
        async with demo.running():
            return await rec.run(demo.duration_s, stop)
    except OutputError as e:  # the disk filled, the folder turned read-only: what was written stays
        raise type(e)(f"recording stopped: {e}; {args.out} keeps the {writer.rows_written} samples received before "
                      f"that (analyse it with `imu-pipeline analyze {args.out}`)") from None
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
    view = RecordView(args, printer.line) if getattr(args, "view", False) else None  # coach view (--view)
    interrupts = 0

    async def main() -> SessionResult:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                printer.line("stopping (Ctrl-C again to stop at once, without the analysis) ...")
                stop.set()
            elif interrupts == 2 and task is not None:  # still closes the recording (Recorder.run's finally)
                printer.line("stopping at once ...")
                task.cancel()

        handled: list[int] = []
        for sig, handler in ((signal.SIGINT, on_signal), (signal.SIGTERM, stop.set)):
            try:
                loop.add_signal_handler(sig, handler)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
                pass
        try:
            if view is not None:
                return await record_async(args, out=printer.line, status_out=view.status(printer.status),
                                          stop=stop, **view.record_kwargs(args))
            return await record_async(args, out=printer.line, status_out=printer.status, stop=stop)
        finally:
            # removed while the loop still runs (asyncio's close() shuts its wake-up pipe before it
            # removes them, and a Ctrl-C in between printed "Exception ignored ... Bad file
            # descriptor"); until asyncio.run has returned a Ctrl-C is only counted (raised in its
            # teardown it printed "Exception ignored in WeakSet"), then acted on below
            for sig in handled:
                loop.remove_signal_handler(sig)
            if signal.SIGINT in handled:
                signal.signal(signal.SIGINT, count_late)

    def count_late(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1

    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # the second Ctrl-C: no analysis; the recording is closed and kept
    finally:
        if signal.getsignal(signal.SIGINT) is count_late:  # ours, set as the session closed
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupts >= 2:  # the second Ctrl-C came while the session closed: no analysis
        raise KeyboardInterrupt
    _print_session_analysis(args, printer.line)
    if view is not None:  # the finished session stays on the page until Ctrl-C
        view.finish(args)
    if result.lost_sensor is not None:
        last = result.sensors[result.lost_sensor].last_data_s if result.lost_sensor in result.sensors else None
        lost_part = (f"; the {result.lost_sensor} sensor's data end at {last:.1f} s" if last is not None else
                     f"; the {result.lost_sensor} sensor sent no data")
        raise UsageError(f"session ended early: {result.end_reason}; the recording {args.out} is complete "
                          f"up to {result.duration_s:.1f} s{lost_part}")
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
    pr.add_argument("--demo", action="store_true",
                    help="no sensors needed: two simulated sensors stream a leg-raise session in real time through "
                         f"the real BLE stack (default --duration {DEMO_DEFAULT_DURATION_S:g} s)")
    pr.add_argument("--demo-disconnects", type=int, default=0, metavar="N",
                    help="with --demo: exactly N link drops of either sensor (0.5-3 s each), reconnected as real "
                         f"ones; at most what fits (a sensor's drops {DROP_SEPARATION_S:g} s apart): "
                         f"{max_link_drops(20.0)} in 20 s")
    pr.add_argument("--demo-seed", type=int, default=1, metavar="SEED",
                    help="with --demo: which simulated session (the person and the straps are the seed's, whatever "
                         "--duration)")
    add_analysis_options(pr)
    add_view_options(pr)
    pr.set_defaults(func=_cmd_record)
