"""End to end: two fake sensors stream a simulated leg-raise session into a format v1 recording.

The motion comes from ``imu_pipeline.simulate.simulate_session`` (both sensors' specific force
and angular rate); fake WitMotion / Movesense / generic devices stream it through the real
``bleak.BleakClient``/``BleakScanner`` with BLE-like latency, wrong rates and clock drift,
injected packet losses, malformed packets and disconnects. The recording must hold every
delivered sample (nothing but the injected losses missing), each within 5 ms of its true
time and equal to the simulated value within the device's quantisation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ble_fakes import DEG, FakeDevice, FakeGenericNano33, FakeMovesense, FakeWitMotion, FakeWorld, G, Motion

from imu_pipeline.ble.devices import make_profile
from imu_pipeline.ble.reader import ReconnectPolicy
from imu_pipeline.ble.recorder import Recorder, SessionResult
from imu_pipeline.cli import build_parser
from imu_pipeline.cli.record import record_async
from imu_pipeline.cli.scan import scan_async
from imu_pipeline.config import SensorSpec
from imu_pipeline.errors import ImuPipelineError, UsageError
from imu_pipeline.io.recording import read_recording
from imu_pipeline.io.writer import RecordingWriter
from imu_pipeline.simulate import SimulationOptions, simulate_session

THIGH, PELVIS = "D0:00:00:00:00:01", "D0:00:00:00:00:02"
MOUNT = {"thigh": {"x": "superior", "y": "anterior"}, "pelvis": {"x": "right", "y": "superior"}}
NANO33 = str(Path(__file__).resolve().parents[1] / "configs" / "generic-arduino-nano33.toml")


def simulated_motion(thigh_hz: float, pelvis_hz: float, seed: int) -> dict[str, Motion]:
    sim = simulate_session(SimulationOptions(seed=seed, pose="lying", n_reps=3, thigh_rate_hz=thigh_hz,
                                             pelvis_rate_hz=pelvis_hz, packet_loss=0.0))
    return {s: Motion(sim.recording.sensors[s].acc, sim.recording.sensors[s].gyr) for s in ("thigh", "pelvis")}


class RecordingLive:
    """A live-feedback object with the recorder's interface; emits an item every 200 pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, int] = {"thigh": 0, "pelvis": 0}
        self.calls = 0
        self.last_t: dict[str, float] = {}

    def push(self, sensor: str, time_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Any]:
        assert acc.shape == (len(time_s), 3) and gyr.shape == (len(time_s), 3)
        assert time_s[0] > self.last_t.get(sensor, -1.0)
        self.last_t[sensor] = float(time_s[-1])
        self.pushed[sensor] += len(time_s)
        self.calls += 1
        return [f"rep {self.calls // 200}: fine"] if self.calls % 200 == 0 else []

    def finish(self) -> list[Any]:
        return [f"live summary: {self.pushed['thigh']} thigh samples"]


def check_sensor(rec_t: np.ndarray, rec_acc: np.ndarray, rec_gyr: np.ndarray, dev: FakeDevice, t0: float,
                 acc_tol: float, gyr_tol: float) -> None:
    """Every delivered sample is in the recording, on time and with its value."""
    truth_t, _, _ = dev.truth.arrays(t0)
    k = np.asarray(dev.truth.k)
    assert len(rec_t) == len(truth_t), f"{type(dev).__name__}: {len(rec_t)} rows, {len(truth_t)} delivered"
    assert np.all(np.diff(rec_t) > 0)
    err = np.abs(rec_t - truth_t)
    assert err.max() < 0.005, f"{type(dev).__name__}: timing error up to {1000 * err.max():.1f} ms"
    np.testing.assert_allclose(rec_acc, dev.motion.acc[k], rtol=0, atol=acc_tol)
    np.testing.assert_allclose(rec_gyr, dev.motion.gyr[k], rtol=0, atol=gyr_tol)


