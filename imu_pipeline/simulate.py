"""Kinematic leg-raise simulator with ground truth.

A two-segment body (pelvis + thigh) performs lying or hanging leg raises.  The motion is
defined by three angle signals, all rotations about the segments' right (flexion) axis:

* ``hip(t)`` — hip flexion, thigh relative to pelvis (truth);
* ``curl(t)`` — the pelvis's own rotation (posterior positive);
* ``swing(t)`` — whole-body pendulum swing about the bar (hanging only).

Pelvic tilt (truth, global frame, GUIDE section 3) is ``curl + swing``.  Small
out-of-plane motions (pelvic obliquity/rotation, hip abduction/rotation) are added so the
estimator is not fed a perfectly planar movement.  Sensor signals follow physically from
the segment poses: angular rate in the sensor frame from the rotation history, specific
force ``R_ws^T (a - g)`` from the second derivative of the sensor's position.  Then they are
corrupted like real sensors: strap misalignment, soft-tissue wobble, bias, scale error,
white noise, int16 quantisation, clock drift, packet loss, a disconnect, different rates
per sensor.

All maths in SI units and radians; degrees only in options and truth files.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imu_pipeline.errors import OutputExistsError
from imu_pipeline.frames import GRAVITY_M_S2, axis_angle_matrix, mounting_matrix
from imu_pipeline.io.recording import Recording, SensorSamples, write_recording

DEG = math.pi / 180.0
REP_KINDS = ("hip-flexor", "abdominal", "fast", "drop", "bounce", "swing")
MOMENTUM_KINDS = ("fast", "drop", "bounce", "swing")
#: Natural frequency (Hz) of the pelvis's critically damped response to the hip-driven curl.
PELVIS_RESPONSE_HZ = 2.0
#: A rep that starts while the body still swings this much (deg, amplitude) is a momentum rep.
SWING_TRUTH_DEG = 3.0
POSES = ("lying", "hanging")

# Base pose: columns are the segment X (anterior), Y (superior), Z (right) axes in the world
# frame (z up) when both angles are zero.
POSE_MATRIX = {
    "lying": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),  # X up, Y -> +x, Z -> +y
    "hanging": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # X -> +x, Y up, Z -> -y
}

# Where a sensor can sit and the mountings that put its z axis out of the skin there.
PLACEMENTS: dict[str, dict[str, Any]] = {
    "thigh-anterior": {"offset": (0.07, -0.20, 0.03), "mountings": [
        {"x": "inferior", "y": "left"}, {"x": "superior", "y": "right"},
        {"x": "right", "y": "inferior"}, {"x": "left", "y": "superior"}]},
    "thigh-lateral": {"offset": (0.0, -0.18, 0.08), "mountings": [
        {"x": "anterior", "y": "superior"}, {"x": "inferior", "y": "anterior"},
        {"x": "superior", "y": "posterior"}]},
    "pelvis-anterior": {"offset": (0.14, 0.02, 0.0), "mountings": [
        {"x": "superior", "y": "right"}, {"x": "left", "y": "superior"}, {"x": "inferior", "y": "left"}]},
    "pelvis-posterior": {"offset": (-0.11, 0.03, 0.0), "mountings": [
        {"x": "superior", "y": "left"}, {"x": "right", "y": "superior"}, {"x": "left", "y": "inferior"}]},
    "pelvis-lateral": {"offset": (0.0, 0.0, 0.14), "mountings": [
        {"x": "anterior", "y": "superior"}, {"x": "inferior", "y": "anterior"}]},
}


@dataclass
class SimulationOptions:
    """Everything that defines a simulated session (degrees/Hz/s at this edge)."""

    seed: int = 0
    pose: str = "lying"
    n_reps: int = 8
    mix: tuple[str, ...] = ("hip-flexor", "abdominal", "fast", "drop", "bounce")
    thigh_rate_hz: float = 100.0
    pelvis_rate_hz: float = 100.0
    noise: float = 1.0  # multiplies the default noise/bias levels; 0 = ideal sensors
    packet_loss: float = 0.0  # probability that a packet is lost
    packet_samples: int = 0  # samples per packet; 0 = 20-40 ms of samples (drawn per sensor)
    jitter_s: float = 0.0  # host time stamps off by up to ± this (uniform), as a BLE host writes them
    disconnect: bool = False  # one sensor drops out for a few seconds mid-session
    start_still: bool = True  # a still period in the neutral pose before the first rep
    end_still: bool = True  # a still period at the end
    rest_s: tuple[float, float] = (0.8, 2.5)  # rest between reps (uniform range)
    touch_and_go: float = 0.0  # fraction of reps followed by no rest at all
    misalignment_deg: float = 12.0  # strap misalignment (random axis), up to this
    declare_mounting: bool = True
    fidgets: int = 0  # small partial twitches (< 20 deg) that are not reps
    clock_drift_ppm: float = 40.0  # |drift| up to this; recorded times use the nominal rate
    quantize: bool = True

    def __post_init__(self) -> None:
        if self.pose not in POSES:
            raise ValueError(f"pose must be one of {POSES}, got {self.pose!r}")
        bad = [k for k in self.mix if k not in REP_KINDS]
        if bad:
            raise ValueError(f"unknown rep kind(s) {bad}; choose from {', '.join(REP_KINDS)}")
        if "swing" in self.mix and self.pose != "hanging":
            raise ValueError("rep kind 'swing' exists only in hanging raises (--pose hanging)")
        if not self.mix:
            raise ValueError("the rep mix is empty")
        if self.n_reps < 0 or self.n_reps > 500:
            raise ValueError(f"n_reps must be 0..500, got {self.n_reps}")
        for name in ("thigh_rate_hz", "pelvis_rate_hz"):
            r = getattr(self, name)
            if not 10 <= r <= 2000:
                raise ValueError(f"{name} must be 10..2000 Hz, got {r}")
        if not 0 <= self.packet_loss < 0.5:
            raise ValueError(f"packet_loss must be in [0, 0.5), got {self.packet_loss}")
        if self.packet_samples < 0:
            raise ValueError(f"packet_samples must be >= 0, got {self.packet_samples}")
        if not 0 <= self.jitter_s < 0.05:
            raise ValueError(f"jitter_s must be in [0, 0.05) s, got {self.jitter_s}")
        if self.noise < 0:
            raise ValueError("noise must be >= 0")
        if not 0 <= self.touch_and_go <= 1:
            raise ValueError("touch_and_go is a fraction in [0, 1]")
        if not 0 <= self.misalignment_deg <= 45:
            raise ValueError("misalignment_deg must be 0..45")
        lo, hi = self.rest_s
        if not 0 <= lo <= hi:
            raise ValueError("rest_s must be [low, high] with 0 <= low <= high")

    @classmethod
    def from_cli(cls, args: argparse.Namespace) -> "SimulationOptions":
        mix = tuple(k.strip() for k in args.mix.split(",") if k.strip())
        return cls(seed=args.seed, pose=args.pose, n_reps=args.reps, mix=mix,
                   thigh_rate_hz=args.thigh_rate, pelvis_rate_hz=args.pelvis_rate, noise=args.noise,
                   packet_loss=args.packet_loss, packet_samples=args.packet_samples,
                   jitter_s=args.jitter_ms / 1000.0, disconnect=args.disconnect, start_still=not args.no_start_still,
                   end_still=not args.no_end_still, rest_s=(args.rest[0], args.rest[1]), touch_and_go=args.touch_and_go,
                   misalignment_deg=args.misalignment, declare_mounting=not args.no_mounting, fidgets=args.fidgets)


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output recording path (NAME.csv)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--pose", choices=POSES, default="lying", help="lying or hanging leg raises")
    p.add_argument("--reps", type=int, default=8, help="number of reps (default 8)")
    p.add_argument("--mix", default="hip-flexor,abdominal,fast,drop,bounce",
                   help=f"comma-separated rep kinds drawn in turn: {', '.join(REP_KINDS)}")
    p.add_argument("--thigh-rate", type=float, default=100.0, help="thigh sensor rate, Hz")
    p.add_argument("--pelvis-rate", type=float, default=100.0, help="pelvis sensor rate, Hz")
    p.add_argument("--noise", type=float, default=1.0, help="noise/bias level multiplier (0 = ideal)")
    p.add_argument("--packet-loss", type=float, default=0.0, help="probability of losing a packet")
    p.add_argument("--packet-samples", type=int, default=0,
                   help="samples per BLE packet (default 0: 20-40 ms of samples)")
    p.add_argument("--jitter-ms", type=float, default=0.0, help="host time stamps off by up to ± this, ms")
    p.add_argument("--disconnect", action="store_true", help="one sensor drops out for a few seconds")
    p.add_argument("--no-start-still", action="store_true", help="start moving at once")
    p.add_argument("--no-end-still", action="store_true", help="no still period at the end")
    p.add_argument("--rest", type=float, nargs=2, default=(0.8, 2.5), metavar=("MIN", "MAX"),
                   help="rest between reps, s")
    p.add_argument("--touch-and-go", type=float, default=0.0, help="fraction of reps with no rest after")
    p.add_argument("--misalignment", type=float, default=12.0, help="strap misalignment up to this, deg")
    p.add_argument("--no-mounting", action="store_true", help="do not declare the mounting in the sidecar")
    p.add_argument("--fidgets", type=int, default=0, help="number of small non-rep twitches")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


# --------------------------------------------------------------------------- trajectories


class Knots:
    """Piecewise minimum-jerk interpolation through (time, value) knots, rest-to-rest.

    Between consecutive knots the value follows ``v0 + (v1 - v0) * (10s^3 - 15s^4 + 6s^5)``;
    velocity and acceleration are zero at every knot.
    """

    def __init__(self, t: list[float], v: list[float]) -> None:
        self.t = np.asarray(t, dtype=float)
        self.v = np.asarray(v, dtype=float)
        if np.any(np.diff(self.t) <= 0):
            raise ValueError("knot times must increase")

    def __call__(self, tq: np.ndarray) -> np.ndarray:
        tq = np.asarray(tq, dtype=float)
        i = np.clip(np.searchsorted(self.t, tq, side="right") - 1, 0, len(self.t) - 2)
        t0, t1 = self.t[i], self.t[i + 1]
        s = np.clip((tq - t0) / (t1 - t0), 0.0, 1.0)
        shape = s**3 * (10 - 15 * s + 6 * s * s)
        return self.v[i] + (self.v[i + 1] - self.v[i]) * shape


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """Quintic 'smootherstep' 0 -> 1: continuous up to the second derivative (no jerk steps
    that would show as jumps in the accelerometer)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


