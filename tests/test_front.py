"""The front half (imu_pipeline/front.py, imu_pipeline/resample.py): resampling onto the common grid, outages, alignment,
data quality; one object for both paths, so any chunking must give the same arrays bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_pipeline.config import FrontConfig
from imu_pipeline.front import FrontHalf, GridBatch
from imu_pipeline.resample import SensorResampler, k_at_or_after, k_at_or_before
from imu_pipeline.io.recording import SENSORS, Recording, SensorSamples

FS = 100.0


def run(fh: FrontHalf, pushes: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> GridBatch:
    out = [fh.push(*p) for p in pushes]
    return GridBatch.concat(out + [fh.finish()])


def stream(seed: int, rates: dict[str, float], duration_s: float = 20.0, loss: float = 0.0,
           jitter_s: float = 0.0, dup: float = 0.0, gap: tuple[str, float, float] | None = None,
           packet: int = 1) -> list[tuple[float, str, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows (arrival time, sensor, t, acc, gyr) of both sensors in arrival order, as a BLE host
    writes them: lost packets, host jitter, duplicated time stamps, an outage."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, rate in rates.items():
        n = int(duration_s * rate)
        t = rng.uniform(0, 0.02) + np.arange(n) / rate
        keep = np.ones(n, bool)
        if loss:
            starts = np.flatnonzero(rng.random(n // packet) < loss) * packet
            for a in starts:
                keep[a:a + packet] = False
        if gap is not None and gap[0] == s:
            keep &= ~((t > gap[1]) & (t < gap[2]))
        t = t + rng.uniform(-jitter_s, jitter_s, n)
        t = np.maximum.accumulate(t)
        if dup:
            d = np.flatnonzero(rng.random(n) < dup)
            t[d[d > 0]] = t[d[d > 0] - 1]
        acc = np.column_stack([np.sin(t), np.cos(0.5 * t), 9.81 + 0.1 * np.sin(3 * t)])
        gyr = np.column_stack([2 * np.sin(1.3 * t), 0.1 * np.cos(t), rng.normal(0, 0.01, n)])
        for i in np.flatnonzero(keep):
            rows.append((float(t[i]), s, t[i:i + 1], acc[i:i + 1], gyr[i:i + 1]))
    rows.sort(key=lambda r: r[0])
    return rows


def chunked(rows, cuts: list[int]) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Group consecutive rows of the arrival stream into pushes (one sensor per push), cut at ``cuts``."""
    pushes = []
    edges = [0] + sorted(set(c for c in cuts if 0 < c < len(rows))) + [len(rows)]
    for a, b in zip(edges[:-1], edges[1:]):
        i = a
        while i < b:
            j = i
            while j < b and rows[j][1] == rows[i][1]:
                j += 1
            seg = rows[i:j]
            pushes.append((seg[0][1], np.concatenate([r[2] for r in seg]), np.concatenate([r[3] for r in seg]),
                           np.concatenate([r[4] for r in seg])))
            i = j
    return pushes


def whole(rows) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Each sensor's samples in one array (what a recording holds)."""
    out = []
    for s in SENSORS:
        seg = [r for r in rows if r[1] == s]
        if seg:
            out.append((s, np.concatenate([r[2] for r in seg]), np.concatenate([r[3] for r in seg]),
                        np.concatenate([r[4] for r in seg])))
    return out


def offline(rows, cfg: FrontConfig | None = None) -> tuple[GridBatch, FrontHalf]:
    """The offline path: the whole recording pushed at once, then finish."""
    rec = Recording({s: SensorSamples(t, a, g) for s, t, a, g in whole(rows)})
    fh = FrontHalf(cfg)
    return GridBatch.concat([fh.push_recording(rec), fh.finish()]), fh


def assert_same(a: GridBatch, b: GridBatch) -> None:
    np.testing.assert_array_equal(a.k, b.k)
    for s in SENSORS:
        np.testing.assert_array_equal(a.block[s], b.block[s])
        np.testing.assert_array_equal(a.acc[s], b.acc[s])  # bit for bit (NaN == NaN here)
        np.testing.assert_array_equal(a.gyr[s], b.gyr[s])


# --------------------------------------------------------------------------- grid indices