async def _record(world: FakeWorld, specs: list[SensorSpec], out: Path, duration: float,
                  live: RecordingLive | None, lines: list[str], **kwargs: Any) -> tuple[SessionResult, float]:
    stop = kwargs.pop("stop", None)
    profiles = {s.role: make_profile(s.profile, s.sample_rate_hz, s.options) for s in specs}
    writer = RecordingWriter(out, meta={"exercise": "lying-leg-raise"})
    rec = Recorder(specs, profiles, writer, live=live, backend=world.client_backend(),
                   scanner_backend=world.scanner_backend(), clock=world.clock, out=lines.append,
                   status_out=lines.append, **kwargs)
    async with world.running():
        result = await rec.run(duration, stop)
    return result, rec.session_start


def test_witmotion_and_movesense_session(tmp_path: Path) -> None:
    motion = simulated_motion(100.0, 52.0, seed=11)
    world = FakeWorld(seed=5)
    thigh = world.add(FakeWitMotion(THIGH, "WT901BLE68", motion["thigh"], rate_hz=10.0, rate_error=0.002, seed=1))
    pelvis = world.add(FakeMovesense(PELVIS, "Movesense 220330000123", motion["pelvis"], clock_drift_ppm=-45,
                                     timestamp_offset_ms=2**32 - 6000, lost_packets=frozenset({30, 31, 95}),
                                     malformed_every=25, seed=2))
    thigh.schedule_drop(world.clock.now() + 7.0, down_s=1.5)
    specs = [SensorSpec("thigh", address=THIGH, profile="witmotion", sample_rate_hz=100, mounting=MOUNT["thigh"]),
             SensorSpec("pelvis", address=PELVIS, profile="movesense", sample_rate_hz=52, mounting=MOUNT["pelvis"])]
    live, lines = RecordingLive(), []
    out = tmp_path / "session.csv"
    result, t0 = asyncio.run(_record(world, specs, out, 16.0, live, lines,
                                     policy=ReconnectPolicy(initial_delay_s=0.25)))

    rec = read_recording(out)
    for role, dev, acc_lsb, gyr_lsb in (("thigh", thigh, 16 * G / 32768, 2000 * DEG / 32768),
                                        ("pelvis", pelvis, None, None)):
        s = rec.sensors[role]
        if acc_lsb is not None:  # int16 device: half an LSB, plus the CSV's 5/6 decimals
            check_sensor(s.time_s, s.acc, s.gyr, dev, t0, acc_lsb / 2 + 1e-5, gyr_lsb / 2 + 1e-6)
        else:  # float32 device
            check_sensor(s.time_s, s.acc, s.gyr, dev, t0, 1e-4, 1e-5)
    assert pelvis.injected_lost_samples == 12
    assert result.sensors["pelvis"].lost_samples == 12 and not result.sensors["pelvis"].loss_is_estimate
    assert result.sensors["pelvis"].decode_errors == pelvis.malformed_sent > 0
    assert result.sensors["thigh"].disconnects == 1 and result.end_reason == "duration"
    assert 16.0 <= result.duration_s < 17.5

    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["exercise"] == "lying-leg-raise" and meta["started_at"].endswith("Z")
    assert meta["sensors"]["thigh"]["mounting"] == MOUNT["thigh"]
    assert meta["sensors"]["thigh"]["model"].startswith("WitMotion") and meta["sensors"]["thigh"]["address"] == THIGH
    assert meta["sensors"]["pelvis"]["sample_rate_hz"] == 52.0
    kinds = [(e["sensor"], e["kind"]) for e in meta["events"]]
    assert ("thigh", "disconnected") in kinds and ("thigh", "reconnected") in kinds
    assert meta["ble_summary"]["pelvis"]["lost_samples"] == 12

    assert live.pushed["thigh"] == len(rec.sensors["thigh"]) and live.pushed["pelvis"] == len(rec.sensors["pelvis"])
    assert any(line.startswith("rep ") for line in lines)
    assert any("live summary" in line for line in lines)
    status = [line for line in lines if " Hz loss " in line]
    assert len(status) >= 14 and "thigh" in status[-1] and "bat" in status[-1]
    assert any(line.strip().startswith("pelvis") and "12 lost" in line for line in lines)  # summary


