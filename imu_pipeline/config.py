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

from imu_pipeline.frames import MountingError, mounting_matrix


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names file and key."""


@dataclass
class FusionConfig:
    """Orientation (VQF) and resampling."""

    grid_rate_hz: float = 100.0  # common time base of the output angles
    max_gap_s: float = 0.1  # longer gaps are never bridged; the filter restarts after them
    tau_acc_s: float = 3.0  # VQF accelerometer low-pass time constant (VQF default)
    rest_bias_estimation: bool = True
    motion_bias_estimation: bool = True


@dataclass
class CalibrationConfig:
    """Sensor-to-segment calibration and start-pose detection."""

    neutral_max_rate_deg_s: float = 25.0  # |gyro| below this counts as (quasi-)still
    neutral_max_deviation_deg: float = 40.0  # still moments within this of the declared neutral pose
    min_neutral_s: float = 0.3  # at least this much still time in the neutral pose
    axis_max_correction_deg: float = 25.0  # refined axes further than this from the declared ones: error
    pose_tolerance_deg: float = 45.0  # gravity within this of a pose's vertical decides the pose


@dataclass
class RepConfig:
    """Segmentation of reps on hip flexion."""

    min_rep_deg: float = 30.0  # a rep rises at least this far above its baseline ...
    return_fraction: float = 0.6  # ... and comes back down by this fraction of its excursion
    onset_deg: float = 3.0  # start/end = where the angle is within this of its baseline
    settle_s: float = 0.25  # the angle stays near its minimum this long -> the rep has ended
    reversal_deg: float = 5.0  # or it rises again this much above the minimum (touch-and-go)
    smoothing_hz: float = 6.0  # low-pass applied before segmentation (features use raw angles)
    resume_min_deg: float = 20.0  # data resuming after a gap this far above the rest level: a rep


@dataclass
class LabelConfig:
    """hip-flexor-only vs abdominal-engaging, and the back-arch warning."""

    abdominal_min_posterior_tilt_deg: float = 10.0  # posterior tilt during the rep, vs its start
    still_pelvis_deg: float = 5.0  # below this the pelvis counts as still
    abdominal_min_hip_deg: float = 60.0  # the curl must happen with the legs high (onset above this)
    back_arch_anterior_tilt_deg: float = 7.0  # anterior tilt while legs are low -> warning
    back_arch_max_hip_deg: float = 45.0  # 'legs low' means hip flexion below this


@dataclass
class MomentumConfig:
    """Momentum flags; each reason is one rule."""

    min_phase_s: float = 0.8  # 'fast': up or down phase shorter than this
    max_rate_deg_s: float = 200.0  # 'fast': peak hip rate above this (a 120° raise in 1.2 s peaks at 188)
    drop_ratio: float = 2.0  # 'drop': eccentric this many times faster than concentric ...
    drop_min_rate_deg_s: float = 120.0  # ... and its peak rate above this
    bounce_max_pause_s: float = 0.15  # 'bounce': no pause at the bottom ...
    bounce_min_rate_deg_s: float = 100.0  # ... arriving fast ...
    bounce_rebound_deg: float = 3.0  # ... and rebounds this much within bounce_window_s, or turns straight up
    bounce_window_s: float = 0.3  # look-ahead after the rep's end for the rebound
    bounce_max_descent_s: float = 1.0  # ... after a descent shorter than this
    swing_min_amplitude_deg: float = 2.7  # 'swing' (hanging): pelvis pitch oscillation amplitude, legs down
    swing_frequency_hz: float = 0.45  # pendulum frequency of a body hanging from a bar (~1.2 m)


@dataclass
class SmoothnessConfig:
    """SPARC (Balasubramanian et al. 2015) on the thigh's sagittal angular speed, per phase."""

    sparc_cutoff_hz: float = 10.0
    sparc_amplitude_threshold: float = 0.05
    sparc_padlevel: int = 4


@dataclass
class PipelineConfig:
    fusion: FusionConfig = field(default_factory=FusionConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    reps: RepConfig = field(default_factory=RepConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    momentum: MomentumConfig = field(default_factory=MomentumConfig)
    smoothness: SmoothnessConfig = field(default_factory=SmoothnessConfig)


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
    if isinstance(obj, FusionConfig):
        if obj.grid_rate_hz <= 0 or obj.grid_rate_hz > 2000:
            raise ConfigError(f"{where}.grid_rate_hz: expected 1..2000 Hz, got {obj.grid_rate_hz}")
        if obj.max_gap_s <= 0:
            raise ConfigError(f"{where}.max_gap_s: must be positive")
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
    return dataclasses.asdict(cfg)


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
