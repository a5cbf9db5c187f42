"""The session summary: verdict, machine JSON (schema in docs/summary-format.md).

The same summary for the offline path (``analyze --json``) and the live path (``replay --json``,
``record``): one :class:`~imu_pipeline.pipeline.offline.SessionAnalysis` in, one dict out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from imu_pipeline import __version__
from imu_pipeline.config import config_to_dict
from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.files import write_text
from imu_pipeline.report.quality import quality_sentences
from imu_pipeline.report.words import ARCH_ADVICE, ARCH_ADVICE_ANY
from imu_pipeline.reps import rep_totals

SUMMARY_SCHEMA_VERSION = 2

#: What to do about each momentum reason (reasons, advice), in the order the verdict gives them.
MOMENTUM_ADVICE = (
    (("fast", "drop", "bounce"), "slow down, 1–2 s up and 1–2 s down"),
    (("swing",), "start each rep from a still hang, without kicking the body into a swing (swing)"),
    (("unsettled",), "let the body stop swinging before the next rep (unsettled)"),
)


def _r(x: float | None, nd: int = 2) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def unlabelled_why(reps: list) -> str:  # noqa: ANN001 (Rep objects)
    """Which sensor missed the tops of the reps without a label: the thigh's for a partial rep (its
    top fell in a thigh outage), else the pelvis's."""
    unl = [r for r in reps if r.label is None]
    thigh = sum(bool(r.partial) for r in unl)
    pelvis = len(unl) - thigh
    if thigh and pelvis:
        return f"their tops were missed: by the pelvis sensor in {pelvis}, by the thigh sensor in {thigh}"
    who = "thigh" if thigh else "pelvis"
    return f"the {who} sensor missed {'its top' if len(unl) == 1 else 'their tops'}"


