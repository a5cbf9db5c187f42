#!/usr/bin/env python
"""Mutation check: plant single-point bugs, run the tests that should notice, count who does.

Not a test module (pytest collects ``test_*.py`` only). Run it from the repository root::

    /work/venv/bin/python tests/mutation_check.py            # every mutant, 2 at a time
    /work/venv/bin/python tests/mutation_check.py --only verdict-always-controlled -v
    /work/venv/bin/python tests/mutation_check.py --list

For each mutant the repository (``imu_pipeline/``, ``tests/``, ``configs/``, ``recordings/``,
``docs/``, ``pyproject.toml``) is copied into a temporary directory, the mutant's edits are
applied there (each original snippet must occur exactly once, so the list cannot silently go
stale when the code changes), and ``python -m pytest`` runs the mutant's relevant tests with
``PYTHONPATH`` pointing at the copy. The distinct test *functions* that fail are counted (the
parameter cases of one function count once: they are not independent). A mutant is *caught*
when at least ``MIN_FAILING`` (2) independent tests fail.

A baseline run (no mutation, the union of every listed test) must pass, otherwise the counts mean
nothing; it runs alongside the mutants. ``--all-tests`` runs the whole suite for every mutant instead
of its list (slow, ~20 min on 2 cores): it audits whether the lists miss a test that would notice. Exit status: 0 when every mutant is caught, 1 when one is caught by fewer
than two tests (or timed out), 2 when the baseline fails or a mutant's snippet is stale.

A mutant is one bug, but a few touch two places: changing a documented default means changing
``config.py`` and ``configs/default.toml`` together (otherwise the test that pins the two
together would "catch" every threshold change, and no behaviour would be tested).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("imu_pipeline", "tests", "configs", "recordings", "docs", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
MIN_FAILING = 2
TIMEOUT_S = 900.0

# test files / node ids, grouped for reuse below
REPS = "tests/test_reps.py"
RULES = "tests/test_reps_rules.py"
SUMMARY = "tests/test_report_summary.py"
CONFIG = "tests/test_config.py"
RECORDING = "tests/test_recording.py"
ORIENT = "tests/test_orientation.py"
FRONT = "tests/test_front.py"
CALIB = "tests/test_calibration.py"
JOINT = "tests/test_joint_angles.py"
SMOOTH = "tests/test_smoothness.py"
ANALYZE = "tests/test_analyze.py"
ACCURACY = "tests/test_accuracy.py"
CLI = "tests/test_cli_basic.py"
ANGLES = "tests/test_report_angles.py"
PLOT = "tests/test_report_plot.py"
LIVE = "tests/test_pipeline_live.py"
INFO = "tests/test_report_info.py"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``original`` in ``file`` becomes ``replacement`` (plus ``also`` edits of
    the same bug elsewhere, each ``(file, original, replacement)``); ``tests`` are the pytest
    arguments (files or node ids) that should notice it."""

    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    also: tuple[tuple[str, str, str], ...] = ()

    def edits(self) -> tuple[tuple[str, str, str], ...]:
        return ((self.file, self.original, self.replacement),) + self.also


def _min_rep(deg: str) -> tuple[str, str, str]:
    return ("configs/default.toml", "min_rep_deg = 30.0  #", f"min_rep_deg = {deg}  #")


MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- the list
    Mutant("min-rep-rise-40", "imu_pipeline/config.py",
           'min_rep_deg: float = _p(30.0, "deg"', 'min_rep_deg: float = _p(40.0, "deg"',
           (REPS, CONFIG, SUMMARY, LIVE), also=(_min_rep("40.0"),)),
    Mutant("min-rep-rise-60", "imu_pipeline/config.py",
           'min_rep_deg: float = _p(30.0, "deg"', 'min_rep_deg: float = _p(60.0, "deg"',
           (REPS, CONFIG, SUMMARY, LIVE), also=(_min_rep("60.0"),)),
    Mutant("totals-abdominal-hipflexor-swapped", "imu_pipeline/reps/assess.py",
           '"abdominal_engaging": ab, "hip_flexor_only": hf,',
           '"abdominal_engaging": hf, "hip_flexor_only": ab,',
           (REPS, SUMMARY, ANALYZE)),
    Mutant("verdict-always-controlled", "imu_pipeline/report/summary.py",
           'if t["momentum"] == 0:', "if True:",
           (SUMMARY, ANALYZE)),
    Mutant("writer-no-fsync", "imu_pipeline/io/writer.py",
           "                os.fsync(self._fh.fileno())", "                pass",
           (RECORDING,)),
    Mutant("config-accepts-directory", "imu_pipeline/config.py",
           'if not p.is_file():\n        raise ConfigError(f"{p}: is not a file; expected a {what} TOML file")',
           "if not p.is_file():\n        return {}",
           (CONFIG, CLI)),
    Mutant("config-accepts-latin1", "imu_pipeline/config.py",
           'return tomllib.loads(p.read_text(encoding="utf-8"))',
           'return tomllib.loads(p.read_text(encoding="latin-1"))',
           (CONFIG, CLI)),
    Mutant("gyro-bias-not-subtracted", "imu_pipeline/orientation.py",
           'return up_in_sensor_frame(out["quat6D"]), g - out["bias"], out["restDetected"].astype(bool)',
           'return up_in_sensor_frame(out["quat6D"]), g, out["restDetected"].astype(bool)',
           (ORIENT, CALIB)),
    Mutant("bounce-never-fires", "imu_pipeline/reps/rules.py",
           "if (no_pause or m.rebound_deg >= mc.bounce_rebound_deg) and",
           "if False and (no_pause or m.rebound_deg >= mc.bounce_rebound_deg) and",
           (REPS, RULES, SUMMARY, ANALYZE)),
    Mutant("drop-never-fires", "imu_pipeline/reps/rules.py",
           'if b.ended_by != "gap" and m.eccentric_s > 0', 'if False and m.eccentric_s > 0',
           (REPS, RULES, SUMMARY, ANALYZE)),
    Mutant("back-arch-never-fires", "imu_pipeline/reps/rules.py",
           "return m.peak_anterior_tilt_low_deg >= lc.back_arch_anterior_tilt_deg", "return False",
           (REPS, RULES, SUMMARY, ANALYZE)),
    Mutant("label-ignores-legs-high", "imu_pipeline/reps/rules.py",
           "and m.hip_at_peak_tilt_deg is not None and m.hip_at_peak_tilt_deg >= lc.abdominal_min_hip_deg)",
           ")",
           (REPS, RULES, SUMMARY, ANALYZE)),
    # ---------------------------------------------------------------- our own
    Mutant("front-outage-ignores-gap-intervals", "imu_pipeline/resample.py",
           "gap = max(gap, self.cfg.gap_intervals / rate)", "gap = gap",
           (FRONT, INFO)),
    Mutant("front-keeps-duplicate-times", "imu_pipeline/resample.py",
           "return np.isfinite(t) & (t > prev)", "return np.isfinite(t) & (t >= prev)",
           (FRONT, INFO)),
    Mutant("front-nearest-sample-not-interval-mean", "imu_pipeline/resample.py",
           "means = np.diff(Ci, axis=0) * self.fs",
           "means = V[:, np.clip(np.searchsorted(T, np.arange(k0, k1 + 1) / self.fs), 0, V.shape[1] - 1)].T",
           (FRONT, ORIENT)),
    Mutant("front-invents-first-grid-value", "imu_pipeline/resample.py",
           "self._next_k = k_at_or_after(self._block_t0, self.fs) + 1",
           "self._next_k = k_at_or_after(self._block_t0, self.fs)",
           (FRONT, ORIENT)),
    Mutant("calibration-pelvis-mounting-check-skipped", "imu_pipeline/mounting_checks.py",
           "if m < -cfg.pelvis_sign_check_deg * DEG:", "if False:",
           (CALIB, LIVE)),
    Mutant("calibration-thigh-mounting-check-skipped", "imu_pipeline/mounting_checks.py",
           "if -lo > max(min_range, cfg.thigh_max_extension_fraction * hi):", "if False:",
           (CALIB, LIVE)),
    Mutant("calibration-swap-check-skipped", "imu_pipeline/mounting_checks.py",
           'if rng["pelvis"] > cfg.swap_min_pelvis_range_deg and', 'if False and',
           (CALIB, LIVE)),
    Mutant("pelvic-tilt-sign-flipped", "imu_pipeline/joint_angles.py",
           'tilt = wrap(th["pelvis"], -np.pi)', 'tilt = wrap(-th["pelvis"], -np.pi)',
           (JOINT, CALIB)),
    Mutant("segmenter-gap-not-flagged", "imu_pipeline/reps/segmenter.py",
           "            self.gap_in_rep = True\n", "            self.gap_in_rep = False\n",
           (REPS,)),
    Mutant("segmenter-ignores-return-fraction", "imu_pipeline/reps/segmenter.py",
           "trig = np.flatnonzero(xs <= peak - c.return_fraction * (peak - self.start_base))",
           "trig = np.flatnonzero(xs <= peak - 0.1 * (peak - self.start_base))",
           (REPS,)),
    Mutant("tempo-phases-swapped", "imu_pipeline/reps/measures.py",
           "start_s=start_s, peak_s=peak_t, end_s=end_s, concentric_s=conc_end - start_s, top_s=top_s,\n"
           "        eccentric_s=end_s - ecc_start,",
           "start_s=start_s, peak_s=peak_t, end_s=end_s, concentric_s=end_s - ecc_start, top_s=top_s,\n"
           "        eccentric_s=conc_end - start_s,",
           (REPS,)),
    Mutant("sparc-no-zero-padding", "imu_pipeline/reps/smoothness.py",
           "nfft = int(2 ** (np.ceil(np.log2(v.size)) + padlevel))", "nfft = int(2 ** np.ceil(np.log2(v.size)))",
           (SMOOTH, REPS)),
    Mutant("sparc-ignores-cutoff", "imu_pipeline/reps/smoothness.py",
           "sel = f <= cutoff_hz", "sel = f <= fs_hz / 2",
           (SMOOTH, REPS)),
    Mutant("angles-csv-in-radians", "imu_pipeline/joint_angles.py",
           'return pd.DataFrame({"time_s": self.time_s, "hip_flexion_deg": np.degrees(self.hip_flexion),',
           'return pd.DataFrame({"time_s": self.time_s, "hip_flexion_deg": self.hip_flexion,',
           (ANGLES, ANALYZE)),
    Mutant("cli-error-exit-status-0", "imu_pipeline/cli/__init__.py",
           'print(f"imu-pipeline {args.command}: error: {e}", file=sys.stderr)\n        return 2',
           'print(f"imu-pipeline {args.command}: error: {e}", file=sys.stderr)\n        return 0',
           (CLI,)),
    Mutant("live-never-rechecks", "imu_pipeline/pipeline/live.py",
           "            if not self.calibration_.conclusive:\n                self._recheck(sig, final)\n",
           "            pass\n",
           (LIVE, CALIB)),
    Mutant("reader-accepts-nan-time", "imu_pipeline/io/recording.py",
           "    for c, v in zip(NUMERIC_COLS, cols):\n", "    for c, v in list(zip(NUMERIC_COLS, cols))[1:]:\n",
           (RECORDING, CLI)),
    Mutant("fast-rule-ignores-peak-rate", "imu_pipeline/reps/rules.py",
           "if min(phases) < mc.min_phase_s or rate > mc.max_rate_deg_s:", "if min(phases) < mc.min_phase_s:",
           (REPS, RULES, SUMMARY)),
    Mutant("plot-reps-not-shaded", "imu_pipeline/report/plot.py",
           "ax.axvspan(r.start_s, r.end_s, color=LABEL_COLOURS[r.label], alpha=0.35, lw=0,",
           "ax.axvspan(r.start_s, r.start_s, color=LABEL_COLOURS[r.label], alpha=0.35, lw=0,",
           (PLOT, ANALYZE)),
)


