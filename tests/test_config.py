"""Configuration loading and validation (imu_pipeline/config.py)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from imu_pipeline.config import (
    ConfigError,
    FrontConfig,
    MomentumConfig,
    PipelineConfig,
    SensorSpec,
    config_to_dict,
    load_config,
    load_sensor_config,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TOML = REPO / "configs" / "default.toml"


def write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def msg(p: Path, rest: str) -> str:
    return re.escape(str(p)) + rest


# --------------------------------------------------------------------------- pipeline config


@pytest.mark.skipif(not DEFAULT_TOML.exists(), reason="configs/default.toml not written yet (the lead writes it)")
def test_default_toml_equals_dataclass_defaults() -> None:
    cfg = load_config(DEFAULT_TOML)
    assert config_to_dict(cfg) == config_to_dict(PipelineConfig())


def test_default_toml_is_the_generated_documentation() -> None:
    """configs/default.toml is config_toml(): every key with its unit and doc line (regenerate it with
    `python -c "from imu_pipeline.config import config_toml; print(config_toml(), end='')" > configs/default.toml`)."""
    from imu_pipeline.config import config_toml

    assert DEFAULT_TOML.read_text(encoding="utf-8") == config_toml()


def test_every_config_field_has_a_unit_and_a_doc_line() -> None:
    for sec in dataclasses.fields(PipelineConfig):
        for f in dataclasses.fields(sec.type if isinstance(sec.type, type) else type(getattr(PipelineConfig(), sec.name))):
            assert "unit" in f.metadata and f.metadata.get("doc"), f"[{sec.name}] {f.name} lacks unit/doc metadata"


@pytest.mark.skipif(not DEFAULT_TOML.exists(), reason="configs/default.toml not written yet (the lead writes it)")
def test_default_toml_lists_every_key() -> None:
    import tomllib

    data = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    for section, values in config_to_dict(PipelineConfig()).items():
        assert section in data, f"configs/default.toml lacks [{section}]"
        missing = set(values) - set(data[section])
        assert not missing, f"configs/default.toml [{section}] lacks {sorted(missing)} (it should document every value)"


def test_none_and_empty_file_give_defaults(tmp_path: Path) -> None:
    assert load_config(None) == PipelineConfig()
    assert load_config(write(tmp_path, "# nothing\n")) == PipelineConfig()


def test_partial_config_overrides_only_given_keys(tmp_path: Path) -> None:
    p = write(tmp_path, "[front]\ngrid_rate_hz = 200\n[orientation]\nrest_bias_estimation = false\n"
                        "[momentum]\nswing_frequency_hz = 0.5\n[smoothness]\nsparc_padlevel = 5\n")
    cfg = load_config(p)
    assert cfg.front == dataclasses.replace(FrontConfig(), grid_rate_hz=200.0)
    assert cfg.orientation.rest_bias_estimation is False and cfg.orientation.motion_bias_estimation is True
    assert isinstance(cfg.front.grid_rate_hz, float)  # ints are accepted for float keys and converted
    assert cfg.momentum == dataclasses.replace(MomentumConfig(), swing_frequency_hz=0.5)
    assert cfg.smoothness.sparc_padlevel == 5
    assert cfg.reps == PipelineConfig().reps


def test_unknown_section(tmp_path: Path) -> None:
    p = write(tmp_path, "[fornt]\ngrid_rate_hz = 100\n")
    with pytest.raises(ConfigError, match=msg(p, r": unknown section\(s\) \['fornt'\]; known: front, orientation")):
        load_config(p)


def test_unknown_key(tmp_path: Path) -> None:
    p = write(tmp_path, "[reps]\nmin_rep_degrees = 30\n")
    with pytest.raises(ConfigError, match=msg(p, r": \[reps\]: unknown key\(s\) \['min_rep_degrees'\]; known keys: min_rep_deg")):
        load_config(p)


@pytest.mark.parametrize("line, key, what", [
    ('[front]\ngrid_rate_hz = "fast"', r"\[front\]\.grid_rate_hz", "expected a number, got 'fast'"),
    ("[orientation]\nrest_bias_estimation = 1", r"\[orientation\]\.rest_bias_estimation", "expected true or false, got 1"),
    ("[front]\nrate_probe_samples = 2.5", r"\[front\]\.rate_probe_samples", "expected a whole number, got 2.5"),
    ("[smoothness]\nsparc_padlevel = 4.0", r"\[smoothness\]\.sparc_padlevel", "expected a whole number, got 4.0"),
    ("[smoothness]\nsparc_padlevel = true", r"\[smoothness\]\.sparc_padlevel", "expected a whole number, got True"),
    ("[labels]\nstill_pelvis_deg = true", r"\[labels\]\.still_pelvis_deg", "expected a number, got True"),
    ("[momentum]\nswing_frequency_hz = [0.3]", r"\[momentum\]\.swing_frequency_hz", r"expected a number"),
    ("[reps]\nsettle_s = nan", r"\[reps\]\.settle_s", "NaN is not allowed"),
    ("front = 3", r"\[front\]", "expected a table"),
])
def test_wrong_type(tmp_path: Path, line: str, key: str, what: str) -> None:
    p = write(tmp_path, line + "\n")
    with pytest.raises(ConfigError, match=msg(p, r": " + key + ": " + what)):
        load_config(p)


@pytest.mark.parametrize("section, key", [
    ("orientation", "tau_acc_s"), ("calibration", "min_neutral_s"), ("reps", "settle_s"), ("front", "absent_after_s"),
    ("live", "calibration_wait_s"),
    ("labels", "still_pelvis_deg"), ("momentum", "max_rate_deg_s"), ("smoothness", "sparc_cutoff_hz"),
])
def test_negative_value(tmp_path: Path, section: str, key: str) -> None:
    p = write(tmp_path, f"[{section}]\n{key} = -1\n")
    with pytest.raises(ConfigError, match=msg(p, rf": \[{section}\]\.{key}: must not be negative, got -1.0")):
        load_config(p)


def test_negative_integer_value(tmp_path: Path) -> None:
    p = write(tmp_path, "[smoothness]\nsparc_padlevel = -1\n")
    try:
        cfg = load_config(p)
    except ConfigError as e:
        assert str(p) in str(e) and "sparc_padlevel" in str(e)
    else:
        pytest.fail(
            f"BUG config.py _check_ranges: only float fields are checked for negative values, so "
            f"sparc_padlevel = -1 is accepted (got {cfg.smoothness.sparc_padlevel}); check ints too "
            "(isinstance(v, (int, float)) and not isinstance(v, bool))")


@pytest.mark.parametrize("text, key, what", [
    ("[front]\ngrid_rate_hz = 0", r"\[front\]\.grid_rate_hz", "expected 1..2000 Hz"),
    ("[front]\ngrid_rate_hz = 5000", r"\[front\]\.grid_rate_hz", "expected 1..2000 Hz"),
    ("[front]\nmax_gap_s = 0", r"\[front\]\.max_gap_s", "must be positive"),
    ("[front]\nrate_probe_samples = 2", r"\[front\]\.rate_probe_samples", "expected at least 3"),
    ("[reps]\nreturn_fraction = 1.5", r"\[reps\]\.return_fraction", r"expected a fraction in \(0, 1\]"),
    ("[reps]\nmin_rep_deg = 2", r"\[reps\]\.min_rep_deg", "must exceed onset_deg"),
    ("[momentum]\nswing_frequency_hz = 0", r"\[momentum\]\.swing_frequency_hz", "must be positive"),
])
def test_out_of_range(tmp_path: Path, text: str, key: str, what: str) -> None:
    p = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=msg(p, r": " + key + ".*" + what)):
        load_config(p)


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "[front]\ngrid_rate_hz = 100\nmax_gap_s = = 0.1\n")
    with pytest.raises(ConfigError, match=msg(p, r": not valid TOML \(.*line 3")):
        load_config(p)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=msg(tmp_path / "nope.toml", ": no such config file")):
        load_config(tmp_path / "nope.toml")


def test_config_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """A folder given as --config is a mistake, not an empty config (defaults would hide it)."""
    p = tmp_path / "cfg.d"
    p.mkdir()
    (p / "default.toml").write_text("[reps]\nmin_rep_deg = 45\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=msg(p, ": is not a file; expected a config TOML file")):
        load_config(p)


def test_config_in_latin1_is_refused_not_misread(tmp_path: Path) -> None:
    """TOML is UTF-8 (toml.io): a Latin-1 'é' (byte 0xE9) is not a character there."""
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"[front]\n# r\xe9glage\ngrid_rate_hz = 100\n")
    with pytest.raises(ConfigError, match=msg(p, ": not UTF-8 text; expected a config TOML file")):
        load_config(p)


def test_utf8_comments_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "utf8.toml"
    p.write_text("# réglage: 35° minimum\n[reps]\nmin_rep_deg = 35\n", encoding="utf-8")
    assert load_config(p).reps.min_rep_deg == 35.0


# --------------------------------------------------------------------------- sensor config

GOOD_SENSORS = """
[[sensor]]
role = "thigh"
address = "C4:7D:12:34:56:78"
profile = "metawear"
sample_rate_hz = 100
mounting = { x = "superior", y = "right" }

