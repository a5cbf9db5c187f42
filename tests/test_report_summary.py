"""The session summary (imu_pipeline/report/summary.py): totals, verdict and the JSON file,
checked against the simulator's truth (recordings/*.truth.json and fresh simulated sessions)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from imu_pipeline.cli import main
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.report.summary import summary_dict, verdict
from imu_pipeline.simulate import SimulationOptions, simulate_session

ROOT = Path(__file__).resolve().parent.parent
LYING = ROOT / "recordings" / "lying-mixed.csv"
#: GUIDE §5 / configs/default.toml: anterior tilt with the legs low from which the back counts as arched
BACK_ARCH_DEG = 7.0


def truth_counts(truth_reps: list[dict]) -> dict:
    """What the summary must say, from the simulator's truth: labels, momentum reps and their
    kinds, and reps whose true anterior tilt with the legs low reached the back-arch threshold."""
    return {
        "reps": len(truth_reps),
        "abdominal": sum(r["label"] == "abdominal-engaging" for r in truth_reps),
        "hip_flexor": sum(r["label"] == "hip-flexor-only" for r in truth_reps),
        "momentum": sum(r["momentum"] for r in truth_reps),
        "kinds": Counter(r["momentum_kind"] for r in truth_reps if r["momentum"]),
        "back_arch": sum(r["peak_anterior_tilt_low_deg"] >= BACK_ARCH_DEG for r in truth_reps),
    }


def test_json_summary_of_the_bundled_lying_session_matches_its_truth(tmp_path: Path, capsys) -> None:
    """`analyze --json` on recordings/lying-mixed.csv, the file read back with the json module, against
    lying-mixed.truth.json: 14 reps, 8 abdominal-engaging, 6 hip-flexor-only, 6 with momentum (each
    true kind among the reasons), 3 with an arched back."""
    out = tmp_path / "s.json"
    assert main(["analyze", str(LYING), "--json", str(out), "-q"]) == 0
    d = json.loads(out.read_text(encoding="utf-8"))
    truth = json.loads(LYING.with_suffix(".truth.json").read_text(encoding="utf-8"))["reps"]
    want = truth_counts(truth)
    assert (want["reps"], want["abdominal"], want["momentum"], want["back_arch"]) == (14, 8, 6, 3)  # the file's truth
    tot = d["totals"]
    assert tot["reps"] == want["reps"] == len(d["reps"])
    assert tot["abdominal_engaging"] == want["abdominal"]
    assert tot["hip_flexor_only"] == want["hip_flexor"]
    assert tot["momentum"] == want["momentum"] and tot["controlled"] == want["reps"] - want["momentum"]
    for kind, n in want["kinds"].items():
        assert tot["momentum_reasons"].get(kind, 0) >= n, (kind, tot["momentum_reasons"])
    assert tot["back_arch"] == want["back_arch"]
    assert [r["label"] for r in d["reps"]] == [r["label"] for r in truth]
    v = d["verdict"]
    assert "8 of 14 reps engaged the abdominals" in v
    assert "6 used momentum" in v and "every rep was controlled" not in v
    assert "the back arched in 3" in v


@pytest.mark.parametrize("seed", [0, 3])
def test_verdict_of_a_session_with_momentum_counts_what_the_truth_has(seed: int) -> None:
    """Four simulated reps (hip-flexor, abdominal, drop, bounce): the verdict's counts are the truth's."""
    sim = simulate_session(SimulationOptions(seed=seed, n_reps=4, mix=("hip-flexor", "abdominal", "drop", "bounce")))
    want = truth_counts(sim.truth_reps)
    assert want["momentum"] == 2 and want["back_arch"] == 1  # what these seeds simulate
    an = analyze_recording(sim.recording)
    v = verdict(an)
    assert f"{want['abdominal']} of 4 reps engaged the abdominals" in v
    assert "2 used momentum (" in v and "bounce 1" in v
    assert "every rep was controlled" not in v
    assert "the back arched in 1 " in v
    d = summary_dict(an)
    assert d["verdict"] == v
    assert (d["totals"]["abdominal_engaging"], d["totals"]["hip_flexor_only"]) == (want["abdominal"],
                                                                                    want["hip_flexor"])
    assert d["totals"]["momentum_reasons"]["drop"] >= 1 and d["totals"]["momentum_reasons"]["bounce"] == 1


def test_verdict_of_a_controlled_session_says_every_rep_was_controlled() -> None:
    sim = simulate_session(SimulationOptions(seed=0, n_reps=2, mix=("hip-flexor", "abdominal")))
    want = truth_counts(sim.truth_reps)
    assert want["momentum"] == 0 and want["abdominal"] == 1
    v = verdict(analyze_recording(sim.recording))
    assert "1 of 2 reps engaged the abdominals" in v
    assert "every rep was controlled" in v and "momentum" not in v


def test_verdict_without_reps_names_the_30_degree_rise() -> None:
    """A session with no raise at all: no reps, and the verdict says what a rep would have been
    (GUIDE §5: a rise of at least 30° above the resting level that comes back)."""
    sim = simulate_session(SimulationOptions(seed=0, n_reps=0))
    an = analyze_recording(sim.recording)
    assert an.reps == []
    assert verdict(an) == "No reps found: hip flexion never rose 30° above its resting level and came back."
    assert summary_dict(an)["totals"]["reps"] == 0


def test_unlabelled_reps_blame_the_sensor_that_missed_their_top() -> None:
    """A rep without a label because its top fell in a thigh outage (a partial rep) is the thigh
    sensor's doing, not the pelvis's; with both kinds the verdict counts each."""
    from types import SimpleNamespace

    from imu_pipeline.report.summary import unlabelled_why

    def rep(label: str | None, partial: bool) -> SimpleNamespace:
        return SimpleNamespace(label=label, partial=partial)

    assert unlabelled_why([rep("hip-flexor-only", False), rep(None, True)]) == "the thigh sensor missed its top"
    assert unlabelled_why([rep(None, False), rep(None, False)]) == "the pelvis sensor missed their tops"
    assert unlabelled_why([rep(None, False), rep(None, True), rep(None, False)]) == \
        "their tops were missed: by the pelvis sensor in 2, by the thigh sensor in 1"


def test_one_rep_and_values_not_measured_read_as_words() -> None:
    """Issue 15: the text said '1 reps' and 'median None s up', the verdict 'All 1 reps were ...' and
    'all 0 judged reps were controlled'. One rep is 'the rep'; a value not measured reads 'n/a' (or
    'not measured'), never 'None'."""
    import dataclasses
    import math

    from imu_pipeline.report.text import summary_text

    sim = simulate_session(SimulationOptions(seed=0, n_reps=1, mix=("hip-flexor",)))
    an = analyze_recording(sim.recording)
    assert len(an.reps) == 1 and an.reps[0].label == "hip-flexor-only"
    text = summary_text(an)
    assert ", 1 rep " in text.splitlines()[0] and "reps" not in text.splitlines()[0]
    assert verdict(an).startswith("The rep was hip-flexor-only: ") and verdict(an).endswith("; the rep was controlled.")

    # the same rep with its top and tempo missed by the thigh (a partial rep): nothing measured
    blind = dataclasses.replace(an.reps[0], label=None, label_confidence="none", momentum=None, partial=True,
                                concentric_s=math.nan, eccentric_s=math.nan, peak_hip_flexion_deg=math.nan)
    an_blind = dataclasses.replace(an, reps=[blind])
    text = summary_text(an_blind)
    assert "None" not in text and "tempo and peak hip flexion: not measured in any rep" in text
    v = verdict(an_blind)
    assert v.startswith("The rep could not be labelled: the thigh sensor missed its top"), v
    assert "1 partial rep (the thigh sensor missed part) was counted but not judged" in v
    assert "judged reps" not in v and "controlled" not in v

    # some medians measured, one not: that one reads n/a
    half = dataclasses.replace(an.reps[0], eccentric_s=math.nan)
    text = summary_text(dataclasses.replace(an, reps=[half]))
    assert "s up, n/a down; median peak hip flexion" in text and "None" not in text
