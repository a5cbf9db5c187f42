/* imu-pipeline coach view: Server-Sent Events from the local server -> charts, rep cards, totals, status.
   Data goes into the page with textContent only (never as HTML). No request leaves this machine. */
"use strict";
(function () {
  var WINDOW_S = 20;
  var QS = location.search || "";
  var $ = function (id) { return document.getElementById(id); };
  var state = {reps: [], t: [], hip: [], tilt: [], outages: [], summary: null, finished: false, error: null,
               status: null, pose: null};
  var dirty = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function num(v, nd, unit) {
    return (v == null || !isFinite(v)) ? "not measured" : v.toFixed(nd) + (unit || "");
  }

  /* ---------------------------------------------------------------- charts */
  function spans() { return {reps: state.reps, outages: state.outages}; }
  var linked = [];
  var zoomLink = ImuCharts.linkZoom(linked);
  var hipChart = ImuCharts.traceChart($("chart-hip"), {
    title: "Hip flexion (thigh relative to pelvis)", yLabel: "hip flexion (°)", yLabelShort: "hip (°)", seriesLabel: "hip flexion",
    colour: "#264653", range: [-10, 130], refLines: [{y: 90, colour: "#555"}], getSpans: spans, height: 230,
    syncKey: "coach", onXScale: zoomLink});
  var tiltChart = ImuCharts.traceChart($("chart-tilt"), {
    title: "Pelvic tilt (posterior +)", yLabel: "pelvic tilt (°)", yLabelShort: "tilt (°)", seriesLabel: "pelvic tilt",
    colour: "#6a4c93", range: [-10, 25], refLines: [{y: 0, colour: "#777", dash: [1, 0]}], getSpans: spans,
    height: 170, syncKey: "coach", onXScale: zoomLink});
  linked.push(hipChart, tiltChart);
  window.ImuCoach = {charts: linked};  /* for scripting and tests: the two uPlot instances */

  function redraw() {
    dirty = false;
    var t = state.t;
    hipChart.setData([t, state.hip], false);
    tiltChart.setData([t, state.tilt], false);
    if (!t.length) return;
    var lo = state.finished ? t[0] : Math.max(t[0], t[t.length - 1] - WINDOW_S);
    var hi = state.finished ? t[t.length - 1] : Math.max(t[t.length - 1], lo + WINDOW_S);
    hipChart.setScale("x", {min: lo, max: hi});
    tiltChart.setScale("x", {min: lo, max: hi});
  }
  function scheduleRedraw() {
    if (!dirty) { dirty = true; requestAnimationFrame(redraw); }
  }
  function addSamples(s) {
    if (state.finished) return;
    for (var i = 0; i < s.t.length; i++) {
      state.t.push(s.t[i]); state.hip.push(s.hip[i]); state.tilt.push(s.tilt[i]);
    }
    var cut = 0, last = state.t.length ? state.t[state.t.length - 1] : 0;
    while (cut < state.t.length && state.t[cut] < last - WINDOW_S - 5) cut++;
    if (cut) { state.t.splice(0, cut); state.hip.splice(0, cut); state.tilt.splice(0, cut); }
    scheduleRedraw();
  }

  /* ---------------------------------------------------------------- verdict, phase, totals */
  function verdictClass(r) {
    if (r.momentum) return "mom";
    if (!r.label) return "nm";
    if (r.back_arch) return "warn";
    return r.label === "abdominal-engaging" ? "good" : "hf";
  }
  function showVerdict(r) {
    if (state.error) return;  /* a refusal stays in the verdict line */
    var v = $("verdict");
    v.textContent = r.words.headline;
    v.className = "verdict " + verdictClass(r);
  }
  function showPhase(p) {
    $("phase").textContent = p.phase;
    $("phase-detail").textContent = p.phase === "refused" ? "" : (p.detail || "");
    if (p.phase === "refused" && !state.error) showError({title: "Analysis refused", message: p.detail || ""});
  }
  /* The analysis refused the session (or could not be made): the verdict line says so, big. */
  function showError(e) {
    state.error = e;
    var v = $("verdict");
    v.textContent = "";
    v.appendChild(el("span", "vt", e.title));
    if (e.message) v.appendChild(el("span", "vm", e.message));
    v.className = "verdict refused";
    v.dataset.error = "true";
  }
  function showTotals(t) {
    var box = $("totals");
    box.textContent = "";
    if (!t) return;
    var items = [["reps", t.reps], ["abdominal-engaging", t.abdominal_engaging],
                 ["hip-flexor-only", t.hip_flexor_only], ["momentum", t.momentum], ["controlled", t.controlled],
                 ["back arch", t.back_arch]];
    if (t.unlabelled) items.push(["no label", t.unlabelled]);
    if (t.partial) items.push(["partial", t.partial]);
    items.forEach(function (it) {
      var s = el("span", "t");
      s.appendChild(el("b", null, String(it[1])));
      s.appendChild(document.createTextNode(it[0]));
      box.appendChild(s);
    });
    $("rep-count").textContent = "(" + t.reps + ")";
  }

  /* ---------------------------------------------------------------- rep cards */
  function kv(dl, k, v, cls) {
    var d = el("div", cls);
    d.appendChild(el("dt", null, k));
    d.appendChild(el("dd", null, v));
    dl.appendChild(d);
  }
  function repCard(r, isNew) {
    var a = el("article", "rep" + (isNew ? " new" : ""));
    a.dataset.rep = String(r.index);
    if (r.final) a.dataset.final = "true";
    a.dataset.label = r.label || "none";
    a.dataset.momentum = r.momentum ? "true" : "false";
    if (r.partial) a.dataset.partial = "true";
    var head = el("div", "head");
    var title = el("span", "label", "Rep " + (r.index + 1) + " · " + r.words.label);
    if (r.final) title.appendChild(el("span", "final", "final"));
    head.appendChild(title);
    head.appendChild(el("span", "when", num(r.start_s, 1) + "–" + num(r.end_s, 1) + " s"));
    a.appendChild(head);
    a.appendChild(el("div", "mom", r.words.momentum));
    if (r.words.reasons.length) {
      var ul = el("ul", "reasons");
      r.words.reasons.forEach(function (x) { ul.appendChild(el("li", null, x[1] + ": " + x[2])); });
      a.appendChild(ul);
    }
    var tempo = el("div", "tempo");
    tempo.appendChild(el("span", "muted", "tempo "));
    tempo.appendChild(el("b", null, r.words.tempo));
    a.appendChild(tempo);
    var dl = el("dl");
    kv(dl, "peak hip flexion", num(r.peak_hip_flexion_deg, 0, "°"));
    kv(dl, "peak posterior tilt", num(r.peak_posterior_tilt_deg, 1, "°"));
    kv(dl, "back arch", r.words.arch, r.back_arch ? "wide" : null);  /* "yes · 8.1° anterior": one line */
    kv(dl, "label confidence", r.label_confidence);
    a.appendChild(dl);
    if (r.back_arch && r.words.advice) a.appendChild(el("div", "arch", r.words.advice));
    return a;
  }
  function addRep(r, isNew) {
    for (var i = 0; i < state.reps.length; i++) if (state.reps[i].index === r.index) return;
    state.reps.push(r);
    var list = $("reps");
    list.insertBefore(repCard(r, isNew), list.firstChild);
    showVerdict(r);
    scheduleRedraw();
  }

  /* ---------------------------------------------------------------- sensors */
  function showStatus(st) {
    state.status = st;
    if (st && st.pose) showPose(st.pose);
    var box = $("sensors");
    box.textContent = "";
    var sensors = (st && st.sensors) || {};
    var over = state.finished || !!state.error;
    var gaps = state.finished && state.summary && state.summary.data_quality && state.summary.data_quality.gaps;
    state.outages = gaps ? gaps.slice() : [];
    Object.keys(sensors).forEach(function (name) {
      var s = sensors[name];
      if (!gaps) (s.outages || []).forEach(function (o) { state.outages.push(o); });
      var c = el("div", "sensor");
      c.dataset.sensor = name;
      var head = el("div");
      head.appendChild(el("span", "name", name));
      var conn = over ? ["done", "finished"] : s.connected == null ? ["unknown", "unknown"] :
        (s.connected ? ["ok", "connected"] : ["lost", "no data"]);
      head.appendChild(el("span", "state " + conn[0], conn[1]));
      c.appendChild(head);
      var dl = el("dl");
      var add = function (k, v) { dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", null, v)); };
      add("rate", s.rate_hz == null ? "–" : s.rate_hz.toFixed(1) + " Hz");
      add("battery", s.battery_percent == null ? "not known" : s.battery_percent.toFixed(0) + " %");
      add("loss", s.loss_percent == null ? "not known" :
          (s.loss_is_estimate ? "~" : "") + s.loss_percent.toFixed(1) + " %");
      var outs = s.outages || [];
      add("outages", outs.length ? outs.map(function (o) {
        return o.start_s.toFixed(1) + "–" + (o.end_s == null ? "now" : o.end_s.toFixed(1)) + " s";
      }).join(", ") : "none");
      c.appendChild(dl);
      box.appendChild(c);
    });
    $("status-note").textContent = (st && st.note) || "";
    scheduleRedraw();
  }

  /* ---------------------------------------------------------------- summary */
  /* The dashed 90° line: what it means in this pose (both until the pose is known). */
  function showPose(pose) {
    if (!pose || pose === state.pose) return;
    state.pose = pose;
    $("ref-line").textContent = pose === "hanging" ? "90°, legs horizontal (hanging)" :
      pose === "lying" ? "90°, legs vertical (lying)" : $("ref-line").textContent;
  }
  /* The final analysis's reps replace the live cards (labels, momentum, confidence), marked final. */
  function showFinalCards(s) {
    if (!s.cards) return;
    state.reps = [];
    var list = $("reps");
    list.textContent = "";
    s.cards.forEach(function (r) {
      state.reps.push(r);
      list.insertBefore(repCard(r, false), list.firstChild);
    });
    var note = $("reps-note");
    note.textContent = s.cards_note || "";
    note.hidden = !s.cards_note;
  }
  function showSummary(s) {
    if (!s) return;
    state.summary = s;
    var slot = $("summary-slot");
    slot.textContent = "";
    var sec = el("section", "summary");
    sec.setAttribute("data-session-summary", "");
    sec.appendChild(el("h2", null, "Session summary"));
    sec.appendChild(el("p", "sv", s.verdict));
    if (s.cards_note) sec.appendChild(el("p", "cards-note", s.cards_note));
    var t = s.totals || {};
    var tb = el("table"), body = el("tbody");
    [["reps", t.reps], ["abdominal-engaging", t.abdominal_engaging], ["hip-flexor-only", t.hip_flexor_only],
     ["no label", t.unlabelled], ["with momentum", t.momentum], ["controlled", t.controlled],
     ["back arch", t.back_arch], ["median tempo", (t.median_concentric_s == null ? "–" : t.median_concentric_s + " s up, ") +
      (t.median_eccentric_s == null ? "–" : t.median_eccentric_s + " s down")],
     ["median peak hip flexion", t.median_peak_hip_flexion_deg == null ? "–" : t.median_peak_hip_flexion_deg + "°"],
     ["duration", s.duration_s == null ? "–" : s.duration_s.toFixed(1) + " s"],
     ["analysis", s.analysis_path]].forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1] == null ? "–" : String(row[1])));
      body.appendChild(tr);
    });
    tb.appendChild(body);
    sec.appendChild(tb);
    if (s.warnings && s.warnings.length) {
      sec.appendChild(el("h2", null, "Warnings"));
      var ul = el("ul");
      s.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
      sec.appendChild(ul);
    }
    slot.appendChild(sec);
    var v = $("verdict");
    v.textContent = "Finished: " + t.reps + " reps, " + (t.abdominal_engaging || 0) + " abs engaged, " +
      (t.momentum || 0) + " with momentum";
    v.className = "verdict done";
    delete v.dataset.error;
    state.error = null;
    showFinalCards(s);
    showPose(s.exercise);
    showTotals(t);
    showPhase({phase: "finished", detail: "session finished; drag on a chart to zoom, double-click to reset"});
    if (s.trace && s.trace.t && s.trace.t.length) {
      state.t = s.trace.t; state.hip = s.trace.hip; state.tilt = s.trace.tilt;
    }
    state.finished = true;
    $("chart-note").firstChild.textContent = "Whole session (drag to zoom, double-click to reset). Rep spans: ";
    showStatus(state.status);  /* sensors: finished; outages: the summary's */
    scheduleRedraw();
  }

  /* ---------------------------------------------------------------- speech */
  var speech = $("speech");
  if (!("speechSynthesis" in window)) {
    speech.disabled = true;
    speech.parentNode.title = "this browser cannot speak";
  }
  function speak(text) {
    if (!speech.checked || !("speechSynthesis" in window)) return;
    try { window.speechSynthesis.speak(new SpeechSynthesisUtterance(text)); } catch (e) { /* no voice */ }
  }

  /* ---------------------------------------------------------------- stream */
  function reset(snap) {
    state.reps = []; state.t = []; state.hip = []; state.tilt = []; state.finished = false;
    state.error = null; state.summary = null;
    $("reps").textContent = "";
    $("reps-note").hidden = true;
    $("summary-slot").textContent = "";
    var m = snap.meta || {};
    $("source").textContent = (m.title || "session") + (m.source ? " · " + m.source : "") +
      (m.speed ? " ×" + m.speed : "");
    document.title = (m.title || "session") + " · imu-pipeline coach view";
    addSamples(snap.trace || {t: [], hip: [], tilt: []});
    showPhase(snap.phase || {phase: "waiting"});
    (snap.reps || []).forEach(function (r) { addRep(r, false); });
    showTotals(snap.totals);
    showStatus(snap.status);
    if (snap.summary) showSummary(snap.summary);
    if (snap.error) { showError(snap.error); showStatus(snap.status); }
  }
  function link(on, text) {
    var l = $("link");
    l.className = "link " + (on ? "on" : "off");
    l.textContent = text;
  }
  var es = new EventSource("events" + QS);
  function on(type, fn) {
    es.addEventListener(type, function (ev) { fn(JSON.parse(ev.data)); });
  }
  es.onopen = function () { link(true, "live"); };
  es.onerror = function () {
    link(false, state.finished || state.error ? "finished · server closed" : "reconnecting…");
  };
  on("state", function (d) { reset(d); link(true, state.finished || state.error ? "finished" : "live"); });
  on("samples", addSamples);
  on("phase", showPhase);
  on("rep", function (d) { addRep(d.rep, true); showTotals(d.totals); speak(d.rep.words.cue); });
  on("status", showStatus);
  on("summary", function (d) { showSummary(d); link(true, "finished"); });
  on("error", function (d) { showError(d); showPhase({phase: d.title.toLowerCase().indexOf("refused") >= 0 ?
    "refused" : "finished", detail: ""}); showStatus(state.status); link(true, "finished"); });
})();
