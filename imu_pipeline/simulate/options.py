"""What defines a simulated session: its options, rep kinds, poses and sensor placements."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

DEG = math.pi / 180.0
REP_KINDS = ("hip-flexor", "abdominal", "fast", "drop", "bounce", "swing")
MOMENTUM_KINDS = ("fast", "drop", "bounce", "swing")
#: Natural frequency (Hz) of the pelvis's critically damped response to the hip-driven curl.
PELVIS_RESPONSE_HZ = 2.0
#: A controlled rep that starts while the body still swings this much (deg, amplitude) is a momentum
#: rep of kind 'unsettled' (truth ``momentum_kind``).
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
    walk_in_out: bool = False  # walk in, lie down / step up to the bar, the set, get up / step down, walk out
    silent: str = ""  # "SENSOR:WHEN": one sensor silent alone (thigh|pelvis : start|middle|end), e.g. "pelvis:end"
    silent_s: float = 15.0  # how long it is silent (s): starts late / drops out / dies this long before the end
    # the simulated person apart from the reps: sensor placements, declared mountings, strap misalignment,
    # soft-tissue wobble and out-of-plane sway, from their own random stream of this seed, so they stay
    # the same whatever n_reps; None: drawn from `seed` after the rep plan (so they change with n_reps)
    person_seed: int | None = None

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
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.person_seed is not None and self.person_seed < 0:
            raise ValueError(f"person_seed must be >= 0, got {self.person_seed}")
        if self.fidgets < 0:
            raise ValueError(f"fidgets must be >= 0, got {self.fidgets}")
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
        if self.silent:
            sensor, _, when = self.silent.partition(":")
            if sensor not in ("thigh", "pelvis") or when not in ("start", "middle", "end"):
                raise ValueError(f"silent must be SENSOR:WHEN with SENSOR thigh|pelvis and WHEN start|middle|end, "
                                 f"got {self.silent!r}")
            if self.disconnect:
                raise ValueError("silent and disconnect are two ways of losing a sensor: choose one")
        if not 0 < self.silent_s <= 600:
            raise ValueError(f"silent_s must be in (0, 600] s, got {self.silent_s}")
        lo, hi = self.rest_s
        if not 0 <= lo <= hi:
            raise ValueError("rest_s must be [low, high] with 0 <= low <= high")
