// A knowledge base's page follows its extraction runs live: kb.extraction events (from org_live.js)
// update the run's status, progress and message in place; a run the page does not list shows a note.
// Events missed while the socket reconnects are caught up by reading unfinished runs from the API.
(function () {
  "use strict";
  function show(e) {
    const row = document.querySelector('[data-run="' + e.run + '"]');
    if (!row) {
      const note = document.getElementById("new-run-note");
      if (note) note.hidden = false;
      return;
    }
    const badge = row.querySelector('[data-field="status"]');
    badge.textContent = e.status;
    badge.className = "badge " + e.status;
    row.querySelector('[data-field="progress"]').value = e.progress;
    row.querySelector('[data-field="message"]').textContent = e.message;
  }
  document.addEventListener("tuneforge:kb.extraction", function (ev) { show(ev.detail); });
  function catchUp() {
    document.querySelectorAll("[data-run]").forEach(function (row) {
      const status = row.querySelector('[data-field="status"]').textContent;
      if (status !== "queued" && status !== "running") return;
      fetch("/api/extraction-runs/" + row.dataset.run + "/", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (run) { if (run) show(Object.assign({ run: run.id }, run)); });
    });
  }
  setInterval(catchUp, 3000);
})();