@dataclass
class RepPlan:
    kind: str
    label: str  # hip-flexor-only | abdominal-engaging
    t_start: float
    t_peak_reach: float
    t_down: float
    t_end: float
    base_deg: float
    peak_deg: float
    anterior_deg: float  # anterior tilt while the legs are low (positive number)
    curl_deg: float  # posterior curl of the pelvis near the top
    curl_onset_deg: float  # hip angle at which the curl starts

    @property
    def momentum(self) -> bool:
        return self.kind in MOMENTUM_KINDS


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


def _plan_reps(o: SimulationOptions, rng: np.random.Generator) -> tuple[list[RepPlan], Knots, list[tuple[float, float]]]:
    """Rep schedule, hip-flexion knots, fidget intervals."""
    lying = o.pose == "lying"
    t = 0.0
    tk: list[float] = [0.0]
    vk: list[float] = [0.0]
    if o.start_still:
        t += rng.uniform(2.0, 3.0)
    else:
        t += 0.05
    plans: list[RepPlan] = []
    n_slots = max(o.n_reps, 1)
    fidget_slots = set(rng.choice(np.arange(1, n_slots + 1), size=min(o.fidgets, n_slots), replace=False).tolist()) \
        if o.fidgets else set()
    fidgets: list[tuple[float, float]] = []
    prev_bounce = False
    for k in range(o.n_reps + 1):
        if k in fidget_slots and k > 0:
            # a small partial twitch (< 20 deg) in the rest before this rep
            a = rng.uniform(6.0, 15.0)
            d = rng.uniform(0.3, 0.7)
            t += 0.4
            tk += [t, t + d, t + 2 * d]
            vk += [0.0, a, 0.0]
            fidgets.append((t, t + 2 * d))
            t += 2 * d + 0.6
        if k == o.n_reps:
            break
        kind = o.mix[k % len(o.mix)]
        label = "abdominal-engaging" if (kind == "abdominal" or (kind not in ("hip-flexor", "abdominal") and rng.random() < 0.5)) \
            else "hip-flexor-only"
        if label == "abdominal-engaging":
            peak = rng.uniform(98, 125) if lying else rng.uniform(105, 135)
            curl = rng.uniform(13, 28)
            onset = rng.uniform(68, 82)
        else:
            peak = rng.uniform(68, 86) if lying else rng.uniform(72, 95)
            curl = rng.uniform(0.0, 2.5)
            onset = rng.uniform(50, 65)
        anterior = rng.uniform(1.5, 4.0) if rng.random() > 0.2 else rng.uniform(9.0, 12.0)
        base = 0.0 if not prev_bounce else vk[-1]
        if kind in ("hip-flexor", "abdominal"):
            tu, top, td = rng.uniform(1.4, 2.2), rng.uniform(0.25, 0.6), rng.uniform(1.5, 2.4)
        elif kind == "fast":
            tu, top, td = rng.uniform(0.45, 0.7), rng.uniform(0.0, 0.1), rng.uniform(0.45, 0.7)
        elif kind == "drop":
            tu, top, td = rng.uniform(1.4, 2.0), rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.45)
        elif kind == "bounce":
            tu, top, td = rng.uniform(0.9, 1.3), rng.uniform(0.0, 0.15), rng.uniform(0.5, 0.65)
        else:  # swing
            tu, top, td = rng.uniform(0.6, 0.9), rng.uniform(0.0, 0.1), rng.uniform(0.6, 0.9)
        t0 = t
        if t0 > tk[-1] + 1e-6:
            tk.append(t0)
            vk.append(vk[-1])
        tk += [t0 + tu] + ([t0 + tu + top] if top > 0.02 else [])
        vk += [peak] + ([peak - rng.uniform(0.5, 2.0)] if top > 0.02 else [])
        t_down = tk[-1]
        t_end = t_down + td
        bottom = 0.0
        tk.append(t_end)
        vk.append(bottom)
        plans.append(RepPlan(kind, label, t0, t0 + tu, t_down, t_end, base, peak, anterior, curl, onset))
        prev_bounce = False
        if kind == "bounce":
            # immediate reversal: a rebound off the bottom, no pause
            tk += [t_end + 0.14, t_end + 0.3]
            vk += [rng.uniform(6.0, 9.0), rng.uniform(2.5, 4.0)]
            t = t_end + 0.3
            prev_bounce = k + 1 < o.n_reps
            if prev_bounce:
                continue
            t += 0.5
            tk.append(t)
            vk.append(0.0)
            continue
        if rng.random() < o.touch_and_go and k + 1 < o.n_reps:
            t = t_end
        else:
            t = t_end + rng.uniform(*o.rest_s)
            tk.append(t)
            vk.append(0.0)
    if o.end_still:
        t += rng.uniform(2.0, 3.0)
    else:
        t += 0.3
    if t > tk[-1] + 1e-6:
        tk.append(t)
        vk.append(vk[-1])
    # remove duplicate times (touch-and-go knots)
    tk_a, vk_a = [tk[0]], [vk[0]]
    for ti, vi in zip(tk[1:], vk[1:]):
        if ti - tk_a[-1] > 1e-6:
            tk_a.append(ti)
            vk_a.append(vi)
    return plans, Knots(tk_a, vk_a), fidgets


