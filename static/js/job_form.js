// The job form follows its own choices: panels of other methods and stages hide, the dataset list shows
// the kind the stage trains on, a panel holding an error opens, and a job that would finish without any
// evaluation says so before it is submitted.
(function () {
  "use strict";
  const form = document.querySelector("form.job-form");
  if (!form) return;
  const kinds = JSON.parse(document.getElementById("stage-kinds").textContent);
  const stage = document.getElementById("id_stage"), method = document.getElementById("id_method");
  const PANELS = { "LoRA": function () { return ["lora", "qlora"].indexOf(method.value) >= 0; },
                   "Freeze": function () { return method.value === "freeze"; },
                   "DPO": function () { return stage.value === "dpo"; } };
  function follow() {
    Object.keys(PANELS).forEach(function (title) {
      const panel = form.querySelector('details[data-group="' + title + '"]');
      if (panel) panel.hidden = !PANELS[title]() && !panel.querySelector(".form-error");
    });
    const wanted = kinds[stage.value];
    form.querySelectorAll("tr[data-kind]").forEach(function (row) {
      const box = row.querySelector("input[type=checkbox]");
      row.hidden = Boolean(wanted) && row.dataset.kind !== wanted && !(box && box.checked);
    });
  }
  function evaluationNote() {
    const ratio = parseFloat(document.getElementById("id_hp_val_ratio").value || "0");
    const generation = document.getElementById("id_hp_do_eval_generation").checked;
    document.getElementById("no-eval-note").hidden = !(generation && !(ratio > 0));
  }
  form.querySelectorAll("details").forEach(function (panel) {
    if (panel.querySelector(".form-error")) { panel.open = true; panel.hidden = false; }
  });
  stage.addEventListener("change", follow);
  method.addEventListener("change", follow);
  form.addEventListener("input", evaluationNote);
  form.addEventListener("change", evaluationNote);
  follow();
  evaluationNote();
})();
