/* dipper console: chart initialisation (data comes from a JSON block in the page; no inline script). */
(function () {
  "use strict";

  function yuan(minor, digits) {
    // Display only: the table shows exact amounts formatted on the server.
    var d = digits === undefined ? 2 : digits;
    return (minor / 100).toLocaleString(document.documentElement.lang || "zh-CN", {
      minimumFractionDigits: d, maximumFractionDigits: d
    });
  }

  function initTrialBalanceChart(root) {
    var el = root.querySelector("#tb-chart");
    var dataEl = root.querySelector("#tb-chart-data");
    if (!el || !dataEl || typeof window.echarts === "undefined") return;
    var data = JSON.parse(dataEl.textContent);
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
    var palette = ["#2f6fab", "#3f9a82", "#c48a2c", "#8a6bb8", "#c0504d"];
    chart.setOption({
      color: palette,
      animation: false,
      grid: { left: 16, right: 24, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0 },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        valueFormatter: function (v) { return yuan(v); }
      },
      xAxis: {
        type: "category", data: data.categories, axisTick: { alignWithLabel: true },
        axisLabel: { interval: 0 }  // every account type, even when the chart is narrow
      },
      yAxis: {
        type: "value", name: data.yAxisName, nameTextStyle: { align: "left" },
        axisLabel: { formatter: function (v) { return yuan(v, 0); } }
      },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", data: s.data, barMaxWidth: 42 };
      })
    });
    el.setAttribute("data-ready", "true");
  }

  function initDpdChart(root) {
    // A loan's days past due: the corners of the series, drawn as straight segments.
    var el = root.querySelector("#dpd-chart");
    var dataEl = root.querySelector("#dpd-chart-data");
    if (!el || !dataEl || typeof window.echarts === "undefined") return;
    var data = JSON.parse(dataEl.textContent);
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption({
      color: ["#c0504d"],
      animation: false,
      grid: { left: 16, right: 24, top: 28, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "time" },
      yAxis: { type: "value", name: data.yAxisName, minInterval: 1, min: 0 },
      series: [{
        name: data.name, type: "line", data: data.points, showSymbol: data.points.length < 40,
        areaStyle: { opacity: 0.12 },
        markLine: {
          silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#9aa7b4" },
          label: { formatter: "{c}" },
          data: data.buckets.map(function (b) { return { yAxis: b }; })
        }
      }]
    });
    el.setAttribute("data-ready", "true");
  }

  function init(root) {
    initTrialBalanceChart(root || document);
    initDpdChart(root || document);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // Content swapped in by htmx may carry a chart too.
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
  window.addEventListener("resize", function () {
    ["tb-chart", "dpd-chart"].forEach(function (id) {
      var el = document.getElementById(id);
      var chart = el && window.echarts && window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });
})();