def _pelvis_curl(hip_deg: np.ndarray, t: np.ndarray, plans: list[RepPlan]) -> np.ndarray:
    """The pelvis's own rotation (deg, posterior +), driven by the hip angle within each rep.

    Each rep's shape applies around its own time span; neighbouring reps hand over with a
    smooth 0.2 s cross-fade (a partition of unity), so the tilt never jumps between reps.
    """
    curl = np.zeros_like(hip_deg)
    if not plans:
        return curl
    order = np.argsort(t, kind="stable")
    ts = t[order]
    bounds = [p.t_start for p in plans[1:]]
    for i, p in enumerate(plans):
        # the span where this rep's weight is non-zero (memory stays O(rep), not O(session))
        lo = bounds[i - 1] - 0.1 if i > 0 else -np.inf
        hi = bounds[i] + 0.1 if i + 1 < len(plans) else np.inf
        a, b = np.searchsorted(ts, [lo, hi])
        idx = order[a:b]
        tt = t[idx]
        w = np.ones_like(tt)
        if i > 0:
            w *= _smoothstep((tt - bounds[i - 1] + 0.1) / 0.2)
        if i + 1 < len(plans):
            w *= 1 - _smoothstep((tt - bounds[i] + 0.1) / 0.2)
        h = hip_deg[idx]
        # anterior tilt while the legs are low: hip flexors pulling on the lumbar spine
        ant = -p.anterior_deg * np.sin(np.pi * np.clip(h / 70.0, 0.0, 1.0)) ** 4
        post = p.curl_deg * _smoothstep((h - p.curl_onset_deg) / max(p.peak_deg - p.curl_onset_deg, 5.0))
        curl[idx] += w * (ant + post)
    return curl


