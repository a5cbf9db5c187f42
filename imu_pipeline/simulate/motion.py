"""The leg-raise motion: rep plans, hip flexion knots, the pelvis curl and the whole-body swing
(degrees at this edge, as the options give them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_pipeline.simulate.options import MOMENTUM_KINDS, SimulationOptions


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


def smoothstep(x: np.ndarray) -> np.ndarray:
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


def plan_reps(o: SimulationOptions, rng: np.random.Generator) -> tuple[list[RepPlan], Knots, list[tuple[float, float]]]:
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


def pelvis_curl(hip_deg: np.ndarray, t: np.ndarray, plans: list[RepPlan]) -> np.ndarray:
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
            w *= smoothstep((tt - bounds[i - 1] + 0.1) / 0.2)
        if i + 1 < len(plans):
            w *= 1 - smoothstep((tt - bounds[i] + 0.1) / 0.2)
        h = hip_deg[idx]
        # anterior tilt while the legs are low: hip flexors pulling on the lumbar spine
        ant = -p.anterior_deg * np.sin(np.pi * np.clip(h / 70.0, 0.0, 1.0)) ** 4
        post = p.curl_deg * smoothstep((h - p.curl_onset_deg) / max(p.peak_deg - p.curl_onset_deg, 5.0))
        curl[idx] += w * (ant + post)
    return curl


def swing_signal(t: np.ndarray, plans: list[RepPlan], rng: np.random.Generator, pose: str) -> np.ndarray:
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
        ramp = smoothstep(dt[m] / 0.8)
        out[m] += amp * ramp * np.exp(-dt[m] / tau) * np.sin(2 * np.pi * f * dt[m])
    return out


def slow_noise(t: np.ndarray, rng: np.random.Generator, amp_deg: float, period_s: float = 6.0) -> np.ndarray:
    """A smooth random signal (sum of a few sinusoids), deg."""
    out = np.zeros_like(t)
    for _ in range(3):
        f = rng.uniform(0.3, 1.5) / period_s
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return amp_deg * out / 3.0
