"""A whole simulated session: sensors corrupted like real ones, the recording, the truth, and
the files they are written to."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imu_pipeline.errors import OutputError, OutputExistsError
from imu_pipeline.frames import mounting_matrix
from imu_pipeline.io.recording import Recording, SensorSamples
from imu_pipeline.io.writer import write_recording
from imu_pipeline.simulate.body import (
    ACC_RANGE,
    GYR_RANGE,
    Body,
    ideal_imu,
    random_rotation,
)
from imu_pipeline.simulate.options import (
    DEG,
    PLACEMENTS,
    SWING_TRUTH_DEG,
    SimulationOptions,
)


@dataclass
class SimResult:
    """A simulated session: the recording as a recorder would write it, plus the truth."""

    options: SimulationOptions
    recording: Recording
    truth: pd.DataFrame  # time_s, hip_flexion_deg, pelvic_tilt_deg (true time)
    truth_reps: list[dict[str, Any]]
    truth_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.truth["time_s"].iloc[-1])


def _packet_mask(n: int, rate: float, p_loss: float, rng: np.random.Generator, per_packet: int = 0) -> np.ndarray:
    """Keep-mask with whole packets (``per_packet`` samples, 0: ~20-40 ms of samples) lost with
    probability ``p_loss``."""
    keep = np.ones(n, dtype=bool)
    if p_loss <= 0:
        return keep
    if per_packet <= 0:
        per_packet = max(1, int(round(rate * rng.uniform(0.02, 0.04))))
    n_pk = (n + per_packet - 1) // per_packet
    lost = rng.random(n_pk) < p_loss
    keep = ~np.repeat(lost, per_packet)[:n]
    return keep


def simulate_session(opts: SimulationOptions) -> SimResult:
    """Simulate a whole session; see :class:`SimulationOptions`."""
    rng = np.random.default_rng(opts.seed)
    body = Body(opts, rng)
    duration = body.duration_s
    sensors: dict[str, SensorSamples] = {}
    meta_sensors: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    strap_rng = body.person_rng  # rng itself unless opts.person_seed: straps that do not change with n_reps
    placements = {
        "thigh": strap_rng.choice(["thigh-anterior", "thigh-lateral"]),
        "pelvis": strap_rng.choice(["pelvis-anterior", "pelvis-lateral"] if opts.pose == "lying"
                                   else ["pelvis-posterior", "pelvis-lateral"]),
    }
    disc_sensor = str(rng.choice(["thigh", "pelvis"])) if opts.disconnect else None
    disc_window = None
    if disc_sensor is not None:
        d = rng.uniform(2.0, 5.0)
        start = rng.uniform(0.35, 0.6) * duration
        disc_window = (start, start + d)
        events.append({"time_s": round(start, 3), "sensor": str(disc_sensor), "kind": "disconnected"})
        events.append({"time_s": round(start + d, 3), "sensor": str(disc_sensor), "kind": "reconnected"})
    if opts.silent:  # one sensor silent alone: it starts late, drops out in the middle, or dies
        disc_sensor, _, when = opts.silent.partition(":")
        d = min(opts.silent_s, 0.6 * duration)
        start = {"start": -1.0, "middle": 0.5 * (duration - d), "end": duration - d}[when]
        disc_window = (start, start + d + (1.0 if when == "end" else 0.0))
        if when != "start":
            events.append({"time_s": round(max(start, 0.0), 3), "sensor": disc_sensor, "kind": "disconnected"})
        if when == "middle":
            events.append({"time_s": round(start + d, 3), "sensor": disc_sensor, "kind": "reconnected"})
    truth_mount: dict[str, Any] = {}
    for s in ("thigh", "pelvis"):
        rate = opts.thigh_rate_hz if s == "thigh" else opts.pelvis_rate_hz
        pl = PLACEMENTS[placements[s]]
        declared = pl["mountings"][int(strap_rng.integers(len(pl["mountings"])))]
        R_nom = mounting_matrix(declared)
        R_mis = random_rotation(strap_rng, opts.misalignment_deg) if opts.misalignment_deg > 0 else np.eye(3)
        R_seg_sensor = R_mis @ R_nom
        drift = rng.uniform(-1, 1) * opts.clock_drift_ppm * 1e-6
        t0 = rng.uniform(0.0, 1.0 / rate)
        n = int(np.floor((duration - t0) * rate * (1 + drift))) + 1
        k = np.arange(n)
        t_true = t0 + k / (rate * (1 + drift))
        t_rec = t0 + k / rate  # the recorder spreads samples at the nominal rate
        acc, gyr, _ = ideal_imu(body, s, t_true, R_seg_sensor, np.array(pl["offset"]), wobble=opts.noise > 0,
                                interval=1.0 / rate)
        nz = opts.noise
        gyr_scale = np.ones(3)
        if nz > 0:
            gyr_scale = 1 + rng.uniform(-0.015, 0.015, 3) * nz
            gyr = gyr * gyr_scale + rng.uniform(-1.0, 1.0, 3) * DEG * nz + rng.normal(0, 0.006 * nz, gyr.shape)
            acc = acc * (1 + rng.uniform(-0.015, 0.015, 3) * nz) + rng.uniform(-0.08, 0.08, 3) * nz \
                + rng.normal(0, 0.03 * nz, acc.shape)
        if opts.quantize:
            acc = np.round(np.clip(acc, -ACC_RANGE, ACC_RANGE) / ACC_RANGE * 32767) * ACC_RANGE / 32767
            gyr = np.round(np.clip(gyr, -GYR_RANGE, GYR_RANGE) / GYR_RANGE * 32767) * GYR_RANGE / 32767
        keep = _packet_mask(n, rate, opts.packet_loss, rng, opts.packet_samples)
        if opts.jitter_s > 0:
            t_rec = t_rec + rng.uniform(-opts.jitter_s, opts.jitter_s, n)
        if disc_window is not None and s == disc_sensor:
            keep &= ~((t_true >= disc_window[0]) & (t_true < disc_window[1]))
        sensors[s] = SensorSamples(t_rec[keep].copy(), acc[keep].copy(), gyr[keep].copy())
        meta_sensors[s] = {"model": "imu-pipeline simulator", "sample_rate_hz": rate}
        if opts.declare_mounting:
            meta_sensors[s]["mounting"] = dict(declared)
        truth_mount[s] = {"placement": placements[s], "declared": declared, "R_seg_sensor": R_seg_sensor.tolist(),
                          "misalignment_deg": float(np.degrees(np.arccos(np.clip((np.trace(R_mis) - 1) / 2, -1, 1)))),
                          "clock_drift_ppm": drift * 1e6, "lost_samples": int((~keep).sum()),
                          "gyro_scale_xyz": gyr_scale.tolist()}
    meta = {
        "format": "imu-pipeline-recording", "version": 1,
        "started_at": "2026-01-01T00:00:00Z",
        "exercise": "lying-leg-raise" if opts.pose == "lying" else "hanging-leg-raise",
        "sensors": meta_sensors,
        "events": events,
        "simulated": {"options": _jsonable(asdict(opts))},
    }
    tt = np.arange(0.0, duration, 0.01)
    ang = body.angles_deg(tt)
    truth = pd.DataFrame({"time_s": tt, "hip_flexion_deg": ang["hip"], "pelvic_tilt_deg": ang["tilt"]})
    truth_reps = []
    swing = ang["swing"]
    for i, p in enumerate(body.plans):
        m = (tt >= p.t_start) & (tt <= p.t_end)
        pre = (tt >= p.t_start - 3.0) & (tt < p.t_start)
        swing_amp = float((swing[pre].max() - swing[pre].min()) / 2) if pre.any() else 0.0
        # a momentum rep keeps its kind (a kick is 'swing'); a controlled one started while the
        # body still swings from an earlier kick is 'unsettled'
        momentum_kind = p.kind if p.momentum else ("unsettled" if swing_amp >= SWING_TRUTH_DEG else None)
        hip = ang["hip"][m]
        tilt = ang["tilt"][m]
        peak_i = int(np.argmax(hip))
        low = hip < 45
        start_tilt = float(np.interp(p.t_start, tt, ang["tilt"]))
        truth_reps.append({
            "index": i, "kind": p.kind, "label": p.label, "momentum": momentum_kind is not None,
            "momentum_kind": momentum_kind, "swing_amplitude_deg": round(swing_amp, 2),
            "start_s": round(p.t_start, 4), "peak_s": round(float(tt[m][peak_i]), 4), "end_s": round(p.t_end, 4),
            "peak_hip_flexion_deg": round(float(hip.max()), 3),
            "peak_posterior_tilt_deg": round(float((tilt - start_tilt).max()), 3),
            "peak_anterior_tilt_low_deg": round(float(max(0.0, -(tilt[low] - start_tilt).min())) if low.any() else 0.0, 3),
            "back_arch": bool(p.anterior_deg >= 8.0),
            "up_s": round(p.t_peak_reach - p.t_start, 4), "down_s": round(p.t_end - p.t_down, 4),
            # a rep whose raised part (hip above 20 deg) fell entirely inside a thigh disconnect
            # cannot be seen; one whose top (hip above 80 % of peak) was mostly inside either
            # sensor's disconnect cannot be labelled (hip flexion and tilt need both)
            "observable": _seen(disc_window, tt[m][hip > 20]) if disc_sensor == "thigh" else True,
            "label_observable": _seen(disc_window, tt[m][hip > 0.8 * hip.max()], at_least=0.5),
        })
    truth_meta = {"mounting": truth_mount, "disconnect": disc_window, "fidgets": body.fidgets,
                  "pose": opts.pose, "duration_s": duration,
                  # the set and what is not exercise around it (walk in and out)
                  "set": [round(body.approach.lead_s, 3), round(body.approach.lead_s + body.set_s, 3)]
                  if body.approach else [0.0, round(duration, 3)],
                  "not_exercise": [{"start_s": round(a, 3), "end_s": round(b, 3), "what": w}
                                   for a, b, w in (body.approach.spans if body.approach else [])]}
    rec = Recording(sensors=sensors, meta=meta, path=None)
    return SimResult(opts, rec, truth, truth_reps, truth_meta)


def _seen(window: tuple[float, float] | None, times: np.ndarray, at_least: float = 0.0) -> bool:
    """Whether more than ``at_least`` of ``times`` (any, by default) lies outside the
    disconnect ``window``."""
    if window is None or times.size == 0:
        return True
    outside = (times < window[0]) | (times >= window[1])
    return bool(outside.mean() > at_least) if at_least > 0 else bool(outside.any())


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return o


def truth_paths(csv_path: str | Path) -> tuple[Path, Path]:
    p = Path(csv_path)
    return p.with_suffix(".truth.csv"), p.with_suffix(".truth.json")


def write_simulation(sim: SimResult, out: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Write the recording (+ sidecar) and its truth (``OUT.truth.csv``, ``OUT.truth.json``)."""
    out = Path(out)
    if out.suffix != ".csv":
        raise ValueError(f"{out}: the recording name must end in .csv")
    tc, tj = truth_paths(out)
    targets = (out, out.with_suffix(".json"), tc, tj)
    for p in targets:  # every name checked before anything is written
        if p.is_dir():
            raise OutputError(f"{p}: is a folder; choose another recording name")
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p}: already exists (use --force to overwrite)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_recording(out, sim.recording.sensors, sim.recording.meta, overwrite=True)
        sim.truth.to_csv(tc, index=False, float_format="%.4f")
        tj.write_text(json.dumps(_jsonable({"reps": sim.truth_reps, **sim.truth_meta,
                                            "options": asdict(sim.options)}), indent=2) + "\n")
    except OSError as e:
        raise OutputError(f"cannot write the simulated session {out}: {e.strerror or e}") from None
    return {"csv": out, "truth_csv": tc, "truth_json": tj}


def load_truth(csv_path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``OUT.truth.csv`` and ``OUT.truth.json`` written by :func:`write_simulation`."""
    tc, tj = truth_paths(csv_path)
    return pd.read_csv(tc), json.loads(tj.read_text())