# --------------------------------------------------------------------------- running


class StaleMutant(Exception):
    """A mutant's original snippet is not in the code exactly once."""


@dataclass
class Result:
    name: str
    failing: list[str] = field(default_factory=list)
    passed: int = 0
    seconds: float = 0.0
    status: str = "ok"  # ok | timeout | no-tests | stale
    detail: str = ""

    @property
    def caught(self) -> bool:
        return self.status == "ok" and len(self.failing) >= MIN_FAILING


def copy_repo(dest: Path) -> None:
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        elif src.exists():
            shutil.copy2(src, dest / name)


def apply(dest: Path, edits: tuple[tuple[str, str, str], ...], name: str) -> None:
    for rel, original, replacement in edits:
        p = dest / rel
        text = p.read_text(encoding="utf-8")
        n = text.count(original)
        if n != 1:
            raise StaleMutant(f"mutant {name!r}: the original snippet occurs {n} times in {rel} (expected once); "
                              f"update the mutant list:\n    {original!r}")
        p.write_text(text.replace(original, replacement), encoding="utf-8")


def failing_tests(junit: Path) -> tuple[list[str], int]:
    """Distinct failing test functions (parameter cases merged) and the number of passed cases."""
    root = ET.parse(junit).getroot()
    failing: set[str] = set()
    passed = 0
    for case in root.iter("testcase"):
        bad = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        cls, name = case.get("classname", ""), case.get("name", "")
        if bad:
            func = name.split("[", 1)[0]
            failing.add(f"{cls}::{func}" if cls else f"{func} (collection)")
        elif not skipped:
            passed += 1
    return sorted(failing), passed


