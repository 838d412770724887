// List pages follow their organization over /ws/org/: job status badges change without a reload.
(function () {
  "use strict";
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/org/");
    ws.onopen = function () { delay = 1000; };
    ws.onmessage = function (msg) {
      const e = JSON.parse(msg.data);
      if (e.type === "job.status") {
        document.querySelectorAll('[data-job="' + e.job + '"] [data-status]').forEach(function (badge) {
          badge.textContent = e.status;
          badge.className = "badge " + e.status;
        });
      }
      document.dispatchEvent(new CustomEvent("tuneforge:" + e.type, { detail: e }));
    };
    ws.onclose = function (ev) {
      if (ev.code === 4401 || ev.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
