"""Regenerate the examples of docs/summary-format.md from a fresh analysis of the bundled
recording (`python tests/regen_docs.py`); tests/test_docs.py checks they agree. The example keeps
its abbreviations (which reps, which config sections); every value shown is replaced."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "summary-format.md"
BUNDLED = ROOT / "recordings" / "lying-mixed.csv"


def _update(shown: Any, real: Any) -> Any:
    """``shown`` with every value it shows taken from ``real`` (same keys and abbreviations)."""
    if isinstance(shown, dict) and isinstance(real, dict):
        return {k: _update(v, real[k]) if k in real else v for k, v in shown.items()}
    return real


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from imu_pipeline.io.recording import read_recording
    from imu_pipeline.pipeline.offline import analyze_recording
    from imu_pipeline.report.summary import summary_dict

    an = analyze_recording(read_recording(BUNDLED, warn=False))
    real = json.loads(json.dumps(summary_dict(an), allow_nan=False))
    real["recording"] = "recordings/lying-mixed.csv"
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"```json\n(.*?)```", text, re.S)
    assert m, "no ```json block"
    shown = json.loads(m.group(1))
    new = {}
    for k in real:  # the real file's keys, in its order; a key the example lacks is shown whole
        v = shown.get(k, real[k])
        if k == "reps":
            new[k] = [_update(r, real["reps"][r["index"]]) for r in v]
        elif k == "config":
            new[k] = {sec: _update(keys, real["config"][sec]) for sec, keys in v.items()}
        else:
            new[k] = _update(v, real[k])
    text = text[:m.start(1)] + json.dumps(new, indent=2, ensure_ascii=False) + "\n" + text[m.end(1):]
    csv = an.angles.to_frame().to_csv(index=False, float_format="%.4f", na_rep="", lineterminator="\n")
    head = "\n".join(csv.splitlines()[:3])
    text = re.sub(r"```\ntime_s,[^`]*```", "```\n" + head + "\n```", text, count=1)
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