def _swing(t: np.ndarray, plans: list[RepPlan], rng: np.random.Generator, pose: str) -> np.ndarray:
    """Whole-body pendulum swing (deg) about the bar: excited by swing reps, decays slowly."""
    out = np.zeros_like(t)
    if pose != "hanging":
        return out
    f = rng.uniform(0.38, 0.48)
    for p in plans:
        if p.kind != "swing":
            continue
        amp = rng.uniform(4.0, 6.0)
        tau = rng.uniform(8.0, 14.0)
        dt = t - p.t_start
        m = dt > 0
        ramp = _smoothstep(dt[m] / 0.8)
        out[m] += amp * ramp * np.exp(-dt[m] / tau) * np.sin(2 * np.pi * f * dt[m])
    return out


def _slow_noise(t: np.ndarray, rng: np.random.Generator, amp_deg: float, period_s: float = 6.0) -> np.ndarray:
    """A smooth random signal (sum of a few sinusoids), deg."""
    out = np.zeros_like(t)
    for _ in range(3):
        f = rng.uniform(0.3, 1.5) / period_s
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return amp_deg * out / 3.0


class _Body:
    """Segment and sensor poses as functions of time (world frame, z up)."""

    def __init__(self, o: SimulationOptions, rng: np.random.Generator) -> None:
        self.o = o
        self.rng = rng
        self.plans, self.hip_knots, self.fidgets = _plan_reps(o, rng)
        self.pose = POSE_MATRIX[o.pose]
        self.oop_seed = {k: (rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.05, 0.25, 3)) for k in
                         ("pob", "prot", "habd", "hrot")}
        self.swing_rng_state = rng.bit_generator.state
        self.wobble = [(p.t_start, p.t_peak_reach, p.t_down, p.t_end) for p in self.plans]
        self.wobble_params = {s: (rng.uniform(9, 14), rng.uniform(0.06, 0.12), rng.normal(size=3)) for s in
                              ("thigh", "pelvis")}
        self.pelvis_pivot = np.array([0.0, 0.0, 0.10]) if o.pose == "lying" else np.array([0.0, 0.0, 2.2])
        self._curl_spline = self._pelvis_response()

    def _pelvis_response(self) -> Any:
        """The pelvis cannot follow a thrown leg instantly: its curl is the hip-driven target
        passed through a critically damped 2nd-order response (``PELVIS_RESPONSE_HZ``), computed
        on a 1 ms grid and interpolated by a C2 cubic spline."""
        from scipy import signal  # imported here: the CLI should not pay for it unless simulating
        from scipy.interpolate import CubicSpline

        dt = 1e-3
        tg = np.arange(-0.5, float(self.hip_knots.t[-1]) + 0.5, dt)
        target = _pelvis_curl(self.hip_knots(tg), tg, self.plans)
        wn = 2 * np.pi * PELVIS_RESPONSE_HZ
        b, a = signal.bilinear([wn * wn], [1.0, 2 * wn, wn * wn], fs=1 / dt)
        zi = signal.lfilter_zi(b, a) * target[0]
        curl, _ = signal.lfilter(b, a, target, zi=zi)
        return CubicSpline(tg, curl)

    def angles_deg(self, t: np.ndarray) -> dict[str, np.ndarray]:
        hip = self.hip_knots(t)
        curl = self._curl_spline(t)
        rng = np.random.default_rng()
        rng.bit_generator.state = self.swing_rng_state
        swing = _swing(t, self.plans, rng, self.o.pose)

        def oop(key: str, amp: float) -> np.ndarray:
            ph, fr = self.oop_seed[key]
            return amp * sum(np.sin(2 * np.pi * fr[i] * t + ph[i]) for i in range(3)) / 3.0

        # out-of-plane motion only while the legs move (rest stays still); abduction and
        # rotation grow a little with flexion (smoothly saturating)
        env = _smoothstep(hip / 60.0)
        hf = 1.3 * np.tanh(hip / (90.0 * 1.3))
        return {
            "hip": hip, "curl": curl, "swing": swing, "tilt": curl + swing,
            "pelvis_obliquity": env * oop("pob", 1.5), "pelvis_rotation": env * oop("prot", 2.0),
            "hip_abduction": env * oop("habd", 1.0) + 2.0 * hf, "hip_rotation": env * oop("hrot", 2.0) + 3.0 * hf,
        }

    def segment_rotations(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """World-from-segment rotations (N,3,3) of pelvis and thigh."""
        a = self.angles_deg(t)
        Rp = np.einsum("ij,njk->nik", self.pose, _euler_zxy(a["tilt"] * DEG, a["pelvis_obliquity"] * DEG,
                                                            a["pelvis_rotation"] * DEG))
        Rh = _euler_zxy(a["hip"] * DEG, a["hip_abduction"] * DEG, a["hip_rotation"] * DEG)
        Rt = np.einsum("nij,njk->nik", Rp, Rh)
        return Rp, Rt, a

    def wobble_rot(self, sensor: str, t: np.ndarray) -> np.ndarray:
        """Soft-tissue wobble: damped oscillations of the sensor on the skin after each phase change."""
        f, tau, axis = self.wobble_params[sensor]
        ang = np.zeros_like(t)
        scale = (0.6 if sensor == "thigh" else 0.3) * DEG
        for p in self.plans:
            speed = abs(p.peak_deg) / max(p.t_peak_reach - p.t_start, 0.2) / 90.0  # ~1 for 1 s up
            for tb in (p.t_start, p.t_peak_reach, p.t_down, p.t_end):
                i0, i1 = np.searchsorted(t, [tb, tb + 10 * tau])
                dt = t[i0:i1] - tb
                ang[i0:i1] += scale * speed * np.exp(-dt / tau) * np.sin(2 * np.pi * f * dt)
        axis = axis / np.linalg.norm(axis)
        return _axis_angle_batch(axis, ang)

    def sensor_pose(self, sensor: str, t: np.ndarray, R_seg_sensor: np.ndarray, offset: np.ndarray,
                    wobble: bool) -> tuple[np.ndarray, np.ndarray]:
        """World-from-sensor rotation (N,3,3) and sensor position (N,3), m."""
        Rp, Rt, a = self.segment_rotations(t)
        if self.o.pose == "lying":
            pivot = np.broadcast_to(self.pelvis_pivot, (len(t), 3))
            # the pelvis rolls on the sacrum: its centre sits ~10 cm anterior-superior of the floor contact
            centre = pivot + np.einsum("nij,j->ni", Rp, np.array([0.08, 0.0, 0.0]))
        else:
            bar = self.pelvis_pivot
            Rs = np.einsum("ij,njk->nik", self.pose, _euler_zxy(a["swing"] * DEG, 0 * t, 0 * t))
            centre = bar + np.einsum("nij,j->ni", Rs, np.array([0.0, -1.25, 0.0]))
        hip_joint = centre + np.einsum("nij,j->ni", Rp, np.array([0.04, -0.07, 0.09]))
        R_seg = Rt if sensor == "thigh" else Rp
        origin = hip_joint if sensor == "thigh" else centre
        pos = origin + np.einsum("nij,j->ni", R_seg, offset)
        R_ws = np.einsum("nij,jk->nik", R_seg, R_seg_sensor)
        if wobble:
            R_ws = np.einsum("nij,njk->nik", R_ws, self.wobble_rot(sensor, t))
        return R_ws, pos


def _euler_zxy(z: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R = Rz(z) @ Rx(x) @ Ry(y) for arrays of angles (rad); the flexion angle comes first."""
    cz, sz, cx, sx, cy, sy = np.cos(z), np.sin(z), np.cos(x), np.sin(x), np.cos(y), np.sin(y)
    n = np.broadcast(z, x, y).shape
    Rz = np.zeros(n + (3, 3))
    Rz[..., 0, 0], Rz[..., 0, 1], Rz[..., 1, 0], Rz[..., 1, 1], Rz[..., 2, 2] = cz, -sz, sz, cz, 1
    Rx = np.zeros(n + (3, 3))
    Rx[..., 0, 0], Rx[..., 1, 1], Rx[..., 1, 2], Rx[..., 2, 1], Rx[..., 2, 2] = 1, cx, -sx, sx, cx
    Ry = np.zeros(n + (3, 3))
    Ry[..., 0, 0], Ry[..., 0, 2], Ry[..., 1, 1], Ry[..., 2, 0], Ry[..., 2, 2] = cy, sy, 1, -sy, cy
    return Rz @ Rx @ Ry


def _axis_angle_batch(axis: np.ndarray, ang: np.ndarray) -> np.ndarray:
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    s = np.sin(ang)[:, None, None]
    c = np.cos(ang)[:, None, None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def _log_so3(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (N,3) of rotation matrices (N,3,3)."""
    tr = np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    th = np.arccos(tr)
    v = np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], axis=1)
    k = np.where(th > 1e-9, th / (2 * np.sin(np.maximum(th, 1e-12))), 0.5)
    return v * k[:, None]


