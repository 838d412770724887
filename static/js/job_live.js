// A job's page, live: events arrive over /ws/jobs/<id>/ and extend the log, the loss chart, the
// progress bar and the status badge. The page is rendered up to data-last-seq; the socket asks for
// everything after the last seq we have (also on every reconnect), so nothing is missed or shown twice.
// Counts are mirrored into data attributes of #job-live (data-points, data-last-seq, data-status,
// data-connected) for people and tests that look at the page from outside.
(function () {
  "use strict";
  const root = document.getElementById("job-live");
  if (!root) return;
  const jobId = root.dataset.job;
  const FINISHED = ["succeeded", "failed", "cancelled", "published"];
  const MAX_LOG_LINES = 2000; // older lines stay in the full log view; the DOM must not grow forever
  const REPORT_LABELS = [
    ["eval_loss", "Eval loss"], ["perplexity", "Perplexity"], ["bleu_4", "BLEU-4"], ["rouge_1", "ROUGE-1"],
    ["rouge_2", "ROUGE-2"], ["rouge_l", "ROUGE-L"], ["exact_match", "Exact match"],
  ];
  let lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  let status = root.dataset.status;
  let started = root.dataset.started ? Date.parse(root.dataset.started) : null;
  let finished = root.dataset.finished ? Date.parse(root.dataset.finished) : null;
  const $ = function (id) { return document.getElementById(id); };

  // --- log tail: follows the newest line until the reader scrolls up, then stays put -----------------
  const logBox = $("log");
  const pausedNote = $("log-paused");
  let follow = true;
  function atBottom() { return logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8; }
  function setFollow(value) {
    follow = value;
    pausedNote.hidden = follow;
    root.dataset.follow = follow ? "1" : "0";
  }
  logBox.scrollTop = logBox.scrollHeight;
  logBox.addEventListener("scroll", function () { setFollow(atBottom()); });
  $("log-follow").addEventListener("click", function () {
    logBox.scrollTop = logBox.scrollHeight;
    setFollow(true);
  });
  function clock(ts) { return ts ? new Date(ts).toTimeString().slice(0, 8) : ""; }
  function addLog(level, text, ts) {
    const line = document.createElement("div");
    line.className = "logline lvl-" + (level === "critical" ? "error" : level || "info");
    const stamp = document.createElement("span");
    stamp.className = "ts";
    stamp.textContent = clock(ts);
    line.appendChild(stamp);
    line.appendChild(document.createTextNode(" " + text));
    logBox.appendChild(line);
    while (logBox.childElementCount > MAX_LOG_LINES) logBox.removeChild(logBox.firstElementChild);
    if (follow) logBox.scrollTop = logBox.scrollHeight;
    root.dataset.logLines = logBox.childElementCount;
  }

  // --- loss chart: train and eval loss against step, learning rate on its own axis ------------------
  const css = getComputedStyle(document.documentElement);
  const colour = function (name, fallback) { return css.getPropertyValue(name).trim() || fallback; };
  const train = colour("--brand", "#e8590c"), evalColour = colour("--info", "#1c7ed6");
  const chart = new Chart($("loss-chart"), {
    type: "line",
    data: { datasets: [
      { label: "train loss", data: [], borderColor: train, backgroundColor: train, yAxisID: "y", pointRadius: 0, borderWidth: 2, tension: 0.2 },
      { label: "eval loss", data: [], borderColor: evalColour, backgroundColor: evalColour, yAxisID: "y", pointRadius: 4, borderWidth: 2 },
      { label: "learning rate", data: [], borderColor: "#868e96", backgroundColor: "#868e96", yAxisID: "lr", pointRadius: 0, borderWidth: 1.5, borderDash: [5, 4] },
    ] },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: { legend: { labels: { boxWidth: 14, usePointStyle: true } } },
      scales: {
        x: { type: "linear", title: { display: true, text: "step" }, ticks: { precision: 0 } },
        y: { title: { display: true, text: "loss" } },
        lr: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "learning rate" },
              ticks: { callback: function (v) { return Number(v).toExponential(1); } } },
      },
    },
  });
  let points = 0, evalPoints = 0, redraw = false;
  function present(v) { return v !== undefined && v !== null; }
  function addMetric(m) {
    if (!present(m.step)) return;
    const sets = chart.data.datasets;
    if (present(m.loss)) { sets[0].data.push({ x: m.step, y: m.loss }); points++; }
    if (present(m.eval_loss)) { sets[1].data.push({ x: m.step, y: m.eval_loss }); evalPoints++; }
    if (present(m.learning_rate)) sets[2].data.push({ x: m.step, y: m.learning_rate });
    root.dataset.points = points;
    root.dataset.evalPoints = evalPoints;
    $("metric-count").textContent = points + " loss point" + (points === 1 ? "" : "s") +
      (evalPoints ? " · " + evalPoints + " eval" : "") + (present(m.loss) ? " · latest loss " + m.loss.toFixed(4) : "");
    $("chart-empty").hidden = points + evalPoints > 0;
    // Dozens of metrics a second arrive in bursts: draw once per frame, not once per event.
    if (!redraw) { redraw = true; requestAnimationFrame(function () { redraw = false; chart.update("none"); }); }
  }
  JSON.parse($("initial-metrics").textContent).forEach(addMetric);
  $("chart-empty").hidden = points + evalPoints > 0;
  root.dataset.points = points;

  // --- progress, elapsed and ETA ------------------------------------------------------------------
  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }
  function tick() {
    if (!started) { $("elapsed").textContent = ""; return; }
    const end = finished && FINISHED.indexOf(status) >= 0 ? finished : Date.now();
    $("elapsed").textContent = (end === finished ? "took " : "elapsed ") + duration((end - started) / 1000);
  }
  function setProgress(p) {
    if (!p.total_steps) return;
    const share = Math.min(100, (100 * p.step) / p.total_steps);
    $("progress-bar").style.width = share.toFixed(1) + "%";
    $("progress-text").textContent = "step " + p.step + " / " + p.total_steps;
    $("progress").setAttribute("aria-valuenow", share.toFixed(0));
    $("eta").textContent = present(p.eta_seconds) && p.step < p.total_steps ? "ETA " + duration(p.eta_seconds) : "";
  }

  // --- status badge and the actions that make sense in each status -----------------------------
  function setStatus(value, ts, live) {
    if (value === "running" && status !== "running") { started = Date.parse(ts) || Date.now(); finished = null; }
    if (value === "queued" && status !== "queued") { started = null; finished = null; } // retried: a new run
    if (FINISHED.indexOf(value) >= 0 && FINISHED.indexOf(status) < 0) { finished = Date.parse(ts) || Date.now(); $("eta").textContent = ""; }
    status = value;
    root.dataset.status = value;
    const badge = $("job-status");
    badge.textContent = value;
    badge.className = "badge " + value;
    document.querySelectorAll("[data-show-when]").forEach(function (el) {
      el.hidden = el.dataset.showWhen.split(" ").indexOf(value) < 0;
    });
    if (live && FINISHED.indexOf(value) >= 0) refreshFinished();
    tick();
  }
  // A run that ends while the page is open gets what a reload would show (files, publish and export
  // buttons, the stored evaluation): the page fetches itself and swaps in its [data-refresh] parts.
  function refreshFinished() {
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      const fresh = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-refresh]").forEach(function (el) {
        const other = fresh.getElementById(el.id);
        if (other) el.replaceWith(document.importNode(other, true));
      });
      document.querySelectorAll("[data-show-when]").forEach(function (el) {
        el.hidden = el.dataset.showWhen.split(" ").indexOf(status) < 0;
      });
      root.dataset.refreshed = "1";
    });
  }
  function showReport(report, base) {
    const body = document.querySelector("#report-table tbody");
    const head = document.querySelector("#report-table thead tr");
    if (base && head.cells.length < 3) head.insertAdjacentHTML("beforeend", "<th>Base model</th>");
    body.textContent = "";
    REPORT_LABELS.forEach(function (pair) {
      if (!present(report[pair[0]])) return;
      const row = body.insertRow();
      row.insertCell().textContent = pair[1];
      row.insertCell().textContent = Number(report[pair[0]]).toFixed(4);
      if (base && present(base[pair[0]])) row.insertCell().textContent = Number(base[pair[0]]).toFixed(4);
    });
    $("report-panel").hidden = false;
  }

  function handle(e) {
    if (e.seq <= lastSeq) return; // the server already dedupes; this guards a page that reconnects
    lastSeq = e.seq;
    root.dataset.lastSeq = lastSeq;
    if (e.type === "log") addLog(e.level, e.message, e.ts);
    else if (e.type === "status") { addLog("status", "status → " + e.to + (e.reason ? " (" + e.reason + ")" : ""), e.ts); setStatus(e.to, e.ts, true); }
    else if (e.type === "metric") addMetric(e);
    else if (e.type === "progress") setProgress(e);
    else if (e.type === "checkpoint") { addLog("info", "checkpoint saved at step " + e.step, e.ts); $("last-checkpoint").textContent = e.step; }
    else if (e.type === "eval") { addLog("info", "evaluation report ready", e.ts); showReport(e.report || {}, e.base_report); }
  }

  setStatus(status);
  // Server-rendered lines carry UTC instants; show them in the reader's clock like live ones.
  logBox.querySelectorAll(".ts[data-ts]").forEach(function (el) { el.textContent = clock(el.dataset.ts); });
  setInterval(tick, 1000);

  // --- the socket: reconnects with backoff and resumes after the last seq it has -----------------
  const liveState = $("live-state");
  function setConnected(on, text) {
    root.dataset.connected = on ? "1" : "0";
    liveState.className = "live-state " + (on ? "on" : "off");
    liveState.textContent = text;
  }
  let delay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/jobs/" + jobId + "/?after_seq=" + lastSeq);
    ws.onopen = function () { delay = 500; setConnected(true, "live"); };
    ws.onmessage = function (msg) { handle(JSON.parse(msg.data)); };
    ws.onclose = function (ev) {
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404) { setConnected(false, "not following (reload the page)"); return; }
      setConnected(false, "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