def test_generic_counter_device_and_movesense_disconnect(tmp_path: Path) -> None:
    motion = simulated_motion(119.0, 104.0, seed=12)
    world = FakeWorld(seed=6)
    thigh = world.add(FakeGenericNano33(THIGH, "Nano33IMU-L", motion["thigh"], rate_error=-0.003,
                                        lost_packets=frozenset({100, 400, 401, 402}), seed=3))
    pelvis = world.add(FakeMovesense(PELVIS, "Movesense 1", motion["pelvis"], seed=4))
    pelvis.schedule_drop(world.clock.now() + 6.0, down_s=2.0)
    specs = [SensorSpec("thigh", address=THIGH, profile="generic", options={"file": NANO33}),
             SensorSpec("pelvis", address=PELVIS, profile="movesense", sample_rate_hz=104)]
    lines: list[str] = []
    out = tmp_path / "generic.csv"
    result, t0 = asyncio.run(_record(world, specs, out, 14.0, None, lines,
                                     policy=ReconnectPolicy(initial_delay_s=0.25)))
    rec = read_recording(out)
    check_sensor(rec.sensors["thigh"].time_s, rec.sensors["thigh"].acc, rec.sensors["thigh"].gyr, thigh, t0,
                 0.122e-3 * G / 2 + 1e-5, 70e-3 * DEG / 2 + 1e-6)
    check_sensor(rec.sensors["pelvis"].time_s, rec.sensors["pelvis"].acc, rec.sensors["pelvis"].gyr, pelvis, t0,
                 1e-4, 1e-5)
    assert result.sensors["thigh"].lost_samples == thigh.injected_lost_samples == 4
    assert result.sensors["pelvis"].disconnects == 1 and result.sensors["pelvis"].lost_samples == 0
    gaps = np.diff(rec.sensors["pelvis"].time_s)
    assert gaps.max() > 1.5  # the disconnect is a gap, never filled in


