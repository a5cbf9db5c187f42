"""One rep in words for people: the coach view's cards and cue, the HTML report's rep table.

Everything here reads a rep's JSON form (``Rep.to_dict()``, docs/summary-format.md), so the live
view (fed :class:`~imu_pipeline.reps.Rep` objects) and the report (fed a summary) say the same
thing in the same words. Nothing is invented: a value the rep does not have is "not measured".
"""

from __future__ import annotations

import math
from typing import Any

from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR

#: What each momentum reason means, in a few words (the rep's ``decided_by`` gives the numbers).
REASON_WORDS = {
    "fast": "too fast",
    "drop": "legs dropped",
    "bounce": "bounced at the bottom",
    "swing": "kicked the body into a swing",
    "unsettled": "started while still swinging",
}

#: What to do about a back arch (anterior pelvic tilt with the legs low), by start pose: lying on
#: the back the low back lifts off the floor; hanging it hollows as the legs swing down behind.
ARCH_ADVICE = {
    "lying": "brace the abs, press the low back down",
    "hanging": "curl the pelvis up, don't let the back hollow",
}
ARCH_ADVICE_ANY = "brace the abs, keep the pelvis curled"

#: Short names of the labels for the big verdict line and the spoken cue.
LABEL_SHORT = {LABEL_ABDOMINAL: "abs engaged", LABEL_HIP_FLEXOR: "hip flexors only"}


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def deg(v: Any, nd: int = 0, signed: bool = False) -> str:
    """``78°`` / ``+12°``; "not measured" for a missing value."""
    x = _num(v)
    if x is None:
        return "not measured"
    return f"{x:+.{nd}f}°" if signed else f"{x:.{nd}f}°"


def secs(v: Any) -> str:
    x = _num(v)
    return "n/a" if x is None else f"{x:.1f} s"


def label_text(rep: dict[str, Any]) -> str:
    """The label as shown: the label itself, "(low confidence)" added, or "no label"."""
    if rep.get("label") is None:
        return "no label (top not seen by the thigh)" if rep.get("partial") else "no label (pelvis not seen)"
    low = " (low confidence)" if rep.get("label_confidence") == "low" else ""
    return f"{rep['label']}{low}"


def momentum_text(rep: dict[str, Any]) -> str:
    if rep.get("momentum") is None:
        return "momentum not judged (partial rep)"
    if not rep["momentum"]:
        return "controlled"
    return "momentum: " + ", ".join(REASON_WORDS.get(k, k) for k in rep.get("momentum_reasons", []))


def tempo_text(rep: dict[str, Any]) -> str:
    up, top, down = (_num(rep.get(k)) for k in ("concentric_s", "top_s", "eccentric_s"))
    if up is None or down is None:
        return "tempo not measured"
    mid = f" · top {top:.1f} s" if top is not None else ""
    return f"up {up:.1f} s{mid} · down {down:.1f} s"


def headline(rep: dict[str, Any]) -> str:
    """One short line readable from across the room: ``Rep 3 — abs engaged · controlled``."""
    lab = LABEL_SHORT.get(rep.get("label") or "", "no label")
    if rep.get("label") is not None and rep.get("label_confidence") == "low":
        lab += "?"
    if rep.get("momentum") is None:
        mom = "not judged"
    elif rep["momentum"]:
        mom = " + ".join(REASON_WORDS.get(k, k) for k in rep.get("momentum_reasons", []))
    else:
        mom = "controlled"
    arch = " · back arched" if rep.get("back_arch") else ""
    return f"Rep {rep['index'] + 1} — {lab} · {mom}{arch}"


def cue(rep: dict[str, Any]) -> str:
    """The spoken cue (speechSynthesis): short, no symbols."""
    lab = LABEL_SHORT.get(rep.get("label") or "", "no label")
    if rep.get("momentum"):
        mom = ", ".join(REASON_WORDS.get(k, k) for k in rep.get("momentum_reasons", []))
    elif rep.get("momentum") is None:
        mom = "not judged"
    else:
        mom = "controlled"
    arch = ", back arched" if rep.get("back_arch") else ""
    return f"Rep {rep['index'] + 1}: {lab}, {mom}{arch}."


def arch_advice(pose: str | None) -> str:
    """The back-arch advice for the pose (``lying`` / ``hanging``; another or None: a neutral one)."""
    return "Back arched with the legs low: " + ARCH_ADVICE.get(pose or "", ARCH_ADVICE_ANY) + "."


def arch_text(rep: dict[str, Any]) -> str:
    """The back-arch value as shown: ``no``, ``yes · 8.1° anterior``, ``not judged``."""
    if rep.get("back_arch") is None:
        return "not judged"
    if not rep["back_arch"]:
        return "no"
    return f"yes · {deg(rep.get('peak_anterior_tilt_low_deg'), 1)} anterior"


def decided_by_lines(rep: dict[str, Any]) -> list[tuple[str, str]]:
    """``(what, why)`` pairs: the label's numbers against their thresholds, then each sentence of
    ``decided_by`` (momentum reasons, confidence, partial, anything not judged)."""
    d = rep.get("decided_by") or {}
    out: list[tuple[str, str]] = []
    tilt, need_tilt = _num(d.get("peak_posterior_tilt_deg")), _num(d.get("needed_posterior_tilt_deg"))
    hip, need_hip = _num(d.get("hip_at_peak_tilt_deg")), _num(d.get("needed_hip_deg"))
    if need_tilt is not None:
        if rep.get("label") is None:
            verdict = "no label"
        elif rep["label"] == LABEL_ABDOMINAL:
            verdict = "abdominal-engaging"
        else:
            verdict = "hip-flexor-only"
        tilt_s = f"{tilt:.1f}°" if tilt is not None else "not measured"
        hip_s = f"{hip:.1f}°" if hip is not None else "not measured"
        need_hip_s = f"{need_hip:g}°" if need_hip is not None else "?"
        out.append(("label", f"{verdict}: peak posterior tilt {tilt_s} (needed {need_tilt:g}°) "
                             f"with the hip at {hip_s} (needed {need_hip_s})"))
    for k, v in d.items():
        if isinstance(v, str):
            out.append((k.replace("_", " "), v))
    return out


def rep_card(rep: dict[str, Any], pose: str | None = None) -> dict[str, Any]:
    """The rep's JSON plus the words the page shows (``words``): headline, cue, label, momentum,
    tempo, the decided-by lines, the back arch and (when the back arched) the advice for ``pose``."""
    return {**rep, "words": {
        "arch": arch_text(rep), "advice": arch_advice(pose) if rep.get("back_arch") else "",
        "headline": headline(rep), "cue": cue(rep), "label": label_text(rep), "momentum": momentum_text(rep),
        "reasons": [[k, REASON_WORDS.get(k, k), (rep.get("decided_by") or {}).get(k, "")]
                    for k in rep.get("momentum_reasons", [])],
        "tempo": tempo_text(rep), "decided_by": decided_by_lines(rep),
    }}
