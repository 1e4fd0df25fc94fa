/* Hotspot analysis page (分析研判): Chart.js charts and the period buttons.
 * Data comes from the page (json_script "hs-charts"); nothing is loaded from outside. */
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  function isoDate(d) {
    var m = String(d.getMonth() + 1).padStart(2, "0");
    var day = String(d.getDate()).padStart(2, "0");
    return d.getFullYear() + "-" + m + "-" + day;
  }

  // "对比上一同长周期": fill the comparison period with the period just before.
  function setupPeriodButtons() {
    var prev = byId("hs-previous"), none = byId("hs-no-compare");
    if (prev) {
      prev.addEventListener("click", function () {
        var s = byId("hs-start").value, e = byId("hs-end").value;
        if (!s || !e) { return; }
        var start = new Date(s + "T00:00:00"), end = new Date(e + "T00:00:00");
        var days = Math.round((end - start) / 86400000) + 1;
        var cEnd = new Date(start.getTime() - 86400000);
        var cStart = new Date(start.getTime() - days * 86400000);
        byId("hs-cstart").value = isoDate(cStart);
        byId("hs-cend").value = isoDate(cEnd);
      });
    }
    if (none) {
      none.addEventListener("click", function () {
        byId("hs-cstart").value = "";
        byId("hs-cend").value = "";
      });
    }
  }

  function chart(id, config) {
    var canvas = byId(id);
    if (!canvas || typeof Chart === "undefined") { return null; }
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {}
    );
    return new Chart(canvas, config);
  }

  function bar(id, data, options) {
    if (!data || !data.labels || !data.labels.length) { return null; }
    return chart(id, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ data: data.values, backgroundColor: data.colours || "#2e75b6", borderColor: "#666", borderWidth: 0.5 }]
      },
      options: Object.assign({ plugins: { legend: { display: false } } }, options || {})
    });
  }

  function line(id, labels, values, label) {
    if (!labels || !labels.length) { return null; }
    return chart(id, {
      type: "line",
      data: { labels: labels, datasets: [{ label: label, data: values, borderColor: "#c00000", backgroundColor: "rgba(192,0,0,.15)", fill: true, tension: 0.2, pointRadius: 2 }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } }
    });
  }

  function setupCharts() {
    var node = byId("hs-charts");
    if (!node) { return; }
    var data = JSON.parse(node.textContent);
    if (typeof Chart !== "undefined") {
      Chart.defaults.font.family = '"PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
    }
    bar("hs-chart-gi", data.gi);
    bar("hs-chart-emerging", data.emerging, { indexAxis: "y" });
    bar("hs-chart-top", data.top, { indexAxis: "y" });
    bar("hs-chart-risk", { labels: data.risk.labels, values: data.risk.values, colours: "#e31a1c" }, { indexAxis: "y" });
    line("hs-chart-weekly", data.weekly.labels, data.weekly.values, data.weekly.series);
    if (data.grid) { line("hs-chart-grid", data.weekly.labels, data.grid.values, data.grid.label); }
    if (data.compare) {
      chart("hs-chart-compare", {
        type: "bar",
        data: {
          labels: data.compare.labels,
          datasets: [
            { label: data.compare.series[0], data: data.compare.current, backgroundColor: "#c00000" },
            { label: data.compare.series[1], data: data.compare.before, backgroundColor: "#9ecae1" }
          ]
        },
        options: { indexAxis: "y" }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupPeriodButtons();
    setupCharts();
  });
})();
