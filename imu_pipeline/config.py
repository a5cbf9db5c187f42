"""Configuration: ``configs/*.toml`` -> typed, validated dataclasses.

Angles and rates are in degrees at this edge (they are what people write); the stages
convert to radians internally. Every threshold of the analysis lives here, never as a magic
number inside a function. ``configs/default.toml`` documents each value and equals these
defaults (a test checks it).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from imu_pipeline.errors import ConfigError, MountingError
from imu_pipeline.frames import mounting_matrix


def _p(default: Any, unit: str, doc: str) -> Any:
    """A config field: its default, unit (as written in the TOML) and one line of documentation."""
    return field(default=default, metadata={"unit": unit, "doc": doc})


@dataclass
class FrontConfig:
    """Front half: resampling onto the common grid, outages, alignment of the two sensors."""

    grid_rate_hz: float = _p(100.0, "Hz", "common time grid of orientation, angles and reps")
    max_gap_s: float = _p(0.1, "s", "an interval longer than this (or than gap_intervals) is an outage, never bridged")
    gap_intervals: float = _p(2.5, "sample intervals", "... an interval longer than this many of the sensor's "
                                                        "nominal intervals is an outage")
    rate_probe_samples: int = _p(25, "samples", "a sensor's nominal rate: median interval of its first samples")
    declared_rate_tolerance: float = _p(0.05, "fraction", "the declared rate is used when the data agree within this")
    frozen_after_s: float = _p(0.5, "s", "a sensor repeating exactly the same six values this long is frozen: its "
                                         "repeats are dropped (an outage)")
    frozen_min_rate_deg_s: float = _p(3.0, "deg/s", "... while reading a turn at least this fast (a still sensor may "
                                                    "repeat itself)")
    absent_after_s: float = _p(0.6, "s", "a sensor silent this long while the other streams counts as missing")
    held_max_s: float = _p(5.0, "s", "live: a sensor whose samples the reader holds back (its timing settling after "
                                     "a (re)connection) is waited for up to this long before it counts as missing")
    sync_max_lag_s: float = _p(0.35, "s", "offline: the two sensors' movements correlating best at a lag beyond this "
                                          "(within 1 s) -> a warning that their clocks may be out of step")
    sync_min_correlation: float = _p(0.5, "", "... when that best correlation is at least this")


@dataclass
class OrientationConfig:
    """Orientation per sensor (VQF, Laidig & Seel 2023); every other VQF parameter at its default."""

    tau_acc_s: float = _p(3.0, "s", "VQF accelerometer low-pass time constant (VQF default)")
    rest_bias_estimation: bool = _p(True, "", "VQF gyro bias estimation at rest")
    motion_bias_estimation: bool = _p(True, "", "VQF gyro bias estimation in motion")
    restart_window_s: float = _p(2.0, "s", "live: after an outage the filter starts from the mean gravity of this "
                                           "much of the new data (held back until it arrived)")
    parallel_min_s: float = _p(300.0, "s", "offline: from this recording length on, the pelvis filter runs in "
                               "a second process (fork, where available) while the thigh's runs here")


@dataclass
class CalibrationConfig:
    """Sensor-to-segment calibration, start pose and the plausibility checks."""

    neutral_max_rate_deg_s: float = _p(25.0, "deg/s", "|gyro| below this counts as (quasi-)still")
    neutral_max_deviation_deg: float = _p(40.0, "deg", "still moments within this of the declared start pose")
    min_neutral_s: float = _p(0.3, "s", "less still time than this in the start pose: reduced confidence")
    axis_max_correction_deg: float = _p(25.0, "deg", "a flexion axis further than this from the declared one: error")
    pose_tolerance_deg: float = _p(45.0, "deg", "gravity within this of a pose's vertical decides the pose")
    min_overlap_s: float = _p(1.0, "s", "both sensors must have recorded together at least this long")
    axis_min_rate_deg_s: float = _p(20.0, "deg/s", "samples turning faster than this show the flexion axis")
    axis_min_eigen_ratio: float = _p(6.0, "", "the rotation must be this much more about one axis than any other")
    axis_min_rms_deg_s: float = _p(25.0, "deg/s", "... and this fast (rms about that axis) to define it")
    legs_high_deg: float = _p(60.0, "deg", "thigh angle above which the legs count as high (mounting checks)")
    legs_high_min_s: float = _p(1.0, "s", "time with the legs high needed before the pelvis check can judge")
    pelvis_sign_check_deg: float = _p(4.0, "deg", "mean anterior tilt with the legs high beyond this: pelvis "
                                                  "mounting reversed")
    thigh_check_min_range_deg: float = _p(20.0, "deg", "the thigh check judges only once the thigh moved this far")
    thigh_max_extension_fraction: float = _p(0.3, "fraction", "hip extension beyond this fraction of the flexion "
                                                              "range (and 20 deg): thigh mounting reversed")
    swap_min_pelvis_range_deg: float = _p(30.0, "deg", "a 'pelvis' sweeping more than this ...")
    swap_range_ratio: float = _p(1.5, "", "... and this many times the 'thigh': sensors swapped")
    pose_guess_max_deg: float = _p(35.0, "deg", "undeclared: a still sensor's z within this of vertical means lying")
    start_pose_min_s: float = _p(1.0, "s", "the zero is the first still run in the start pose this long (else the "
                                           "longest)")
    start_pose_max_rate_deg_s: float = _p(5.0, "deg/s", "... of which the rows turning slower than this (both "
                                                       "sensors) give the zero, when there are enough")
    start_pose_bias_min_sigma_deg_s: float = _p(0.05, "deg/s", "live: the gyro bias measured in the still start pose "
                                                              "is given the filter with at least this uncertainty")
    start_pose_bias_max_std_deg_s: float = _p(1.0, "deg/s", "... only when its raw rate varies less than this (per "
                                                            "axis): a still sensor, not a swinging one")
    start_pose_max_gap_s: float = _p(0.1, "s", "a still run may have breaks up to this long")
    axis_min_elevation_deg: float = _p(30.0, "deg", "flexion axes come from rows with the thigh raised at least this "
                                                    "far from its start pose (the reps)")
    neutral_band_deg: float = _p(6.0, "deg", "declared: start-pose moments within this of the thigh's low end")
    neutral_band_undeclared_deg: float = _p(10.0, "deg", "undeclared: still moments within this of the session ends")
    session_ends_s: float = _p(0.5, "s", "undeclared: the start pose is looked for in this much at each end")
    session_ends_max_deg: float = _p(25.0, "deg", "undeclared: still moments this close to the ends' pose qualify")
    tilt_sign_min_deg: float = _p(2.0, "deg", "undeclared pelvis: less mean tilt with the legs high leaves its "
                                              "sign unverified (a note)")
    axis_min_samples: int = _p(20, "samples", "fewest turning samples from which a flexion axis is estimated")
    neutral_min_samples: int = _p(5, "samples", "fewest samples a start-pose set may have")
    neutral_rate_doublings: int = _p(2, "", "too few still moments: the still-rate threshold is doubled up to "
                                            "this many times")
    neutral_low_percentile: float = _p(5.0, "percent", "declared: the thigh's low end is this percentile of its angle")
    sign_range_percentile: float = _p(1.0, "percent", "undeclared axis signs: a segment's range runs from this "
                                                      "percentile to 100 minus it")
    check_range_percentile: float = _p(2.0, "percent", "the mounting and swap checks: a segment's range runs from "
                                                       "this percentile to 100 minus it")


@dataclass
class RepConfig:
    """Segmentation of reps on hip flexion."""

    min_rep_deg: float = _p(30.0, "deg", "a rep rises at least this far above its baseline ...")
    return_fraction: float = _p(0.6, "fraction", "... and comes back down by this fraction of its excursion")
    onset_deg: float = _p(3.0, "deg", "start/end = where the angle is within this of its baseline")
    settle_s: float = _p(0.25, "s", "the angle stays near its minimum this long -> the rep has ended")
    reversal_deg: float = _p(5.0, "deg", "or it rises again this much above the minimum (touch-and-go)")
    smoothing_hz: float = _p(6.0, "Hz", "low-pass applied before segmentation (measures use raw angles)")
    max_extension_deg: float = _p(45.0, "deg", "the thigh further than this below its start pose: not the exercise "
                                              "(no hip extends that far); no rep is looked for there")
    resume_min_deg: float = _p(20.0, "deg", "data resuming after a gap this far above the rest level: a rep")
    gap_reset_s: float = _p(0.4, "s", "a gap in hip flexion longer than this ends a rep under way (counted once)")
    resume_new_rep_after_s: float = _p(2.0, "s", "after a gap that closed a rep, data resuming high this long after "
                                                 "that rep's peak is a new rep under way (not the closed rep's tail)")
    resume_tail_max_s: float = _p(3.0, "s", "... except within this long of the gap's start when the closed rep was on "
                                            "its way up, or was coming down and the data resume lower: its remainder")
    phase_fraction: float = _p(0.05, "fraction", "phases start/end where the hip rate crosses this fraction of "
                                                 "its peak")
    phase_search_s: float = _p(0.5, "s", "movement onset/end are looked for this far around the segmenter's bounds")
    rate_smoothing_s: float = _p(0.05, "s", "moving average of the hip rate before the phase crossings")
    phase_peak_min_fraction: float = _p(0.25, "fraction", "a phase's peak rate is looked for where the hip is above "
                                                          "this fraction of the excursion (not a rebound at the bottom)")
    value_window_s: float = _p(0.05, "s", "an angle 'at' a time is its mean within this of it ...")
    value_nearest_s: float = _p(0.5, "s", "... else the nearest measured value within this")
    tilt_reference_window_s: float = _p(0.1, "s", "the tilt reference at a rep's start is the mean within this of it")


@dataclass
class LabelConfig:
    """hip-flexor-only vs abdominal-engaging, label confidence, and the back-arch warning."""

    abdominal_min_posterior_tilt_deg: float = _p(10.0, "deg", "posterior tilt during the rep, vs its start")
    still_pelvis_deg: float = _p(5.0, "deg", "below this the pelvis counts as still")
    abdominal_min_hip_deg: float = _p(60.0, "deg", "the curl must happen with the legs high (hip above this)")
    back_arch_anterior_tilt_deg: float = _p(7.0, "deg", "anterior tilt while the legs are low -> warning")
    back_arch_max_hip_deg: float = _p(45.0, "deg", "'legs low' means hip flexion below this")
    top_fraction: float = _p(0.2, "fraction", "a rep's top: within this fraction of its excursion below the peak")
    min_pelvis_coverage: float = _p(0.5, "fraction", "the pelvis saw less of a rep's top than this: no label "
                                                     "(confidence 'none')")
    full_pelvis_coverage: float = _p(0.95, "fraction", "... less than this: the label's confidence is 'low'")
    min_thigh_coverage: float = _p(0.9, "fraction", "the thigh saw less of a rep than this: the rep is 'partial' "
                                                    "(counted; no tempo, momentum or back-arch judgement)")
    tilt_reference_lookback_s: float = _p(10.0, "s", "pelvis missing at a rep's start: its last tilt this recent "
                                                     "is the reference")


@dataclass
class MomentumConfig:
    """Momentum flags; each reason is one rule."""

    min_phase_s: float = _p(0.8, "s", "'fast': up or down phase shorter than this")
    max_rate_deg_s: float = _p(200.0, "deg/s", "'fast': peak hip rate above this (a 120 deg raise in 1.2 s peaks at 188)")
    drop_ratio: float = _p(2.0, "", "'drop': eccentric this many times faster than concentric ...")
    drop_min_rate_deg_s: float = _p(120.0, "deg/s", "... and its peak rate above this")
    bounce_max_pause_s: float = _p(0.15, "s", "'bounce': no pause at the bottom ...")
    bounce_min_rate_deg_s: float = _p(100.0, "deg/s", "... arriving fast ...")
    bounce_rebound_deg: float = _p(3.0, "deg", "... and rebounds this much within bounce_window_s, or turns straight up")
    bounce_window_s: float = _p(0.3, "s", "look-ahead after the rep's end for the rebound")
    bounce_max_descent_s: float = _p(1.0, "s", "... after a descent shorter than this")
    min_samples_per_threshold: float = _p(2.0, "samples", "a rule whose time threshold spans fewer sample intervals "
                                                         "of the slower sensor is not judged (e.g. bounce at 10 Hz)")
    swing_min_amplitude_deg: float = _p(2.7, "deg", "'swing' / 'unsettled' (hanging): pendulum amplitude of the "
                                                     "pelvis with the legs down after / before the rep")
    swing_frequency_hz: float = _p(0.45, "Hz", "pendulum frequency of a body hanging from a bar (~1.2 m)")
    swing_min_window_s: float = _p(0.5, "s", "shortest legs-down window in which a swing is judged (~1/4 cycle)")
    swing_lookback_s: float = _p(3.0, "s", "the legs-down window before a rep that is searched for a swing "
                                           "(since the previous rep's end)")
    swing_after_s: float = _p(1.5, "s", "'swing' (the rep kicked it up): the legs-down window after a rep, up to the "
                                        "next rep's onset; a hanging rep is reported live up to this long after its end")
    swing_after_skip_s: float = _p(0.3, "s", "... without this much right after the rep's end (the pelvis settling "
                                             "as the legs stop)")
    swing_growth_deg: float = _p(1.0, "deg", "... and its amplitude there exceeds the one before the rep by this much; "
                                             "a swing already there before the rep is 'unsettled'")


@dataclass
class SmoothnessConfig:
    """SPARC (Balasubramanian et al. 2015) on the thigh's sagittal angular speed, per phase."""

    sparc_cutoff_hz: float = _p(10.0, "Hz", "SPARC frequency cut-off")
    sparc_amplitude_threshold: float = _p(0.05, "fraction", "SPARC amplitude threshold")
    sparc_padlevel: int = _p(4, "", "SPARC zero-padding level")


