"""Find the set: which movement is the exercise, and which is walking over, lying down or getting up.

People press record, walk to the mat or the bar, lie down or step up, do the set, get up and walk
away. Only movement in the exercise pose is a rep. These signs tell the rest apart, from the
pelvis sensor (the thigh's specific force where the pelvis is missing; SI units inside; thresholds
in ``[set_finding]`` of the config):

* **the pose**: the pelvis's 'up' direction further than ``max_pose_deviation_deg`` from the
  pose's vertical (lying: anterior; hanging: superior) is not the exercise pose — standing, sitting,
  walking around a lying set, getting up;
* **stepping up or down**: a movement with a jolt at the pelvis (a strike) that begins within
  ``after_walking_s`` of walking — stepping up to the bar, jumping down;
* **walking**: foot strikes — the pelvis's specific force departing from g by more than
  ``impact_min_m_s2`` (the loading side), counted only while the thigh is within
  ``strike_max_thigh_tilt_deg`` of upright (a foot on the ground) — in a chain of at least
  ``walking_min_steps`` at step intervals (``step_min_s`` .. ``step_max_s``). Leg raises shake
  the pelvis too (a fast or dropped rep, a kick), but once per rep, not at a walking rhythm and
  mostly with the thigh far from upright. This is what tells a hanging set (pelvis upright) from
  walking up to the bar.

Everything here is a pure function of arrays, so the offline and live paths judge a rep from the
same samples: a rep is judged on the strikes within ``chain_lookback_s`` before it and
``margin_s`` after it, which the live path waits for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from imu_pipeline.config import SetFindingConfig
from imu_pipeline.frames import GRAVITY_M_S2

DEG = np.pi / 180.0


@dataclass
class NotExercise:
    """A stretch of the recording that is not the exercise (s, session clock)."""

    start_s: float
    end_s: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "reason": self.reason}


def strike_times(time_s: np.ndarray, acc_norm: np.ndarray, cfg: SetFindingConfig) -> np.ndarray:
    """Times (s) of foot strikes: peaks of ``|acc| - g`` above ``impact_min_m_s2`` (a strike pushes
    the pelvis up: only the loading side counts, so the unloading half a step later is not a second
    strike); rows above it closer than ``step_min_s`` / 2 belong to one strike."""
    dev = np.nan_to_num(acc_norm, nan=GRAVITY_M_S2) - GRAVITY_M_S2
    idx = np.flatnonzero(dev > cfg.impact_min_m_s2)
    if idx.size == 0:
        return np.empty(0)
    t = time_s[idx]
    cut = np.flatnonzero(np.diff(t) > cfg.step_min_s / 2) + 1
    groups = np.split(np.arange(idx.size), cut)
    return np.array([t[g[np.argmax(dev[idx[g]])]] for g in groups])


def walking_spans(strikes: np.ndarray, cfg: SetFindingConfig) -> list[tuple[float, float, int]]:
    """Chains of at least ``walking_min_steps`` strikes at step intervals: (start_s, end_s, steps),
    each widened by half the longest step on either side."""
    out = []
    if strikes.size == 0:
        return out
    d = np.diff(strikes)
    ok = (d >= cfg.step_min_s) & (d <= cfg.step_max_s)
    start = 0
    for i in range(len(strikes)):
        if i == len(strikes) - 1 or not ok[i]:
            n = i - start + 1
            if n >= cfg.walking_min_steps:
                h = cfg.step_max_s / 2
                out.append((float(strikes[start] - h), float(strikes[i] + h), n))
            start = i + 1
    return out


def rep_not_exercise(start_s: float, end_s: float, time_s: np.ndarray, pelvis_pose_dev: np.ndarray,
                     strikes: np.ndarray, cfg: SetFindingConfig) -> str | None:
    """Why the movement between ``start_s`` and ``end_s`` is not a rep, in words, or None.

    Judged only on the samples from ``chain_lookback_s`` before the movement to ``margin_s`` after
    it (what the live path has when it asks)."""
    m = (time_s >= start_s) & (time_s <= end_s)
    dev = pelvis_pose_dev[m]
    dev = dev[np.isfinite(dev)]
    if dev.size and float(dev.max()) > cfg.max_pose_deviation_deg * DEG:
        return (f"the pelvis was {np.degrees(dev.max()):.0f}° from the exercise pose (more than "
                f"{cfg.max_pose_deviation_deg:g}°): standing, walking, sitting or getting up")
    near = strikes[(strikes >= start_s - cfg.chain_lookback_s) & (strikes <= end_s + cfg.margin_s)]
    jolt = bool(((strikes >= start_s) & (strikes <= end_s)).any())
    for a, b, n in walking_spans(near, cfg):
        if a <= end_s + cfg.margin_s and b >= start_s - cfg.margin_s:
            return f"walking ({n} foot strikes at a walking rhythm)"
        if jolt and b < start_s and start_s - b <= cfg.after_walking_s:
            return "stepping up or down: a jolt at the pelvis just after walking"
    return None


def exercise_rows(time_s: np.ndarray, pelvis_pose_dev: np.ndarray, impact_acc_norm: np.ndarray,
                  cfg: SetFindingConfig, unknown_pose_ok: bool = False) -> np.ndarray:
    """(N,) bool: rows in the exercise pose and not within a walking chain. A row whose pose is
    unknown (NaN: the pelvis missing there) is not the exercise; pass ``pelvis_pose_dev`` all NaN
    and ``unknown_pose_ok`` when nothing can tell the pose (no declared pelvis mounting)."""
    ok = pelvis_pose_dev <= cfg.max_pose_deviation_deg * DEG
    if unknown_pose_ok:
        ok |= ~np.isfinite(pelvis_pose_dev)
    for a, b, _ in walking_spans(strike_times(time_s, impact_acc_norm, cfg), cfg):
        ok &= ~((time_s >= a) & (time_s <= b))
    return ok


def out_of_pose_runs(time_s: np.ndarray, pelvis_pose_dev: np.ndarray, cfg: SetFindingConfig) -> list[tuple[float, float]]:
    """(start_s, end_s) of the runs of rows whose pelvis is out of the pose (any length)."""
    idx = np.flatnonzero(pelvis_pose_dev > cfg.max_pose_deviation_deg * DEG)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > 1) + 1
    return [(float(time_s[g[0]]), float(time_s[g[-1]])) for g in np.split(idx, cut)]


def not_exercise_spans(out_runs: list[tuple[float, float]], strikes: np.ndarray, cfg: SetFindingConfig, pose: str,
                       t0: float, t1: float) -> list[NotExercise]:
    """The stretches that are not the exercise, for the report: runs out of the pose (at least
    ``min_span_s``) and walking chains of ``strikes``, within ``t0`` .. ``t1``, merged where they touch."""
    spans = [NotExercise(a, b, f"not in the {pose} pose") for a, b in out_runs if b - a >= cfg.min_span_s]
    for a, b, n in walking_spans(strikes, cfg):
        spans.append(NotExercise(max(a, t0), min(b, t1), f"walking ({n} steps)"))
    spans.sort(key=lambda s: s.start_s)
    merged: list[NotExercise] = []
    for s in spans:
        if merged and s.start_s <= merged[-1].end_s + cfg.min_span_s:
            last = merged[-1]
            reason = last.reason if s.reason == last.reason else f"{last.reason}; {s.reason}"
            merged[-1] = NotExercise(last.start_s, max(last.end_s, s.end_s), reason)
        else:
            merged.append(s)
    return merged


class SetFinder:
    """Judges each movement the segmenter found — rep or not exercise — and keeps what the report
    needs (the same object in the offline and live paths).

    It holds the pelvis rows of the last ``keep_s`` (bounded memory; None keeps every row) to judge
    movements on, and for the report only the finished runs out of the pose and the strike times.

    Parameters
    ----------
    cfg : SetFindingConfig
    pose : the session's pose
    keep_s : seconds of rows kept for judging (at least the longest movement plus
        ``chain_lookback_s`` and ``step_max_s``); None: all

    Attributes
    ----------
    rejected_ : movements that were not reps: NotExercise each (with the reason)
    """

    def __init__(self, cfg: SetFindingConfig, pose: str, keep_s: float | None = None) -> None:
        self.cfg = cfg
        self.pose = pose
        self.keep_s = keep_s
        self._t = np.empty(0)
        self._dev = np.empty(0, np.float32)
        self._acc = np.empty(0, np.float32)
        self._runs: list[tuple[float, float]] = []  # finished runs out of the pose
        self._strikes: list[float] = []  # finished strikes
        self._done_s = -np.inf  # rows before this are folded into _runs and _strikes
        self._t0 = np.nan
        self.rejected_: list[NotExercise] = []

    def push(self, time_s: np.ndarray, pelvis_pose_dev: np.ndarray | None, impact_acc_norm: np.ndarray | None) -> None:
        """Add rows (in time order): the pelvis's deviation from the pose (rad) and |acc| (m/s²)."""
        n = len(time_s)
        if n == 0:
            return
        nan = np.full(n, np.nan, np.float32)
        if not np.isfinite(self._t0):
            self._t0 = float(time_s[0])
        self._t = np.concatenate([self._t, np.asarray(time_s, float)])
        self._dev = np.concatenate([self._dev, nan if pelvis_pose_dev is None else pelvis_pose_dev.astype(np.float32)])
        self._acc = np.concatenate([self._acc, nan if impact_acc_norm is None else impact_acc_norm.astype(np.float32)])
        self._fold(final=False)
        if self.keep_s is not None:
            cut = int(np.searchsorted(self._t, min(self._t[-1] - self.keep_s, self._done_s)))
            if cut > 0:
                self._t, self._dev, self._acc = self._t[cut:], self._dev[cut:], self._acc[cut:]

    def _fold(self, final: bool) -> None:
        """Move what can no longer change into the report's runs and strikes: rows up to a margin
        before the newest, never cutting into a run out of the pose or a strike still open."""
        if self._t.size == 0:
            return
        a = int(np.searchsorted(self._t, self._done_s, side="right"))
        b = int(np.searchsorted(self._t, self._t[-1] + 1.0 if final else self._t[-1] - self.cfg.step_min_s,
                                side="right"))
        if not final and b > a:
            st = strike_times(self._t[a:b], self._acc[a:b], self.cfg)
            if st.size and st[-1] >= self._t[b - 1] - self.cfg.step_min_s / 2:  # may still grow
                b = int(np.searchsorted(self._t, st[-1] - self.cfg.step_min_s / 2))
            runs = out_of_pose_runs(self._t[a:b], self._dev[a:b], self.cfg) if b > a else []
            if runs and runs[-1][1] >= self._t[b - 1]:  # still out of the pose: leave it open
                b = int(np.searchsorted(self._t, runs[-1][0]))
        if b <= a:
            return
        self._runs += out_of_pose_runs(self._t[a:b], self._dev[a:b], self.cfg)
        self._strikes += [float(x) for x in strike_times(self._t[a:b], self._acc[a:b], self.cfg)]
        self._done_s = float(self._t[b - 1])

    @property
    def seen_until_s(self) -> float:
        return float(self._t[-1]) if self._t.size else -np.inf

    def ready(self, end_s: float) -> bool:
        """Whether the rows a movement ending at ``end_s`` is judged on have arrived."""
        return self.seen_until_s >= end_s + self.cfg.margin_s

    def judge(self, start_s: float, end_s: float) -> str | None:
        """Why the movement is not a rep (and it is recorded in ``rejected_``), or None."""
        t = self._t
        a = int(np.searchsorted(t, start_s - self.cfg.chain_lookback_s - self.cfg.step_max_s))
        b = int(np.searchsorted(t, end_s + self.cfg.margin_s, side="right"))
        strikes = strike_times(t[a:b], self._acc[a:b], self.cfg)
        why = rep_not_exercise(start_s, end_s, t[a:b], self._dev[a:b], strikes, self.cfg)
        if why is not None:
            self.rejected_.append(NotExercise(start_s, end_s, why))
        return why

    def spans(self) -> list[NotExercise]:
        """The stretches of the session so far that were not the exercise (for the report)."""
        if self._t.size == 0:
            return []
        runs = list(self._runs)
        a = int(np.searchsorted(self._t, self._done_s, side="right"))
        t = self._t[a:]
        runs += out_of_pose_runs(t, self._dev[a:], self.cfg)  # the open part, as it stands
        strikes = np.sort(np.array(self._strikes + [float(x) for x in strike_times(t, self._acc[a:], self.cfg)]))
        if strikes.size > 1:  # a strike split where the folded part ended counts once
            strikes = strikes[np.concatenate([[True], np.diff(strikes) > self.cfg.step_min_s / 2])]
        return not_exercise_spans(runs, strikes, self.cfg, self.pose, self._t0, float(self._t[-1]))


def blank_outside_exercise(ang: JointAngles, spans: list[NotExercise]) -> JointAngles:  # noqa: F821
    """The angles with no value (NaN) where the session was not the exercise: the angles are
    calibrated for the exercise pose, and walking or getting up is not what they describe."""
    if not spans:
        return ang
    out = np.zeros(len(ang.time_s), bool)
    for s in spans:
        out |= (ang.time_s >= s.start_s) & (ang.time_s <= s.end_s)
    nan = np.where(out, np.nan, 1.0)
    return dataclasses.replace(ang, hip_flexion=ang.hip_flexion * nan, pelvic_tilt=ang.pelvic_tilt * nan,
                               thigh_angle=ang.thigh_angle * nan)
