/* KPI dashboard charts: reads the JSON embedded by the page (#kpi-data), draws with Chart.js. */
(function () {
  "use strict";
  var el = document.getElementById("kpi-data");
  if (!el || typeof Chart === "undefined") { return; }
  var data = JSON.parse(el.textContent);
  var palette = ["#1f4e79", "#2e75b6", "#c55a11", "#70ad47", "#ffc000", "#7030a0", "#c00000", "#5b9bd5"];
  Chart.defaults.font.family = '"PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif';
  Chart.defaults.maintainAspectRatio = false;
  // No animation: the page is printed and shown on wall screens, where a still chart is clearer.
  Chart.defaults.animation = false;

  function pct(v) { return v === null || v === undefined ? "—" : v.toFixed(1) + "%"; }
  function count(v) { return Number(v).toLocaleString("zh-CN"); }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { return new Chart(canvas, config); }
    return null;
  }

  draw("chart-trend", {
    data: {
      labels: data.trend.labels,
      datasets: [
        { type: "bar", label: "受理量（件）", data: data.trend.intake, backgroundColor: "#2e75b6", yAxisID: "y" },
        { type: "bar", label: "结案数（件）", data: data.trend.closed, backgroundColor: "#70ad47", yAxisID: "y" },
        { type: "line", label: "结案率", data: data.trend.closure_rate, borderColor: "#c55a11", backgroundColor: "#c55a11", yAxisID: "rate", spanGaps: true },
        { type: "line", label: "满意率", data: data.trend.satisfaction_rate, borderColor: "#7030a0", backgroundColor: "#7030a0", yAxisID: "rate", spanGaps: true }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        y: { beginAtZero: true, title: { display: true, text: "件" }, ticks: { precision: 0 } },
        rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, ticks: { callback: function (v) { return v + "%"; } } }
      },
      plugins: {
        tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + "：" + (c.dataset.yAxisID === "rate" ? pct(c.raw) : count(c.raw));
        } } }
      }
    }
  });

  draw("chart-category", {
    type: "bar",
    data: {
      labels: data.category.labels,
      datasets: [
        { label: "受理量（件）", data: data.category.intake, backgroundColor: "#2e75b6" },
        { label: "结案数（件）", data: data.category.closed, backgroundColor: "#70ad47" }
      ]
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { ticks: { autoSkip: false } } } }
  });

  draw("chart-source", {
    type: "doughnut",
    data: {
      labels: data.source.labels,
      datasets: [{ label: "受理量（件）", data: data.source.intake, backgroundColor: palette }]
    },
    options: { plugins: { legend: { position: "right" } } }
  });

  draw("chart-level", {
    type: "bar",
    data: {
      labels: data.level.labels,
      datasets: [{ label: "办结件数", data: data.level.counts, backgroundColor: ["#70ad47", "#2e75b6", "#ffc000", "#c00000"] }]
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
}());
