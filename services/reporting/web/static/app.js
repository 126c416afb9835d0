/* chibo reporting dashboard: small progressive enhancements. Every page works without
   this script; it adds table filtering and sorting, and trend sparklines (uPlot, when it
   is installed). */
(function () {
  "use strict";

  var lang = document.documentElement.lang === "en" ? "en" : "vi";
  var locale = lang === "en" ? "en-GB" : "vi-VN";
  var collator = new Intl.Collator(lang, { numeric: true, sensitivity: "base" });
  var NUMERIC = { int: 1, number: 1, percent: 1, level: 1 };
  var ISO = { date: 1, datetime: 1, month: 1, period: 1 };
  var MISSING = "—";

  // -- text helpers ------------------------------------------------------------------

  // Accent-insensitive matching: "dong tien" finds "Đông Tiến".
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();
  }

  // "05/10/2026" -> "2026-10-05", so dates shown the Vietnamese way still sort as dates.
  function isoFromDmy(text) {
    var m = /^(\d{2})\/(\d{2})\/(\d{4})/.exec(text.trim());
    return m ? m[3] + "-" + m[2] + "-" + m[1] : null;
  }

  function percent(value) {
    return new Intl.NumberFormat(locale, {
      style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1
    }).format(value);
  }

  function number(value) {
    return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(value);
  }

  function bodyRows(table) {
    return Array.prototype.filter.call(table.tBodies[0] ? table.tBodies[0].rows : [],
      function (row) { return !row.classList.contains("empty"); });
  }

  // -- filtering ---------------------------------------------------------------------

  function setupFilter(input) {
    var id = input.getAttribute("data-filter-for");
    var table = document.querySelector('table[data-table-id="' + id + '"]');
    if (!table) return;
    var count = document.querySelector('[data-count-for="' + id + '"]');
    var folded = new WeakMap();
    input.addEventListener("input", function () {
      var query = fold(input.value.trim());
      var shown = 0;
      bodyRows(table).forEach(function (row) {
        if (!folded.has(row)) folded.set(row, fold(row.textContent));
        var match = !query || folded.get(row).indexOf(query) !== -1;
        row.hidden = !match;
        if (match) shown += 1;
      });
      if (count) {
        count.textContent = count.getAttribute("data-template").replace("{n}", number(shown));
      }
    });
  }

  // -- sorting -----------------------------------------------------------------------

  function sortKey(cell, kind) {
    if (!cell) return null;
    var raw = cell.getAttribute("data-sort");
    var text = cell.textContent.trim();
    if (NUMERIC[kind]) {
      if (raw === null || raw === "") return null;
      var value = parseFloat(raw);
      return isNaN(value) ? null : value;
    }
    if (ISO[kind]) return raw || isoFromDmy(text);
    if (!text || text === MISSING) return null;
    return isoFromDmy(text) || text;
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return collator.compare(String(a), String(b));
  }

  function sortBy(table, header) {
    var index = header.cellIndex;
    var kind = header.getAttribute("data-kind") || "text";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.hasAttribute("aria-sort")) th.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = bodyRows(table).map(function (row, position) {
      return { row: row, key: sortKey(row.cells[index], kind), position: position };
    });
    rows.sort(function (x, y) {
      // Empty cells always last, whichever the direction; ties keep their order.
      if (x.key === null || y.key === null) {
        return (x.key === null) - (y.key === null) || x.position - y.position;
      }
      var order = compare(x.key, y.key);
      return (ascending ? order : -order) || x.position - y.position;
    });
    var body = table.tBodies[0];
    rows.forEach(function (item) { body.appendChild(item.row); });
  }

  function setupSorting(table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = th.querySelector("button.sort");
      if (!button) return;
      if (!th.hasAttribute("aria-sort")) th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () { sortBy(table, th); });
    });
  }

  // -- trend sparklines and the quality bar ------------------------------------------

  function readTrend() {
    var node = document.getElementById("trend-data");
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function qualityGoodShare(point) {
    var q = point.quality || {};
    var total = ["good", "fair", "average", "poor", "unscored"].reduce(function (sum, level) {
      return sum + (q[level] || 0);
    }, 0);
    return total ? (q.good || 0) / total : null;
  }

  function seriesFor(data, metric) {
    return data.trend.map(function (point) {
      var value = metric === "quality_good_share" ? qualityGoodShare(point) : point[metric];
      return typeof value === "number" ? value : null;
    });
  }

  function describe(data, values, metric) {
    var isShare = metric !== "avg_duration_minutes";
    return data.labels.map(function (label, i) {
      var v = values[i];
      return label + ": " + (v === null ? MISSING : isShare ? percent(v) : number(v));
    }).join("; ");
  }

  var charts = [];

  function drawSparks(data) {
    var color = getComputedStyle(document.documentElement).getPropertyValue("--link").trim()
      || "#0b5cad";
    document.querySelectorAll("[data-trend]").forEach(function (box) {
      var metric = box.getAttribute("data-trend");
      var values = seriesFor(data, metric);
      box.title = describe(data, values, metric);  // readable without the chart too
      if (!window.uPlot || values.length < 2) return;
      var xs = values.map(function (_, i) { return i; });
      var chart = new window.uPlot({
        width: box.clientWidth || 220,
        height: box.clientHeight || 48,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false },
        scales: { x: { time: false } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: color, width: 2, fill: color + "22", spanGaps: true,
                       points: { size: 4 } }]
      }, [xs, values], box);
      charts.push({ chart: chart, box: box });
    });
  }

  function drawQualityBar(data) {
    var bar = document.querySelector("[data-quality-bar]");
    var q = data.quality;
    if (!bar || !q) return;
    var levels = ["good", "fair", "average", "poor", "unscored"];
    bar.textContent = "";
    levels.forEach(function (level) {
      if (!q[level]) return;
      var seg = document.createElement("span");
      seg.className = "seg level-" + level;
      seg.style.flexGrow = String(q[level]);
      seg.title = level + ": " + number(q[level]);
      var legend = document.querySelector(".card[data-metric=quality] .dot.level-" + level);
      if (legend && legend.parentNode) seg.title = legend.parentNode.textContent.trim();
      bar.appendChild(seg);
    });
  }

  var resizeTimer = null;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (item) {
        item.chart.setSize({ width: item.box.clientWidth, height: item.box.clientHeight || 48 });
      });
    }, 150);
  }

  // -- small conveniences --------------------------------------------------------------

  function setup() {
    document.querySelectorAll("input[data-filter-for]").forEach(setupFilter);
    document.querySelectorAll("table.data, table.heatmap").forEach(setupSorting);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var data = readTrend();
    if (data) {
      drawQualityBar(data);
      drawSparks(data);
      window.addEventListener("resize", onResize);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
