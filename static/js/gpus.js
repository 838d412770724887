// The GPUs page follows device updates from /ws/org/ (org_live.js re-dispatches them as DOM events).
// Readings change in place; when a device's lease changes, the page reloads its own view of the fleet,
// because only the server knows whether the new job belongs to this organization.
(function () {
  "use strict";
  const fleet = document.getElementById("gpu-fleet");
  if (!fleet) return;
  let timer = null;

  function refresh() {
    if (timer) return;
    timer = setTimeout(function () {
      fetch(fleet.dataset.fragmentUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { fleet.innerHTML = html; })
        .catch(function () {})
        .finally(function () { timer = null; });
    }, 250);
  }

  function setBar(row, name, percent) {
    const bar = row.querySelector('[data-bar="' + name + '"] > span');
    if (bar) bar.style.width = Math.max(0, Math.min(100, Math.round(percent))) + "%";
  }

  function setField(row, name, value) {
    row.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = value; });
  }

  document.addEventListener("tuneforge:device.update", function (ev) {
    const e = ev.detail;
    const row = fleet.querySelector('[data-device="' + e.device + '"]');
    if (!row || row.dataset.busy !== (e.busy ? "1" : "0")) {
      refresh();
      return;
    }
    row.querySelectorAll("[data-status]").forEach(function (badge) {
      badge.textContent = e.status;
      badge.className = "badge " + e.status;
    });
    ["memory_used_mb", "memory_total_mb", "utilization"].forEach(function (name) { setField(row, name, e[name]); });
    setBar(row, "memory", e.memory_total_mb ? (100 * e.memory_used_mb) / e.memory_total_mb : 0);
    setBar(row, "utilization", e.utilization);
  });

  document.addEventListener("tuneforge:queue.update", function (ev) {
    fleet.querySelectorAll("[data-queue-total]").forEach(function (el) { el.textContent = ev.detail.queue_length; });
    refresh();
  });
})();
