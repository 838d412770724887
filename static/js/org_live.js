// List pages follow their organization over /ws/org/ and change in place, without a reload.
//
// job.status  {job, name, status, previous}: every element marked [data-status] inside an element
//             marked [data-job="<id>"] shows the new status; a job the page does not list reveals
//             #new-jobs-note where the page has one.
// Every event, these and the GPU workers' device.update and queue.update, is also re-dispatched as a
// DOM event "tuneforge:<type>" (detail: the payload), which page scripts such as gpus.js follow.
// body[data-org-live] says whether the socket is open.
(function () {
  "use strict";
  function setBadge(badge, value) {
    badge.textContent = value;
    badge.className = "badge " + value;
  }
  function jobStatus(e) {
    const rows = document.querySelectorAll('[data-job="' + e.job + '"]');
    rows.forEach(function (row) {
      row.querySelectorAll("[data-status]").forEach(function (badge) { setBadge(badge, e.status); });
    });
    const note = document.getElementById("new-jobs-note");
    if (!rows.length && note) note.hidden = false;
  }
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/org/");
    ws.onopen = function () { delay = 1000; document.body.dataset.orgLive = "1"; };
    ws.onmessage = function (msg) {
      const e = JSON.parse(msg.data);
      if (e.type === "job.status") jobStatus(e);
      document.dispatchEvent(new CustomEvent("tuneforge:" + e.type, { detail: e }));
    };
    ws.onclose = function (ev) {
      document.body.dataset.orgLive = "0";
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
