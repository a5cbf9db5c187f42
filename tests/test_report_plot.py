"""The session plot (imu_pipeline/report/plot.py), checked on the image itself: size, not blank,
and the rep bands in the label colours (the colour a band must have is the label colour at 35 %
over the white axes, GUIDE §1b: a label colour means a label)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from imu_pipeline.io.recording import read_recording
from imu_pipeline.pipeline.offline import analyze_recording
from imu_pipeline.report.plot import LABEL_COLOURS, plot_session
from imu_pipeline.reps import LABEL_ABDOMINAL, LABEL_HIP_FLEXOR
from imu_pipeline.simulate import SimulationOptions, simulate_session

ROOT = Path(__file__).resolve().parent.parent
SHADE_ALPHA = 0.35


def band_colour(hex_colour: str) -> np.ndarray:
    """RGB (0-1) of ``hex_colour`` at SHADE_ALPHA over white."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return 1.0 - SHADE_ALPHA * (1.0 - rgb)


def band_pixels(img: np.ndarray, label: str) -> np.ndarray:
    """(H, W) bool: pixels of a rep band of this label (within 3/255 per channel)."""
    return np.all(np.abs(img[..., :3] - band_colour(LABEL_COLOURS[label])) < 3 / 255, axis=-1)


def test_png_is_1200_by_650_and_shades_each_label_for_its_time(tmp_path: Path) -> None:
    """recordings/lying-mixed.csv: 8 abdominal-engaging and 6 hip-flexor-only reps. The PNG read back
    with matplotlib is 1200 x 650 (12 x 6.5 in at 100 dpi), not blank, and each label's bands cover
    an area in proportion to the time its reps took."""
    an = analyze_recording(read_recording(ROOT / "recordings" / "lying-mixed.csv"))
    out = tmp_path / "p.png"
    plot_session(an, out)
    img = mpimg.imread(out)
    assert img.shape[:2] == (650, 1200)
    assert img[..., :3].std() > 0.05 and len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) > 50
    abd, hip = band_pixels(img, LABEL_ABDOMINAL), band_pixels(img, LABEL_HIP_FLEXOR)
    assert abd.mean() > 0.05 and hip.mean() > 0.05
    assert not (abd & hip).any()
    t_abd = sum(r.end_s - r.start_s for r in an.reps if r.label == LABEL_ABDOMINAL)
    t_hip = sum(r.end_s - r.start_s for r in an.reps if r.label == LABEL_HIP_FLEXOR)
    # both bands span both panels, so their columns measure time: the area ratio is the time ratio
    cols_abd, cols_hip = abd.any(axis=0).sum(), hip.any(axis=0).sum()
    assert cols_abd / cols_hip == pytest.approx(t_abd / t_hip, rel=0.1)


def test_hip_flexor_only_session_has_no_abdominal_band(tmp_path: Path) -> None:
    """Two controlled hip-flexor-only reps (simulator truth): bands only in the hip-flexor colour."""
    sim = simulate_session(SimulationOptions(seed=0, n_reps=2, mix=("hip-flexor",)))
    assert {r["label"] for r in sim.truth_reps} == {LABEL_HIP_FLEXOR}
    an = analyze_recording(sim.recording)
    out = tmp_path / "p.png"
    plot_session(an, out)
    img = mpimg.imread(out)
    assert img.shape[:2] == (650, 1200)
    assert band_pixels(img, LABEL_HIP_FLEXOR).mean() > 0.02
    assert not band_pixels(img, LABEL_ABDOMINAL).any()


def test_outages_are_marked_on_the_plot(tmp_path) -> None:
    """hanging-mixed.csv: the thigh was silent for 3.1 s; the plot marks that stretch as 'no thigh
    data' (a hatched band), apart from the label-coloured rep bands."""
    from pathlib import Path

    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.plot import plot_session

    rec = read_recording(Path(__file__).resolve().parent.parent / "recordings" / "hanging-mixed.csv")
    an = analyze_recording(rec)
    drawn = plot_session(an, tmp_path / "p.png")
    (o,) = an.quality.outages
    assert drawn["outage_spans"] == [(o.start_s, o.end_s)]
    assert len(drawn["rep_spans"]) == len(an.reps)


def test_walking_around_the_set_is_shaded_as_not_exercise(tmp_path) -> None:
    """A walk to the mat and away: those stretches are grey 'not exercise' bands with no angle
    line over them, and only the set's reps have label bands."""
    sim = simulate_session(SimulationOptions(seed=21, pose="lying", n_reps=4, walk_in_out=True))
    an = analyze_recording(sim.recording)
    drawn = plot_session(an, tmp_path / "walk.png")
    assert drawn["not_exercise_spans"] == [(x.start_s, x.end_s) for x in an.not_exercise]
    assert len(drawn["not_exercise_spans"]) == 2 and len(drawn["rep_spans"]) == len(an.reps) == 4
    t, hip = drawn["time_s"], drawn["hip_flexion_deg"]
    for a, b in drawn["not_exercise_spans"]:
        assert not np.isfinite(hip[(t >= a) & (t <= b)]).any()
