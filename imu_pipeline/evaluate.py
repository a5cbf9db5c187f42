"""Accuracy against the simulator's ground truth, over a matrix of hard sessions.

The same code measures the figures in ``docs/accuracy.md`` (``imu-pipeline evaluate``) and
asserts them in the tests, so the document and the tests cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imu_pipeline.config import PipelineConfig
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.reps import Rep
from imu_pipeline.simulate import SimResult, SimulationOptions, simulate_session

RATE_PAIRS = [(100.0, 100.0), (52.0, 400.0), (200.0, 104.0), (400.0, 52.0), (60.0, 208.0), (833.0 / 4, 52.0)]


def session_matrix(n: int, first_seed: int = 1000) -> list[SimulationOptions]:
    """``n`` sessions covering both poses, every rep kind, rates 52–400 Hz (different per
    sensor), packet loss, a mid-session disconnect, sessions that start moving at once,
    noisy sensors, straps off by up to 15°, fidgets and touch-and-go reps."""
    out = []
    for i in range(n):
        pose = ("lying", "hanging")[i % 2]
        mix = ("hip-flexor", "abdominal", "fast", "drop", "bounce") + (("swing",) if pose == "hanging" else ())
        thigh, pelvis = RATE_PAIRS[i % len(RATE_PAIRS)]
        out.append(SimulationOptions(
            seed=first_seed + i, pose=pose, n_reps=10, mix=mix, thigh_rate_hz=thigh, pelvis_rate_hz=pelvis,
            noise=(1.0, 1.5, 1.0, 2.0)[i % 4], packet_loss=(0.0, 0.02, 0.05)[i % 3], disconnect=i % 3 == 1,
            start_still=i % 4 != 3, end_still=i % 5 != 4, misalignment_deg=15.0, fidgets=i % 3,
            touch_and_go=(0.0, 0.3)[(i // 2) % 2]))
    return out


def fault_matrix() -> list[SimulationOptions]:
    """21 sessions outside the main matrix, straps up to 20° off: 10 and 12.5 Hz (both sensors, or one
    with the other at 100 Hz), lying and hanging; 4 at 100 Hz with a disconnect and 3 % loss; one
    sensor silent alone for 15 s at the start, in the middle or at the end (6); walking in and out
    around a lying and a hanging set (2); hanging with kicks whose swing persists into the next reps."""
    out = []
    for i, (th, pe) in enumerate([(10.0, 10.0), (12.5, 12.5), (10.0, 100.0), (100.0, 12.5)]):
        for pose in ("lying", "hanging"):
            mix = ("hip-flexor", "abdominal", "fast", "drop") + (("swing",) if pose == "hanging" else ())
            out.append(SimulationOptions(seed=2000 + 10 * i + (pose == "hanging"), pose=pose, n_reps=8, mix=mix,
                                         thigh_rate_hz=th, pelvis_rate_hz=pe, misalignment_deg=20.0))
    for k in range(4):
        out.append(SimulationOptions(seed=2100 + k, pose=("lying", "hanging")[k % 2], n_reps=8, disconnect=True,
                                     misalignment_deg=20.0, packet_loss=0.03))
    # one sensor silent alone: starts late, drops out, dies
    for k, silent in enumerate(("pelvis:start", "pelvis:middle", "pelvis:end", "thigh:start", "thigh:middle",
                                "thigh:end")):
        out.append(SimulationOptions(seed=2200 + k, pose=("lying", "hanging")[k % 2], n_reps=10, silent=silent,
                                     misalignment_deg=20.0))
    # walking in and out around the set; hanging with kicks whose swing persists into the next reps
    for k, pose in enumerate(("lying", "hanging")):
        mix = ("hip-flexor", "abdominal", "fast") + (("swing",) if pose == "hanging" else ())
        out.append(SimulationOptions(seed=2300 + k, pose=pose, n_reps=8, mix=mix, walk_in_out=True,
                                     misalignment_deg=20.0))
    out.append(SimulationOptions(seed=2310, pose="hanging", n_reps=10, misalignment_deg=20.0, rest_s=(0.8, 1.6),
                                 mix=("hip-flexor", "swing", "abdominal", "swing", "hip-flexor")))
    return out


#: Sensor rates of :func:`rate_matrix` (Hz): WitMotion's 10 Hz up to a research IMU's 200 Hz.
RATES_HZ = (10.0, 12.5, 25.0, 52.0, 100.0, 200.0)


def rate_matrix(seeds: int = 2) -> list[SimulationOptions]:
    """Both sensors at each of :data:`RATES_HZ`, lying and hanging, ``seeds`` sessions each, straps
    up to 15° off, every rep kind, 2 % packet loss: how accurate the angles are at each rate."""
    out = []
    for r in RATES_HZ:
        for pose in ("lying", "hanging"):
            mix = ("hip-flexor", "abdominal", "fast", "drop", "bounce") + (("swing",) if pose == "hanging" else ())
            for k in range(seeds):
                out.append(SimulationOptions(seed=3000 + int(r * 10) + 2 * k + (pose == "hanging"), pose=pose,
                                             n_reps=8, mix=mix, thigh_rate_hz=r, pelvis_rate_hz=r,
                                             misalignment_deg=15.0, packet_loss=0.02))
    return out


def per_rate(scores: list["SessionScore"]) -> dict[float, dict[str, float]]:
    """Worst hip and tilt RMSE (deg), rep counts and labels per sensor rate (both sensors at it)."""
    out: dict[float, dict[str, float]] = {}
    for sc in scores:
        d = out.setdefault(sc.rates_hz[0], {"sessions": 0, "worst_hip_rmse_deg": 0.0, "worst_tilt_rmse_deg": 0.0,
                                            "reps": 0, "found_reps": 0, "labels_correct": 0, "labelled_reps": 0,
                                            "confidently_wrong_labels": 0})
        d["sessions"] += 1
        d["worst_hip_rmse_deg"] = max(d["worst_hip_rmse_deg"], sc.hip_rmse_deg)
        d["worst_tilt_rmse_deg"] = max(d["worst_tilt_rmse_deg"], sc.tilt_rmse_deg)
        d["reps"] += sc.truth_reps
        d["found_reps"] += sc.found_reps
        d["labels_correct"] += sc.labels_correct
        d["labelled_reps"] += sc.labelled_reps
        d["confidently_wrong_labels"] += sc.confidently_wrong_labels
    return out


@dataclass
class SessionScore:
    seed: int
    pose: str
    rates_hz: tuple[float, float]
    hip_rmse_deg: float
    tilt_rmse_deg: float
    truth_reps: int
    found_reps: int
    labels_correct: int
    momentum_tp: int
    momentum_fp: int
    momentum_fn: int
    labelled_reps: int = 0
    hip_samples_without_pelvis: int = 0  # hip flexion values where the pelvis sensor was silent (must be 0)
    outages_unreported: int = 0  # silent windows (truth) no data_quality gap overlaps (must be 0)
    confidently_wrong_labels: int = 0  # a label with confidence 'normal' that contradicts the truth
    live_hip_rmse_vs_offline_deg: float | None = None
    live_same_reps: bool | None = None
    live_max_peak_diff_deg: float | None = None  # |live - offline| peak hip flexion, worst rep
    live_max_latency_s: float | None = None


def score_angles(sim: SimResult, time_s: np.ndarray, hip: np.ndarray, tilt: np.ndarray) -> tuple[float, float]:
    """RMSE (deg) of hip flexion and pelvic tilt (radians in) against the truth, where both exist."""
    tr = sim.truth
    tt = tr["time_s"].to_numpy()
    m = np.isfinite(hip) & np.isfinite(tilt) & (time_s >= tt[0]) & (time_s <= tt[-1])
    h = np.interp(time_s[m], tt, tr["hip_flexion_deg"].to_numpy())
    p = np.interp(time_s[m], tt, tr["pelvic_tilt_deg"].to_numpy())
    return (float(np.sqrt(np.mean((np.degrees(hip[m]) - h) ** 2))),
            float(np.sqrt(np.mean((np.degrees(tilt[m]) - p) ** 2))))


def match_reps(truth: list[dict[str, Any]], found: list[Any], tol_s: float = 1.0) -> list[tuple[dict, Any]]:
    """Pairs (truth rep, found rep) whose peaks are within ``tol_s`` (each used once)."""
    pairs = []
    used: set[int] = set()
    for tr in truth:
        best, bd = None, tol_s
        for j, f in enumerate(found):
            d = abs(f.peak_s - tr["peak_s"])
            if j not in used and d <= bd:
                best, bd = j, d
        if best is not None:
            used.add(best)
            pairs.append((tr, found[best]))
    return pairs


#: Live and offline run causal vs acausal VQF on the same rows; a swing amplitude this close to its
#: threshold (relative to ``momentum.swing_min_amplitude_deg``; twice that for the growth, a
#: difference of two amplitudes) may fall on either side of it.
SWING_KNIFE_EDGE = 0.02


def _same_reasons(a: Rep, b: Rep, cfg: PipelineConfig) -> bool:
    """Same momentum reasons, except a swing judgement that sits on its threshold in both paths:
    ``swing`` where the amplitude after the rep is at ``swing_min_amplitude_deg`` or its growth over
    the one before at ``swing_growth_deg`` (so one path says ``swing``, the other ``unsettled`` or
    nothing); ``unsettled`` alone where the amplitude before the rep is at the threshold."""
    diff = set(a.momentum_reasons) ^ set(b.momentum_reasons)
    if not diff:
        return True
    if not diff <= {"swing", "unsettled"}:
        return False
    mc = cfg.momentum
    thr, tol = mc.swing_min_amplitude_deg, SWING_KNIFE_EDGE * mc.swing_min_amplitude_deg

    def near(x: float | None, edge: float, within: float = tol) -> bool:
        return x is not None and abs(x - edge) <= within

    def kick_on_edge(r: Rep) -> bool:
        after, before = r.swing_after_amplitude_deg, r.swing_amplitude_deg
        return near(after, thr) or (after is not None and before is not None
                                    and near(after - before, mc.swing_growth_deg, 2 * tol))

    if "swing" in diff:
        return all(kick_on_edge(x) for x in (a, b))
    return all(near(x.swing_amplitude_deg, thr) for x in (a, b))


def score_session(opts: SimulationOptions, live: bool = True) -> SessionScore:
    sim = simulate_session(opts)
    an = analyze_recording(sim.recording)
    hip_rmse, tilt_rmse = score_angles(sim, an.angles.time_s, an.angles.hip_flexion, an.angles.pelvic_tilt)
    # reps hidden entirely in a thigh dropout are not counted; labels are scored where the
    # pelvis saw the top of the rep (simulate.py: 'observable', 'label_observable')
    truth = [r for r in sim.truth_reps if r["observable"]]
    pairs = match_reps(truth, an.reps)
    judged = [(t, f) for t, f in pairs if f.momentum is not None]  # partial reps are not judged
    tp = sum(t["momentum"] and f.momentum for t, f in judged)
    fp = sum((not t["momentum"]) and f.momentum for t, f in judged) + (len(an.reps) - len(pairs))
    fn = sum(t["momentum"] and not f.momentum for t, f in judged) + (len(truth) - len(pairs))
    # scored where the pelvis saw the top and a label was given (no label is 'not measured', not wrong)
    labelled = [(t, f) for t, f in pairs if t["label_observable"] and f.label is not None]
    sc = SessionScore(opts.seed, opts.pose, (opts.thigh_rate_hz, opts.pelvis_rate_hz), hip_rmse, tilt_rmse,
                      len(truth), len(an.reps), sum(t["label"] == f.label for t, f in labelled), tp, fp, fn,
                      labelled_reps=len(labelled))
    window = sim.truth_meta.get("disconnect")
    if window is not None:
        silent_sensor = (sim.recording.meta.get("simulated", {}).get("options", {}).get("silent") or ":").split(":")[0] \
            or next((e["sensor"] for e in sim.recording.meta.get("events", [])), "")
        t = an.angles.time_s
        inside = (t > window[0] + 0.05) & (t < window[1] - 0.05)
        if silent_sensor == "pelvis":
            sc.hip_samples_without_pelvis = int(np.isfinite(an.angles.hip_flexion[inside]).sum())
        gaps = an.quality.to_dict().get("gaps", [])
        seen = any(g["sensor"] == silent_sensor and g["start_s"] < window[1] and g["end_s"] > max(window[0], 0.0)
                   for g in gaps)
        sc.outages_unreported = 0 if seen else 1
    sc.confidently_wrong_labels = sum(f.label is not None and f.label_confidence == "normal" and f.label != t["label"]
                                      for t, f in pairs)
    if live:
        from imu_pipeline.pipeline.replay import replay

        lp, reported = replay(sim.recording, keep_angles=True)
        A = lp.angles()
        off = an.angles
        if A is not None:
            h = np.interp(A.time_s, off.time_s, off.hip_flexion)
            ok = np.isfinite(A.hip_flexion) & np.isfinite(h)
            sc.live_hip_rmse_vs_offline_deg = float(np.degrees(np.sqrt(np.mean((A.hip_flexion[ok] - h[ok]) ** 2))))
        peaks = [abs(a.peak_hip_flexion_deg - b.peak_hip_flexion_deg) for a, b in zip(lp.reps, an.reps)
                 if np.isfinite(a.peak_hip_flexion_deg) and np.isfinite(b.peak_hip_flexion_deg)]
        sc.live_max_peak_diff_deg = float(max(peaks)) if peaks else 0.0
        sc.live_same_reps = len(lp.reps) == len(an.reps) and all(
            a.label == b.label and _same_reasons(a, b, an.config) and abs(a.peak_s - b.peak_s) < 0.3
            for a, b in zip(lp.reps, an.reps))
        lat = [tc - r.end_s for r, tc in reported if r.ended_by != "end-of-data"]
        sc.live_max_latency_s = float(max(lat)) if lat else 0.0
    return sc


def summarize(scores: list[SessionScore]) -> dict[str, Any]:
    tp = sum(s.momentum_tp for s in scores)
    fp = sum(s.momentum_fp for s in scores)
    fn = sum(s.momentum_fn for s in scores)
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    out = {
        "sessions": len(scores),
        "max_hip_rmse_deg": max(s.hip_rmse_deg for s in scores),
        "mean_hip_rmse_deg": float(np.mean([s.hip_rmse_deg for s in scores])),
        "max_tilt_rmse_deg": max(s.tilt_rmse_deg for s in scores),
        "mean_tilt_rmse_deg": float(np.mean([s.tilt_rmse_deg for s in scores])),
        "sessions_with_exact_count": sum(s.truth_reps == s.found_reps for s in scores),
        "reps": sum(s.truth_reps for s in scores),
        "labelled_reps": sum(s.labelled_reps for s in scores),
        "confidently_wrong_labels": sum(s.confidently_wrong_labels for s in scores),
        "label_accuracy": sum(s.labels_correct for s in scores) / max(1, sum(s.labelled_reps for s in scores)),
        "momentum_precision": prec, "momentum_recall": rec,
        "momentum_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
    }
    live = [s for s in scores if s.live_same_reps is not None]
    if live:
        out.update({
            "live_sessions_same_reps": sum(bool(s.live_same_reps) for s in live),
            "live_max_hip_rmse_vs_offline_deg": max(s.live_hip_rmse_vs_offline_deg or 0.0 for s in live),
            "live_max_peak_diff_deg": max(s.live_max_peak_diff_deg or 0.0 for s in live),
            "live_max_latency_s": max(s.live_max_latency_s or 0.0 for s in live),
        })
    return out
