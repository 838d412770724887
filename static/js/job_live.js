// A job's page, live: events arrive over /ws/jobs/<id>/ and extend the log, the loss chart, the
// progress bar and the status badge. On reconnect we send the last seq we have, so nothing is missed
// or shown twice.
(function () {
  "use strict";
  const root = document.getElementById("job-live");
  if (!root) return;
  const jobId = root.dataset.job;
  let lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  let status = root.dataset.status;
  const logBox = document.getElementById("log");
  const paused = document.getElementById("log-paused");
  let follow = true;
  const finished = ["succeeded", "failed", "cancelled", "published"];

  logBox.scrollTop = logBox.scrollHeight;
  logBox.addEventListener("scroll", function () {
    follow = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
    paused.hidden = follow;
  });

  const initial = JSON.parse(document.getElementById("initial-metrics").textContent);
  const chart = new Chart(document.getElementById("loss-chart"), {
    type: "line",
    data: { datasets: [
      { label: "train loss", data: [], borderColor: "#e8590c", backgroundColor: "#e8590c", yAxisID: "y", pointRadius: 2, tension: 0.2 },
      { label: "eval loss", data: [], borderColor: "#1c7ed6", backgroundColor: "#1c7ed6", yAxisID: "y", pointRadius: 3, showLine: true },
      { label: "learning rate", data: [], borderColor: "#868e96", backgroundColor: "#868e96", yAxisID: "lr", pointRadius: 0, borderDash: [4, 4] },
    ] },
    options: {
      animation: false, parsing: false, maintainAspectRatio: false,
      scales: {
        x: { type: "linear", title: { display: true, text: "step" } },
        y: { title: { display: true, text: "loss" } },
        lr: { position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "learning rate" } },
      },
    },
  });
  let points = 0;
  function addMetric(m) {
    if (m.step === undefined || m.step === null) return;
    if (m.loss !== undefined && m.loss !== null) { chart.data.datasets[0].data.push({ x: m.step, y: m.loss }); points++; }
    if (m.eval_loss !== undefined && m.eval_loss !== null) chart.data.datasets[1].data.push({ x: m.step, y: m.eval_loss });
    if (m.learning_rate !== undefined && m.learning_rate !== null) chart.data.datasets[2].data.push({ x: m.step, y: m.learning_rate });
    document.getElementById("metric-count").textContent = points + " loss point" + (points === 1 ? "" : "s");
    root.dataset.points = points;
  }
  initial.forEach(addMetric);
  chart.update();

  function time(ts) { return (ts || "").slice(11, 19); }
  function addLog(level, text, ts) {
    const line = document.createElement("div");
    line.className = "logline lvl-" + (level || "info");
    const stamp = document.createElement("span");
    stamp.className = "ts";
    stamp.textContent = time(ts);
    line.appendChild(stamp);
    line.appendChild(document.createTextNode(" " + text));
    logBox.appendChild(line);
    if (follow) logBox.scrollTop = logBox.scrollHeight;
  }
  function setStatus(value) {
    status = value;
    root.dataset.status = value;
    const badge = document.getElementById("job-status");
    badge.textContent = value;
    badge.className = "badge " + value;
    document.querySelectorAll("[data-show-when]").forEach(function (el) {
      el.hidden = el.dataset.showWhen.split(" ").indexOf(value) < 0;
    });
  }
  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }
  function setProgress(p) {
    if (!p.total_steps) return;
    document.getElementById("progress-bar").style.width = (100 * p.step / p.total_steps).toFixed(1) + "%";
    document.getElementById("progress-text").textContent = "step " + p.step + " / " + p.total_steps;
    if (p.eta_seconds !== undefined && p.eta_seconds !== null) document.getElementById("eta").textContent = "· ETA " + fmt(p.eta_seconds);
  }
  setStatus(status);

  const started = document.getElementById("started-at").dataset.started;
  setInterval(function () {
    if (!started || finished.indexOf(status) >= 0) return;
    document.getElementById("elapsed").textContent = "elapsed " + fmt((Date.now() - Date.parse(started)) / 1000);
  }, 1000);

  function handle(e) {
    if (e.seq <= lastSeq) return;
    lastSeq = e.seq;
    root.dataset.lastSeq = lastSeq;
    if (e.type === "log") addLog(e.level, e.message, e.ts);
    else if (e.type === "status") { addLog("status", "status → " + e.to + (e.reason ? " (" + e.reason + ")" : ""), e.ts); setStatus(e.to); }
    else if (e.type === "metric") { addMetric(e); chart.update(); }
    else if (e.type === "progress") setProgress(e);
    else if (e.type === "checkpoint") addLog("info", "checkpoint saved at step " + e.step, e.ts);
    else if (e.type === "eval") { addLog("info", "evaluation report ready", e.ts); document.getElementById("report-panel").hidden = false; }
  }

  let delay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/jobs/" + jobId + "/?after_seq=" + lastSeq);
    ws.onopen = function () { delay = 500; root.dataset.connected = "1"; };
    ws.onmessage = function (msg) { handle(JSON.parse(msg.data)); };
    ws.onclose = function (ev) {
      root.dataset.connected = "0";
      if (ev.code === 4401 || ev.code === 4404) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