def test_sensor_lost_ends_session_cleanly_and_stop_event(tmp_path: Path) -> None:
    motion = simulated_motion(100.0, 52.0, seed=13)
    world = FakeWorld(seed=7)
    thigh = world.add(FakeWitMotion(THIGH, "WT901", motion["thigh"], rate_hz=100.0, seed=1))
    pelvis = world.add(FakeMovesense(PELVIS, "Movesense 2", motion["pelvis"], seed=2))
    pelvis.schedule_drop(world.clock.now() + 4.0, down_s=1e6)
    specs = [SensorSpec("thigh", address=THIGH, profile="witmotion"),
             SensorSpec("pelvis", address=PELVIS, profile="movesense")]
    lines: list[str] = []
    out = tmp_path / "lost.csv"
    result, t0 = asyncio.run(_record(world, specs, out, None, None, lines,
                                     policy=ReconnectPolicy(initial_delay_s=0.5, give_up_after_s=5.0)))
    assert result.lost_sensor == "pelvis" and "did not come back within 5 s" in result.end_reason
    assert 8.5 < result.duration_s < 11.0
    rec = read_recording(out)
    assert len(rec.sensors["thigh"]) == len(thigh.truth.t) and len(rec.sensors["pelvis"]) == len(pelvis.truth.t)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert [e["kind"] for e in meta["events"] if e["sensor"] == "pelvis"][-2:] == ["disconnected", "gave_up"]
    assert not thigh.streaming and thigh.client is None  # streams stopped, links closed

    # Ctrl-C path: the stop event ends the session; everything received is in the file
    world2 = FakeWorld(seed=8)
    t2 = world2.add(FakeWitMotion(THIGH, "WT901", motion["thigh"], rate_hz=100.0, seed=1))
    p2 = world2.add(FakeMovesense(PELVIS, "Movesense 2", motion["pelvis"], seed=2))
    stop = asyncio.Event()
    world2.schedule(world2.clock.now() + 3.3, stop.set)
    result2, _ = asyncio.run(_record(world2, specs, tmp_path / "stopped.csv", 60.0, None, [], stop=stop))
    assert result2.end_reason == "stopped" and 3.2 <= result2.duration_s < 4.5
    rec2 = read_recording(tmp_path / "stopped.csv")
    assert len(rec2.sensors["thigh"]) == len(t2.truth.t) > 250
    assert len(rec2.sensors["pelvis"]) == len(p2.truth.t) > 100
    assert p2.writes[-1] == bytes([2, 99])  # unsubscribed before disconnecting


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_record_and_scan_commands_over_fake_backends(tmp_path: Path) -> None:
    cfg = tmp_path / "sensors.toml"
    cfg.write_text(f"""
[[sensor]]
role = "thigh"
address = "{THIGH}"
profile = "witmotion"
sample_rate_hz = 50
mounting = {{ x = "superior", y = "anterior" }}

[[sensor]]
role = "pelvis"
name = "Nano33IMU-P"
profile = "generic"
options = {{ file = "{NANO33}" }}
""")
    auto = tmp_path / "auto.toml"  # no profiles: recognised from the advertisements
    auto.write_text(f"""
[[sensor]]
role = "thigh"
address = "{THIGH}"

[[sensor]]
role = "pelvis"
name = "Movesense 3"
""")
    motion = {"thigh": Motion(np.tile([0.0, 0.0, G], (5000, 1)), np.zeros((5000, 3))),
              "pelvis": Motion(np.tile([0.0, G, 0.0], (5000, 1)), np.zeros((5000, 3)))}
    world = FakeWorld(seed=9)
    world.add(FakeWitMotion(THIGH, "WT901", motion["thigh"], rate_hz=10.0, seed=1))
    world.add(FakeGenericNano33(PELVIS, "Nano33IMU-P", motion["pelvis"], seed=2))
    world.add(FakeMovesense("D0:00:00:00:00:03", "Movesense 3", motion["pelvis"], seed=3))
    out = tmp_path / "cli.csv"
    lines: list[str] = []

    async def main() -> SessionResult:
        async with world.running():
            code = await scan_async(_args("scan", "--timeout", "1"), scanner_backend=world.scanner_backend(),
                                    clock=world.clock, out=lines.append)
            assert code == 0
            return await record_async(_args("record", str(out), "--sensors", str(cfg), "--duration", "5"),
                                      backend=world.client_backend(), scanner_backend=world.scanner_backend(),
                                      clock=world.clock, out=lines.append, live_factory=lambda specs: None)

    async def auto_main() -> SessionResult:
        async with world.running():
            return await record_async(_args("record", str(tmp_path / "auto.csv"), "--sensors", str(auto),
                                            "--duration", "2"),
                                      backend=world.client_backend(), scanner_backend=world.scanner_backend(),
                                      clock=world.clock, out=lines.append, live_factory=lambda specs: None)

    result = asyncio.run(main())
    assert any("WT901" in line and "witmotion" in line for line in lines)
    asyncio.run(auto_main())
    auto_meta = json.loads((tmp_path / "auto.json").read_text())
    assert auto_meta["sensors"]["thigh"]["profile"] == "witmotion"
    assert auto_meta["sensors"]["pelvis"]["profile"] == "movesense"

    world.add(FakeGenericNano33("D0:00:00:00:00:04", "Mystery", motion["pelvis"], seed=4))

    async def unknown_main() -> None:
        async with world.running():
            await record_async(_args("record", str(tmp_path / "unknown.csv"), "--thigh", THIGH, "--pelvis",
                                     "D0:00:00:00:00:04"), backend=world.client_backend(),
                               scanner_backend=world.scanner_backend(), clock=world.clock, out=lines.append,
                               live_factory=lambda specs: None)

    with pytest.raises(UsageError, match="'Mystery' does not look like a supported sensor"):
        asyncio.run(unknown_main())
    rec = read_recording(out)
    assert 240 <= len(rec.sensors["thigh"]) <= 260 and 560 <= len(rec.sensors["pelvis"]) <= 610
    assert result.end_reason == "duration"
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sensors"]["pelvis"]["profile"] == "arduino-nano33" and meta["sensors"]["pelvis"]["mounting"] is None

    with pytest.raises(UsageError, match="already exists"):
        asyncio.run(record_async(_args("record", str(out), "--sensors", str(cfg)), live_factory=lambda s: None))
    with pytest.raises(UsageError, match="--thigh ADDR"):
        asyncio.run(record_async(_args("record", str(tmp_path / "x.csv"))))
    with pytest.raises(UsageError, match="thigh sensor: unknown profile .thingy52."):
        asyncio.run(record_async(_args("record", str(tmp_path / "x.csv"), "--thigh", "A", "--pelvis", "B",
                                       "--profile", "thingy52")))


