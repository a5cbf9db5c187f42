"""``imu-pipeline import`` (imu_pipeline/io/vendor.py, imu_pipeline/cli/import_.py): each vendor
layout written from a simulated session with ground truth, imported, analysed, and the reps and
labels compared with the truth; the fixtures in tests/data/import/ read with their units; and the
messages for what cannot be imported."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import imu_pipeline
from imu_pipeline.cli import main
from imu_pipeline.io.recording import SensorSamples, read_recording
from imu_pipeline.io.vendor import (
    DEG,
    STANDARD_GRAVITY,
    VendorFileError,
    detect_format,
    merge_acc_gyr,
    read_sensor,
    unwrap_counter,
)
from imu_pipeline.simulate import SimResult, SimulationOptions, simulate_session

DATA = Path(__file__).resolve().parent / "data" / "import"
U32 = 2**32


# --------------------------------------------------------------------------- helpers


def _sim(seed: int, rate: float, n_reps: int = 4, **kw) -> SimResult:
    return simulate_session(SimulationOptions(seed=seed, n_reps=n_reps, thigh_rate_hz=rate, pelvis_rate_hz=rate, **kw))


def _mount(sim: SimResult, role: str) -> str:
    m = sim.recording.meta["sensors"][role]["mounting"]
    return f"x={m['x']},y={m['y']}"


def _import(out: Path, thigh: list[str], pelvis: list[str], sim: SimResult, capsys, *extra: str) -> str:
    rc = main(["import", str(out), "--thigh", *thigh, "--pelvis", *pelvis, "--thigh-mounting", _mount(sim, "thigh"),
               "--pelvis-mounting", _mount(sim, "pelvis"), "--exercise", sim.recording.meta["exercise"], *extra])
    said = capsys.readouterr()
    assert rc == 0, said.err
    return said.err


def _check_reps(out: Path, sim: SimResult) -> list[tuple[str, str]]:
    """Analyse the imported recording; every rep found where the truth has one, same label and
    momentum verdict. Returns (found, truth) labels for the report."""
    res = imu_pipeline.analyze(out)
    truth = [r for r in sim.truth_reps if r["observable"]]
    found = res.reps
    assert len(found) == len(truth), (found[["peak_s", "label"]], truth)
    for (_, r), t in zip(found.iterrows(), truth):
        assert abs(r["peak_s"] - t["peak_s"]) < 0.5, (r["peak_s"], t["peak_s"])
        if t["label_observable"]:
            assert r["label"] == t["label"], (r["label"], t)
        assert bool(r["momentum"]) == t["momentum"], (r, t)
    return [(str(r["label"]), t["label"]) for (_, r), t in zip(found.iterrows(), truth)]


# --------------------------------------------------------------------------- writers, as the apps write


def write_dot(path: Path, ss: SensorSamples, *, stf0: int, tag: int, app: bool = True, synced: bool = True,
              rate: int = 60, start: str = "2025-07-11_20:06:00_086 WEST") -> None:
    """The DOT app's export (``Key:,value`` lines, rows ending in a comma) or, with ``app=False``,
    the DOT SDK logger's (key lines padded with commas, ``", "`` between values)."""
    pad = "" if app else ",,,,,,,,,,,,,,,,,"
    lines = ["sep=,"]
    for k, v in (("DeviceTag", str(tag)), ("FirmwareVersion", "2.6.0"), ("AppVersion", "2023.6.0"),
                 ("SyncStatus", "Synced" if synced else "Un-synced"), ("OutputRate", f"{rate}Hz"),
                 ("FilterProfile", "General"), ("Measurement Mode", "Custom Mode 5")):
        lines.append(f"{k}:,{v}{pad}")
    lines.append(f"StartTime: ,{start}{pad}" if app else f"StartTime:,{start}{pad}")
    lines.append("© Movella Technologies B. V. 2005-2025" + pad)
    lines.append("")
    lines.append("PacketCounter,SampleTimeFine,Quat_W,Quat_X,Quat_Y,Quat_Z,Acc_X,Acc_Y,Acc_Z,Gyr_X,Gyr_Y,Gyr_Z")
    stf = (stf0 + np.round(ss.time_s * 1e6).astype(np.int64)) % U32
    gyr = np.degrees(ss.gyr)
    sep = "," if app else ", "
    for i in range(len(ss)):
        vals = [str(i + 1), str(stf[i]), "1.000000", "0.000000", "0.000000", "0.000000"]
        vals += [f"{x:.6f}" for x in ss.acc[i]] + [f"{x:.6f}" for x in gyr[i]]
        lines.append(sep.join(vals) + ("," if app else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


EPOCH0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=timezone.utc).timestamp()


def write_metabase(path: Path, t: np.ndarray, v: np.ndarray, kind: str) -> None:
    """One MetaBase CSV: epoch (ms), local time, elapsed (s), x/y/z; acc in g, gyro in deg/s,
    three decimals (MbientLab's CsvDataHandler)."""
    head = "x-axis (g),y-axis (g),z-axis (g)" if kind == "acc" else "x-axis (deg/s),y-axis (deg/s),z-axis (deg/s)"
    vals = v / STANDARD_GRAVITY if kind == "acc" else np.degrees(v)
    epoch = np.round((EPOCH0 + t) * 1000).astype(np.int64)
    rows = [f"epoch (ms),time (01:00),elapsed (s),{head}"]
    for i in range(len(t)):
        local = datetime.fromtimestamp(epoch[i] / 1000, tz=timezone(timedelta(hours=1)))
        stamp = local.strftime("%Y-%m-%dT%H.%M.%S.") + f"{epoch[i] % 1000:03d}"
        rows.append(f"{epoch[i]},{stamp},{(epoch[i] - epoch[0]) / 1000:.3f},"
                    f"{vals[i, 0]:.3f},{vals[i, 1]:.3f},{vals[i, 2]:.3f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_mt_manager(path: Path, ss: SensorSamples, *, stf0: int, acc_scale: float, gyr_scale: float) -> None:
    """MT Manager 'Export to ASCII': // comment lines, tab separated, SampleTimeFine in 10 kHz ticks."""
    lines = ["// Start Time: 2025-03-01 10:00:00.000", "// Update Rate: 100.0Hz", "// Filter Profile: human (46.1)",
             "// Option Flags: AHS Disabled, ICC Disabled", "// Firmware Version: 4.6.0", "// Device ID: 00B41234",
             "PacketCounter\tSampleTimeFine\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z"]
    stf = (stf0 + np.round(ss.time_s * 1e4).astype(np.int64)) % U32
    acc, gyr = ss.acc * acc_scale, ss.gyr * gyr_scale
    for i in range(len(ss)):
        lines.append("\t".join([str(i % 65536), str(stf[i])] + [f"{x:.6f}" for x in acc[i]]
                               + [f"{x:.6f}" for x in gyr[i]]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _java_sci(v: float) -> str:
    """phyphox's DecimalFormat("0.000000000E0"): '1.234567890E-1', '-9.806650000E0'."""
    mant, exp = f"{v:.9E}".split("E")
    return f"{mant}E{int(exp)}"


def write_phyphox(path: Path, sets: list[tuple[np.ndarray, np.ndarray, str]], sep: str = ",") -> None:
    """One phyphox export set: quoted header, every column its own length, shorter ones padded with NaN."""
    cols: list[tuple[str, np.ndarray]] = []
    for t, v, kind in sets:
        cols.append(("Time (s)", t))
        if kind == "acc":
            names = [f"Acceleration {a} (m/s^2)" for a in "xyz"] + ["Absolute acceleration (m/s^2)"]
        else:
            names = [f"Gyroscope {a} (rad/s)" for a in "xyz"] + ["Absolute (rad/s)"]
        for j, n in enumerate(names):
            cols.append((n, v[:, j] if j < 3 else np.linalg.norm(v, axis=1)))
    rows = [sep.join(f'"{n}"' for n, _ in cols)]
    n = max(len(c) for _, c in cols)
    for i in range(n):
        rows.append(sep.join(_java_sci(c[i]) if i < len(c) else "NaN" for _, c in cols))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


WIT_HEAD = ["Time", "Device name", "Chip Time()", "Acceleration X(g)", "Acceleration Y(g)", "Acceleration Z(g)",
            "Angular velocity X(°/s)", "Angular velocity Y(°/s)", "Angular velocity Z(°/s)", "Angle X(°)",
            "Angle Y(°)", "Angle Z(°)", "Magnetic field X(ʯt)", "Magnetic field Y(ʯt)", "Magnetic field Z(ʯt)",
            "Temperature(℃)"]


def write_witmotion(path: Path, devices: dict[str, SensorSamples], *, received: dict[str, np.ndarray] | None = None,
                    chip: str = "sample", encoding: str = "utf-8") -> None:
    """The WitMotion PC software's record: tab separated, one row per sample per device (in the
    order the rows were received). ``received`` (s, per device): when the PC got each sample (BLE
    notifications arrive in bursts; default: at its sample time) — the ``Time`` column; ``chip``:
    ``Chip Time()`` is the sample time (``"sample"``) or the receive time too (``"received"``)."""
    base = datetime(2025, 3, 1, 10, 0, 0)
    rows = []

    def stamp(x: float, fmt: str) -> str:
        at = base + timedelta(seconds=float(x))
        return at.strftime(fmt) + f"{at.microsecond // 1000:03d}"
    for name, ss in devices.items():
        rx = received[name] if received else ss.time_s
        for i in range(len(ss)):
            a, g = ss.acc[i] / STANDARD_GRAVITY, np.degrees(ss.gyr[i])
            rows.append((rx[i], "\t".join([stamp(rx[i], "%H:%M:%S."), name,
                                            stamp(rx[i] if chip == "received" else ss.time_s[i], "%Y-%m-%d %H:%M:%S."),
                                            *(f"{x:.4f}" for x in a), *(f"{x:.3f}" for x in g),
                                            "0.000", "0.000", "0.000", "12", "-30", "41", "24.50"])))
    rows.sort(key=lambda r: r[0])
    path.write_bytes(("\t".join(WIT_HEAD) + "\n" + "\n".join(r for _, r in rows) + "\n").encode(encoding,
                                                                                             errors="replace"))


def write_v1_named(path: Path, named: dict[str, SensorSamples], meta: dict) -> None:
    """A format v1 file whose sensors have other names (another tool's, or a three-sensor session)."""
    rows = []
    for name, ss in named.items():
        for i in range(len(ss)):
            a, g = ss.acc[i], ss.gyr[i]
            rows.append((ss.time_s[i], f"{ss.time_s[i]:.6f},{name},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f},"
                                       f"{g[0]:.6f},{g[1]:.6f},{g[2]:.6f}"))
    rows.sort(key=lambda r: r[0])
    path.write_text("time_s,sensor,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n" + "\n".join(r for _, r in rows) + "\n")
    path.with_suffix(".json").write_text(json.dumps(meta))


def _split_instants(ss: SensorSamples) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A sensor simulated at 2x the rate -> accelerometer on the even samples, gyroscope on the
    odd ones: two streams at the rate, half a period apart (as two separately clocked chips)."""
    return ss.time_s[0::2], ss.acc[0::2], ss.time_s[1::2], ss.gyr[1::2]


# --------------------------------------------------------------------------- one test per format


def test_movella_dot_pair_at_60_hz_with_the_counter_wrapping(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    stf0 = U32 - 10_000_000  # the µs counter wraps 10 s into the session
    write_dot(tmp_path / "thigh_dot.csv", th, stf0=stf0, tag=1, app=True)
    write_dot(tmp_path / "pelvis_dot.csv", pe, stf0=stf0, tag=2, app=False)
    assert detect_format(tmp_path / "thigh_dot.csv") == detect_format(tmp_path / "pelvis_dot.csv") == "movella-dot"
    out = tmp_path / "sess.csv"
    err = _import(out, [str(tmp_path / "thigh_dot.csv")], [str(tmp_path / "pelvis_dot.csv")], sim, capsys)
    assert "SampleTimeFine wrapped around 1 time(s)" in err
    rec = read_recording(out)
    # one clock, no jump at the wrap: the imported times are the simulated ones, shifted by the session start
    for role, ss in (("thigh", th), ("pelvis", pe)):
        t = rec.sensors[role].time_s
        assert len(t) == len(ss)
        shift = min(th.time_s[0], pe.time_s[0])
        assert np.max(np.abs(t - (ss.time_s - shift))) < 2e-6
        assert np.allclose(rec.sensors[role].gyr, ss.gyr, atol=2e-5)  # deg/s -> rad/s
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sensors"]["thigh"]["sample_rate_hz"] == 60.0
    assert meta["sensors"]["thigh"]["model"] == "Movella DOT (DeviceTag 1)"
    assert meta["imported_from"]["pelvis"]["files"] == [str(tmp_path / "pelvis_dot.csv")]
    assert meta["imported_from"]["thigh"]["header"]["SyncStatus"] == "Synced"
    assert meta["exercise"] == "lying-leg-raise"
    assert _check_reps(out, sim)


def test_movella_dot_unsynced_is_aligned_by_start_time_with_a_warning(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    # unsynced: unrelated counters; the phone's StartTime says the pelvis started 0.250 s after the thigh
    pe_late = SensorSamples(pe.time_s[pe.time_s >= 0.25] - 0.25, pe.acc[pe.time_s >= 0.25], pe.gyr[pe.time_s >= 0.25])
    ms_th, ms_pe = round(th.time_s[0] * 1000), round((pe_late.time_s[0] + 0.25) * 1000)  # the phone's clock
    write_dot(tmp_path / "a.csv", th, stf0=123_000_000, tag=1, synced=False,
              start=f"2025-07-11_20:06:00_{ms_th:03d} WEST")
    write_dot(tmp_path / "b.csv", pe_late, stf0=3_900_000_000, tag=2, synced=False,
              start=f"2025-07-11_20:06:00_{ms_pe:03d} WEST")
    out = tmp_path / "u.csv"
    err = _import(out, [str(tmp_path / "a.csv")], [str(tmp_path / "b.csv")], sim, capsys)
    assert "were not synchronised" in err and "aligned by the start times" in err
    rec = read_recording(out)
    shift = rec.sensors["pelvis"].time_s[0] - rec.sensors["thigh"].time_s[0]
    assert abs(shift - (pe_late.time_s[0] + 0.25 - th.time_s[0])) < 2e-3
    assert _check_reps(out, sim)


def test_metabase_100_hz_acc_and_gyro_on_different_instants_with_a_gap(tmp_path: Path, capsys) -> None:
    sim = _sim(5, 200)  # each stream 100 Hz, the gyroscope 5 ms after the accelerometer
    files: dict[str, list[str]] = {}
    rest = sim.truth_reps[0]["end_s"] + 0.15
    gap = (rest, rest + 0.5)  # in the rest after the first rep: every rep stays judged
    for role in ("thigh", "pelvis"):
        ta, acc, tg, gyr = _split_instants(sim.recording.sensors[role])
        if role == "thigh":  # a 0.5 s gap in the thigh's gyroscope stream only
            keep = (tg < gap[0]) | (tg >= gap[1])
            tg, gyr = tg[keep], gyr[keep]
        a, g = tmp_path / f"MetaWear_{role}_C5:3A:12:7F:00:0{len(files)}_Accelerometer.csv", \
            tmp_path / f"MetaWear_{role}_Gyroscope.csv"
        write_metabase(a, ta, acc, "acc")
        write_metabase(g, tg, gyr, "gyr")
        files[role] = [str(a), str(g)]
    assert detect_format(files["thigh"][0]) == "metabase"
    out = tmp_path / "mb.csv"
    err = _import(out, files["thigh"], files["pelvis"], sim, capsys)
    assert "sampled 5.0 ms apart" in err and "were dropped, not filled" in err
    rec = read_recording(out)
    t = rec.sensors["thigh"].time_s
    shift = min(sim.recording.sensors[r].time_s[0] for r in ("thigh", "pelvis"))
    inside = (t > gap[0] - shift + 0.011) & (t < gap[1] - shift - 0.011)
    assert not inside.any()  # the gyroscope's gap stays a gap
    assert np.max(np.diff(t)) > 0.45
    assert abs(np.median(np.diff(t)) - 0.01) < 1e-6  # the accelerometer's 100 Hz instants are the clock
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sensors"]["thigh"]["address"] == "C5:3A:12:7F:00:00"
    assert meta["started_at"].startswith("2025-03-01T10:00:00")
    assert _check_reps(out, sim)


def test_metabase_with_only_one_file_says_what_is_missing(tmp_path: Path, capsys) -> None:
    sim = _sim(5, 100, n_reps=1)
    ss = sim.recording.sensors["thigh"]
    write_metabase(tmp_path / "acc.csv", ss.time_s, ss.acc, "acc")
    write_metabase(tmp_path / "gyr.csv", ss.time_s, ss.gyr, "gyr")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(tmp_path / "acc.csv"), "--pelvis",
               str(tmp_path / "acc.csv"), str(tmp_path / "gyr.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "only the accelerometer was given for the thigh; add the gyroscope" in err
    assert "--thigh ACC.csv GYRO.csv" in err
    assert not (tmp_path / "o.csv").exists()


def test_v1_file_with_other_sensor_names(tmp_path: Path, capsys) -> None:
    sim = _sim(7, 100)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    other = SensorSamples(th.time_s.copy(), th.acc.copy(), th.gyr.copy())
    ms = sim.recording.meta["sensors"]
    write_v1_named(tmp_path / "three.csv", {"left_thigh": th, "sacrum": pe, "right_thigh": other},
                   {"sensors": {"left_thigh": {"model": "Movesense", "mounting": ms["thigh"]["mounting"]},
                                "sacrum": {"model": "Movesense", "mounting": ms["pelvis"]["mounting"]}}})
    rc = main(["analyze", str(tmp_path / "three.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown sensor" in err
    out = tmp_path / "two.csv"
    rc = main(["import", str(out), "--thigh", f"{tmp_path / 'three.csv'}:left_thigh",
               "--pelvis", f"{tmp_path / 'three.csv'}:sacrum", "--exercise", "lying-leg-raise"])
    assert rc == 0, capsys.readouterr().err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sensors"]["thigh"]["mounting"] == ms["thigh"]["mounting"]  # carried over from the sidecar
    assert meta["imported_from"]["pelvis"]["selection"] == "sacrum"
    rec = read_recording(out)
    assert np.allclose(rec.sensors["pelvis"].acc, pe.acc, atol=1e-5)
    assert _check_reps(out, sim)
    rc = main(["import", str(tmp_path / "x.csv"), "--thigh", str(tmp_path / "three.csv"),
               "--pelvis", f"{tmp_path / 'three.csv'}:sacrum"])
    err = capsys.readouterr().err
    assert rc == 2 and "no sensor named 'thigh'" in err and "left_thigh" in err and ":left_thigh" in err


def test_mt_manager_units_inferred_with_warnings(tmp_path: Path, capsys) -> None:
    sim = _sim(11, 100)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    stf0 = U32 - 50_000  # 10 kHz ticks: wraps 5 s in
    write_mt_manager(tmp_path / "MT_00B41234_000-000.txt", th, stf0=stf0, acc_scale=1.0, gyr_scale=1 / DEG)
    write_mt_manager(tmp_path / "MT_00B41235_000-000.txt", pe, stf0=stf0, acc_scale=1 / STANDARD_GRAVITY,
                     gyr_scale=1.0)
    assert detect_format(tmp_path / "MT_00B41234_000-000.txt") == "mt-manager"
    out = tmp_path / "mt.csv"
    err = _import(out, [str(tmp_path / "MT_00B41234_000-000.txt")], [str(tmp_path / "MT_00B41235_000-000.txt")],
                  sim, capsys)
    assert re.search(r"MT_00B41234_000-000\.txt: Gyr_X\.\.Z: .*so they are deg/s", err)
    assert re.search(r"MT_00B41234_000-000\.txt: Acc_X\.\.Z: .*so it is m/s²", err)
    assert re.search(r"MT_00B41235_000-000\.txt: Gyr_X\.\.Z: .*so they are rad/s", err)
    assert re.search(r"MT_00B41235_000-000\.txt: Acc_X\.\.Z: .*so it is g", err)
    rec = read_recording(out)
    assert np.allclose(rec.sensors["thigh"].gyr, th.gyr, atol=2e-5)
    assert np.allclose(rec.sensors["pelvis"].acc, pe.acc, atol=1e-4)
    assert np.max(np.diff(rec.sensors["thigh"].time_s)) < 0.02  # unwrapped, no jump
    assert _check_reps(out, sim)


def test_phyphox_two_files_and_one_file_with_two_time_columns(tmp_path: Path, capsys) -> None:
    sim = _sim(13, 200)
    ta, acc, tg, gyr = _split_instants(sim.recording.sensors["thigh"])
    write_phyphox(tmp_path / "Accelerometer.csv", [(ta, acc, "acc")])
    write_phyphox(tmp_path / "Gyroscope.csv", [(tg, gyr, "gyr")])
    ta2, acc2, tg2, gyr2 = _split_instants(sim.recording.sensors["pelvis"])
    tg2, gyr2 = tg2[:-7], gyr2[:-7]  # the gyroscope column is shorter: padded with NaN
    write_phyphox(tmp_path / "pelvis.csv", [(ta2, acc2, "acc"), (tg2, gyr2, "gyr")], sep="\t")
    head = (tmp_path / "Accelerometer.csv").read_text().splitlines()[:2]
    assert head[0].startswith('"Time (s)","Acceleration x (m/s^2)"') and re.match(r"-?\d\.\d{9}E-?\d", head[1])
    assert (tmp_path / "pelvis.csv").read_text().rstrip().endswith("NaN")
    out = tmp_path / "px.csv"
    err = _import(out, [str(tmp_path / "Accelerometer.csv"), str(tmp_path / "Gyroscope.csv")],
                  [str(tmp_path / "pelvis.csv")], sim, capsys)
    assert "have been started at the same moment" in err  # two phones: the assumption is stated
    rec = read_recording(out)
    assert rec.sensors["pelvis"].time_s[-1] <= tg2[-1]  # no accelerometer instant past the gyroscope's end
    assert _check_reps(out, sim)


def test_phyphox_linear_acceleration_is_refused(tmp_path: Path, capsys) -> None:
    t = np.arange(100) / 100.0
    (tmp_path / "Linear Acceleration.csv").write_text(
        '"Time (s)","Linear Acceleration x (m/s^2)","Linear Acceleration y (m/s^2)","Linear Acceleration z (m/s^2)",'
        '"Absolute acceleration (m/s^2)"\n' + "\n".join(f"{_java_sci(x)},0.000000000E0,1.000000000E-2,0.000000000E0,"
                                                        "1.000000000E-2" for x in t) + "\n")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(tmp_path / "Linear Acceleration.csv"),
               "--pelvis", str(tmp_path / "Linear Acceleration.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "gravity removed" in err and "Acceleration with g" in err


def test_witmotion_pc_software_one_file_two_devices(tmp_path: Path, capsys) -> None:
    sim = _sim(17, 50)
    f = tmp_path / "_WT901BLE67_0.txt"
    write_witmotion(f, {"WT901BLE67(d6:a8:b9:ee:a0:b7)": sim.recording.sensors["thigh"],
                        "WT901BLE67(e1:02:33:4c:55:60)": sim.recording.sensors["pelvis"]})
    assert detect_format(f) == "witmotion"
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(f), "--pelvis", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and "holds 2 devices" in err and f"--thigh '{f}:WT901BLE67(" in err
    out = tmp_path / "wit.csv"
    _import(out, [f"{f}:d6:a8"], [f"{f}:e1:02"], sim, capsys)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sensors"]["thigh"]["address"] == "D6:A8:B9:EE:A0:B7"
    assert meta["sensors"]["pelvis"]["model"] == "WitMotion WT901BLE67(e1:02:33:4c:55:60)"
    assert abs(meta["sensors"]["thigh"]["sample_rate_hz"] - 50.0) < 0.5
    assert _check_reps(out, sim)


# --------------------------------------------------------------------------- what cannot be imported


def test_unknown_file_names_the_formats_and_the_conversion_section(tmp_path: Path, capsys) -> None:
    (tmp_path / "mystery.csv").write_text("ts;ax;ay;az\n0;1;2;3\n")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(tmp_path / "mystery.csv"), "--pelvis",
               str(tmp_path / "mystery.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"{tmp_path / 'mystery.csv'}, line 1: not an export this importer recognises" in err
    for fmt in ("Movella DOT", "MetaBase", "MT Manager", "phyphox", "WitMotion", "format v1"):
        assert fmt in err
    assert "docs/recording-format.md, section 'Converting other data'" in err


def test_analyze_info_replay_on_a_vendor_export_point_to_import(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60, n_reps=1)
    write_dot(tmp_path / "dot.csv", sim.recording.sensors["thigh"], stf0=0, tag=1)
    ss = sim.recording.sensors["pelvis"]
    write_metabase(tmp_path / "acc.csv", ss.time_s, ss.acc, "acc")
    for cmd, f, fmt in (("analyze", "dot.csv", "Movella DOT export"), ("info", "dot.csv", "Movella DOT export"),
                        ("replay", "acc.csv", "MbientLab MetaBase CSV")):
        rc = main([cmd, str(tmp_path / f)])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err, err
        assert f"this is a {fmt}, not a format v1 recording" in err
        assert f"'imu-pipeline import {tmp_path / Path(f).stem}-v1.csv --thigh {tmp_path / f}" in err


def test_errors_name_file_line_and_column(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60, n_reps=1)
    write_dot(tmp_path / "d.csv", sim.recording.sensors["thigh"], stf0=0, tag=1)
    lines = (tmp_path / "d.csv").read_text().splitlines()
    lines[20] = lines[20].replace(lines[20].split(",")[7], "abc", 1)
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(VendorFileError, match=re.escape(f"{tmp_path / 'd.csv'}, line 21, column 'Acc_Y': 'abc'")):
        read_sensor([str(tmp_path / "d.csv")], "thigh")
    (tmp_path / "q.csv").write_text("sep=,\nDeviceTag:,1\n\nPacketCounter,SampleTimeFine,Quat_W,Quat_X,Quat_Y,Quat_Z,"
                                    "FreeAcc_X,FreeAcc_Y,FreeAcc_Z\n1,100,1,0,0,0,0,0,0\n")
    with pytest.raises(VendorFileError, match="no Acc_X, Acc_Y, Acc_Z, Gyr_X, Gyr_Y, Gyr_Z column"):
        read_sensor([str(tmp_path / "q.csv")], "thigh")


@pytest.mark.parametrize("bad, msg", [("x=superior", "missing 'y'"), ("x=up,y=right", "unknown direction 'up'"),
                                      ("x=superior,y=inferior", "not perpendicular"), ("superior,right", "x=WORD")])
def test_mounting_option_is_checked(tmp_path: Path, capsys, bad: str, msg: str) -> None:
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", "a", "--pelvis", "b", "--thigh-mounting", bad])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and "--thigh-mounting" in err


def test_existing_output_needs_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "o.csv").write_text("x")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", "a", "--pelvis", "b"])
    assert rc == 2 and "already exists (use --force" in capsys.readouterr().err


# --------------------------------------------------------------------------- small pieces


def test_unwrap_counter_and_merge_never_fill_gaps() -> None:
    raw = np.array([U32 - 20, U32 - 10, 0, 10, 20]) % U32
    assert unwrap_counter(raw, U32).tolist() == [U32 - 20, U32 - 10, U32, U32 + 10, U32 + 20]
    ta = np.arange(0, 1.0, 0.01)
    tg = np.concatenate([np.arange(0.004, 0.5, 0.01), np.arange(0.704, 1.0, 0.01)])
    acc = np.tile([0.0, 0.0, 9.81], (ta.size, 1))
    gyr = np.column_stack([tg, tg, tg])
    t, a, g, clock, dropped = merge_acc_gyr(ta, acc, tg, gyr)
    assert clock == "accelerometer"
    assert not ((t > 0.5) & (t < 0.7)).any() and dropped > 15
    assert np.allclose(g[:, 0], t)  # linear between neighbours
    tg2 = np.arange(0.002, 1.0, 0.005)
    t2, *_ = merge_acc_gyr(ta, acc, tg2, np.zeros((tg2.size, 3)))
    assert abs(np.median(np.diff(t2)) - 0.005) < 1e-9  # the faster stream's instants are the clock


# --------------------------------------------------------------------------- fixtures as the apps write them


def test_fixture_dot_app_export_with_trailing_commas() -> None:
    d = read_sensor([str(DATA / "movella_dot_app.csv")], "thigh")
    assert d.fmt == "movella-dot" and d.rate_hz == 60.0 and len(d) == 10
    assert d.info["SyncStatus"] == "Synced" and d.info["synced"] is True
    assert np.allclose(d.acc[0], [0.061783, -0.135231, 9.810318])
    assert np.allclose(d.gyr[0], np.radians([0.183105, -0.122070, 0.061035]))
    assert np.allclose(np.diff(d.time_s), 1 / 60, atol=2e-6)  # SampleTimeFine wraps between rows 5 and 6


def test_fixture_dot_sdk_logger_export() -> None:
    d = read_sensor([str(DATA / "movella_dot_sdk.csv")], "pelvis")
    assert d.fmt == "movella-dot" and d.info["synced"] is False and len(d) == 6
    assert d.clock is None and d.abs_start_s is not None  # unsynced: aligned by StartTime, with a warning
    assert np.allclose(np.linalg.norm(d.acc, axis=1), 9.81, atol=0.05)


def test_fixture_metabase_pair() -> None:
    d = read_sensor([str(DATA / "metabase_Accelerometer.csv"), str(DATA / "metabase_Gyroscope.csv")], "thigh")
    assert d.fmt == "metabase" and len(d) == 8
    assert np.allclose(d.acc[0], np.array([0.011, -0.004, 1.001]) * STANDARD_GRAVITY)
    assert abs(d.time_s[0] - 1740823200.000) < 1e-6
    gx = np.interp(d.time_s[0], [1740823199.996, 1740823200.006], [0.244, 0.305])
    assert math.isclose(d.gyr[0, 0], gx * DEG, rel_tol=1e-9)


def test_fixture_mt_manager_phyphox_witmotion() -> None:
    mt = read_sensor([str(DATA / "mt_manager.txt")], "thigh")
    assert mt.fmt == "mt-manager" and mt.rate_hz == 100.0 and len(mt) == 6
    assert any("does not state the gyroscope unit" in w for w in mt.warnings)
    px = read_sensor([str(DATA / "phyphox_Accelerometer.csv"), str(DATA / "phyphox_Gyroscope.csv")], "pelvis")
    assert px.fmt == "phyphox" and len(px) >= 4
    assert np.allclose(np.linalg.norm(px.acc, axis=1), 9.81, atol=0.1)
    wm = read_sensor([str(DATA / "witmotion.txt")], "thigh")
    assert wm.fmt == "witmotion" and len(wm) == 5
    assert np.allclose(wm.acc[0], np.array([0.0146, -0.0073, 0.9980]) * STANDARD_GRAVITY)
    assert np.allclose(wm.gyr[0], np.radians([0.122, -0.061, 0.000]))
    assert abs(np.median(np.diff(wm.time_s)) - 0.02) < 1e-6


# --------------------------------------------------------------------------- a new user's trial (time zones,
# overlap, WitMotion bursts, MetaBase devices, hints, cut-off lines, metadata, gaps, swapped files)


def _mb_name(mac: str, kind: str) -> str:
    """A MetaBase file name as the app writes it (MAC without separators)."""
    return f"MetaWear_2025-03-01T11.00.00.000_{mac}_{kind}_100.000Hz_1.7.3.csv"


def _local_start(t0: float, hours: float, zone: str, app: bool) -> str:
    """StartTime of a sensor whose first sample is at EPOCH0 + t0, on a phone in UTC+hours."""
    at = datetime.fromtimestamp(EPOCH0 + t0, tz=timezone(timedelta(hours=hours)))
    ms = f"{at.microsecond // 1000:03d}"
    return at.strftime("%Y-%m-%d_%H:%M:%S_") + f"{ms} {zone}" if app else \
        at.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms} {zone}"


def test_dot_start_time_zone_is_converted_to_utc_and_aligns_with_metabase(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    # the SDK logger on a phone in UTC+01:00; MetaBase writes Unix time
    write_dot(tmp_path / "thigh.csv", th, stf0=5_000_000, tag=1, app=False,
              start=_local_start(th.time_s[0], 1, "+0100", app=False))
    acc, gyr = tmp_path / _mb_name("C42732BE255C", "Accelerometer"), tmp_path / _mb_name("C42732BE255C", "Gyroscope")
    write_metabase(acc, pe.time_s, pe.acc, "acc")
    write_metabase(gyr, pe.time_s, pe.gyr, "gyr")
    out = tmp_path / "x.csv"
    err = _import(out, [str(tmp_path / "thigh.csv")], [str(acc), str(gyr)], sim, capsys)
    assert "aligned by the start times" in err
    rec = read_recording(out)
    shift = rec.sensors["pelvis"].time_s[0] - rec.sensors["thigh"].time_s[0]
    assert abs(shift - (pe.time_s[0] - th.time_s[0])) < 2e-3  # not off by the zone's hour
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["started_at"].startswith("2025-03-01T10:00:00.0")
    assert _check_reps(out, sim)


@pytest.mark.parametrize("start, utc", [
    ("2025-07-11_20:06:00_086 WEST", "2025-07-11T19:06:00.086Z"),
    ("2025-07-11_20:06:00_086 CEST", "2025-07-11T18:06:00.086Z"),
    ("2025-07-11 20:06:00.086 +0200", "2025-07-11T18:06:00.086Z"),
    ("2025-07-11_20:06:00_086 PDT", "2025-07-12T03:06:00.086Z"),
    ("2025-07-11_20:06:00_086 GMT+05:30", "2025-07-11T14:36:00.086Z"),
    ("2025-07-11_20:06:00_086 UTC", "2025-07-11T20:06:00.086Z"),
])
def test_dot_start_time_offsets_and_zone_names(tmp_path: Path, start: str, utc: str) -> None:
    from imu_pipeline.io.vendor import epoch_iso

    sim = _sim(3, 60, n_reps=1)
    write_dot(tmp_path / "d.csv", sim.recording.sensors["thigh"], stf0=0, tag=1, app="_" in start, start=start)
    d = read_sensor([str(tmp_path / "d.csv")], "thigh")
    assert d.abs_start_s is not None and epoch_iso(d.abs_start_s) == utc
    assert not any("time zone" in w for w in d.warnings)


def test_dot_unknown_zone_name_is_a_warning(tmp_path: Path) -> None:
    sim = _sim(3, 60, n_reps=1)
    write_dot(tmp_path / "d.csv", sim.recording.sensors["thigh"], stf0=0, tag=1, start="2025-07-11_20:06:00_086 XYZT")
    d = read_sensor([str(tmp_path / "d.csv")], "thigh")
    assert any("time zone 'XYZT' is not one this importer knows; the time was read as UTC" in w for w in d.warnings)


def test_synced_dot_pair_gets_started_at_in_utc(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60, n_reps=2)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    first = "thigh" if th.time_s[0] <= pe.time_s[0] else "pelvis"
    for role, ss in (("thigh", th), ("pelvis", pe)):  # each StartTime: that sensor's first sample, CEST
        write_dot(tmp_path / f"{role}.csv", ss, stf0=7_000_000, tag=1, start=_local_start(ss.time_s[0], 2, "CEST",
                                                                                          app=True))
    out = tmp_path / "s.csv"
    _import(out, [str(tmp_path / "thigh.csv")], [str(tmp_path / "pelvis.csv")], sim, capsys)
    meta = json.loads(out.with_suffix(".json").read_text())
    t0 = sim.recording.sensors[first].time_s[0]
    want = datetime.fromtimestamp(EPOCH0 + t0, tz=timezone.utc)
    got = datetime.fromisoformat(meta["started_at"].replace("Z", "+00:00"))
    assert abs((got - want).total_seconds()) < 2e-3


def test_import_refuses_sensors_that_did_not_record_together(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60, n_reps=1)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    # the DOT file's StartTime is a day later than the MetaBase files (a wrong phone date)
    write_dot(tmp_path / "thigh.csv", th, stf0=0, tag=1, app=False, start="2025-03-02 11:00:00.000 +0100")
    acc, gyr = tmp_path / _mb_name("C42732BE255C", "Accelerometer"), tmp_path / _mb_name("C42732BE255C", "Gyroscope")
    write_metabase(acc, pe.time_s, pe.acc, "acc")
    write_metabase(gyr, pe.time_s, pe.gyr, "gyr")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(tmp_path / "thigh.csv"), "--pelvis", str(acc),
               str(gyr)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "do not overlap in time at all" in err and "min_overlap_s" in err
    assert "thigh (thigh.csv) 2025-03-02T10:00:00.000Z to" in err and "pelvis (MetaWear_" in err
    assert "2025-03-01T10:00:0" in err and "time zones" in err and "clocks" in err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.json").exists()
    # the config's [calibration] min_overlap_s decides: a 1000 s minimum refuses this short session
    write_dot(tmp_path / "pelvis.csv", pe, stf0=0, tag=2)
    write_dot(tmp_path / "thigh2.csv", th, stf0=0, tag=1)
    (tmp_path / "c.toml").write_text("[calibration]\nmin_overlap_s = 1000.0\n")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(tmp_path / "thigh2.csv"), "--pelvis",
               str(tmp_path / "pelvis.csv"), "--config", str(tmp_path / "c.toml")])
    err = capsys.readouterr().err
    assert rc == 2 and "overlap for only" in err and "at least 1000 s" in err
    assert "thigh (thigh2.csv) 2025-07-11T19:06:" in err  # StartTime 20:06 WEST: the spans in UTC


def _bursts(t: np.ndarray, rng: np.random.Generator, n: int = 4) -> np.ndarray:
    """Receive times of samples sent n per BLE notification: each arrives 5-25 ms after its last sample."""
    r = t.copy()
    for i in range(0, len(t), n):
        j = min(i + n, len(t))
        r[i:j] = t[j - 1] + rng.uniform(0.005, 0.025)
    return np.maximum.accumulate(r)


def test_witmotion_bursts_of_equal_pc_times_are_spread_not_dropped(tmp_path: Path, capsys) -> None:
    sim = _sim(19, 100)
    names = {"thigh": "WT901BLE67(d6:a8:b9:ee:a0:b7)", "pelvis": "WT901BLE67(e1:02:33:4c:55:60)"}
    devs = {names[r]: sim.recording.sensors[r] for r in ("thigh", "pelvis")}
    rng = np.random.default_rng(0)
    rx = {n: _bursts(ss.time_s, rng) for n, ss in devs.items()}
    f = tmp_path / "bursty.txt"
    write_witmotion(f, devs, received=rx, chip="received")  # the chip time repeats too: spread
    out = tmp_path / "w.csv"
    err = _import(out, [f"{f}:d6:a8"], [f"{f}:e1:02"], sim, capsys)
    assert f"bursty.txt: {names['thigh']}: " in err and "spread at 100.0" in err and "no sample was dropped" in err
    assert "kept the first" not in err
    rec = read_recording(out)
    meta = json.loads(out.with_suffix(".json").read_text())
    offsets = {}
    for role in ("thigh", "pelvis"):
        ss, t = sim.recording.sensors[role], rec.sensors[role].time_s
        assert len(t) == len(ss)  # every sample kept
        assert abs(meta["sensors"][role]["sample_rate_hz"] - 100.0) < 0.5
        e = t - ss.time_s
        offsets[role] = float(np.median(e))
        assert np.max(np.abs(e - offsets[role])) < 0.005  # spread at the real rate, not bunched
    assert abs(offsets["thigh"] - offsets["pelvis"]) < 0.01  # one clock for both devices
    assert _check_reps(out, sim)
    # the device's own Chip Time(), strictly increasing, gives the spacing; the receive time the clock
    write_witmotion(f, devs, received=rx, chip="sample")
    err = _import(out, [f"{f}:d6:a8"], [f"{f}:e1:02"], sim, capsys, "--force")
    assert "timed by its chip time ('Chip Time()'" in err
    rec = read_recording(out)
    for role in ("thigh", "pelvis"):
        e = rec.sensors[role].time_s - sim.recording.sensors[role].time_s
        assert np.max(np.abs(e - np.median(e))) < 0.0015


def test_witmotion_single_file_names_its_clock_and_gets_started_at(tmp_path: Path, capsys, monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # the WitMotion software writes local time, no zone: UTC+09:00 here
    time.tzset()
    try:
        sim = _sim(17, 50, n_reps=2)
        for role in ("thigh", "pelvis"):
            write_witmotion(tmp_path / f"{role}.txt", {f"WT901BLE67 {role}": sim.recording.sensors[role]})
        out = tmp_path / "w.csv"
        err = _import(out, [str(tmp_path / "thigh.txt")], [str(tmp_path / "pelvis.txt")], sim, capsys)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "thigh.txt: WT901BLE67 thigh: timed by its chip time ('Chip Time()'" in err
    assert "receive time ('Time')" in err and "local time (UTC+09:00)" in err
    meta = json.loads(out.with_suffix(".json").read_text())
    t0 = min(sim.recording.sensors[r].time_s[0] for r in ("thigh", "pelvis"))
    want = datetime(2025, 3, 1, 1, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=float(t0))
    got = datetime.fromisoformat(meta["started_at"].replace("Z", "+00:00"))
    assert abs((got - want).total_seconds()) < 2e-3


def test_metabase_files_of_two_devices_are_refused(tmp_path: Path, capsys) -> None:
    sim = _sim(5, 100, n_reps=1)
    files = {}
    for role, mac in (("thigh", "C42732BE255C"), ("pelvis", "D7A1B2C3D4E5")):
        ss = sim.recording.sensors[role]
        for kind, v in (("Accelerometer", ss.acc), ("Gyroscope", ss.gyr)):
            files[role, kind] = tmp_path / _mb_name(mac, kind)
            write_metabase(files[role, kind], ss.time_s, v, "acc" if kind == "Accelerometer" else "gyr")
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(files["thigh", "Accelerometer"]),
               str(files["pelvis", "Gyroscope"]), "--pelvis", str(files["pelvis", "Accelerometer"]),
               str(files["pelvis", "Gyroscope"])])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "come from different devices" in err and "C4:27:32:BE:25:5C" in err and "D7:A1:B2:C3:D4:E5" in err
    # two accelerometer files for one sensor: said as such
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(files["thigh", "Accelerometer"]),
               str(files["pelvis", "Accelerometer"]), "--pelvis", str(files["pelvis", "Accelerometer"]),
               str(files["pelvis", "Gyroscope"])])
    err = capsys.readouterr().err
    assert rc == 2 and "2 accelerometer files" in err and "no gyroscope file for the thigh" in err
    assert "only the accelerometer was given" not in err
    # one device's pair: the MAC of the names (no separators) becomes the address
    d = read_sensor([str(files["thigh", "Accelerometer"]), str(files["thigh", "Gyroscope"])], "thigh")
    assert d.info["address"] == "C4:27:32:BE:25:5C"


def test_analyze_on_a_two_device_witmotion_file_hints_file_name(tmp_path: Path, capsys) -> None:
    sim = _sim(17, 50, n_reps=1)
    f = tmp_path / "data_0.txt"
    write_witmotion(f, {"WT901BLE67(d6:a8:b9:ee:a0:b7)": sim.recording.sensors["thigh"],
                        "WT901BLE67(e1:02:33:4c:55:60)": sim.recording.sensors["pelvis"]})
    rc = main(["analyze", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and "PELVIS_FILE" not in err
    assert "holding devices WT901BLE67(d6:a8:b9:ee:a0:b7), WT901BLE67(e1:02:33:4c:55:60)" in err
    assert (f'--thigh "{f}:WT901BLE67(d6:a8:b9:ee:a0:b7)" --pelvis "{f}:WT901BLE67(e1:02:33:4c:55:60)"' in err)


def test_non_utf8_witmotion_export_gets_the_import_hint(tmp_path: Path, capsys) -> None:
    sim = _sim(17, 50, n_reps=1)
    f = tmp_path / "gbk.txt"
    write_witmotion(f, {"WT901BLE67(d6:a8:b9:ee:a0:b7)": sim.recording.sensors["thigh"]}, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        f.read_bytes().decode("utf-8")
    for cmd in ("analyze", "info", "replay"):
        rc = main([cmd, str(f)])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and "not UTF-8" not in err, err
        assert "this is a WitMotion export, not a format v1 recording" in err and "imu-pipeline import" in err
    d = read_sensor([str(f)], "thigh")  # and import reads it (the degree sign in GBK)
    assert np.allclose(d.gyr, sim.recording.sensors["thigh"].gyr, atol=DEG * 0.001)


def test_v1_name_hint_suggests_names_that_fit_the_role(tmp_path: Path, capsys) -> None:
    sim = _sim(7, 100, n_reps=1)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    other = SensorSamples(th.time_s.copy(), th.acc.copy(), th.gyr.copy())
    f = tmp_path / "three.csv"
    write_v1_named(f, {"sacrum": pe, "left_thigh": th, "right_thigh": other}, {})
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", str(f), "--pelvis", f"{f}:sacrum"])
    err = capsys.readouterr().err
    assert rc == 2 and f"--thigh '{f}:left_thigh' or '{f}:right_thigh'" in err and f"'{f}:sacrum'" not in err
    rc = main(["import", str(tmp_path / "o.csv"), "--thigh", f"{f}:left_thigh", "--pelvis", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and f"--pelvis '{f}:sacrum'" in err and "thigh'" not in err.split("--pelvis")[-1]
    rc = main(["analyze", str(f)])  # the recording reader's hint: the same choice
    err = capsys.readouterr().err
    assert rc == 2 and f"imu-pipeline import OUT.csv --thigh {f}:left_thigh --pelvis {f}:sacrum" in err


def _cut_last_line(p: Path) -> None:
    text = p.read_text(encoding="utf-8").rstrip("\n")
    p.write_text(text[:-3], encoding="utf-8")  # no line break at the end, the last number cut short


@pytest.mark.parametrize("files, cut, n", [
    (["movella_dot_app.csv"], 0, 10), (["movella_dot_sdk.csv"], 0, 6), (["mt_manager.txt"], 0, 6),
    (["witmotion.txt"], 0, 5), (["metabase_Accelerometer.csv", "metabase_Gyroscope.csv"], 1, None),
    (["phyphox_Accelerometer.csv", "phyphox_Gyroscope.csv"], 0, None)])
def test_a_cut_off_last_line_is_dropped_with_a_warning(tmp_path: Path, files: list[str], cut: int,
                                                       n: int | None) -> None:
    whole = read_sensor([str(DATA / f) for f in files], "thigh")
    for f in files:
        (tmp_path / f).write_bytes((DATA / f).read_bytes())
    _cut_last_line(tmp_path / files[cut])
    nlines = len((tmp_path / files[cut]).read_text(encoding="utf-8").split("\n"))
    d = read_sensor([str(tmp_path / f) for f in files], "thigh")
    assert f"{files[cut]}: line {nlines} is cut off" in " ".join(d.warnings)
    assert len(d) == (n - 1 if n else len(d)) and len(d) <= len(whole)
    if n is None:  # the pair: the cut stream ends one sample earlier
        assert d.time_s[-1] < whole.time_s[-1] or len(d) < len(whole)


def test_a_cut_off_last_line_of_a_v1_source_and_a_damaged_middle_line(tmp_path: Path, capsys) -> None:
    sim = _sim(7, 100, n_reps=1)
    f = tmp_path / "named.csv"
    write_v1_named(f, {"left_thigh": sim.recording.sensors["thigh"], "sacrum": sim.recording.sensors["pelvis"]}, {})
    n = len(sim.recording.sensors["thigh"]) + len(sim.recording.sensors["pelvis"])
    _cut_last_line(f)
    th, pe = read_sensor([f"{f}:left_thigh"], "thigh"), read_sensor([f"{f}:sacrum"], "pelvis")
    assert len(th) + len(pe) == n - 1 and f"named.csv: line {n + 1} is cut off" in th.warnings[0]
    write_dot(tmp_path / "d.csv", sim.recording.sensors["thigh"], stf0=0, tag=1)
    lines = (tmp_path / "d.csv").read_text().split("\n")
    lines[30] = lines[30][:25]  # a line cut short in the middle: still an error naming it
    (tmp_path / "d.csv").write_text("\n".join(lines))
    with pytest.raises(VendorFileError, match=re.escape(f"{tmp_path / 'd.csv'}, line 31")):
        read_sensor([str(tmp_path / "d.csv")], "thigh")


def test_v1_source_keys_are_carried_over_unless_overridden(tmp_path: Path, capsys) -> None:
    sim = _sim(7, 100, n_reps=1)
    f = tmp_path / "named.csv"
    write_v1_named(f, {"left_thigh": sim.recording.sensors["thigh"], "sacrum": sim.recording.sensors["pelvis"]},
                   {"exercise": "hanging-leg-raise", "subject": "S07", "notes": "left leg",
                    "started_at": "2026-01-01T00:00:00Z", "events": [{"time_s": 1.0, "kind": "x"}],
                    "sensors": {"sacrum": {"model": "Movesense"}}})
    out = tmp_path / "o.csv"
    assert main(["import", str(out), "--thigh", f"{f}:left_thigh", "--pelvis", f"{f}:sacrum"]) == 0
    capsys.readouterr()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["exercise"] == "hanging-leg-raise" and meta["subject"] == "S07" and meta["notes"] == "left leg"
    assert meta["started_at"].startswith("2026-01-01T00:00:00.0") and meta["events"] == []
    assert meta["sensors"]["pelvis"]["model"] == "Movesense"
    assert main(["import", str(out), "--thigh", f"{f}:left_thigh", "--pelvis", f"{f}:sacrum", "--force",
                 "--exercise", "lying-leg-raise"]) == 0
    capsys.readouterr()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["exercise"] == "lying-leg-raise" and meta["subject"] == "S07"


def test_gaps_are_reported_per_sensor(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60)
    th, pe = sim.recording.sensors["thigh"], sim.recording.sensors["pelvis"]
    rest = sim.truth_reps[0]["end_s"] + 0.2
    keep = (pe.time_s < rest) | (pe.time_s >= rest + 2.0) | ((pe.time_s >= rest + 1.0) & (pe.time_s < rest + 1.3))
    write_dot(tmp_path / "thigh.csv", th, stf0=0, tag=1)
    write_dot(tmp_path / "pelvis.csv", SensorSamples(pe.time_s[keep], pe.acc[keep], pe.gyr[keep]), stf0=0, tag=2)
    out = tmp_path / "g.csv"
    err = _import(out, [str(tmp_path / "thigh.csv")], [str(tmp_path / "pelvis.csv")], sim, capsys)
    lines = [ln for ln in err.splitlines() if "gap(s) longer than" in ln]
    assert len(lines) == 1 and "warning: pelvis: 2 gap(s) longer than 0.1 s" in lines[0]
    assert re.search(r"the longest 1\.0\d s", lines[0])


def test_swapped_thigh_and_pelvis_files_are_warned_about(tmp_path: Path, capsys) -> None:
    sim = _sim(3, 60)
    write_dot(tmp_path / "thigh.csv", sim.recording.sensors["thigh"], stf0=0, tag=1)
    write_dot(tmp_path / "pelvis.csv", sim.recording.sensors["pelvis"], stf0=0, tag=2)
    err = _import(tmp_path / "ok.csv", [str(tmp_path / "thigh.csv")], [str(tmp_path / "pelvis.csv")], sim, capsys)
    assert "look swapped" not in err
    rc = main(["import", str(tmp_path / "sw.csv"), "--thigh", str(tmp_path / "pelvis.csv"), "--pelvis",
               str(tmp_path / "thigh.csv")])
    err = capsys.readouterr().err
    assert rc == 0 and "warning: the thigh and pelvis files look swapped" in err
