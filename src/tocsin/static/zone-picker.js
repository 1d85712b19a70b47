// The events page's time-zone picker: a new choice applies at once (without
// JavaScript the "Show" button beside it posts the same form).
"use strict";
(function () {
  var form = document.getElementById("times");
  var select = document.getElementById("f-zone");
  if (!form || !select) { return; }
  select.addEventListener("change", function () {
    if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
  });
})();