def count_of(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun in the right number: ``1 rep``, ``2 reps`` (``many``: an irregular plural)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _all(n: int, noun: str) -> str:
    """``all 3 reps`` / ``the 1 rep`` (``the rep`` when the noun is plain ``rep``)."""
    if n == 1:
        return "the rep" if noun == "rep" else f"the 1 {noun}"
    return f"all {n} {noun}s"


def verdict(an: SessionAnalysis) -> str:
    """One plain-words sentence on the session."""
    t = rep_totals(an.reps)
    n = t["reps"]
    if n == 0:
        if an.not_reps:
            return (f"No reps found in the exercise pose: {count_of(len(an.not_reps), 'movement')} "
                    f"{'was' if len(an.not_reps) == 1 else 'were'} not the exercise (walking, standing, getting "
                    "up); see exercise_set.")
        return (f"No reps found: hip flexion never rose {an.config.reps.min_rep_deg:g}° above its resting level "
                "and came back.")
    parts = []
    lab = t["abdominal_engaging"] + t["hip_flexor_only"]
    if lab == 0:
        parts.append(("the rep could not be labelled" if n == 1 else f"none of the {n} reps could be labelled")
                     + f": {unlabelled_why(an.reps)}")
    elif t["abdominal_engaging"] == lab:
        parts.append(f"{_all(lab, 'labelled rep')} engaged the abdominals (pelvis curled posteriorly)" if lab < n
                     else f"{_all(n, 'rep')} engaged the abdominals (pelvis curled posteriorly)")
    elif t["abdominal_engaging"] == 0:
        k = lab if lab < n else n
        parts.append(f"{_all(k, 'labelled rep' if lab < n else 'rep')} {'was' if k == 1 else 'were'} hip-flexor-only")
        parts[-1] += ": take the legs past vertical and curl the pelvis toward the ribs to work the abs"
    else:
        parts.append(f"{t['abdominal_engaging']} of {lab} labelled reps engaged the abdominals" if lab < n else
                     f"{t['abdominal_engaging']} of {n} reps engaged the abdominals")
    if 0 < lab < n:
        parts.append(f"{n - lab} could not be labelled ({unlabelled_why(an.reps)})")
    if t["low_confidence_labels"]:
        parts.append(f"{count_of(t['low_confidence_labels'], 'label')} with low confidence (the pelvis saw only part "
                     "of the top)")
    judged = t["momentum"] + t["controlled"]
    if t["momentum"] == 0 and judged == n:
        parts.append("every rep was controlled" if n > 1 else "the rep was controlled")
    elif t["momentum"] == 0:  # with none judged, the partial reps' part below says so
        if judged:
            parts.append(f"{_all(judged, 'judged rep')} {'was' if judged == 1 else 'were'} controlled")
    else:
        why = ", ".join(f"{k} {v}" for k, v in sorted(t["momentum_reasons"].items()))
        advice = [text for reasons, text in MOMENTUM_ADVICE if set(reasons) & set(t["momentum_reasons"])]
        parts.append(f"{t['momentum']} used momentum ({why}): " + "; ".join(advice))
    if t["partial"]:
        cut = [r for r in an.reps if r.partial and r.ended_by == "end-of-data"]
        why = ("the recording ended during it" if len(cut) == t["partial"] else
               "the thigh sensor missed part" if not cut else "the thigh sensor or the end of the recording cut it")
        parts.append(f"{count_of(t['partial'], 'partial rep')} ({why}) "
                     f"{'was' if t['partial'] == 1 else 'were'} counted but not judged")
    if t["back_arch"]:
        parts.append(f"the back arched in {t['back_arch']} (anterior tilt with the legs low): "
                     + ARCH_ADVICE.get(an.angles.calibration.pose, ARCH_ADVICE_ANY))
    s = "; ".join(parts)
    return s[0].upper() + s[1:] + "."


def warnings_of(an: SessionAnalysis) -> list[str]:
    """Loading warnings, outages, calibration notes and plausibility warnings, in plain words."""
    quality = quality_sentences(an.quality, an.config.front.declared_rate_tolerance)
    from imu_pipeline.report.info import recording_notes

    out = recording_notes(an.recording.meta) + list(an.recording.warnings) + quality + list(an.angles.calibration.notes)
    cal = an.angles.calibration
    pose_rejects = [x for x in an.not_reps if "from the exercise pose" in x.reason]
    if pose_rejects and len(pose_rejects) >= max(1, len(an.reps)):
        undeclared = not all(c.declared for c in cal.segments.values())
        out.append(f"{len(pose_rejects)} movement(s) were out of the {cal.pose} pose, more than the reps found"
                   + (": with no mounting declared the start pose may have been taken while standing or walking; "
                      "declare the mounting" if undeclared else "") + " — check the exercise (--pose)")
    return out


def exercise_set(an: SessionAnalysis) -> dict[str, Any]:
    """Where the set was and how it was found: the stretch between what was not exercise around
    the reps, the stretches that were not (walking, out of the pose) and the movements not counted."""
    t0, t1 = an.recording.t_start, an.recording.t_end
    start, end = t0, t1
    # between the stretches that were not exercise before the first rep and after the last (with no
    # rep: between those touching the recording's ends)
    first, last = (an.reps[0].start_s, an.reps[-1].end_s) if an.reps else (t0, t1)
    before = [s.end_s for s in an.not_exercise if (s.end_s <= first if an.reps else s.start_s <= t0 + 1.0)]
    after = [s.start_s for s in an.not_exercise if (s.start_s >= last if an.reps else s.end_s >= t1 - 1.0)]
    start, end = max(before + [t0]), min(after + [t1])
    if end <= start:  # not exercise from end to end: no set
        return {"start_s": None, "end_s": None, "found_by": "no set found: the whole recording was not the exercise",
                "not_exercise": [s.to_dict() for s in an.not_exercise],
                "movements_not_counted": [s.to_dict() for s in an.not_reps]}
    return {
        "start_s": _r(start, 2), "end_s": _r(end, 2),
        "found_by": ("the pelvis's gravity direction in the exercise pose, and no foot strikes at a walking "
                     f"rhythm; calibrated on the still start pose before the first raise ({an.angles.calibration.neutral_s:.1f} s)"),
        "not_exercise": [s.to_dict() for s in an.not_exercise],
        "movements_not_counted": [s.to_dict() for s in an.not_reps],
    }


def summary_dict(an: SessionAnalysis) -> dict[str, Any]:
    """The machine summary (docs/summary-format.md)."""
    rec = an.recording
    cal = an.angles.calibration
    valid = np.isfinite(an.angles.hip_flexion)
    return {
        "schema": "imu-pipeline-summary", "schema_version": SUMMARY_SCHEMA_VERSION, "software_version": __version__,
        "recording": str(rec.path) if rec.path else rec.name,
        "analysis_path": an.path,
        "exercise": cal.pose,
        "duration_s": _r(rec.t_end - rec.t_start, 3),
        "start_s": _r(rec.t_start, 3),
        "angles_coverage": _r(float(valid.mean()) if valid.size else 0.0, 4),
        "data_quality": an.quality.to_dict(),
        "calibration": cal.to_dict(),
        "exercise_set": exercise_set(an),
        "warnings": warnings_of(an),
        "verdict": verdict(an),
        "reps": [r.to_dict() for r in an.reps],
        "totals": rep_totals(an.reps),
        "config": config_to_dict(an.config),
    }


def write_json(an: SessionAnalysis, path: str | Path) -> None:
    """Write :func:`summary_dict` as JSON (:func:`summary_json`)."""
    write_text(path, summary_json(summary_dict(an)), what="summary")


def summary_json(d: dict[str, Any], *, ascii_only: bool = False) -> str:
    """JSON text: one top-level key per line, one rep per line (readable and diffable; each part
    goes through the C encoder, which ``indent`` would bypass). ``ascii_only`` writes °, – etc. as
    ``\\u`` escapes (the same JSON, for a console that cannot show them)."""
    def enc(v: Any) -> str:
        return json.dumps(v, allow_nan=False, ensure_ascii=ascii_only)

    lines = []
    for k, v in d.items():
        if k == "reps" and v:
            body = ",\n".join("    " + enc(r) for r in v)
            lines.append(f"  {enc(k)}: [\n{body}\n  ]")
        else:
            lines.append(f"  {enc(k)}: {enc(v)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
