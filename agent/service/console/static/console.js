// The console's live updates: one EventSource on /console/events (every job's events, the wire's
// Event JSON). Rows already on the page are updated in place; a job the page does not show yet, or
// one that just ended, makes the jobs list fetch its rows again. No framework, no build step.
(function () {
  "use strict";
  var prefix = document.body.dataset.prefix || "/console";
  var page = document.body.dataset.page;
  if (page !== "jobs" && page !== "job" && page !== "overview") return;

  var refreshTimer = null;
  function refreshList() {
    if (page !== "jobs" || refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      fetch(prefix + "/jobs/rows", {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { document.getElementById("job-lists").innerHTML = html; })
        .catch(function () { /* the next event tries again */ });
    }, 150);
  }

  function setField(el, name, value) {
    var f = el.querySelector('[data-field="' + name + '"]');
    if (!f) return;
    if (name === "progress") f.value = value; else f.textContent = value;
    if (name === "status") f.className = "pill st-" + value;
  }

  // the overview: fetched again (at most every few seconds) when jobs move, and every half minute
  // for the backends' state; the page itself stays, so nothing flickers or loses its scroll
  var overviewDue = null, overviewAt = 0;
  function refreshOverview() {
    if (overviewDue) return;
    var wait = Math.max(0, overviewAt + 5000 - Date.now());
    overviewDue = setTimeout(function () {
      overviewDue = null;
      overviewAt = Date.now();
      fetch(prefix + "/", {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
          if (fresh) document.querySelector("main").innerHTML = fresh.innerHTML;
        })
        .catch(function () { /* the next event or tick tries again */ });
    }, wait);
  }
  if (page === "overview") setInterval(refreshOverview, 30000);

  function apply(ev) {
    var el = document.querySelector('[data-job-id="' + ev.job_id + '"]');
    if (page === "overview") {
      if (ev.seq === 1 || ev.stage === "starting" || ev.status !== "queued" && ev.status !== "running") {
        refreshOverview();  // a job came, started or ended: the queue counts changed
      }
      return;
    }
    if (!el) { refreshList(); return; }
    el.dataset.status = ev.status;
    setField(el, "status", ev.status);
    setField(el, "stage", ev.stage);
    setField(el, "progress", ev.progress);
    setField(el, "percent", Math.round(ev.progress * 100) + "%");
    if (ev.message) setField(el, "message", ev.message);
    if (ev.provider) setField(el, "provider", ev.provider);
    if (ev.status === "done" || ev.status === "failed" || ev.status === "cancelled") {
      if (page === "job") setTimeout(function () { location.reload(); }, 300);
      else refreshList();
    }
  }

  var state = document.getElementById("live-state");
  var source = new EventSource(prefix + "/events");
  source.onopen = function () { if (state) state.textContent = "live"; };
  source.onerror = function () { if (state) state.textContent = "reconnecting…"; };
  source.onmessage = function (msg) {
    try { apply(JSON.parse(msg.data)); } catch (e) { /* one bad event must not stop the page */ }
  };
  source.addEventListener("resync", refreshList);
  // the page shows the state of the moment it loaded: fetch the rows once the stream is open,
  // so nothing that happened in between is missed
  if (page === "jobs") source.addEventListener("open", refreshList);
})();
