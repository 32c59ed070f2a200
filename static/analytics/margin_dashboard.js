// The margin dashboard's chart: revenue and cost as lines, margin as bars, per window.
(function () {
  "use strict";
  var source = document.getElementById("margin-chart-data");
  var canvas = document.getElementById("margin-chart");
  if (!source || !canvas || typeof Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  // Amounts arrive as exact decimal strings; the chart only draws them.
  var numbers = function (values) { return values.map(Number); };
  var currency = (data.currency || "").toUpperCase();
  var styles = getComputedStyle(document.documentElement);
  var text = styles.getPropertyValue("--body-fg").trim() || "#333";
  var grid = styles.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
  window.marginChart = new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        {
          type: "line", label: "Revenue", data: numbers(data.revenue),
          borderColor: "#2f7ed8", backgroundColor: "#2f7ed8", tension: 0.2, pointRadius: 2
        },
        {
          type: "line", label: "Cost", data: numbers(data.cost),
          borderColor: "#e4572e", backgroundColor: "#e4572e", tension: 0.2, pointRadius: 2
        },
        {
          type: "bar", label: "Margin", data: numbers(data.margin),
          backgroundColor: "rgba(76, 175, 80, 0.45)", borderColor: "#4caf50", borderWidth: 1
        }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { color: text }, grid: { color: grid } },
        y: {
          ticks: { color: text }, grid: { color: grid },
          title: { display: Boolean(currency), text: currency, color: text }
        }
      },
      plugins: { legend: { labels: { color: text } } }
    }
  });
}());
