"""The two-segment body and what an ideal IMU strapped to it measures (SI units, radians)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from imu_pipeline.frames import GRAVITY_M_S2, axis_angle_matrix
from imu_pipeline.simulate.approach import Approach
from imu_pipeline.simulate.motion import (
    Knots,
    pelvis_curl,
    plan_reps,
    smoothstep,
    swing_signal,
)
from imu_pipeline.simulate.options import (
    DEG,
    PELVIS_RESPONSE_HZ,
    POSE_MATRIX,
    SimulationOptions,
)

#: Second key of the person's random stream (``SimulationOptions.person_seed``), apart from the
#: approach's (7919).
PERSON_STREAM = 104729


class Body:
    """Segment and sensor poses as functions of time (world frame, z up)."""

    def __init__(self, o: SimulationOptions, rng: np.random.Generator) -> None:
        self.o = o
        self.rng = rng
        self.plans, self.hip_knots, self.fidgets = plan_reps(o, rng)
        self.set_s = float(self.hip_knots.t[-1])
        self.approach: Approach | None = None
        if o.walk_in_out:  # its own random stream: the set itself is the same with or without it
            self.approach = Approach.plan(o.pose, self.set_s, np.random.default_rng([o.seed, 7919]))
            lead = self.approach.lead_s
            self.hip_knots = Knots(list(self.hip_knots.t + lead), list(self.hip_knots.v))
            self.plans = [replace(p, t_start=p.t_start + lead, t_peak_reach=p.t_peak_reach + lead,
                                  t_down=p.t_down + lead, t_end=p.t_end + lead) for p in self.plans]
            self.fidgets = [(a + lead, b + lead) for a, b in self.fidgets]
        self.pose = POSE_MATRIX[o.pose]
        #: the person apart from the reps (sway, wobble; the session draws the straps from it too)
        self.person_rng = rng if o.person_seed is None else np.random.default_rng([o.person_seed, PERSON_STREAM])
        prng = self.person_rng
        self.oop_seed = {k: (prng.uniform(0, 2 * np.pi, 3), prng.uniform(0.05, 0.25, 3)) for k in
                         ("pob", "prot", "habd", "hrot")}
        self.swing_rng_state = rng.bit_generator.state
        self.wobble = [(p.t_start, p.t_peak_reach, p.t_down, p.t_end) for p in self.plans]
        self.wobble_params = {s: (prng.uniform(9, 14), prng.uniform(0.06, 0.12), prng.normal(size=3)) for s in
                              ("thigh", "pelvis")}
        self.pelvis_pivot = np.array([0.0, 0.0, 0.10]) if o.pose == "lying" else np.array([0.0, 0.0, 2.2])
        self._curl_spline = self._pelvis_response()

    def _pelvis_response(self) -> Any:
        """The pelvis cannot follow a thrown leg instantly: its curl is the hip-driven target
        passed through a critically damped 2nd-order response (``PELVIS_RESPONSE_HZ``), computed
        on a 1 ms grid and interpolated by a C2 cubic spline."""
        from scipy import (
            signal,  # imported here: the CLI should not pay for it unless simulating
        )
        from scipy.interpolate import CubicSpline

        dt = 1e-3
        tg = np.arange(-0.5, self.duration_s + 0.5, dt)
        target = pelvis_curl(self.hip_knots(tg), tg, self.plans)
        wn = 2 * np.pi * PELVIS_RESPONSE_HZ
        b, a = signal.bilinear([wn * wn], [1.0, 2 * wn, wn * wn], fs=1 / dt)
        zi = signal.lfilter_zi(b, a) * target[0]
        curl, _ = signal.lfilter(b, a, target, zi=zi)
        return CubicSpline(tg, curl)

    @property
    def duration_s(self) -> float:
        """Length of the session (s): the set, and the walk in and out when simulated."""
        if self.approach is not None:
            return float(self.approach.end_s)
        return float(self.hip_knots.t[-1])

    def angles_deg(self, t: np.ndarray) -> dict[str, np.ndarray]:
        hip = self.hip_knots(t)
        posture = np.zeros_like(t)
        if self.approach is not None:
            hip = hip + self.approach.hip(t)
            posture = self.approach.posture(t)
        curl = self._curl_spline(t)
        rng = np.random.default_rng()
        rng.bit_generator.state = self.swing_rng_state
        swing = swing_signal(t, self.plans, rng, self.o.pose)

        def oop(key: str, amp: float) -> np.ndarray:
            ph, fr = self.oop_seed[key]
            return amp * sum(np.sin(2 * np.pi * fr[i] * t + ph[i]) for i in range(3)) / 3.0

        # out-of-plane motion only while the legs move (rest stays still); abduction and
        # rotation grow a little with flexion (smoothly saturating)
        env = smoothstep(hip / 60.0)
        hf = 1.3 * np.tanh(hip / (90.0 * 1.3))
        return {
            "hip": hip, "curl": curl, "swing": swing, "tilt": curl + swing + posture,
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
        if self.approach is not None:
            centre = centre + self.approach.offset(t)
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


def ideal_imu(body: Body, sensor: str, t: np.ndarray, R_seg_sensor: np.ndarray, offset: np.ndarray,
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


def random_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = rng.uniform(0.4, 1.0) * max_deg * DEG
    return axis_angle_matrix(axis, ang)
