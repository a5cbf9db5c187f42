/* imu-pipeline charts: hip flexion and pelvic tilt traces with rep spans (uPlot).
   Shared by the coach view (served) and the HTML report (inlined). No network, no globals but ImuCharts. */
"use strict";
var ImuCharts = (function () {
  var LABEL_COLOURS = {"abdominal-engaging": "42,157,143", "hip-flexor-only": "233,196,106"};
  var NOT_MEASURED = "187,187,187";
  /* Sensor outages: dark grey diagonal hatching (not a flat grey: that is a rep with no label). */
  var OUTAGE_INK = "rgba(70,70,70,0.55)", OUTAGE_BACK = "rgba(120,120,120,0.10)";
  /* Height (CSS px) of the band above the plot area that holds the rep numbers. */
  var BAND = 16;

  function outagePattern(ctx) {
    var d = Math.max(1, Math.round(devicePixelRatio)), n = 8 * d;
    var c = document.createElement("canvas");
    c.width = n; c.height = n;
    var g = c.getContext("2d");
    g.strokeStyle = OUTAGE_INK;
    g.lineWidth = 1.5 * d;
    g.beginPath();  /* one diagonal per tile, plus the corners so the stripes join across tiles */
    g.moveTo(0, n); g.lineTo(n, 0);
    g.moveTo(-n / 2, n / 2); g.lineTo(n / 2, -n / 2);
    g.moveTo(n / 2, n * 1.5); g.lineTo(n * 1.5, n / 2);
    g.stroke();
    return ctx.createPattern(c, "repeat");
  }

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
          var hatch = null;
          (s.outages || []).forEach(function (o) {
            var end = o.end_s == null ? xMax : o.end_s;  /* a sensor silent now: up to the newest sample */
            if (end < xMin || o.start_s > xMax) return;
            var x0 = u.valToPos(Math.max(o.start_s, xMin), "x", true);
            var x1 = u.valToPos(Math.min(end, xMax), "x", true);
            ctx.fillStyle = OUTAGE_BACK;
            ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
            hatch = hatch || outagePattern(ctx);
            ctx.fillStyle = hatch;
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
            /* the rep number in the band above the plot area: clear of gridlines and trace peaks */
            var label = String(r.index + 1);
            ctx.font = "600 " + (11 * devicePixelRatio) + "px system-ui, sans-serif";
            if (ctx.measureText(label).width + 2 * devicePixelRatio <= Math.max(x1 - x0, 14 * devicePixelRatio)) {
              ctx.fillStyle = "#333";
              ctx.textAlign = "center";
              ctx.textBaseline = "bottom";
              ctx.fillText(label, (x0 + x1) / 2, top - 3 * devicePixelRatio);
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

  /* One trace chart. opts: {title, yLabel, yLabelShort, colour, range: [lo, hi], refLines, getSpans, height, syncKey} */
  function traceChart(el, opts) {
    var width = Math.max(240, el.clientWidth || 600);
    var small = window.matchMedia && window.matchMedia("(max-width: 600px)").matches;
    var o = {
      title: opts.title,
      width: width,
      /* on a phone a little lower, but never so low that the y axis's label no longer fits */
      height: small ? Math.max(175, Math.round((opts.height || 220) * 0.75)) : (opts.height || 220),
      padding: [BAND, null, null, null],
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
        /* on a phone the short label: the long one would not fit along the low plot area */
        {label: small && opts.yLabelShort ? opts.yLabelShort : opts.yLabel, stroke: "#444", grid: {stroke: "#e4e4e4"},
         size: 56}
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

  return {traceChart: traceChart, linkZoom: linkZoom, spanColour: spanColour, LABEL_COLOURS: LABEL_COLOURS,
          BAND: BAND};
})();
