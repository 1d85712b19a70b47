// The online service's "connection now" line: GET /api/v1/settings/online-status (the
// relay check, run by the server) when the button is pressed, and once on load when this
// installation is enrolled.  Texts come from the page (data-texts); inserted as text only.
"use strict";

(function () {
  const box = document.getElementById("online-status");
  const button = document.getElementById("online-check");
  if (!box || !button) {
    return;
  }
  const texts = JSON.parse(box.dataset.texts || "{}");
  const tx = (key, params) =>
    (texts[key] || key).replace(/\{(\w+)\}/g, (all, name) =>
      params && name in params ? String(params[name]) : all,
    );
  const line = document.getElementById("online-reach");
  const detail = document.getElementById("online-reach-detail");
  const hint = document.getElementById("online-reach-hint");
  const hintText = document.getElementById("online-reach-hint-text");
  const language = document.documentElement.lang === "de" ? "de" : "en";

  function show(kind, message, more, change) {
    line.className = kind ? `reach-${kind}` : "";
    line.textContent = message;
    detail.textContent = more || "";
    detail.hidden = !more;
    hintText.textContent = change || "";
    hint.hidden = !change;
  }

  async function check() {
    button.disabled = true;
    show("", tx("online_checking"));
    try {
      const answer = await fetch(`/api/v1/settings/online-status?lang=${language}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!answer.ok) {
        show("fail", tx("online_check_failed", { status: answer.status }));
        return;
      }
      const found = await answer.json();
      if (found.reachable) {
        show("ok", tx("online_reachable", { device: found.device, ms: found.latency_ms }));
      } else {
        // The reason in words; the hint says what to change (no internal codes shown).
        const reason = tx(`reason_${found.reason}`);
        show("fail", tx("online_unreachable", { reason: reason }), "", found.hint);
      }
    } catch (exc) {
      show("fail", tx("online_check_failed", { status: "-" }));
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", check);
  if (box.dataset.auto === "1") {
    check();
  }
})();
