"""Tests that keep the documentation true to the code.

They read only files of the repository (docs/, README.md, configs/, recordings/, pyproject.toml)
and the code itself, and fail when a document drifts: a summary example that no longer matches
what ``analyze`` writes, a config key or module path that no longer exists, a link to a section
that is gone, a README whose set-up commands moved off the first screen.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from imu_pipeline.config import PipelineConfig

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
README = REPO / "README.md"
TEXTS = DOCS + [README, REPO / "recordings" / "README.md"]
BUNDLED = REPO / "recordings" / "lying-mixed.csv"
SUMMARY_DOC = REPO / "docs" / "summary-format.md"
SENSORS_DOC = REPO / "docs" / "sensors.md"
GENERIC_TOML = REPO / "configs" / "generic-arduino-nano33.toml"

CONFIG = PipelineConfig()
SECTIONS = {f.name: getattr(CONFIG, f.name) for f in dataclasses.fields(PipelineConfig)}
KEYS = {s: {f.name: f for f in dataclasses.fields(part)} for s, part in SECTIONS.items()}


def _rel(p: Path) -> str:
    return str(p.relative_to(REPO))


def _fenced_blocks(text: str, lang: str | None = None) -> list[str]:
    """Contents of the ``` fenced blocks (of one language, if given)."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S):
        if lang is None or m.group(1) == lang:
            out.append(m.group(2))
    return out


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _section(text: str, heading: str, subsections: bool = True) -> str:
    """The text under a heading, up to the next heading of the same or a higher level (or of any
    level, without ``subsections``)."""
    m = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, flags=re.M)
    assert m, f"no heading {heading!r}"
    level = len(m.group(1)) if subsections else 6
    rest = text[m.end():]
    nxt = re.search(rf"^#{{1,{level}}} ", _blank_code(rest), flags=re.M)
    return rest[: nxt.start()] if nxt else rest


def _blank_code(text: str) -> str:
    """Code blocks replaced by blank lines of the same length (so offsets stay valid)."""
    return re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.M | re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _without_code_blocks(path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+?)\s*$", text, flags=re.M)}


# --------------------------------------------------------------------------- (a) the summary example


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    """A fresh summary of the bundled recording, as `imu-pipeline analyze ... --json` writes it."""
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict

    an = analyze_recording(read_recording(BUNDLED, warn=False))
    d = json.loads(json.dumps(summary_dict(an), allow_nan=False))
    d["recording"] = _rel(BUNDLED)  # the path as given from the repository root, as in the doc's command
    d["_angles_csv"] = an.angles.to_frame().to_csv(index=False, float_format="%.4f", na_rep="",
                                                   lineterminator="\n").splitlines()[:3]
    return d


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    blocks = _fenced_blocks(SUMMARY_DOC.read_text(encoding="utf-8"), "json")
    assert len(blocks) == 1, "summary-format.md should have exactly one ```json example"
    return json.loads(blocks[0])


def test_summary_doc_names_the_command_and_the_bundled_recording() -> None:
    text = SUMMARY_DOC.read_text(encoding="utf-8")
    assert f"imu-pipeline analyze {_rel(BUNDLED)} --json" in text
    assert BUNDLED.exists()


def test_summary_example_top_level_keys_equal_the_generated_ones(example: dict, generated: dict) -> None:
    assert list(example) == [k for k in generated if not k.startswith("_")]


def test_summary_example_rep_keys_equal_the_generated_ones(example: dict, generated: dict) -> None:
    assert example["reps"], "the example shows no rep"
    for rep in example["reps"]:
        assert list(rep) == list(generated["reps"][rep["index"]])
        assert list(rep["decided_by"]) == list(generated["reps"][rep["index"]]["decided_by"])


