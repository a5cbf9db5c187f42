/* imu-pipeline charts: hip flexion and pelvic tilt traces with rep spans (uPlot).
   Shared by the coach view (served) and the HTML report (inlined). No network, no globals but ImuCharts. */
"use strict";
var ImuCharts = (function () {
  var LABEL_COLOURS = {"abdominal-engaging": "42,157,143", "hip-flexor-only": "233,196,106"};
  var NOT_MEASURED = "187,187,187";

  function spanColour(rep, alpha) {
    var rgb = rep.label ? LABEL_COLOURS[rep.label] || NOT_MEASURED : NOT_MEASURED;
    return "rgba(" + rgb + "," + alpha + ")";
  }

  /* Draw rep spans (and outages) behind the series: getSpans() -> {reps: [...], outages: [...]} */
  function spansPlugin(getSpans) {
    return {
      hooks: {
        drawClear: [function (u) {
          var s = getSpans() || {};
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          var xMin = u.scales.x.min, xMax = u.scales.x.max;
          ctx.save();
          (s.outages || []).forEach(function (o) {
            if (o.end_s < xMin || o.start_s > xMax) return;
            var x0 = u.valToPos(Math.max(o.start_s, xMin), "x", true);
            var x1 = u.valToPos(Math.min(o.end_s, xMax), "x", true);
            ctx.fillStyle = "rgba(120,120,120,0.18)";
            ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
          });
          (s.reps || []).forEach(function (r) {
            if (r.end_s < xMin || r.start_s > xMax) return;
            var x0 = u.valToPos(Math.max(r.start_s, xMin), "x", true);
            var x1 = u.valToPos(Math.min(r.end_s, xMax), "x", true);
            var low = r.label && r.label_confidence === "low";
            ctx.fillStyle = spanColour(r, low ? 0.22 : 0.35);
            ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
            if (r.momentum) {  /* momentum: a red bar along the top of the span */
              ctx.fillStyle = "rgba(193,18,31,0.85)";
              ctx.fillRect(x0, top, Math.max(1, x1 - x0), Math.max(3, 4 * devicePixelRatio));
            }
            var label = String(r.index + 1);
            ctx.font = (11 * devicePixelRatio) + "px system-ui, sans-serif";
            if (ctx.measureText(label).width + 2 * devicePixelRatio <= x1 - x0) {  /* only where it fits */
              ctx.fillStyle = "#333";
              ctx.textAlign = "center";
              ctx.fillText(label, (x0 + x1) / 2, top + 20 * devicePixelRatio);
            }
          });
          ctx.restore();
        }]
      }
    };
  }

  /* Horizontal reference lines: [{y, colour, dash}] */
  function refLinesPlugin(lines) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          lines.forEach(function (l) {
            var y = u.valToPos(l.y, "y", true);
            if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
            ctx.strokeStyle = l.colour || "#666";
            ctx.lineWidth = devicePixelRatio;
            ctx.setLineDash((l.dash || [6, 4]).map(function (d) { return d * devicePixelRatio; }));
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  /* One trace chart. opts: {title, yLabel, colour, range: [lo, hi], refLines, getSpans, height, syncKey} */
  function traceChart(el, opts) {
    var width = Math.max(240, el.clientWidth || 600);
    var small = window.matchMedia && window.matchMedia("(max-width: 600px)").matches;
    var o = {
      title: opts.title,
      width: width,
      height: Math.round((opts.height || 220) * (small ? 0.75 : 1)),
      scales: {
        x: {time: false},
        y: {range: function (u, lo, hi) {
          var a = opts.range[0], b = opts.range[1];
          if (lo != null && isFinite(lo)) a = Math.min(a, Math.floor(lo / 10) * 10);
          if (hi != null && isFinite(hi)) b = Math.max(b, Math.ceil(hi / 10) * 10);
          return [a, b];
        }}
      },
      axes: [
        {label: "time (s)", stroke: "#444", grid: {stroke: "#e4e4e4"}},
        {label: opts.yLabel, stroke: "#444", grid: {stroke: "#e4e4e4"}, size: 56}
      ],
      series: [
        {label: "t (s)", value: function (u, v) { return v == null ? "–" : v.toFixed(2); }},
        {label: opts.seriesLabel || opts.yLabel, stroke: opts.colour, width: 2, spanGaps: false,
         value: function (u, v, si, idx) {
           if (idx == null) return "–";  /* no cursor on the chart */
           return v == null ? "not measured" : v.toFixed(1) + "°";
         }}
      ],
      cursor: {drag: {x: true, y: false}, sync: opts.syncKey ? {key: opts.syncKey} : undefined},
      legend: {show: opts.legend !== false},
      hooks: {setScale: [function (u, key) { if (key === "x" && opts.onXScale) opts.onXScale(u); }]},
      plugins: [spansPlugin(opts.getSpans || function () { return null; }), refLinesPlugin(opts.refLines || [])]
    };
    var u = new uPlot(o, [[], []], el);
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        var w = Math.max(240, el.clientWidth);
        if (Math.abs(w - u.width) > 2) u.setSize({width: w, height: u.height});
      }).observe(el);
    }
    return u;
  }

  /* Zooming one chart's x axis zooms the others to the same span. */
  function linkZoom(charts) {
    var busy = false;
    return function (src) {
      if (busy) return;
      busy = true;
      charts.forEach(function (c) {
        if (c && c !== src && (c.scales.x.min !== src.scales.x.min || c.scales.x.max !== src.scales.x.max)) {
          c.setScale("x", {min: src.scales.x.min, max: src.scales.x.max});
        }
      });
      busy = false;
    };
  }

  return {traceChart: traceChart, linkZoom: linkZoom, spanColour: spanColour, LABEL_COLOURS: LABEL_COLOURS};
})();
