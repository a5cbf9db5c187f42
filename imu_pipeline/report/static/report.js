/* imu-pipeline HTML report: draws the two traces from the data embedded in the file (no network). */
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var spans = function () { return {reps: data.reps, outages: data.gaps}; };
  var t = data.trace.t;
  var charts = [];
  var link = ImuCharts.linkZoom(charts);
  charts.push(ImuCharts.traceChart(document.getElementById("chart-hip"), {
    title: "Hip flexion (thigh relative to pelvis)", yLabel: "hip flexion (°)", yLabelShort: "hip (°)", seriesLabel: "hip flexion",
    colour: "#264653", range: [-10, 130], refLines: [{y: 90, colour: "#555"}], getSpans: spans, height: 300,
    syncKey: "report", onXScale: link}));
  charts.push(ImuCharts.traceChart(document.getElementById("chart-tilt"), {
    title: "Pelvic tilt (posterior +)", yLabel: "pelvic tilt (°)", yLabelShort: "tilt (°)", seriesLabel: "pelvic tilt",
    colour: "#6a4c93", range: [-10, 25],
    refLines: [{y: 0, colour: "#777", dash: [1, 0]}, {y: data.abdominal_min_posterior_tilt_deg, colour: "#2a9d8f"}],
    getSpans: spans, height: 200, syncKey: "report", onXScale: link}));
  charts[0].setData([t, data.trace.hip]);
  charts[1].setData([t, data.trace.tilt]);
  window.ImuReport = {charts: charts};  /* for scripting and tests: the two uPlot instances */
  /* print: charts at the page's width */
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (c) { c.setSize({width: 700, height: c.height}); });
  });
  window.addEventListener("afterprint", function () {
    charts.forEach(function (c) { c.setSize({width: c.root.parentNode.clientWidth, height: c.height}); });
  });
})();
