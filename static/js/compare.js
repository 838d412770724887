// Comparing jobs. On the job list: the "Compare selected" button counts the ticked jobs and sends
// /training/compare/?jobs=1,2,3. On the compare page: every job's train loss (solid) and eval loss (dots
// on a dashed line) in one chart; jobs still running follow /ws/jobs/<id>/ from the seq the page was
// rendered at, so their curves keep growing.
(function () {
  "use strict";
  const PALETTE = ["#e8590c", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f59f00", "#0c8599", "#c2255c", "#5c940d"];
  const FINISHED = ["succeeded", "failed", "cancelled", "published"];

  const form = document.getElementById("compare-form");
  if (form) {
    const button = document.getElementById("compare-button");
    const hint = document.getElementById("compare-hint");
    const ticked = function () { return Array.from(form.querySelectorAll("input[name=jobs]:checked")); };
    const refresh = function () {
      const n = ticked().length;
      button.disabled = n < 2;
      button.textContent = n ? "Compare " + n + " selected" : "Compare selected";
      hint.textContent = n < 2 ? "Tick two or more jobs to compare their loss curves and settings." : "";
    };
    form.addEventListener("change", refresh);
    form.addEventListener("submit", function (ev) {
      // One readable, shareable address (?jobs=1,2,3) instead of a repeated parameter.
      ev.preventDefault();
      location.href = form.action + "?jobs=" + ticked().map(function (box) { return box.value; }).join(",");
    });
    refresh();
  }

  const canvas = document.getElementById("compare-chart");
  if (!canvas) return;
  const series = JSON.parse(document.getElementById("compare-series").textContent);
  document.querySelectorAll(".compare-swatch").forEach(function (el) {
    el.style.background = PALETTE[+el.dataset.index % PALETTE.length];
  });
  const toXY = function (pairs) { return pairs.map(function (p) { return { x: p[0], y: p[1] }; }); };
  const datasets = [];
  series.forEach(function (job, i) {
    const c = PALETTE[i % PALETTE.length];
    job.train_set = datasets.length;
    datasets.push({ label: job.name + " · train", data: toXY(job.train), borderColor: c, backgroundColor: c, pointRadius: 0, borderWidth: 2, tension: 0.2 });
    job.eval_set = datasets.length;
    datasets.push({ label: job.name + " · eval", data: toXY(job.eval), borderColor: c, backgroundColor: c, pointRadius: 4, borderWidth: 1.5, borderDash: [6, 4] });
  });
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: datasets },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      // A job without eval points yet would only clutter the legend with an empty entry.
      plugins: { legend: { labels: { boxWidth: 14, usePointStyle: true,
        filter: function (item, data) { return data.datasets[item.datasetIndex].data.length > 0; } } } },
      scales: { x: { type: "linear", title: { display: true, text: "step" }, ticks: { precision: 0 } },
                y: { title: { display: true, text: "loss" } } },
    },
  });
  canvas.dataset.points = datasets.reduce(function (n, d) { return n + d.data.length; }, 0);

  let redraw = false;
  function follow(job) {
    let lastSeq = job.last_seq;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/jobs/" + job.id + "/?after_seq=" + lastSeq);
    ws.onopen = function () { job.delay = 1000; };
    ws.onmessage = function (msg) {
      const e = JSON.parse(msg.data);
      if (e.seq <= lastSeq) return;
      lastSeq = job.last_seq = e.seq;
      if (e.type === "status") {
        document.querySelectorAll('.compare-job[data-job="' + job.id + '"] [data-status]').forEach(function (b) {
          b.textContent = e.to; b.className = "badge " + e.to;
        });
      }
      if (e.type !== "metric" || e.step === undefined || e.step === null) return;
      if (e.loss !== null && e.loss !== undefined) datasets[job.train_set].data.push({ x: e.step, y: e.loss });
      if (e.eval_loss !== null && e.eval_loss !== undefined) datasets[job.eval_set].data.push({ x: e.step, y: e.eval_loss });
      if (!redraw) { redraw = true; requestAnimationFrame(function () { redraw = false; chart.update("none"); }); }
    };
    ws.onclose = function (ev) {
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404) return;
      job.delay = Math.min((job.delay || 500) * 2, 15000);
      setTimeout(function () { follow(job); }, job.delay);
    };
  }
  series.forEach(function (job) { if (FINISHED.indexOf(job.status) < 0) follow(job); });
})();
