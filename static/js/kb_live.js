// A knowledge base's page follows its extraction runs live: kb.extraction events (from org_live.js)
// update the run's status, progress and message in place; a run the page does not list shows a note.
(function () {
  "use strict";
  document.addEventListener("tuneforge:kb.extraction", function (ev) {
    const e = ev.detail;
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
  });
})();
