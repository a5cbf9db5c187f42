"""One rep assessed: measures plus rules -> :class:`Rep`; and the offline pass over a session.

The live path (:mod:`imu_pipeline.pipeline.live`) calls :func:`assess_rep` on each rep its
segmenter emits, with the same window of samples the offline :func:`analyze_reps` uses, so both
paths give the same reps.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from imu_pipeline.config import PipelineConfig
from imu_pipeline.joint_angles import JointAngles
from imu_pipeline.reps.measures import AngleWindow, measure_rep
from imu_pipeline.reps.rules import (
    LABEL_ABDOMINAL,
    LABEL_HIP_FLEXOR,
    MOMENTUM_REASONS,
    back_arch_rule,
    bounce_rule,
    drop_rule,
    fast_rule,
    label_rule,
    swing_after_amplitude,
    swing_amplitude,
    swing_rule,
    unsettled_rule,
)
from imu_pipeline.reps.segmenter import RepBounds, RepSegmenter


@dataclass
class Rep:
    """One assessed rep. Angles in degrees, rates in deg/s, times in s (an output edge).

    ``decided_by`` holds, for the label and each flag, the numbers and the rule that decided it.
    """

    index: int
    start_s: float
    peak_s: float
    end_s: float
    label: str | None  # None: the pelvis did not see enough of the top to tell (label_confidence 'none')
    momentum: bool | None  # None: not judged (a partial rep)
    momentum_reasons: list[str]
    back_arch: bool | None  # None: not judged (a partial rep, or no pelvis with the legs low)
    peak_hip_flexion_deg: float
    thigh_elevation_at_peak_deg: float | None
    peak_posterior_tilt_deg: float
    hip_at_peak_tilt_deg: float | None
    tilt_onset_hip_deg: float | None
    peak_anterior_tilt_low_deg: float
    concentric_s: float
    top_s: float
    eccentric_s: float
    pause_before_next_s: float | None
    peak_rate_up_deg_s: float
    peak_rate_down_deg_s: float
    sparc_up: float | None
    sparc_down: float | None
    swing_amplitude_deg: float | None
    swing_after_amplitude_deg: float | None
    ended_by: str
    has_gap: bool
    pelvis_coverage: float = 1.0
    thigh_coverage: float = 1.0
    label_confidence: str = "normal"  # 'normal', 'low' (the pelvis saw part of the top), 'none' (no label)
    partial: bool = False  # the thigh missed part of the rep: counted once, nothing judged from the missing part
    decided_by: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["momentum_reasons"] = list(self.momentum_reasons)
        d["decided_by"] = dict(self.decided_by)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = None if not math.isfinite(v) else round(v, 3)
        return d

    def __str__(self) -> str:
        if self.momentum is None:
            flags = "momentum not judged (partial rep)"
        else:
            flags = f"MOMENTUM ({', '.join(self.momentum_reasons)})" if self.momentum else "controlled"
        arch = ", back arch" if self.back_arch else ""
        hip = f"{self.peak_hip_flexion_deg:5.1f}°" if math.isfinite(self.peak_hip_flexion_deg) else "  n/a "
        tilt = f"{self.peak_posterior_tilt_deg:+5.1f}°" if math.isfinite(self.peak_posterior_tilt_deg) else "  n/a "
        label = self.label if self.label is not None else "no label"
        if self.label_confidence == "low":
            label += " (low)"
        tempo = (f"up {self.concentric_s:.1f} s / down {self.eccentric_s:.1f} s"
                 if math.isfinite(self.concentric_s) and math.isfinite(self.eccentric_s) else "tempo n/a")
        return (f"rep {self.index + 1:>2} {self.start_s:7.2f}-{self.end_s:7.2f} s  {label:<24}  hip "
                f"{hip}  tilt {tilt}  {tempo}  {flags}{arch}")


def assess_rep(w: AngleWindow, b: RepBounds, cfg: PipelineConfig, pose: str, index: int,
               prev_end_s: float | None, sensor_rate_hz: float | None = None) -> Rep:
    """Measures, label and flags of one rep (pure function of the samples and the bounds).

    Hanging, the swing after the rep is judged on ``w`` up to ``momentum.swing_after_s`` past the
    rep's end (:func:`~imu_pipeline.reps.rules.swing_after_window`): the live path calls this once
    it has those samples."""
    lc, mc = cfg.labels, cfg.momentum
    hanging = pose == "hanging"
    # the rep's measured end lies at most phase_search_s + bounce_window_s past the segmenter's
    after_w = w.between(b.start_s, b.end_s + cfg.reps.phase_search_s + mc.bounce_window_s + mc.swing_after_s)
    w = w.between(b.start_s - lc.tilt_reference_lookback_s - mc.swing_lookback_s,
                  b.end_s + cfg.reps.phase_search_s + mc.bounce_window_s)
    # a rep the thigh went silent in: its top was seen only if it had come down before the gap; a
    # rep the data resumed into: only if it still rose after
    top_seen = not b.partial or (_fell_before(w, b, cfg.reps.reversal_deg) if b.ended_by in ("gap", "end-of-data")
                                 else _rose_after(w, b, cfg.reps.reversal_deg))
    m, b = measure_rep(w, b, cfg, prev_end_s)
    label = label_rule(m, lc)
    decided: dict[str, Any] = {
        "peak_posterior_tilt_deg": _round(m.peak_posterior_tilt_deg, 2),
        "needed_posterior_tilt_deg": lc.abdominal_min_posterior_tilt_deg,
        "hip_at_peak_tilt_deg": None if m.hip_at_peak_tilt_deg is None else round(m.hip_at_peak_tilt_deg, 1),
        "needed_hip_deg": lc.abdominal_min_hip_deg,
    }
    swing_amp = swing_amplitude(w, m.start_s, prev_end_s, mc) if hanging else None
    swing_after = swing_after_amplitude(after_w, m.end_s, mc, cfg.reps.onset_deg) if hanging else None
    kicked = swing_rule(swing_amp, swing_after, mc)
    reasons: list[str] = []
    # a rule whose time threshold spans fewer than momentum.min_samples_per_threshold sample
    # intervals of the slower sensor cannot be judged at that rate: said, not guessed
    bounce = bounce_rule(m, b, mc)
    if sensor_rate_hz and mc.min_samples_per_threshold / sensor_rate_hz > mc.bounce_max_pause_s:
        bounce = None
        decided["bounce"] = (f"not judged: at {sensor_rate_hz:g} Hz a pause of {mc.bounce_max_pause_s:g} s spans "
                             f"fewer than {mc.min_samples_per_threshold:g} samples")
    for name, why in (("fast", fast_rule(m, b, mc)), ("drop", drop_rule(m, b, mc)), ("bounce", bounce),
                      ("swing", kicked), ("unsettled", unsettled_rule(swing_amp, kicked is not None, mc))):
        if why is not None:
            reasons.append(name)
            decided[name] = why
    confidence = "normal"
    label_or_none: str | None = label
    if m.pelvis_coverage < lc.min_pelvis_coverage:
        confidence, label_or_none = "none", None
        decided["label_confidence"] = (f"none: the pelvis sensor saw only {100 * m.pelvis_coverage:.0f} % of the top "
                                       "of this rep; whether the pelvis curled cannot be told")
    elif not math.isfinite(m.peak_posterior_tilt_deg):
        confidence, label_or_none = "none", None
        decided["label_confidence"] = ("none: the pelvis sensor was silent when this rep started and for longer "
                                       f"than [labels] tilt_reference_lookback_s ({lc.tilt_reference_lookback_s:g} s) "
                                       "before: its curl has no reference to be measured from")
    elif m.pelvis_coverage < lc.full_pelvis_coverage:
        confidence = "low"
        decided["label_confidence"] = (f"low: the pelvis sensor saw {100 * m.pelvis_coverage:.0f} % of the top of "
                                       "this rep; the label assumes no curl where it could not see")
    back_arch: bool | None = back_arch_rule(m, lc)
    if not back_arch and not m.tilt_seen_low:
        back_arch = None  # the pelvis was never seen with the legs low: not judged
    partial = b.partial or m.thigh_coverage < lc.min_thigh_coverage
    momentum: bool | None = bool(reasons)
    peak_hip = m.peak_hip_deg
    if not top_seen:  # the data resumed with the rep under way and on its way down: its top is unknown
        confidence, label_or_none, peak_hip = "none", None, math.nan
        decided["label_confidence"] = ("none: the thigh sensor went silent before this rep came down; its top "
                                       "was not seen" if b.ended_by == "gap" else
                                       "none: the thigh sensor came back with this rep under way; its top was "
                                       "not seen")
    elif partial and confidence == "normal" and b.ended_by != "end-of-data":  # (cut at the end: its top was seen)
        confidence = "low"
        decided["label_confidence"] = ("low: the thigh sensor missed part of this rep; the label rests on the "
                                       "part it saw")
    if partial:
        seen = ("the recording ended before this rep came back down" if b.ended_by == "end-of-data" else
                "the thigh sensor went silent during this rep" if b.ended_by == "gap" and m.thigh_coverage >= 0.999
                else f"the thigh sensor saw {100 * m.thigh_coverage:.0f} % of this rep")
        decided["partial"] = (f"{seen}: counted once; tempo, momentum and back arch are not judged from what is "
                              "missing")
        momentum, reasons, back_arch = None, [], None
        for k in MOMENTUM_REASONS:
            decided.pop(k, None)
        m.concentric_s = m.top_s = m.eccentric_s = math.nan
    rep = Rep(index=index, start_s=m.start_s, peak_s=m.peak_s, end_s=m.end_s, label=label_or_none,
               momentum=momentum, momentum_reasons=reasons, back_arch=back_arch, peak_hip_flexion_deg=peak_hip,
               thigh_elevation_at_peak_deg=m.thigh_at_peak_deg if pose == "lying" else None,
               peak_posterior_tilt_deg=m.peak_posterior_tilt_deg, hip_at_peak_tilt_deg=m.hip_at_peak_tilt_deg,
               tilt_onset_hip_deg=m.tilt_onset_hip_deg, peak_anterior_tilt_low_deg=m.peak_anterior_tilt_low_deg,
               concentric_s=m.concentric_s, top_s=m.top_s, eccentric_s=m.eccentric_s,
               pause_before_next_s=None if not math.isfinite(b.pause_s) else b.pause_s,
               peak_rate_up_deg_s=m.peak_rate_up_deg_s, peak_rate_down_deg_s=m.peak_rate_down_deg_s,
               sparc_up=m.sparc_up, sparc_down=m.sparc_down, swing_amplitude_deg=swing_amp,
               swing_after_amplitude_deg=swing_after, ended_by=b.ended_by,
               has_gap=b.has_gap or partial or m.pelvis_coverage < 1.0, pelvis_coverage=m.pelvis_coverage,
               thigh_coverage=m.thigh_coverage,
               label_confidence=confidence, partial=partial, decided_by=decided)
    swung = max((a for a in (swing_amp, swing_after) if a is not None), default=0.0)
    if swung >= mc.swing_min_amplitude_deg:  # the pendulum tilts the pelvis too: it may make or hide a curl
        rep = doubt_label(rep, f"low: the body swung about ±{swung:.1f}° around this rep; part of the pelvic tilt "
                               "may be the swing, not a curl")
    return rep


def doubt_label(r: Rep, why: str) -> Rep:
    """The rep with a 'normal' label lowered to 'low' confidence, saying why (``decided_by``)."""
    if r.label is None or r.label_confidence != "normal":
        return r
    return dataclasses.replace(r, label_confidence="low", decided_by={**r.decided_by, "label_confidence": why})


def _fell_before(w: AngleWindow, b: RepBounds, fall_deg: float) -> bool:
    """A rep the thigh went silent in: had hip flexion come down by ``fall_deg`` from its highest
    before the gap (so its top was seen)?"""
    seg = w.between(b.start_s, b.end_s)
    hip = seg.hip_deg[np.isfinite(seg.hip_deg)]
    return bool(hip.size) and float(np.max(hip) - hip[-1]) >= fall_deg


def _rose_after(w: AngleWindow, b: RepBounds, rise_deg: float) -> bool:
    """A rep the data resumed into: did hip flexion still rise by ``rise_deg`` after the resume (so
    its top was seen)?"""
    seg = w.between(b.start_s, b.end_s)
    hip = seg.hip_deg[np.isfinite(seg.hip_deg)]
    return bool(hip.size) and float(np.max(hip) - hip[0]) >= rise_deg


def _round(x: float, nd: int) -> float | None:
    return round(x, nd) if math.isfinite(x) else None


def analyze_reps(w: AngleWindow, cfg: PipelineConfig, pose: str, sensor_rate_hz: float | None = None) -> list[Rep]:
    """Offline: run the causal segmenter over the whole series, then assess each rep."""
    seg = RepSegmenter(cfg, w.fs_hz)
    bounds = seg.push(w.time_s, w.hip_deg) + seg.finish()
    reps: list[Rep] = []
    for i, b in enumerate(bounds):
        reps.append(assess_rep(w, b, cfg, pose, i, reps[-1].end_s if reps else None, sensor_rate_hz))
    return reps


class PelvisGapBridge:
    """Hip flexion for segmentation where only the pelvis is missing: thigh angle minus the last
    known tilt, so a rep is not lost to a pelvis dropout (the reported hip flexion stays empty
    there). Stateful so that the live path, batch by batch, bridges as the offline path does."""

    def __init__(self) -> None:
        self.last_tilt = math.nan

    def bridge(self, hip: np.ndarray, thigh: np.ndarray, tilt: np.ndarray) -> np.ndarray:
        """(N,) hip flexion (any unit, as the inputs) with pelvis-only gaps filled."""
        t = np.array(tilt, dtype=float)
        if t.size and not np.isfinite(t[0]) and math.isfinite(self.last_tilt):
            t[0] = self.last_tilt
        ok = np.isfinite(t)
        if not ok.any():
            held = np.zeros_like(t)  # no tilt known at all: a still pelvis
        else:
            idx = np.where(ok, np.arange(len(t)), 0)
            np.maximum.accumulate(idx, out=idx)
            held = t[idx]
            first = int(np.flatnonzero(ok)[0])
            held[:first] = t[first]
            self.last_tilt = float(t[ok][-1])
        return np.where(np.isfinite(hip), hip, thigh - held)


def angle_window(t: np.ndarray, hip_rad: np.ndarray, tilt_rad: np.ndarray, thigh_rad: np.ndarray,
                 thigh_rate: np.ndarray, pelvis_rate: np.ndarray, fs_hz: float,
                 bridge: PelvisGapBridge | None = None, max_extension_deg: float = 45.0) -> AngleWindow:
    """Degrees for the rep stage, with pelvis-only gaps of hip flexion bridged for segmentation.
    Where the thigh is further than ``max_extension_deg`` below its start pose (``[reps]
    max_extension_deg``: no hip extends that far; standing up beside a lying set) the segmenter sees
    no hip flexion: it is not the exercise, and its level must not become a rep's baseline."""
    bridge = bridge or PelvisGapBridge()
    hip = bridge.bridge(hip_rad, thigh_rad, tilt_rad)
    hip = np.where(thigh_rad < -np.radians(max_extension_deg), np.nan, hip)
    hip_rate = thigh_rate - np.nan_to_num(pelvis_rate)
    return AngleWindow(t, np.degrees(hip), np.isfinite(hip_rad), np.degrees(tilt_rad), np.degrees(thigh_rad),
                       np.degrees(hip_rate), np.degrees(thigh_rate), np.degrees(pelvis_rate), fs_hz)