def test_record_command_reports_bluetooth_off(tmp_path: Path) -> None:
    world = FakeWorld()
    world.adapter = "off"

    async def main() -> None:
        async with world.running():
            await record_async(_args("record", str(tmp_path / "off.csv"), "--thigh", THIGH, "--pelvis", PELVIS,
                                     "--profile", "witmotion"), backend=world.client_backend(),
                               scanner_backend=world.scanner_backend(), clock=world.clock, out=lambda s: None,
                               live_factory=lambda s: None)

    with pytest.raises(UsageError, match="Bluetooth is off"):
        asyncio.run(main())
    assert not (tmp_path / "off.csv").exists() and not (tmp_path / "off.json").exists()


def test_record_feeds_the_real_live_pipeline(tmp_path: Path) -> None:
    """``record`` builds imu_pipeline.pipeline.live.LivePipeline from the sensor config and prints its reps."""
    from imu_pipeline.cli.record import default_live

    sim = simulate_session(SimulationOptions(seed=21, pose="lying", n_reps=3, thigh_rate_hz=100.0,
                                             pelvis_rate_hz=104.0, packet_loss=0.0))
    mounting = {s: sim.recording.sensor_meta(s).get("mounting") for s in ("thigh", "pelvis")}
    assert all(mounting.values())
    cfg = tmp_path / "sensors.toml"
    cfg.write_text("".join(f"""
[[sensor]]
role = "{role}"
address = "{addr}"
profile = "{prof}"
sample_rate_hz = {rate}
mounting = {{ x = "{mounting[role]['x']}", y = "{mounting[role]['y']}" }}
""" for role, addr, prof, rate in (("thigh", THIGH, "witmotion", 100), ("pelvis", PELVIS, "movesense", 104))))
    world = FakeWorld(seed=10)
    for role, addr, cls in (("thigh", THIGH, FakeWitMotion), ("pelvis", PELVIS, FakeMovesense)):
        s = sim.recording.sensors[role]
        world.add(cls(addr, f"{role}-dev", Motion(s.acc, s.gyr), rate_hz=10.0, seed=3))
    made: list[Any] = []

    def factory(specs: list[SensorSpec]) -> Any:
        live = default_live(specs)
        made.append(live)
        return live

    lines: list[str] = []

    async def main() -> SessionResult:
        async with world.running():
            return await record_async(_args("record", str(tmp_path / "live.csv"), "--sensors", str(cfg),
                                            "--duration", f"{sim.duration_s - 1:.1f}"),
                                      backend=world.client_backend(), scanner_backend=world.scanner_backend(),
                                      clock=world.clock, out=lines.append, status_out=lambda s: None,
                                      live_factory=factory)

    asyncio.run(main())
    live = made[0]
    assert type(live).__name__ == "LivePipeline"
    assert not any("live feedback failed" in line for line in lines)
    rep_lines = [line for line in lines if line in {str(r) for r in live.reps}]
    assert len(rep_lines) == len(live.reps)
    # the reps of the simulated session came out live, labelled like the truth
    assert [r.label for r in live.reps] == [t["label"] for t in sim.truth_reps]