[[sensor]]
role = "pelvis"
name = "MetaWear"
mounting = { x = "right", y = "anterior" }
options = { range_g = 8 }
"""


def test_sensor_config_happy_path(tmp_path: Path) -> None:
    specs = load_sensor_config(write(tmp_path, GOOD_SENSORS, "sensors.toml"))
    assert specs == [
        SensorSpec(role="thigh", address="C4:7D:12:34:56:78", profile="metawear", sample_rate_hz=100,
                   mounting={"x": "superior", "y": "right"}),
        SensorSpec(role="pelvis", name="MetaWear", mounting={"x": "right", "y": "anterior"},
                   options={"range_g": 8}),
    ]


def _two(thigh: str, pelvis: str) -> str:
    return f"[[sensor]]\n{thigh}\n\n[[sensor]]\n{pelvis}\n"


@pytest.mark.parametrize("text, what", [
    (_two('address = "A"', 'role = "pelvis"\naddress = "B"'), r": sensor\[0\]\.role: expected 'thigh' or 'pelvis', got None"),
    (_two('role = "knee"\naddress = "A"', 'role = "pelvis"\naddress = "B"'), r": sensor\[0\]\.role: expected 'thigh' or 'pelvis', got 'knee'"),
    ('[[sensor]]\nrole = "thigh"\naddress = "A"\n', r": expected exactly one sensor with role 'pelvis', found 0"),
    (_two('role = "thigh"\naddress = "A"', 'role = "thigh"\naddress = "B"'), r": expected exactly one sensor with role 'thigh', found 2"),
    (_two('role = "thigh"\naddress = "A"', 'role = "pelvis"\nsample_rate_hz = 100'),
     r": sensor\[1\]: give an 'address' \(see `imu-pipeline scan`\) or a 'name'"),
    (_two('role = "thigh"\naddress = "A"\nmounting = { x = "superior", y = "inferior" }', 'role = "pelvis"\naddress = "B"'),
     r": sensor\[0\]\.mounting: x='superior' and y='inferior' are not perpendicular"),
    (_two('role = "thigh"\naddress = "A"', 'role = "pelvis"\naddress = "B"\nmounting = { x = "front", y = "left" }'),
     r": sensor\[1\]\.mounting\.x: unknown direction 'front'"),
    (_two('role = "thigh"\naddress = "A"\nsample_rate_hz = 0', 'role = "pelvis"\naddress = "B"'),
     r": sensor\[0\]\.sample_rate_hz: expected a positive number, got 0"),
    (_two('role = "thigh"\naddress = "A"\nrate = 100', 'role = "pelvis"\naddress = "B"'),
     r": sensor\[0\]: unknown key\(s\) \['rate'\]"),
    ('[sensor]\nrole = "thigh"\n', r": expected \[\[sensor\]\] tables"),
    ("", r": expected \[\[sensor\]\] tables"),
    ('[[sensor]]\nrole = "thigh\n', r": not valid TOML"),
])
def test_sensor_config_errors(tmp_path: Path, text: str, what: str) -> None:
    p = write(tmp_path, text, "sensors.toml")
    with pytest.raises(ConfigError, match=msg(p, what)):
        load_sensor_config(p)


def test_sensor_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=msg(tmp_path / "s.toml", ": no such sensor config file")):
        load_sensor_config(tmp_path / "s.toml")


def test_sensor_config_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "sensors.toml"
    p.mkdir()
    with pytest.raises(ConfigError, match=msg(p, ": is not a file; expected a sensor config TOML file")):
        load_sensor_config(p)


def test_sensor_config_in_latin1_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "sensors.toml"
    p.write_bytes(GOOD_SENSORS.replace('name = "MetaWear"', 'name = "Capteur-\u00e9"').encode("latin-1"))
    with pytest.raises(ConfigError, match=msg(p, ": not UTF-8 text; expected a sensor config TOML file")):
        load_sensor_config(p)


def test_sensor_names_keep_their_non_ascii_letters(tmp_path: Path) -> None:
    """A device advertised as 'Capteur-é' (UTF-8 in the file, as TOML requires) is looked for by that name."""
    p = tmp_path / "sensors.toml"
    p.write_bytes(GOOD_SENSORS.replace('name = "MetaWear"', 'name = "Capteur-\u00e9"').encode("utf-8"))
    (thigh, pelvis) = load_sensor_config(p)
    assert pelvis.name == "Capteur-\u00e9" and len(pelvis.name) == 9
