"""The session as one self-contained HTML file (``analyze --html OUT.html``).

Everything is inside the file: the vendored uPlot (``report/vendor/uplot``), the chart code shared
with the coach view (``report/static/charts.js``), the styles and the data. It makes no request
(a Content-Security-Policy in the file forbids any), so it opens from disk, offline, years later.

Contents, all from the summary (docs/summary-format.md) and the angles: the verdict and totals;
zoomable traces of hip flexion and pelvic tilt with the reps shaded by label (grey where no label)
and momentum marked; the rep table, each rep with the explanation of what decided it
(``decided_by``); data quality (per sensor and every outage); the calibration and its checks; the
exercise set; and every threshold used (the config, with units and meaning). The tables are plain
HTML (readable without JavaScript and printable: ``@media print``). The test and scripting hooks are
the coach view's: each rep's element has ``data-rep``, ``data-label`` and ``data-momentum``, the
summary's ``data-session-summary``.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from imu_pipeline.pipeline.offline import SessionAnalysis
from imu_pipeline.report.coach import package_text
from imu_pipeline.report.files import write_text
from imu_pipeline.report.summary import summary_dict
from imu_pipeline.report.words import (
    arch_advice,
    arch_text,
    decided_by_lines,
    deg,
    label_text,
    momentum_text,
    tempo_text,
)

#: Samples per second of the traces in the file (the 100 Hz grid thinned: a 30-minute session
#: stays a few MB, and a rep of 1 s still has 50 points).
REPORT_TRACE_HZ = 50.0

CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"


def session_trace(an: SessionAnalysis, rate_hz: float = REPORT_TRACE_HZ) -> dict[str, list[Any]]:
    """The whole session's hip flexion and pelvic tilt (s, degrees; None where not measured),
    thinned to ``rate_hz``."""
    a = an.angles
    step = max(1, round(an.config.front.grid_rate_hz / rate_hz))

    def col(x: np.ndarray) -> list[float | None]:
        return [round(float(v), 2) if math.isfinite(v) else None for v in np.degrees(x[::step])]

    return {"t": [round(float(v), 3) for v in a.time_s[::step]], "hip": col(a.hip_flexion),
            "tilt": col(a.pelvic_tilt)}


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _script_json(d: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(d, allow_nan=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _fmt(v: Any, nd: int = 2, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}{unit}" if math.isfinite(v) else "–"
    return f"{v}{unit}"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


#: The rep table's column names; on a narrow screen each cell shows its name (``data-k``).
REP_COLUMNS = ("#", "time", "label", "momentum", "tempo", "peak hip flexion", "peak posterior tilt", "back arch",
               "label confidence")


def _rep_rows(reps: list[dict[str, Any]], pose: str | None = None) -> str:
    out = []
    k = [f' data-k="{_e(c)}"' for c in REP_COLUMNS]
    for r in reps:
        lab = r.get("label") or "none"
        mom = "true" if r.get("momentum") else "false"
        lines = decided_by_lines(r)
        if r.get("back_arch"):
            lines.append(("back arch", arch_advice(pose)))
        why = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in lines)
        partial = ' data-partial="true"' if r.get("partial") else ""
        out.append(
            f'<tbody class="rep" data-rep="{r["index"]}" data-label="{_e(lab)}" data-momentum="{mom}"{partial}>'
            f'<tr class="main"><td class="n"{k[0]}>{r["index"] + 1}</td>'
            f'<td class="when"{k[1]}>{_fmt(r.get("start_s"), 1)}–{_fmt(r.get("end_s"), 1)} s</td>'
            f'<td class="lab"{k[2]}><span class="sw {_e(lab)}"></span>{_e(label_text(r))}</td>'
            f'<td class="mom"{k[3]}>{_e(momentum_text(r))}</td>'
            f'<td class="tempo"{k[4]}>{_e(tempo_text(r))}</td>'
            f'<td class="num"{k[5]}>{_e(deg(r.get("peak_hip_flexion_deg"), 1))}</td>'
            f'<td class="num"{k[6]}>{_e(deg(r.get("peak_posterior_tilt_deg"), 1))}</td>'
            f'<td class="arch"{k[7]}>{_e(arch_text(r))}</td><td{k[8]}>{_e(r.get("label_confidence"))}</td></tr>'
            f'<tr class="why"><td class="pad"></td><td colspan="8"><span class="k">decided by</span><ul>{why}</ul>'
            "</td></tr></tbody>")
    return "".join(out)


def _quality(d: dict[str, Any]) -> str:
    dq = d["data_quality"]
    head = ("<tr><th>sensor</th><th>samples</th><th>coverage</th><th>rate (Hz)</th><th>effective rate (Hz)</th>"
            "<th>first–last sample (s)</th><th>dropped (duplicate / late / frozen)</th></tr>")
    rows = []
    for s, q in dq.get("sensors", {}).items():
        cov = q.get("coverage")
        rows.append(f"<tr><td>{_e(s)}</td><td>{_e(q.get('samples'))}</td>"
                    f"<td>{_e('–' if cov is None else f'{100 * cov:.1f} %')}</td>"
                    f"<td>{_e(_fmt(q.get('rate_hz'), 1))}</td><td>{_e(_fmt(q.get('effective_rate_hz'), 1))}</td>"
                    f"<td>{_e(_fmt(q.get('first_s'), 2))}–{_e(_fmt(q.get('last_s'), 2))}</td>"
                    f"<td>{_e(q.get('dropped_duplicate', 0))} / {_e(q.get('dropped_late', 0))} / "
                    f"{_e(q.get('dropped_frozen', 0))}</td></tr>")
    gaps = dq.get("gaps") or []
    gap_html = ("<p>No outage: both sensors delivered throughout.</p>" if not gaps else
                "<table><tr><th>sensor</th><th>from (s)</th><th>to (s)</th><th>duration (s)</th><th>where</th></tr>"
                + "".join(f"<tr><td>{_e(g['sensor'])}</td><td>{_e(_fmt(g['start_s'], 2))}</td>"
                          f"<td>{_e(_fmt(g['end_s'], 2))}</td><td>{_e(_fmt(g['duration_s'], 2))}</td>"
                          f"<td>{_e(g['where'])}</td></tr>" for g in gaps) + "</table>")
    off = dq.get("suspected_clock_offset_s")
    extra = f"<p>Suspected clock offset between the sensors: {_e(off)} s.</p>" if off is not None else ""
    cov = d.get("angles_coverage")
    return (f'<section id="quality"><h2>Data quality</h2>'
            f"<p>Session {_e(_fmt(dq.get('start_s'), 2))}–{_e(_fmt(dq.get('end_s'), 2))} s; hip flexion measured on "
            f"{_e('–' if cov is None else f'{100 * cov:.1f} %')} of it (both sensors present).</p>"
            f"<table>{head}{''.join(rows)}</table><h3>Outages</h3>{gap_html}{extra}</section>")


def _calibration(d: dict[str, Any]) -> str:
    c = d["calibration"]
    checks = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in (c.get("checks") or {}).items())
    sens = "".join(f"<tr><td>{_e(s)}</td><td>{_e(_fmt(x.get('declared_mounting')))}</td>"
                   f"<td>{_e(x.get('axis_source'))}</td><td>{_e(_fmt(x.get('correction_deg'), 1, '°'))}</td></tr>"
                   for s, x in (c.get("sensors") or {}).items())
    notes = "".join(f"<li>{_e(n)}</li>" for n in c.get("notes") or [])
    return ('<section id="calibration"><h2>Calibration</h2><table>'
            + _rows([("pose", c.get("pose")), ("decided by", c.get("pose_source")),
                     ("still start pose", f"{_fmt(c.get('neutral_s'), 1)} s"), ("confidence", c.get("confidence"))])
            + "</table><h3>Checks</h3><table>" + (checks or "<tr><td>none</td></tr>") + "</table>"
            + "<h3>Sensors</h3><table><tr><th>sensor</th><th>mounting declared</th><th>flexion axis from</th>"
              "<th>correction vs declared</th></tr>" + sens + "</table>"
            + (f"<ul>{notes}</ul>" if notes else "") + "</section>")


def _exercise_set(d: dict[str, Any]) -> str:
    st = d.get("exercise_set") or {}
    lines = "".join(f"<li>{_e(_fmt(x.get('start_s'), 1))}–{_e(_fmt(x.get('end_s'), 1))} s: {_e(x.get('reason'))}</li>"
                    for x in (st.get("not_exercise") or []) + (st.get("movements_not_counted") or []))
    return ('<section id="set"><h2>Exercise set</h2>'
            f"<p>{_e(_fmt(st.get('start_s'), 1))}–{_e(_fmt(st.get('end_s'), 1))} s, "
            f"found by {_e(st.get('found_by'))}.</p>"
            + (f"<p>Not exercise, or movements not counted:</p><ul>{lines}</ul>" if lines else "") + "</section>")


def _config(an: SessionAnalysis) -> str:
    parts = []
    for sec in dataclasses.fields(an.config):
        part = getattr(an.config, sec.name)
        rows = "".join(f"<tr><td><code>{_e(f.name)}</code></td><td class='num'>{_e(getattr(part, f.name))}</td>"
                       f"<td>{_e(f.metadata.get('unit', ''))}</td><td>{_e(f.metadata.get('doc', ''))}</td></tr>"
                       for f in dataclasses.fields(part))
        doc = (type(part).__doc__ or "").strip().splitlines()[0]
        parts.append(f"<h3>[{_e(sec.name)}] <small>{_e(doc)}</small></h3><table class='cfg'>"
                     f"<tr><th>key</th><th>value</th><th>unit</th><th>meaning</th></tr>{rows}</table>")
    return ('<section id="config"><h2>Thresholds used</h2><p>Every configuration value of this analysis '
            "(configs/default.toml unless <code>--config</code> gave another file).</p>"
            + "".join(parts) + "</section>")


def _totals(t: dict[str, Any]) -> str:
    items = [("reps", t["reps"]), ("abdominal-engaging", t["abdominal_engaging"]),
             ("hip-flexor-only", t["hip_flexor_only"]), ("no label", t["unlabelled"]),
             ("with momentum", t["momentum"]), ("controlled", t["controlled"]), ("back arch", t["back_arch"]),
             ("partial", t["partial"])]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(t["momentum_reasons"].items())) or "none"
    tempo = (f"median {_fmt(t['median_concentric_s'])} s up, {_fmt(t['median_eccentric_s'])} s down; "
             f"median peak hip flexion {_fmt(t['median_peak_hip_flexion_deg'], 1)}°")
    return ('<div class="totals">' + "".join(f'<span class="t"><b>{_e(v)}</b> {_e(k)}</span>' for k, v in items)
            + f"</div><p>Momentum reasons: {_e(reasons)}. Tempo: {_e(tempo)}.</p>")


def html_report(an: SessionAnalysis) -> str:
    """The report as one HTML document (see the module docstring)."""
    d = summary_dict(an)
    data = {"trace": session_trace(an), "reps": d["reps"], "gaps": d["data_quality"].get("gaps") or [],
            "not_exercise": (d.get("exercise_set") or {}).get("not_exercise") or [],
            "abdominal_min_posterior_tilt_deg": an.config.labels.abdominal_min_posterior_tilt_deg}
    name = Path(d["recording"]).name
    warnings = "".join(f"<li>{_e(w)}</li>" for w in d["warnings"])
    pose = d["exercise"]
    ref = {"lying": "90°, legs vertical (lying)", "hanging": "90°, legs horizontal (hanging)"}.get(
        pose, "90°, legs vertical when lying, horizontal when hanging")
    body = f"""