@pytest.mark.parametrize("t", [0.0, 0.1, 0.3, 0.7, 1234.56789, 0.29999999999999999, 17.3 / 3])
def test_grid_index_helpers_are_exact(t: float) -> None:
    k = k_at_or_before(t, FS)
    assert k / FS <= t < (k + 1) / FS
    k = k_at_or_after(t, FS)
    assert (k - 1) / FS < t <= k / FS


# --------------------------------------------------------------------------- one sensor


def test_uniform_samples_on_the_grid_give_their_interval_means_exactly() -> None:
    """Samples at 100 Hz on the grid: each sample is its sensor's mean over the interval ending at
    its time stamp, which is the grid interval (t - 0.01, t]; the grid value is that sample (exactly
    for a linear signal; for t² within the curvature of one interval)."""
    r = SensorResampler("thigh", FrontConfig())
    t = np.arange(200) / FS
    v = np.column_stack([t, t**2, np.ones_like(t), -t, 2 * t, 3 * t])
    k, means, block = r.push(t, v)
    k2, m2, b2 = r.finish()
    assert len(k2) == 0
    np.testing.assert_array_equal(k, np.arange(1, 199))  # whole intervals inside the data only
    np.testing.assert_allclose(means[:, 0], t[k], atol=1e-12)
    np.testing.assert_allclose(means[:, 1], t[k] ** 2, atol=1e-4)
    np.testing.assert_allclose(means[:, 2], 1.0, atol=1e-12)
    assert (block == 0).all()


def test_constant_rate_integral_is_kept_across_lost_packets_and_rate_changes() -> None:
    """A rotation at constant rate keeps its angle exactly whatever is lost (the integral matters)."""
    r = SensorResampler("thigh", FrontConfig())
    t = np.arange(0, 10, 1 / 52.0)
    keep = np.ones(len(t), bool)
    keep[100:104] = False  # a lost packet (4 samples, shorter than an outage)
    keep[300:302] = False
    v = np.tile([0.0, 0.0, 9.81, 1.5, -0.25, 0.0], (keep.sum(), 1))
    k, means, block = r.push(t[keep], v)
    assert (block == 0).all()  # no outage
    np.testing.assert_allclose(means[:, 3], 1.5, atol=1e-12)
    assert means[:, 3].sum() / FS == pytest.approx(1.5 * len(k) / FS, abs=1e-12)


def test_linear_signal_is_reproduced_at_any_rate() -> None:
    """A linear signal's interval mean is its value at the interval's middle, whatever the input rate."""
    for rate in (10.0, 12.5, 52.0, 208.0, 833.0 / 4):
        r = SensorResampler("thigh", FrontConfig())
        t = 0.013 + np.arange(int(10 * rate)) / rate
        c = t - 0.5 / rate  # a sample is the mean over its interval: the line's value at its middle
        v = np.column_stack([3 * c + 1] + [c] * 5)
        k, means, _ = r.push(t, v)
        mid = (k - 0.5) / FS
        np.testing.assert_allclose(means[:, 0], 3 * mid + 1, atol=1e-9, err_msg=f"{rate} Hz")


def test_outage_splits_blocks_and_nothing_is_invented_inside() -> None:
    r = SensorResampler("thigh", FrontConfig())
    t = np.concatenate([np.arange(0, 5, 0.01), np.arange(5.5, 10, 0.01)])
    v = np.tile([0, 0, 9.81, 0, 0, 0.0], (len(t), 1))
    k, _, block = r.push(t, v)
    tk = k / FS
    assert not ((tk > 4.99) & (tk <= 5.5)).any()  # no value whose interval touches the outage
    assert set(block[tk < 5]) == {0} and set(block[tk > 5.5]) == {1}
    (o,) = r.quality_.outages
    assert (o.start_s, o.end_s, o.where) == (pytest.approx(4.99), pytest.approx(5.5), "middle")


def test_slow_sensor_intervals_are_not_outages() -> None:
    """10 Hz with jitter: 0.1 s intervals (the max_gap_s) are normal, 2.5 intervals is the threshold."""
    r = SensorResampler("thigh", FrontConfig())
    rng = np.random.default_rng(0)
    t = np.sort(np.arange(0, 30, 0.1) + rng.uniform(-0.003, 0.003, 300))
    k, _, block = r.push(t, np.tile([0, 0, 9.81, 0, 0, 0.0], (300, 1)))
    r.finish()
    assert (block == 0).all() and r.quality_.outages == []
    assert r.quality_.rate_hz == pytest.approx(10.0, rel=0.02)
    assert r.quality_.gap_threshold_s == pytest.approx(0.25, rel=0.02)