def run_tests(name: str, edits: tuple[tuple[str, str, str], ...], tests: tuple[str, ...]) -> Result:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mut-{name}-") as tmp:
        dest = Path(tmp)
        copy_repo(dest)
        try:
            apply(dest, edits, name)
        except StaleMutant as e:
            return Result(name, status="stale", detail=str(e))
        env = dict(os.environ, PYTHONPATH=str(dest), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        where = subprocess.run([sys.executable, "-c", "import imu_pipeline; print(imu_pipeline.__file__)"],
                               cwd=dest, env=env, capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(dest)):
            raise RuntimeError(f"imu_pipeline imports from {where.stdout.strip() or where.stderr}, not the copy {dest}")
        present = tuple(t for t in tests if (dest / t.split("::", 1)[0]).exists())
        if not present:
            return Result(name, status="no-tests", seconds=time.monotonic() - t0,
                          detail=f"none of {tests} exists")
        tests = present
        junit = dest / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
               f"--junitxml={junit}", *tests]
        try:
            proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Result(name, status="timeout", seconds=time.monotonic() - t0)
        if not junit.exists():
            return Result(name, status="no-tests", seconds=time.monotonic() - t0,
                          detail=(proc.stdout + proc.stderr)[-2000:])
        failing, passed = failing_tests(junit)
        tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
        return Result(name, failing, passed, time.monotonic() - t0, detail=tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated baseline run")
    ap.add_argument("--all-tests", action="store_true",
                    help="run the whole suite for every mutant (slow: audits the per-mutant test lists)")
    ap.add_argument("-v", "--verbose", action="store_true", help="name the failing tests of each mutant")
    args = ap.parse_args(argv)

    names = [m.name for m in MUTANTS]
    assert len(set(names)) == len(names), "mutant names must be unique"
    chosen = list(MUTANTS)
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            ap.error(f"unknown mutant(s) {unknown}; --list shows them")
        chosen = [m for m in MUTANTS if m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:45s} {m.file:36s} {' '.join(m.tests)}")
        return 0

    # every snippet must still be there before anything runs (fail loudly, not after ten minutes)
    with tempfile.TemporaryDirectory() as tmp:
        copy_repo(Path(tmp))
        for m in chosen:
            try:
                apply(Path(tmp), m.edits(), m.name)
            except StaleMutant as e:
                print(f"STALE: {e}", file=sys.stderr)
                return 2
            # undo: fresh files for the next mutant
            for rel, _, _ in m.edits():
                shutil.copy2(REPO / rel, Path(tmp) / rel)

    t0 = time.monotonic()
    if args.all_tests:
        chosen = [Mutant(m.name, m.file, m.original, m.replacement, ("tests",), m.also) for m in chosen]
    baseline_tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    results: dict[str, Result] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {}
        if not args.no_baseline:
            futures[pool.submit(run_tests, "(baseline)", (), baseline_tests)] = "(baseline)"
        for m in chosen:
            futures[pool.submit(run_tests, m.name, m.edits(), m.tests)] = m.name
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results[r.name] = r
            print(f"  done {r.name}: {len(r.failing)} failing ({r.status}, {r.seconds:.0f} s)", file=sys.stderr,
                  flush=True)

    base = results.get("(baseline)")
    if base is not None and (base.failing or base.status != "ok"):
        print(f"BASELINE FAILS ({base.status}): {', '.join(base.failing)}\n{base.detail}", file=sys.stderr)
        return 2
    if base is not None:
        print(f"baseline: {base.passed} test cases pass unmutated ({base.seconds:.0f} s)")

    width = max(len(m.name) for m in chosen)
    print(f"{'mutant':{width}s}  failing tests  caught")
    caught = 0
    for m in chosen:
        r = results[m.name]
        caught += r.caught
        status = "" if r.status == "ok" else f"  ({r.status})"
        print(f"{m.name:{width}s}  {len(r.failing):13d}  {'yes' if r.caught else 'NO'}{status}")
        if args.verbose or r.status != "ok":
            for f in r.failing:
                print(f"{'':{width}s}    - {f}")
            if r.status != "ok" and r.detail:
                print(r.detail)
    print(f"caught {caught} of {len(chosen)} (a mutant is caught when >= {MIN_FAILING} independent tests fail); "
          f"wall time {time.monotonic() - t0:.0f} s with {args.jobs} job(s)")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
