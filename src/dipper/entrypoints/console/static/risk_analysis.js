/* dipper console: backtest and monitoring charts (data from a JSON block in the page; no inline script). */
(function () {
  "use strict";

  var CHAMPION = "#2f6fab", CANDIDATE = "#c48a2c";
  var LEVEL = { ok: "#3f9a82", warn: "#c48a2c", alert: "#c0504d", unknown: "#9aa7b4" };

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(2) + "%"; }

  function chartAt(root, id) {
    var el = root.querySelector("#" + id);
    if (!el || typeof window.echarts === "undefined") return null;
    return { el: el, chart: window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" }) };
  }

  function data(root, id) {
    var el = root.querySelector("#" + id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function rateBars(root, id, grades, series) {
    var c = chartAt(root, id);
    if (!c) return;
    c.chart.setOption({
      color: [CHAMPION, CANDIDATE],
      animation: false,
      grid: { left: 16, right: 16, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: pct },
      xAxis: { type: "category", data: grades, axisTick: { alignWithLabel: true } },
      yAxis: { type: "value", axisLabel: { formatter: function (v) { return (v * 100).toFixed(0) + "%"; } } },
      series: series.map(function (s) { return { name: s.name, type: "bar", data: s.data, barMaxWidth: 36 }; })
    });
    c.el.setAttribute("data-ready", "true");
  }

  function swapMatrix(root, swap) {
    var c = chartAt(root, "bt-swap-chart");
    if (!c) return;
    c.chart.setOption({
      animation: false,
      grid: { left: 16, right: 16, top: 16, bottom: 40, containLabel: true },
      tooltip: { formatter: function (p) { return swap.labels[p.value[1]] + " → " + swap.labels[p.value[0]] + ": " + p.value[2]; } },
      xAxis: { type: "category", data: swap.labels, name: swap.x_name, nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "category", data: swap.labels, name: swap.y_name, inverse: true },
      visualMap: { show: false, min: 0, max: Math.max(swap.max, 1), inRange: { color: ["#f2f6fb", CHAMPION] } },
      series: [{ type: "heatmap", data: swap.cells, label: { show: true } }]
    });
    c.el.setAttribute("data-ready", "true");
  }

  function psiBars(root, psi) {
    var c = chartAt(root, "mon-psi-chart");
    if (!c) return;
    c.el.style.height = Math.max(220, 28 * psi.names.length + 60) + "px";
    c.chart.resize();
    c.chart.setOption({
      animation: false,
      grid: { left: 16, right: 48, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: "PSI" },
      yAxis: { type: "category", data: psi.names, inverse: true },
      series: [{
        type: "bar", barMaxWidth: 18,
        data: psi.values.map(function (v, i) { return { value: v, itemStyle: { color: LEVEL[psi.levels[i]] || LEVEL.unknown } }; }),
        markLine: {
          silent: true, symbol: "none",
          data: [
            { xAxis: psi.warn, lineStyle: { type: "dashed", color: LEVEL.warn }, label: { formatter: psi.warn_label + " {c}" } },
            { xAxis: psi.alert, lineStyle: { type: "dashed", color: LEVEL.alert }, label: { formatter: psi.alert_label + " {c}" } }
          ]
        }
      }]
    });
    c.el.setAttribute("data-ready", "true");
  }

  function vintageLines(root, v) {
    var c = chartAt(root, "mon-vintage-chart");
    if (!c) return;
    c.chart.setOption({
      color: [CHAMPION, CANDIDATE],
      animation: false,
      grid: { left: 16, right: 16, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: v.names },
      yAxis: { type: "value", min: 0, max: 1 },
      series: [
        { name: "KS", type: "line", data: v.ks },
        { name: "AUC", type: "line", data: v.auc }
      ]
    });
    c.el.setAttribute("data-ready", "true");
  }

  function init(root) {
    var bt = data(root, "bt-chart-data");
    if (bt) {
      rateBars(root, "bt-approval-chart", bt.grades, bt.approval);
      rateBars(root, "bt-badrate-chart", bt.grades, bt.bad_rate);
      swapMatrix(root, bt.swap);
    }
    var mon = data(root, "mon-chart-data");
    if (mon) {
      psiBars(root, mon.psi);
      vintageLines(root, mon.vintages);
    }
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  window.addEventListener("resize", function () {
    ["bt-approval-chart", "bt-badrate-chart", "bt-swap-chart", "mon-psi-chart", "mon-vintage-chart"].forEach(function (id) {
      var el = document.getElementById(id);
      var chart = el && window.echarts && window.echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });
})();
