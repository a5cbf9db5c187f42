"""Before and after the set: walking to the mat or the bar, lying down or stepping up, and back.

A session recorded as people record it: press record, walk over (``walk_s``), stand still,
then for a lying set sit down and lie back, for a hanging set step up to the bar; after the set
sit up and stand (lying) or drop to the floor (hanging), and walk away. Everything here is
expressed relative to the exercise pose (degrees and metres at this edge):

* ``posture(t)`` — extra rotation of the whole body about the pelvis's right axis (deg, posterior
  positive): ``-90`` is upright when the set is lying, ``0`` throughout when hanging;
* ``hip(t)`` — hip flexion added to the set's (walking strides, sitting);
* ``offset(t)`` — the pelvis centre's displacement from where the set puts it (m, world frame):
  walking forward, the vertical bounce with a heel strike every step, the floor below the bar.

The pelvis rises and falls once per step (``BOUNCE_M``, ±2.6 m/s² at 1.8 steps/s) and each heel
strike adds a sharp pulse (``STRIKE_M_S2``, ~25 ms wide), integrated twice on a 1 ms grid, so the
accelerometers see them as a real pelvis sensor does, at any sample rate; leg raises have neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_pipeline.simulate.motion import Knots

#: Peak vertical acceleration of the sharp part of a heel strike at the pelvis (m/s²), on top of the
#: once-per-step rise and fall (``BOUNCE_M``); walking pelvis sensors read roughly 0.3-0.6 g peaks.
STRIKE_M_S2 = 5.0
#: Walking speed (m/s), stride frequency (Hz, one stride = two steps) and the strides' hip range (deg).
WALK_SPEED_M_S = 1.2
STRIDE_HZ = 0.9
STRIDE_FLEXION_DEG = (-12.0, 28.0)
#: Half the pelvis's vertical excursion per step while walking (m).
BOUNCE_M = 0.02


@dataclass
class Approach:
    """The walk in and out around a set (see the module docstring).

    Attributes
    ----------
    lead_s : time from the start of the recording to the set's own start (s)
    end_s : end of the recording (s)
    spans : truth spans that are not exercise: (start_s, end_s, what)
    """

    lead_s: float
    end_s: float
    spans: list[tuple[float, float, str]]
    _posture: Knots
    _hip: Knots
    _walk: list[tuple[float, float]]
    _offset: list[Knots]
    _bounce: object  # scipy CubicSpline of the vertical bounce (m)

    @classmethod
    def plan(cls, pose: str, set_s: float, rng: np.random.Generator) -> Approach:
        """Plan the approach around a set lasting ``set_s`` (s, in set time starting at 0)."""
        walk_in, walk_out = rng.uniform(5.0, 8.0), rng.uniform(5.0, 8.0)
        stand = rng.uniform(1.0, 2.0)
        spans: list[tuple[float, float, str]] = []
        t = 0.2
        w_in = (t, t + walk_in)
        t += walk_in + stand
        lying = pose == "lying"
        up = -90.0 if lying else 0.0
        if lying:
            sit, lie = rng.uniform(1.0, 1.5), rng.uniform(1.5, 2.2)
            pk_t = [0.0, t, t + sit, t + sit + lie]
            pk_v = [up, up, up, 0.0]
            hk_t = [0.0, t, t + sit, t + sit + lie]
            hk_v = [0.0, 0.0, 90.0, 0.0]
            spans.append((0.0, t + sit + lie, "walk in, sit down, lie back"))
            t += sit + lie
        else:
            step = rng.uniform(0.6, 0.9)
            pk_t, pk_v = [0.0, t], [0.0, 0.0]
            hk_t = [0.0, t, t + step / 2, t + step]
            hk_v = [0.0, 0.0, rng.uniform(25.0, 40.0), 0.0]
            spans.append((0.0, t + step, "walk in, step up to the bar"))
            t += step
        lead = t + 0.3  # the set (with its own still start) begins here
        t_end = lead + set_s
        t = t_end + rng.uniform(0.2, 0.5)
        if lying:
            sit_up, stand_up = rng.uniform(1.5, 2.2), rng.uniform(1.0, 1.5)
            pk_t += [t, t + sit_up, t + sit_up + stand_up]
            pk_v += [0.0, up, up]
            hk_t += [t, t + sit_up, t + sit_up + stand_up]
            hk_v += [0.0, 90.0, 0.0]
            t0 = t
            t += sit_up + stand_up
            what = "sit up, stand up, walk out"
        else:
            drop = rng.uniform(0.4, 0.6)
            hk_t += [t, t + drop / 2, t + drop]
            hk_v += [0.0, rng.uniform(10.0, 20.0), 0.0]
            t0 = t
            t += drop
            what = "step down from the bar, walk out"
        t += rng.uniform(1.0, 2.0)
        w_out = (t, t + walk_out)
        t += walk_out + rng.uniform(0.5, 1.0)
        spans.append((t0, t, what))
        pk_t.append(t)
        pk_v.append(pk_v[-1])
        hk_t.append(t)
        hk_v.append(0.0)
        walks = [w_in, w_out]
        # where the pelvis centre is, relative to the set (m, world): walking ends where the set
        # happens; standing it is higher than lying, lower than hanging from the bar
        stand = np.array([-0.3, 0.0, 0.85]) if lying else np.array([0.0, 0.0, -0.35])
        sit = np.array([-0.15, 0.0, 0.45])
        zero = np.zeros(3)
        start = stand - [WALK_SPEED_M_S * walk_in, 0.0, 0.0]
        end = stand + [WALK_SPEED_M_S * walk_out, 0.0, 0.0]
        if lying:  # hk_t: 0, sit start, sat, lying, sit-up start, sat, stood, end
            ok = [(0.0, start), (w_in[0], start), (w_in[1], stand), (hk_t[1], stand), (hk_t[2], sit), (hk_t[3], zero),
                  (hk_t[4], zero), (hk_t[5], sit), (hk_t[6], stand)]
        else:  # hk_t: 0, step start, mid, hanging, drop start, mid, on the floor, end
            ok = [(0.0, start), (w_in[0], start), (w_in[1], stand), (hk_t[1], stand), (hk_t[3], zero),
                  (hk_t[4], zero), (hk_t[6], stand)]
        ok += [(w_out[0], stand), (w_out[1], end), (t, end)]
        ok_t, path = _increasing([k for k, _ in ok], [v for _, v in ok])
        offset = [Knots(ok_t, [float(p[i]) for p in path]) for i in range(3)]
        return cls(lead, t, spans, Knots(*_increasing(pk_t, pk_v)), Knots(*_increasing(hk_t, hk_v)), walks, offset,
                   _bounce(walks, t, rng))

    def posture(self, t: np.ndarray) -> np.ndarray:
        return self._posture(t)

    def hip(self, t: np.ndarray) -> np.ndarray:
        out = self._hip(t)
        lo, hi = STRIDE_FLEXION_DEG
        for a, b in self._walk:
            env = _envelope(t, a, b)
            out = out + env * ((hi + lo) / 2 + (hi - lo) / 2 * np.sin(2 * np.pi * STRIDE_HZ * (t - a)))
        return out

    def offset(self, t: np.ndarray) -> np.ndarray:
        off = np.stack([k(t) for k in self._offset], axis=-1)
        off[:, 2] += self._bounce(t)  # type: ignore[operator]
        return off

    def walking(self, t: np.ndarray) -> np.ndarray:
        """(N,) bool: walking at these times (truth)."""
        m = np.zeros(np.shape(t), bool)
        for a, b in self._walk:
            m |= (t >= a) & (t <= b)
        return m


def _envelope(t: np.ndarray, a: float, b: float, ramp: float = 0.8) -> np.ndarray:
    from imu_pipeline.simulate.motion import smoothstep

    return smoothstep((t - a) / ramp) * smoothstep((b - t) / ramp)


def _increasing(tk: list[float], vk: list) -> tuple[list[float], list]:
    ot, ov = [tk[0]], [vk[0]]
    for a, v in zip(tk[1:], vk[1:]):
        if a - ot[-1] > 1e-6:
            ot.append(a)
            ov.append(v)
    return ot, ov


def _bounce(walks: list[tuple[float, float]], t_end: float, rng: np.random.Generator) -> object:
    """Vertical bounce (m) of the pelvis: a heel-strike pulse every step, integrated twice."""
    from scipy.interpolate import CubicSpline

    dt = 1e-3
    tg = np.arange(-0.5, t_end + 1.0, dt)
    acc = np.zeros_like(tg)
    for a, b in walks:
        strikes = np.arange(a + 0.3, b - 0.2, 1.0 / (2 * STRIDE_HZ))
        env = _envelope(strikes, a, b, 0.5)
        for ts, e in zip(strikes, env):
            amp = e * STRIKE_M_S2 * rng.uniform(0.8, 1.2)
            # a sharp strike and a broad unloading either side of it, with zero net area and zero
            # first moment: velocity and height return to where they were after every step
            pulse = np.exp(-0.5 * ((tg - ts) / 0.012) ** 2)
            broad = sum(np.exp(-0.5 * ((tg - ts - d) / 0.06) ** 2) for d in (-0.14, 0.14))
            acc += amp * (pulse - 0.5 * broad * 0.012 / 0.06)
    vel = np.cumsum(acc) * dt
    pos = np.cumsum(vel) * dt
    # the pelvis rises and falls once per step, ~4 cm from lowest to highest (the centre of mass's
    # vertical excursion in walking): ±2.6 m/s² at 1.8 steps/s, lowest just after each strike
    for a, b in walks:
        pos += BOUNCE_M * _envelope(tg, a, b) * -np.cos(2 * np.pi * 2 * STRIDE_HZ * (tg - a - 0.3))
    return CubicSpline(tg, pos)