@dataclass
class SetFindingConfig:
    """Finding the set: what is the exercise, what is walking over, lying down or getting up."""

    max_pose_deviation_deg: float = _p(50.0, "deg", "the pelvis further than this from the pose's vertical: not "
                                                    "the exercise pose")
    impact_min_m_s2: float = _p(2.0, "m/s^2", "a foot strike: the pelvis's specific force departs from g by more "
                                              "than this")
    strike_max_thigh_tilt_deg: float = _p(45.0, "deg", "strikes count only with the thigh this close to upright "
                                                       "(a foot on the ground)")
    step_min_s: float = _p(0.3, "s", "successive strikes at least this far apart ...")
    step_max_s: float = _p(0.9, "s", "... and at most this far are steps")
    walking_min_steps: int = _p(3, "steps", "this many strikes in a row at step intervals: walking")
    margin_s: float = _p(0.3, "s", "a movement within this of walking is not a rep (the live path waits this long)")
    after_walking_s: float = _p(2.5, "s", "a movement with a strike this soon after walking: stepping up or down")
    chain_lookback_s: float = _p(5.0, "s", "strikes this long before a movement count toward its walking chain")
    min_span_s: float = _p(1.0, "s", "shorter stretches out of the pose are not reported")


@dataclass
class LiveConfig:
    """The live (streaming) path: when it calibrates, how long it waits, how much it keeps."""

    calibration_wait_s: float = _p(20.0, "s", "calibrate with what there is after this long, even if inconclusive")
    calibration_retry_s: float = _p(1.0, "s", "stream time between two calibration attempts")
    min_neutral_s: float = _p(1.0, "s", "less start-pose time than this: refit once more of it has been seen")
    end_wait_s: float = _p(1.0, "s", "a finished rep waits at most this long for its movement to come to rest")
    buffer_s: float = _p(60.0, "s", "angles kept for the rep measures (bounded memory)")
    bias_doubt_deg_s: float = _p(0.3, "deg/s", "the start pose's gyro bias this far from the filter's: reps started "
                                               "before it was handed over get a low label confidence")