def test_duplicates_and_out_of_order_samples_are_dropped_and_counted() -> None:
    r = SensorResampler("thigh", FrontConfig())
    t = np.array([0.00, 0.01, 0.01, 0.02, 0.015, 0.03] + list(np.arange(0.04, 1, 0.01)))
    v = np.tile([0, 0, 9.81, 0, 0, 0.0], (len(t), 1))
    v[2, 0] = 100.0  # the duplicate's value must not be used
    k, means, _ = r.push(t, v)
    assert r.quality_.dropped_duplicate == 2
    assert np.abs(means[:, 0]).max() == 0.0


def test_a_lost_sample_of_a_slow_sensor_is_not_an_outage() -> None:
    """12.5 Hz (80 ms intervals): one lost sample leaves a 160 ms interval, shorter than 2.5 nominal
    intervals (200 ms), so it is bridged although it exceeds max_gap_s (100 ms); a 400 ms silence
    is an outage."""
    t = np.arange(0, 20, 0.08)
    keep = np.ones(len(t), bool)
    keep[[40, 90, 140]] = False  # single lost samples
    keep[200:204] = False  # 5 intervals = 0.4 s
    fh = FrontHalf(FrontConfig())
    rows = GridBatch.concat([fh.push("thigh", t[keep], np.tile([0, 0, 9.81], (keep.sum(), 1)),
                                     np.zeros((keep.sum(), 3))), fh.finish()])
    q = fh.quality_.sensors["thigh"]
    assert q.gap_threshold_s == pytest.approx(2.5 * 0.08)
    assert [(round(o.start_s, 2), round(o.end_s, 2)) for o in q.outages] == [(15.92, 16.32)]
    assert set(rows.block["thigh"][rows.valid("thigh")]) == {0, 1}


def test_a_resent_sample_changes_nothing() -> None:
    """A sample whose time stamp repeats the previous one (a re-sent packet, other values) is
    dropped: the grid is bit for bit the grid of the stream without it."""
    t = np.arange(0, 5, 0.01)
    acc = np.column_stack([np.sin(t), np.cos(t), 9.81 + 0 * t])
    gyr = np.column_stack([0.5 * np.sin(2 * t), 0 * t, 0 * t])
    dup = np.array([50, 120, 121, 300])
    t2 = np.insert(t, dup + 1, t[dup])
    acc2 = np.insert(acc, dup + 1, acc[dup] + 5.0, axis=0)
    gyr2 = np.insert(gyr, dup + 1, gyr[dup] - 1.0, axis=0)
    clean, resent = FrontHalf(FrontConfig()), FrontHalf(FrontConfig())
    a = GridBatch.concat([clean.push("thigh", t, acc, gyr), clean.finish()])
    b = GridBatch.concat([resent.push("thigh", t2, acc2, gyr2), resent.finish()])
    assert_same(a, b)
    assert resent.quality_.sensors["thigh"].dropped_duplicate == 4
    assert resent.quality_.sensors["thigh"].samples == len(t)


def test_declared_rate_is_used_when_the_data_agree() -> None:
    r = SensorResampler("thigh", FrontConfig(), declared_rate_hz=100.0)
    r.push(np.arange(0, 1, 1 / 101.0), np.zeros((101, 6)))
    assert r.quality_.rate_hz == 100.0
    r = SensorResampler("thigh", FrontConfig(), declared_rate_hz=200.0)  # declared wrongly
    r.push(np.arange(0, 1, 1 / 101.0), np.zeros((101, 6)))
    assert r.quality_.rate_hz == pytest.approx(101.0, rel=1e-6)


# --------------------------------------------------------------------------- both sensors, chunking