def test_summary_example_quoted_numbers_equal_the_generated_ones(example: dict, generated: dict) -> None:
    for key in ("schema", "schema_version", "analysis_path", "exercise", "duration_s", "start_s", "totals",
                "recording", "verdict"):
        assert example[key] == generated[key], key
    assert generated["totals"]["reps"] == len(generated["reps"])
    text = SUMMARY_DOC.read_text(encoding="utf-8")
    shown, total = map(int, re.search(r"`reps` shows (\d+) of the (\d+) reps", text).groups())
    assert (shown, total) == (len(example["reps"]), len(generated["reps"]))
    shown, total = map(int, re.search(r"`config` shows (\d+) of its (\d+) sections", text).groups())
    assert (shown, total) == (len(example["config"]), len(generated["config"]))


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        # the JSON rounds to 2-5 decimals; allow one last-digit flip on another machine
        assert isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=1.5e-3), (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_summary_example_values_are_the_real_output(example: dict, generated: dict) -> None:
    """Everything the example shows is what analyze writes; abbreviated only where the doc says."""
    for key, value in example.items():
        if key == "reps":
            for rep in value:
                _same(rep, generated["reps"][rep["index"]], f"reps[{rep['index']}]")
        elif key == "config":
            for section, keys in value.items():
                _same(keys, generated["config"][section], f"config.{section}")
        else:
            _same(value, generated[key], key)


def _table_keys(section_text: str) -> set[str]:
    """Backticked names in the first column of a markdown table."""
    keys: set[str] = set()
    for line in section_text.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return keys


def test_rep_table_lists_exactly_the_rep_keys(generated: dict) -> None:
    table = _table_keys(_section(SUMMARY_DOC.read_text(encoding="utf-8"), "One rep"))
    assert table == set(generated["reps"][0])


def test_top_level_and_totals_tables_list_exactly_the_keys(generated: dict) -> None:
    text = SUMMARY_DOC.read_text(encoding="utf-8")
    assert _table_keys(_section(text, "Top level", subsections=False)) == {k for k in generated if not k.startswith("_")}
    assert _table_keys(_section(text, "`totals`")) == set(generated["totals"])


def test_angles_csv_in_the_doc_is_the_real_start_of_the_file(generated: dict) -> None:
    csv_blocks = [b for b in _fenced_blocks(SUMMARY_DOC.read_text(encoding="utf-8")) if b.startswith("time_s,")]
    assert len(csv_blocks) == 1
    assert csv_blocks[0].splitlines() == generated["_angles_csv"]


# --------------------------------------------------------------------------- (b) config references

#: ``section.key`` names in the docs that are summary-JSON paths, not config keys (same section name).
JSON_PATHS = {"calibration": {"pose", "pose_source", "neutral_s", "confidence", "notes", "checks", "sensors"}}
#: Config keys method.md need not name (speed settings, not part of the method).
NOT_METHOD = {("orientation", "parallel_min_s")}

BRACKET_REF = re.compile(r"`\[([a-z_]+)\]\s+([a-z_0-9]+)`")
PROSE_REF = re.compile(r"(?<!`)\[(" + "|".join(SECTIONS) + r")\]\s+([a-z_][a-z0-9_]*)")
DOTTED_REF = re.compile(r"(?<![\w./\[-])(" + "|".join(SECTIONS) + r")\.([a-z_][a-z0-9_]*)(?![\w(/]|\.\w)")
CONFIG_PATH_REF = re.compile(r"\bconfig\.([a-z_]+)\.([a-z_][a-z0-9_]*)")
FILE_SUFFIXES = {"py", "md", "toml", "csv", "json", "png"}


def _config_refs(text: str) -> list[tuple[str, str, str]]:
    """(form, section, key) of every config reference in a text."""
    refs = [("[section] key", *m.groups()) for m in BRACKET_REF.finditer(text)]
    refs += [("[section] key", *m.groups()) for m in PROSE_REF.finditer(text)]
    refs += [("config.section.key", *m.groups()) for m in CONFIG_PATH_REF.finditer(text)]
    for m in DOTTED_REF.finditer(text):
        section, key = m.groups()
        if key in FILE_SUFFIXES or key in JSON_PATHS.get(section, set()):
            continue
        if text[max(0, m.start() - 7):m.start()] == "config.":
            continue  # counted as config.section.key above
        refs.append(("section.key", section, key))
    return refs


@pytest.mark.parametrize("path", TEXTS, ids=_rel)
def test_every_config_reference_exists(path: Path) -> None:
    bad = [(form, s, k) for form, s, k in _config_refs(path.read_text(encoding="utf-8"))
           if (s, k) != ("section", "key") and (s not in KEYS or k not in KEYS[s])]  # the notation itself
    assert not bad, f"{_rel(path)}: config references that PipelineConfig does not have: {bad}"


UNITS = {"deg": {"°", "deg"}, "deg/s": {"deg/s", "°/s"}, "s": {"s"}, "Hz": {"Hz"}, "fraction": {""},
         "percent": {"percent", "%"}, "samples": {"samples"}, "sample intervals": {"sample intervals"}, "steps": {"steps"},
         "m/s^2": {"m/s^2", "m/s²"}, "": {""}}


@pytest.mark.parametrize("path", TEXTS, ids=_rel)
def test_quoted_defaults_and_units_are_the_config_defaults(path: Path) -> None:
    """`[section] key` (VALUE UNIT): the value is the default and the unit the config's unit."""
    text = path.read_text(encoding="utf-8")
    for m in BRACKET_REF.finditer(text):
        section, key = m.groups()
        q = re.match(r"\s*\((true|false|-?\d+(?:\.\d+)?)\s*([^)]*)\)", text[m.end():])
        if q is None or section not in KEYS or key not in KEYS[section]:
            continue
        default = getattr(SECTIONS[section], key)
        value, unit = q.group(1), q.group(2).strip()
        where = f"{_rel(path)}: [{section}] {key} ({value} {unit})"
        if isinstance(default, bool):
            assert value == str(default).lower(), where
        else:
            assert float(value) == float(default), f"{where}: default is {default}"
        assert unit in UNITS[KEYS[section][key].metadata.get("unit", "")], f"{where}: unit is " \
            f"{KEYS[section][key].metadata.get('unit')!r}"


def test_method_names_every_threshold() -> None:
    named = {m.groups() for m in BRACKET_REF.finditer((REPO / "docs" / "method.md").read_text(encoding="utf-8"))}
    missing = [(s, k) for s in KEYS for k in KEYS[s] if (s, k) not in named and (s, k) not in NOT_METHOD]
    assert not missing, f"docs/method.md does not name these config keys: {missing}"


def test_the_reference_patterns_catch_a_wrong_key() -> None:
    """The checks above are real: a misspelt key in either form is found."""
    text = "see `[reps] min_rep_degs` (30°) and reps.settle_seconds and config.labels.top and [front] grid_rate"
    bad = [(s, k) for _, s, k in _config_refs(text) if k not in KEYS.get(s, {})]
    assert bad == [("reps", "min_rep_degs"), ("front", "grid_rate"), ("labels", "top"), ("reps", "settle_seconds")]


# --------------------------------------------------------------------------- (c) module paths

MODULE_PATH = re.compile(r"\bimu_pipeline/[\w/]*(?:\.py)?")
DOTTED_NAME = re.compile(r"\bimu_pipeline(?:\.[A-Za-z_]\w*)+")
REPO_FILE = re.compile(r"(?<![\w/])((?:tests|bench|configs)/[\w./-]+\.(?:py|toml))\b")
#: Files the docs tell the user to create.
USER_FILES = {"configs/sensors.toml"}


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("path", TEXTS, ids=_rel)
def test_every_module_path_and_dotted_name_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    missing = []
    for m in MODULE_PATH.finditer(text):
        p = m.group(0)
        target = REPO / p
        if not (target.is_file() if p.endswith(".py") else target.is_dir()):
            missing.append(p)
    missing += [m.group(0) for m in DOTTED_NAME.finditer(text) if not _resolve(m.group(0))]
    missing += [m.group(1) for m in REPO_FILE.finditer(text)
                if m.group(1) not in USER_FILES and not (REPO / m.group(1)).exists()]
    assert not missing, f"{_rel(path)} names what does not exist: {sorted(set(missing))}"


def test_architecture_has_a_paragraph_for_every_module() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\*\*`(imu_pipeline/[\w/]+\.py)`\*\*", text, flags=re.M))
    modules = {_rel(p) for p in (REPO / "imu_pipeline").rglob("*.py")}
    assert described == modules, (f"not described: {sorted(modules - described)}; "
                                  f"no such module: {sorted(described - modules)}")


def test_the_module_checks_catch_a_missing_module() -> None:
    assert _resolve("imu_pipeline.pipeline.offline.analyze_recording")
    assert not _resolve("imu_pipeline.analysis.analyze_recording")
    assert not _resolve("imu_pipeline.front.NoSuchThing")


# --------------------------------------------------------------------------- (d) links and anchors

LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", TEXTS, ids=_rel)
def test_every_relative_link_and_anchor_exists(path: Path) -> None:
    text = _without_code_blocks(path.read_text(encoding="utf-8"))
    broken = []
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{_rel(path)}: broken links {broken}"


def test_sections_named_by_configs_and_code_exist() -> None:
    """A config or module that says 'see docs/X.md, "Section"' points at a real heading."""
    sources = sorted((REPO / "configs").glob("*.toml")) + sorted((REPO / "imu_pipeline").rglob("*.py"))
    pointers = []
    for src in sources:
        text = src.read_text(encoding="utf-8")
        for m in re.finditer(r"docs/([\w-]+\.md)(?:, \"([^\"]+)\")?", text):
            pointers.append((src, m.group(1), m.group(2)))
    assert any(s == GENERIC_TOML and sec == "Your own firmware" for s, _, sec in pointers)
    for src, doc, section in pointers:
        dest = REPO / "docs" / doc
        assert dest.exists(), f"{_rel(src)} points to docs/{doc}, which does not exist"
        if section:
            assert _slug(section) in _anchors(dest), f"{_rel(src)} points to docs/{doc}, \"{section}\": no such section"


def test_sensors_doc_describes_every_key_of_the_generic_example() -> None:
    from imu_pipeline.ble.devices.generic import _KEYS

    section = _section(SENSORS_DOC.read_text(encoding="utf-8"), "Your own firmware")
    device = tomllib.loads(GENERIC_TOML.read_text(encoding="utf-8"))["device"]
    assert not [k for k in device if f"{k} =" not in section and f"`{k}`" not in section]
    listing = [b for b in _fenced_blocks(section, "toml") if b.startswith("[device]")]
    assert len(listing) == 1
    listed = re.findall(r"^(\w+) =", listing[0], flags=re.M)
    assert set(listed) == _KEYS, f"keys the reader knows but the doc does not list: {sorted(_KEYS - set(listed))}; " \
                                 f"listed but unknown: {sorted(set(listed) - _KEYS)}"


def test_sensors_doc_example_notification_decodes_as_stated() -> None:
    from imu_pipeline.ble.devices import make_profile

    text = SENSORS_DOC.read_text(encoding="utf-8").replace("−", "-")
    m = re.search(r"Example notification: `([0-9a-f ]+)` decodes to counter (\d+),\s*acc \(([^)]*)\) m/s²"
                  r".*?gyr \(([^)]*)\) rad/s", text, flags=re.S)
    assert m, "sensors.md: the example notification sentence is gone"
    batch = make_profile(str(GENERIC_TOML)).decode(bytes.fromhex(m.group(1)))
    assert batch.counter == int(m.group(2))
    for arr, quoted in ((batch.acc[0], m.group(3)), (batch.gyr[0], m.group(4))):
        values = [float(x) for x in quoted.split(",")]
        assert all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(arr, values, strict=True)), (arr, values)


# --------------------------------------------------------------------------- (e) README first screen


def test_readme_first_screen_gives_exactly_the_two_setup_commands() -> None:
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:25])
    blocks = _fenced_blocks(head + "\n")
    assert blocks, "no command block on the README's first screen"
    commands = [ln for ln in blocks[0].splitlines() if ln.strip()]
    assert len(commands) == 2, commands
    run, test = commands
    assert run.startswith("python3 -m venv ") and test.startswith("python3 -m venv ")
    assert "imu-pipeline analyze " in run and "pytest" in test
    rec = re.search(r"(recordings/[\w.-]+\.csv)", run)
    assert rec and (REPO / rec.group(1)).exists(), "the README's bundled recording does not exist"
    assert (REPO / rec.group(1)).with_suffix(".json").exists()
    if "[test]" in test:
        extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        assert "pytest" in " ".join(extras["optional-dependencies"]["test"])