def window_from_angles(ang: JointAngles, fs_hz: float, max_extension_deg: float = 45.0) -> AngleWindow:
    """The rep stage's window of a whole session."""
    return angle_window(ang.time_s, ang.hip_flexion, ang.pelvic_tilt, ang.thigh_angle, ang.thigh_rate,
                        ang.pelvis_rate, fs_hz, max_extension_deg=max_extension_deg)


def rep_totals(reps: list[Rep]) -> dict[str, Any]:
    """Counts over a session's reps (the one definition the text, JSON, replay and batch use)."""
    n = len(reps)
    ab = sum(r.label == LABEL_ABDOMINAL for r in reps)
    hf = sum(r.label == LABEL_HIP_FLEXOR for r in reps)
    judged = sum(r.momentum is not None for r in reps)
    mom = sum(bool(r.momentum) for r in reps)
    reasons: dict[str, int] = {}
    for r in reps:
        for k in r.momentum_reasons:
            reasons[k] = reasons.get(k, 0) + 1

    def med(vals: list[float], nd: int) -> float | None:
        v = [x for x in vals if x is not None and math.isfinite(x)]
        return round(float(np.median(v)), nd) if v else None

    return {
        "reps": n, "abdominal_engaging": ab, "hip_flexor_only": hf, "unlabelled": n - ab - hf,
        "low_confidence_labels": sum(r.label is not None and r.label_confidence == "low" for r in reps),
        "partial": sum(r.partial for r in reps), "momentum": mom, "controlled": judged - mom,
        "momentum_reasons": reasons, "back_arch": sum(bool(r.back_arch) for r in reps),
        "median_concentric_s": med([r.concentric_s for r in reps], 2),
        "median_eccentric_s": med([r.eccentric_s for r in reps], 2),
        "median_peak_hip_flexion_deg": med([r.peak_hip_flexion_deg for r in reps], 1),
    }
