// Copy buttons: every element with data-copy gets one that puts its text on the clipboard. Pages are
// often served over plain http on a LAN, where navigator.clipboard is missing: then the text is
// selected and copied the old way.
(function () {
  "use strict";
  function copy(text, done) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text, done); });
    } else fallback(text, done);
  }
  function fallback(text, done) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    document.body.removeChild(area);
    if (ok) done();
  }
  document.querySelectorAll("[data-copy]").forEach(function (el) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", el.dataset.copy || "Copy");
    button.setAttribute("data-testid", "copy");
    button.addEventListener("click", function () {
      copy(el.textContent, function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
    el.insertAdjacentElement("afterend", button);
  });
})();