@pytest.mark.parametrize("case", [
    dict(rates={"thigh": 100.0, "pelvis": 100.0}),
    dict(rates={"thigh": 200.0, "pelvis": 200.0}, loss=0.05, packet=5, jitter_s=0.0015),
    dict(rates={"thigh": 52.0, "pelvis": 400.0}, loss=0.02, jitter_s=0.002, dup=0.01),
    dict(rates={"thigh": 10.0, "pelvis": 12.5}, jitter_s=0.003),
    dict(rates={"thigh": 100.0, "pelvis": 100.0}, gap=("pelvis", 5.0, 9.0), loss=0.02),
    dict(rates={"thigh": 104.0, "pelvis": 52.0}, gap=("thigh", 3.0, 3.4), dup=0.02),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_chunking_gives_the_same_arrays_bit_for_bit(case: dict, seed: int) -> None:
    rows = stream(seed, **case)
    ref, _ = offline(rows)
    rng = np.random.default_rng(100 + seed)
    for n_cuts in (len(rows) // 2, 50, 3):
        cuts = list(rng.choice(len(rows), size=min(n_cuts, len(rows)), replace=False))
        assert_same(run(FrontHalf(), chunked(rows, cuts)), ref)
    assert_same(run(FrontHalf(), chunked(rows, list(range(len(rows))))), ref)  # one sample per push


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_cuts=st.integers(1, 200), loss=st.sampled_from([0.0, 0.05]),
       rate=st.sampled_from([10.0, 52.0, 100.0, 208.0]))
def test_chunking_invariance_property(seed: int, n_cuts: int, loss: float, rate: float) -> None:
    rows = stream(seed, {"thigh": rate, "pelvis": 100.0}, duration_s=4.0, loss=loss, jitter_s=0.001, dup=0.01)
    ref, _ = offline(rows)
    cuts = list(np.random.default_rng(seed).choice(len(rows), size=min(n_cuts, len(rows)), replace=False))
    assert_same(run(FrontHalf(), chunked(rows, cuts)), ref)


def test_rows_are_released_while_streaming_not_only_at_the_end() -> None:
    rows = stream(3, {"thigh": 100.0, "pelvis": 100.0}, duration_s=10.0)
    fh = FrontHalf()
    released = []
    for p in chunked(rows, list(range(0, len(rows), 10))):
        released.append(len(fh.push(*p)))
    assert sum(released[: len(released) // 2]) > 400  # most of the first 5 s came out before the end


def test_a_silent_sensor_does_not_hold_the_other_back() -> None:
    """The pelvis dies at 5 s; the thigh's rows keep coming out, the pelvis's are missing."""
    rows = stream(4, {"thigh": 100.0, "pelvis": 100.0}, duration_s=12.0, gap=("pelvis", 5.0, 99.0))
    fh = FrontHalf()
    last_k = None
    for p in chunked(rows, list(range(0, len(rows), 5))):
        b = fh.push(*p)
        if len(b):
            last_k = b.k[-1]
    # before the end of the stream, rows up to ~absent_after_s before the newest sample are out
    assert last_k / FS > 12.0 - 0.6 - 0.1
    out = fh.finish()
    q = fh.quality_
    assert [(o.sensor, o.where) for o in q.outages] == [("pelvis", "end")]
    assert q.outages[0].start_s == pytest.approx(5.0, abs=0.03)
    assert q.coverage["pelvis"] == pytest.approx(5.0 / 12.0, abs=0.01)
    assert len(out) < 100


def test_late_start_and_never_seen_sensor() -> None:
    rows = stream(5, {"thigh": 100.0, "pelvis": 100.0}, duration_s=10.0, gap=("pelvis", -1.0, 4.0))
    b, _ = offline(rows)
    t = b.time_s
    assert not b.valid("pelvis")[t < 4.0].any() and b.valid("pelvis")[(t > 4.05) & (t < 9.9)].all()
    b, fh = offline([r for r in rows if r[1] == "thigh"])
    assert b.valid("thigh").mean() > 0.99 and not b.valid("pelvis").any()
    assert [(o.sensor, o.where) for o in fh.quality_.outages] == [("pelvis", "start")]
    assert fh.quality_.coverage["pelvis"] == 0.0


def test_late_samples_beyond_the_skew_are_dropped_and_counted() -> None:
    """A sensor whose packets arrive more than absent_after_s late: its rows were already released
    as missing; its late samples are counted, never written into released rows."""
    fh = FrontHalf(FrontConfig(absent_after_s=0.3))
    t = np.arange(0, 3, 0.01)
    z = np.tile([0, 0, 9.81, 0, 0, 0.0], (len(t), 1))
    fh.push("thigh", t, z[:, :3], z[:, 3:])
    fh.push("pelvis", t[:50], z[:50, :3], z[:50, 3:])  # pelvis up to 0.5 s ...
    out = fh.push("thigh", t + 3, z[:, :3], z[:, 3:])  # ... thigh on to 6 s
    fh.push("pelvis", t[50:150], z[50:150, :3], z[50:150, 3:])  # pelvis 0.5-1.5 s arrives late
    fh.finish()
    assert fh.quality_.sensors["pelvis"].dropped_late > 0
    assert not out.valid("pelvis")[(out.time_s > 0.6) & (out.time_s < 1.4)].any()


def test_a_sensor_frozen_mid_movement_becomes_an_outage() -> None:
    """The thigh stops measuring while turning but keeps sending its last sample for 3 s: those
    repeats are dropped (an outage, counted), nothing is integrated from them; a still sensor that
    repeats itself exactly (no noise) is left alone."""
    t = np.arange(0, 10, 0.01)
    v = np.column_stack([np.sin(t), np.cos(t), 9.8 + 0 * t, 0.5 + 0.1 * np.sin(t), 0 * t, 0 * t])
    frozen = (t >= 4.0) & (t < 7.0)
    v[frozen] = v[np.flatnonzero(frozen)[0] - 1]
    z = np.tile([0.0, 0.0, 9.8, 0.0, 0.0, 0.0], (len(t), 1))  # the pelvis: perfectly still, no noise
    rows = [(0.0, "thigh", t, v[:, :3], v[:, 3:]), (0.0, "pelvis", t, z[:, :3], z[:, 3:])]
    out, fh = offline([(t[i], s, t[i:i + 1], a[i:i + 1], g[i:i + 1]) for _, s, t, a, g in rows for i in range(len(t))])
    q = fh.quality_
    assert q.sensors["thigh"].dropped_frozen >= 240 and q.sensors["pelvis"].dropped_frozen == 0
    (o,) = [o for o in q.outages if o.sensor == "thigh"]
    assert 4.2 < o.start_s < 4.7 and o.end_s == pytest.approx(7.0, abs=0.02)
    tk = out.time_s
    assert not out.valid("thigh")[(tk > 4.7) & (tk < 6.99)].any()
    assert out.valid("pelvis").mean() > 0.99


def test_clocks_out_of_step_are_suspected_offline_and_in_step_ones_are_not() -> None:
    """The pelvis's time stamps 0.6 s late against the thigh's: the movements line up at that lag,
    the summary says so; unshifted, nothing (the simulator's natural lag is <= 0.09 s)."""
    from imu_pipeline.front import front_half_offline
    from imu_pipeline.io.recording import Recording, SensorSamples
    from imu_pipeline.report.quality import quality_sentences
    from imu_pipeline.simulate import SimulationOptions, simulate_session

    rec = simulate_session(SimulationOptions(seed=40, n_reps=6)).recording
    _, q = front_half_offline(rec)
    assert q.clock_offset_s is None
    p = rec.sensors["pelvis"]
    shifted = Recording({"thigh": rec.sensors["thigh"], "pelvis": SensorSamples(p.time_s + 0.6, p.acc, p.gyr)},
                        rec.meta, None)
    _, q = front_half_offline(shifted)
    assert q.clock_offset_s is not None and abs(q.clock_offset_s - 0.6) < 0.15
    assert any("out of step" in s for s in quality_sentences(q, 0.05))
    assert q.to_dict()["suspected_clock_offset_s"] == round(q.clock_offset_s, 2)


def test_labels_are_not_confident_when_the_clocks_look_out_of_step() -> None:
    from imu_pipeline.io.recording import Recording, SensorSamples
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.simulate import SimulationOptions, simulate_session

    rec = simulate_session(SimulationOptions(seed=40, n_reps=6)).recording
    p = rec.sensors["pelvis"]
    shifted = Recording({"thigh": rec.sensors["thigh"], "pelvis": SensorSamples(p.time_s + 0.6, p.acc, p.gyr)},
                        rec.meta, None)
    an = analyze_recording(shifted)
    assert an.quality.clock_offset_s is not None
    assert an.reps and all(r.label_confidence != "normal" for r in an.reps)