def ideal_imu(body: _Body, sensor: str, t: np.ndarray, R_seg_sensor: np.ndarray, offset: np.ndarray,
              wobble: bool = True, h: float = 1e-3, interval: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free specific force (m/s²) and angular rate (rad/s) in the sensor frame, plus R_ws.

    With ``interval = 0`` the values are instantaneous: body-frame rate
    ``log(R(t-h)^T R(t+h)) / 2h`` and specific force ``R_ws^T (p''(t) - g)`` with
    ``g = (0, 0, -9.81)``, ``p''`` by central differences.

    A real IMU reports each sample as an average over the sample interval (its decimation
    filter), not an instant: with ``interval = Ts`` the rate is the mean over
    ``[t - Ts, t]``, ``log(R(t-Ts)^T R(t)) / Ts`` (exactly the rotation of the interval), and
    the specific force is taken at the interval's middle.
    """
    R0, p0 = body.sensor_pose(sensor, t, R_seg_sensor, offset, wobble)
    if interval > 0:
        Rb, _ = body.sensor_pose(sensor, t - interval, R_seg_sensor, offset, wobble)
        gyr = _log_so3(np.einsum("nji,njk->nik", Rb, R0)) / interval
        tm = t - interval / 2
        Rc, pc = body.sensor_pose(sensor, tm, R_seg_sensor, offset, wobble)
    else:
        Rm, _ = body.sensor_pose(sensor, t - h, R_seg_sensor, offset, wobble)
        Rp, _ = body.sensor_pose(sensor, t + h, R_seg_sensor, offset, wobble)
        gyr = _log_so3(np.einsum("nji,njk->nik", Rm, Rp)) / (2 * h)
        tm, Rc, pc = t, R0, p0
    _, pm = body.sensor_pose(sensor, tm - h, R_seg_sensor, offset, wobble)
    _, ppl = body.sensor_pose(sensor, tm + h, R_seg_sensor, offset, wobble)
    acc_w = (ppl - 2 * pc + pm) / (h * h)
    f_w = acc_w + np.array([0.0, 0.0, GRAVITY_M_S2])
    acc = np.einsum("nji,nj->ni", Rc, f_w)
    return acc, gyr, R0


# --------------------------------------------------------------------------- corruption


ACC_RANGE = 16 * 9.80665  # ±16 g
GYR_RANGE = 2000 * DEG  # ±2000 deg/s


def _random_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = rng.uniform(0.4, 1.0) * max_deg * DEG
    return axis_angle_matrix(axis, ang)


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
    body = _Body(opts, rng)
    duration = float(body.hip_knots.t[-1])
    sensors: dict[str, SensorSamples] = {}
    meta_sensors: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    placements = {
        "thigh": rng.choice(["thigh-anterior", "thigh-lateral"]),
        "pelvis": rng.choice(["pelvis-anterior", "pelvis-lateral"] if opts.pose == "lying"
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
    truth_mount: dict[str, Any] = {}
    for s in ("thigh", "pelvis"):
        rate = opts.thigh_rate_hz if s == "thigh" else opts.pelvis_rate_hz
        pl = PLACEMENTS[placements[s]]
        declared = pl["mountings"][int(rng.integers(len(pl["mountings"])))]
        R_nom = mounting_matrix(declared)
        R_mis = _random_rotation(rng, opts.misalignment_deg) if opts.misalignment_deg > 0 else np.eye(3)
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
        momentum_kind = p.kind if p.momentum else ("swing" if swing_amp >= SWING_TRUTH_DEG else None)
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
                  "pose": opts.pose, "duration_s": duration}
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
    if not overwrite:
        for p in (out, out.with_suffix(".json"), tc, tj):
            if p.exists():
                raise OutputExistsError(f"{p}: already exists (use --force to overwrite)")
    write_recording(out, sim.recording.sensors, sim.recording.meta, overwrite=True)
    sim.truth.to_csv(tc, index=False, float_format="%.4f")
    tj.write_text(json.dumps(_jsonable({"reps": sim.truth_reps, **sim.truth_meta,
                                        "options": asdict(sim.options)}), indent=2) + "\n")
    return {"csv": out, "truth_csv": tc, "truth_json": tj}


def load_truth(csv_path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``OUT.truth.csv`` and ``OUT.truth.json`` written by :func:`write_simulation`."""
    tc, tj = truth_paths(csv_path)
    return pd.read_csv(tc), json.loads(tj.read_text())


__all__ = ["SimulationOptions", "SimResult", "simulate_session", "write_simulation", "load_truth",
           "REP_KINDS", "MOMENTUM_KINDS", "POSES", "ideal_imu", "Knots"]