@dataclass
class PipelineConfig:
    """Every threshold of the analysis, by stage (configs/default.toml documents each)."""

    front: FrontConfig = field(default_factory=FrontConfig)
    orientation: OrientationConfig = field(default_factory=OrientationConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    reps: RepConfig = field(default_factory=RepConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    momentum: MomentumConfig = field(default_factory=MomentumConfig)
    smoothness: SmoothnessConfig = field(default_factory=SmoothnessConfig)
    set_finding: SetFindingConfig = field(default_factory=SetFindingConfig)
    live: LiveConfig = field(default_factory=LiveConfig)


def _coerce(where: str, value: Any, typ: Any, default: Any) -> Any:
    if typ is bool or isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if typ is int or (isinstance(default, int) and not isinstance(default, bool)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if typ is float or isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not value == value:
            raise ConfigError(f"{where}: NaN is not allowed")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"{where}: expected a list of {len(default)} numbers, got {value!r}")
        return tuple(_coerce(f"{where}[{i}]", v, None, d) for i, (v, d) in enumerate(zip(value, default)))
    return value


def _section_from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known keys: {', '.join(names)}")
    obj = cls()
    kwargs = {}
    for k, v in data.items():
        kwargs[k] = _coerce(f"{where}.{k}", v, hints.get(k), getattr(obj, k))
    obj = dataclasses.replace(obj, **kwargs)
    _check_ranges(obj, where)
    return obj


def _check_ranges(obj: Any, where: str) -> None:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise ConfigError(f"{where}.{f.name}: must not be negative, got {v}")
    if isinstance(obj, FrontConfig):
        if obj.grid_rate_hz < 1 or obj.grid_rate_hz > 2000:
            raise ConfigError(f"{where}.grid_rate_hz: expected 1..2000 Hz, got {obj.grid_rate_hz}")
        if obj.max_gap_s <= 0:
            raise ConfigError(f"{where}.max_gap_s: must be positive")
        if obj.rate_probe_samples < 3:
            raise ConfigError(f"{where}.rate_probe_samples: expected at least 3, got {obj.rate_probe_samples}")
    if isinstance(obj, RepConfig):
        if not 0 < obj.return_fraction <= 1:
            raise ConfigError(f"{where}.return_fraction: expected a fraction in (0, 1], got {obj.return_fraction}")
        if obj.min_rep_deg <= obj.onset_deg:
            raise ConfigError(f"{where}.min_rep_deg must exceed onset_deg")
    if isinstance(obj, MomentumConfig) and not obj.swing_frequency_hz > 0:
        raise ConfigError(f"{where}.swing_frequency_hz: must be positive")


def config_from_dict(data: dict[str, Any], where: str = "config") -> PipelineConfig:
    sections = {f.name: f for f in dataclasses.fields(PipelineConfig)}
    unknown = set(data) - set(sections)
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; known: {', '.join(sections)}")
    hints = get_type_hints(PipelineConfig)
    parts = {k: _section_from_dict(hints[k], v, f"{where}: [{k}]") for k, v in data.items()}
    return PipelineConfig(**parts)


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Load a pipeline config TOML (missing keys take their defaults); ``None`` -> defaults."""
    if path is None:
        return PipelineConfig()
    p = Path(path)
    return config_from_dict(_read_toml(p, "config"), str(p))


def _read_toml(p: Path, what: str) -> dict[str, Any]:
    if not p.exists():
        raise ConfigError(f"{p}: no such {what} file")
    if not p.is_file():
        raise ConfigError(f"{p}: is not a file; expected a {what} TOML file")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; expected a {what} TOML file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read ({e.strerror})") from None


def config_to_dict(cfg: PipelineConfig) -> dict[str, Any]:
    """Every value of the config, by section (what the summary JSON records)."""
    parts = {sec.name: getattr(cfg, sec.name) for sec in dataclasses.fields(cfg)}
    return {name: {f.name: getattr(part, f.name) for f in dataclasses.fields(part)} for name, part in parts.items()}


def config_toml(cfg: PipelineConfig | None = None) -> str:
    """The config as a documented TOML file (configs/default.toml is this, for the defaults)."""
    cfg = cfg or PipelineConfig()
    lines = ["# imu-pipeline configuration: every threshold of the analysis, with its unit.",
             "# Angles in degrees, rates in deg/s, times in s at this edge (SI inside). Load another file with",
             "# `imu-pipeline analyze REC.csv --config my.toml`; missing keys keep these values.",
             "# Made by imu_pipeline.config.config_toml(); tests/test_config.py checks this file against it."]
    for sec in dataclasses.fields(cfg):
        part = getattr(cfg, sec.name)
        lines += ["", f"[{sec.name}]", f"# {(type(part).__doc__ or '').strip().splitlines()[0]}"]
        for f in dataclasses.fields(part):
            v = getattr(part, f.name)
            val = ("true" if v else "false") if isinstance(v, bool) else repr(v)
            unit = f.metadata.get("unit", "")
            doc = f.metadata.get("doc", "")
            lines.append(f"{f.name} = {val}  # {f'[{unit}] ' if unit else ''}{doc}".rstrip())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- sensors


ROLES = ("thigh", "pelvis")  # the recording format's sensor names (recording.SENSORS)


@dataclass
class SensorSpec:
    """One physical sensor: which segment it is on and how it is strapped."""

    role: str
    address: str | None = None  # BLE address (or macOS UUID); None: find by name/profile
    name: str | None = None  # advertised name (substring match) when no address
    profile: str | None = None  # device family; None: recognised from the advertisement
    sample_rate_hz: float | None = None  # requested output data rate
    mounting: dict[str, str] | None = None  # {"x": "superior", "y": "right"}
    options: dict[str, Any] = field(default_factory=dict)  # profile-specific settings


def load_sensor_config(path: str | os.PathLike[str]) -> list[SensorSpec]:
    """Load ``[[sensor]]`` tables; exactly one thigh and one pelvis sensor."""
    p = Path(path)
    data = _read_toml(p, "sensor config")
    tables = data.get("sensor")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{p}: expected [[sensor]] tables (one for the thigh, one for the pelvis)")
    known = {f.name for f in dataclasses.fields(SensorSpec)}
    specs = []
    for i, t in enumerate(tables):
        where = f"{p}: sensor[{i}]"
        unknown = set(t) - known
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
        role = t.get("role")
        if role not in ROLES:
            raise ConfigError(f"{where}.role: expected 'thigh' or 'pelvis', got {role!r}")
        if t.get("mounting") is not None:
            try:
                mounting_matrix(t["mounting"], where=f"{where}.mounting")
            except MountingError as e:
                raise ConfigError(str(e)) from None
        rate = t.get("sample_rate_hz")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
            raise ConfigError(f"{where}.sample_rate_hz: expected a positive number, got {rate!r}")
        if not t.get("address") and not t.get("name"):
            raise ConfigError(f"{where}: give an 'address' (see `imu-pipeline scan`) or a 'name'")
        specs.append(SensorSpec(**t))
    roles = [s.role for s in specs]
    for r in ROLES:
        if roles.count(r) != 1:
            raise ConfigError(f"{p}: expected exactly one sensor with role '{r}', found {roles.count(r)}")
    return specs
