// After a failed submit: focus the error summary, and let its links focus their field.
// Loaded by the summary itself (templates/_forms.html), so only on pages that have one.
(function () {
  "use strict";
  function focusField(event) {
    var id = decodeURIComponent(this.getAttribute("href").slice(1));
    var field = document.getElementById(id);
    if (!field) {
      return;
    }
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus();
  }
  function start() {
    if (document.documentElement.hasAttribute("data-error-summary-ready")) {
      return;
    }
    document.documentElement.setAttribute("data-error-summary-ready", "");
    var summaries = document.querySelectorAll("[data-error-summary]");
    summaries.forEach(function (summary) {
      summary.querySelectorAll("a[href^='#']").forEach(function (link) {
        link.addEventListener("click", focusField);
      });
    });
    if (summaries.length) {
      summaries[0].focus();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
