// The run history chart: uPlot (vendored) over the JSON the page embeds. The table beside it
// holds the same numbers, so the page reads without this script.
(function () {
  "use strict";
  var colors = { read: "#8a94a3", sent: "#1d7a46", rejected: "#b42318", pending: "#9a6700" };
  function draw() {
    var data = document.getElementById("history-data");
    var box = document.getElementById("history-chart");
    if (!data || !box || typeof uPlot === "undefined") return;
    var cols = JSON.parse(data.textContent);
    var names = ["read", "sent", "rejected", "pending"];
    var series = [{}].concat(names.map(function (n) {
      return { label: n, stroke: colors[n], width: 2, points: { show: true, size: 5 } };
    }));
    var opts = {
      width: Math.max(320, box.clientWidth || 800), height: 240, series: series,
      // one run alone: an hour either side, not uPlot's default span of years
      scales: { x: { time: true, range: function (u, min, max) {
        return min === max ? [min - 3600, max + 3600] : [min, max];
      } } },
      axes: [{}, { label: "rows", size: 60 }], legend: { live: true }
    };
    var plot = new uPlot(opts, [cols.t].concat(names.map(function (n) { return cols[n]; })), box);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(320, box.clientWidth), height: 240 });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