<header><h1>{_e(name)} <small>{_e(pose)} leg raises · {_e(_fmt(d['duration_s'], 1))} s ·
{_e(d['analysis_path'])} analysis · imu-pipeline {_e(d['software_version'])}</small></h1></header>
<section class="summary" data-session-summary>
<p class="verdict">{_e(d['verdict'])}</p>
{_totals(d['totals'])}
{f'<h3>Warnings</h3><ul class="warn">{warnings}</ul>' if warnings else ''}
</section>
<section id="traces"><h2>Hip flexion and pelvic tilt</h2>
<p class="hint">Drag across a chart to zoom, double-click to reset. Shaded: each rep by label —
<span class="sw abdominal-engaging"></span> abdominal-engaging <span class="sw hip-flexor-only"></span> hip-flexor-only
<span class="sw none"></span> no label (top not seen); <span class="sw mom"></span> a red bar on top: momentum;
<span class="sw out"></span> hatched: a sensor outage; <span class="sw ref"></span> dashed line: {_e(ref)};
numbers above the chart: the reps.</p>
<div id="chart-hip" class="chart"></div><div id="chart-tilt" class="chart"></div>
<noscript><p>The charts need JavaScript; every number is in the tables below.</p></noscript>
</section>
<section id="reps"><h2>Reps</h2>
<table class="reps"><thead><tr>{''.join(f'<th>{_e(c)}</th>' for c in REP_COLUMNS)}</tr></thead>
{_rep_rows(d['reps'], pose) or '<tbody><tr><td colspan="9">No reps.</td></tr></tbody>'}
</table></section>
{_quality(d)}
{_calibration(d)}
{_exercise_set(d)}
{_config(an)}
<footer>Made by <code>imu-pipeline analyze --html</code> from {_e(d['recording'])}. Charts: uPlot (MIT).</footer>
"""
    css = package_text("vendor/uplot", "uPlot.min.css") + "\n" + package_text("static", "report.css")
    js = "\n".join([package_text("vendor/uplot", "uPlot.iife.min.js"), package_text("static", "charts.js"),
                    package_text("static", "report.js")])
    for text in (css, js):
        if "</style" in text.lower() or "</script" in text.lower():  # would end the element early
            raise RuntimeError("a packaged asset contains a closing tag; it cannot be inlined")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_e(name)} · imu-pipeline report</title>
<link rel="icon" href="data:,">
<style>
{css}
</style>
</head>
<body>
<main>{body}</main>
<script type="application/json" id="report-data">{_script_json(data)}</script>
<script>
{js}
</script>
</body>
</html>
"""


def write_html(an: SessionAnalysis, path: str | Path) -> None:
    """Write :func:`html_report` to ``path`` (temporary name, then renamed; errors name the file)."""
    write_text(path, html_report(an), what="HTML report")