def test_session_analysis_is_printed_after_recording(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from imu_pipeline.cli.record import _print_session_analysis
    from imu_pipeline.simulate import write_simulation

    sim = simulate_session(SimulationOptions(seed=3, n_reps=2))
    p = write_simulation(sim, tmp_path / "done.csv", overwrite=True)["csv"]
    lines: list[str] = []
    _print_session_analysis(SimpleNamespace(out=str(p)), lines.append)
    assert any(line.startswith("verdict:") for line in lines)
    assert sum(line.strip().startswith("rep ") for line in lines) == 2
    lines.clear()
    (tmp_path / "short.csv").write_text("time_s,sensor,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n")
    _print_session_analysis(SimpleNamespace(out=str(tmp_path / "short.csv")), lines.append)
    assert lines and lines[0].startswith("no session analysis:")


@pytest.mark.parametrize("extra, msg", [
    ([], "already exists"),
    (["--rate", "-5"], "--rate must be positive"),
    (["--duration", "-1"], "--duration must be positive"),
])
def test_record_checks_its_arguments_before_touching_bluetooth(tmp_path: Path, extra, msg) -> None:
    """No Bluetooth backend is given (the real one would fail here): the argument errors come first."""
    existing = tmp_path / "taken.csv"
    existing.write_text("x\n")
    out = str(existing) if not extra else str(tmp_path / "new.csv")
    with pytest.raises(UsageError, match=msg):
        asyncio.run(record_async(_args("record", out, "--thigh", THIGH, "--pelvis", PELVIS, *extra)))
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[labels\n")
    with pytest.raises(ImuPipelineError, match="bad.toml"):
        asyncio.run(record_async(_args("record", str(tmp_path / "n.csv"), "--thigh", THIGH, "--pelvis", PELVIS,
                                       "--config", str(bad_cfg))))


def test_record_output_names_a_folder_or_upper_case_csv(tmp_path: Path) -> None:
    """Issue 15: `record dir.csv` with dir.csv an existing folder said 'already exists ... pass
    --force' (and with --force 'is a folder' with no advice); the folder is named first, with what is
    expected. A name ending in .CSV is a recording name, as analyze and every reader take it."""
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    for extra in ([], ["--force"]):
        with pytest.raises(UsageError) as err:
            asyncio.run(record_async(_args("record", str(folder), "--thigh", THIGH, "--pelvis", PELVIS, *extra)))
        assert str(err.value) == f"{folder} is a folder; the recording needs the name of a new .csv file " \
                                 f"(e.g. {folder / 'session.csv'})", err.value
    (tmp_path / "side.json").mkdir()  # the sidecar's name taken by a folder
    with pytest.raises(UsageError, match=r"side\.json is a folder, where the recording's sidecar would go"):
        asyncio.run(record_async(_args("record", str(tmp_path / "side.csv"), "--thigh", THIGH, "--pelvis", PELVIS)))
    with pytest.raises(UsageError, match=r"the recording name must end in \.csv \(e\.g\. session\.csv\)"):
        asyncio.run(record_async(_args("record", str(tmp_path / "x.txt"), "--thigh", THIGH, "--pelvis", PELVIS)))

    upper = tmp_path / "UPPER.CSV"
    from test_ble_demo import FastClock

    result = asyncio.run(record_async(_args("record", str(upper), "--demo", "--duration", "4"), clock=FastClock(4.0),
                                      out=lambda s: None, status_out=lambda s: None))
    assert result.end_reason == "duration"
    rec = read_recording(upper, warn=False)
    assert len(rec.sensors["thigh"]) > 200 and rec.meta["demo"]["simulated"] is True  # the sidecar UPPER.json beside it
    assert (tmp_path / "UPPER.json").is_file()


@pytest.mark.parametrize("exercise, pose, said", [
    ("hanging-leg-raise", "lying", "--exercise hanging-leg-raise is a hanging exercise but --pose lying was given"),
    ("lying-leg-raise", "hanging", "--exercise lying-leg-raise is a lying exercise but --pose hanging was given"),
])
def test_record_refuses_an_exercise_and_a_pose_that_disagree(tmp_path: Path, exercise: str, pose: str,
                                                            said: str) -> None:
    """Issue 15: `--exercise hanging-leg-raise --pose lying` was accepted silently (the sidecar then
    said one pose and the analysis used the other). Refused before Bluetooth, with or without --demo;
    agreeing ones, or an exercise whose name gives no pose, are fine."""
    from imu_pipeline.cli.options import check_pose_and_exercise

    for extra in (["--thigh", THIGH, "--pelvis", PELVIS], ["--demo"]):
        with pytest.raises(UsageError, match=f"^{said}; give only one of them, or make them agree"):
            asyncio.run(record_async(_args("record", str(tmp_path / "x.csv"), "--exercise", exercise, "--pose", pose,
                                           *extra)))
    assert not (tmp_path / "x.csv").exists()
    check_pose_and_exercise(pose, f"{pose}-leg-raise")
    check_pose_and_exercise(pose, "knee raise")
    check_pose_and_exercise(None, exercise)
