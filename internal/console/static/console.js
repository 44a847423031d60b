// synq console: local and relative times, live figures without reloads,
// a run's live stream, and the syncs table's filter. Everything works
// without it, only less live.
(function () {
  "use strict";
  var units = [["day", 86400], ["hour", 3600], ["min", 60], ["s", 1]];
  function rel(t) {
    var s = Math.round((Date.now() - t) / 1000), future = s < 0;
    s = Math.abs(s);
    if (s < 5) return "just now";
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(s / units[i][1]);
      if (n >= 1) {
        var u = units[i][0] + (n > 1 && units[i][0] !== "s" && units[i][0] !== "min" ? "s" : "");
        return future ? "in " + n + " " + u : n + " " + u + " ago";
      }
    }
    return "just now";
  }
  function times(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.title = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
      el.textContent = rel(d.getTime());
    });
  }
  function filter(input) {
    var rows = document.querySelectorAll(input.getAttribute("data-filter") + " > tr[data-key]");
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    rows.forEach(function (tr) {
      var text = tr.textContent.toLowerCase();
      tr.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
    });
  }
  // Pages with data-refresh fetch themselves and swap the regions marked
  // data-live, while the tab is visible: no reload, no lost scroll or input.
  function refresh() {
    if (document.hidden) return;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var n = doc.getElementById(el.id);
          // Never pull a form from under the person using it.
          if (el.contains(document.activeElement) || el.querySelector("input:checked")) return;
          if (n && n.innerHTML !== el.innerHTML) el.innerHTML = n.innerHTML;
        });
        times();
        var f = document.querySelector("input[data-filter]");
        if (f) filter(f);
      })
      .catch(function () {});
  }
  function live(box) {
    var log = document.getElementById("run-log"), pages = document.getElementById("run-pages");
    var src = box.getAttribute("data-events") + "?log=" + box.getAttribute("data-log");
    var es = new EventSource(src);
    es.addEventListener("summary", function (e) { box.innerHTML = e.data; times(box); });
    es.addEventListener("pages", function (e) { pages.innerHTML = e.data; times(pages); });
    es.addEventListener("log", function (e) {
      var wrap = document.getElementById("run-log-box"), empty = document.getElementById("log-empty");
      var atEnd = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 8;
      if (empty) empty.remove();
      log.insertAdjacentHTML("beforeend", e.data);
      times(log);
      if (atEnd) wrap.scrollTop = wrap.scrollHeight;
    });
    es.addEventListener("end", function () { es.close(); box.removeAttribute("data-events"); });
    es.addEventListener("failure", function () { es.close(); });
  }
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[type=submit][disabled]:not([title])").forEach(function (b) { b.disabled = false; });
  });
  document.addEventListener("DOMContentLoaded", function () {
    times();
    setInterval(times, 15000);
    var f = document.querySelector("input[data-filter]");
    if (f) { f.addEventListener("input", function () { filter(f); }); filter(f); }
    var every = parseInt(document.body.getAttribute("data-refresh"), 10);
    if (every > 0) setInterval(refresh, every * 1000);
    var box = document.querySelector("[data-events]");
    if (box) live(box);
    document.querySelectorAll("form").forEach(function (form) {
      // One submit per click: a slow preview is not sent twice.
      form.addEventListener("submit", function () {
        setTimeout(function () { form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; }); }, 0);
      });
    });
  });
})();
