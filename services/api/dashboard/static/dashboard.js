// The dashboard's glue, no drawing code: local times through Intl, charts through uPlot,
// both again after htmx swaps a page's live part in (a server-sent "change").
(function () {
  "use strict";

  function lang() {
    return document.documentElement.lang || "en";
  }

  function localTimes(root) {
    var format = new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" });
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(at);
      }
    });
    var zone = document.querySelector("[data-zone]");
    if (zone) {
      zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    }
  }

  var COLOURS = ["#2563eb", "#16a34a", "#d97706"];

  function seconds(u, values) {
    return values.map(function (v) {
      if (v == null) return "";
      if (v >= 3600) return (v / 3600).toFixed(1) + "h";
      if (v >= 60) return Math.round(v / 60) + "m";
      return Math.round(v) + "s";
    });
  }

  function chart(el) {
    var data = JSON.parse(el.parentNode.querySelector("script[data-chart-data]").textContent);
    var labels = JSON.parse(el.getAttribute("data-labels"));
    var series = [{}].concat(labels.map(function (label, i) {
      return { label: label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true };
    }));
    var axes = [{}, el.getAttribute("data-chart") === "seconds" ? { values: seconds, size: 60 } : {}];
    el.innerHTML = "";
    new uPlot({ width: el.clientWidth || 560, height: 220, series: series, axes: axes }, data, el);
  }

  function charts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(chart);
  }

  function refresh(root) {
    localTimes(root);
    charts(root);
  }

  // A live refresh waits while someone is filling in a form on the page (an open action,
  // a typed message): swapping the page would lose what they typed.
  window.handoffIdle = function () {
    var live = document.getElementById("live");
    if (!live) return true;
    if (live.querySelector("details[open]")) return false;
    var fields = live.querySelectorAll("input[type=text], input:not([type]), textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value || fields[i] === document.activeElement) return false;
    }
    return true;
  };

  function liveMark(state) {
    return function () { document.body.setAttribute("data-live", state); };
  }

  document.addEventListener("DOMContentLoaded", function () { refresh(document); });
  document.addEventListener("htmx:sseOpen", liveMark("open"));
  document.addEventListener("htmx:sseError", liveMark("reconnecting"));
  document.addEventListener("htmx:afterSettle", function (event) { refresh(event.detail.elt || document); });
})();
