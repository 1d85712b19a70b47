// Send a test email and show each step live, as the server streams it (NDJSON:
// one JSON object per line: {"type": "step", ...} while it runs, then "report" or
// "refused").  Texts come from the page (data-texts) in the admin's language; the
// CSRF token from the csrf-token meta tag.  Everything is inserted as text, never HTML.
// The test runs with the values in the settings form as typed (unsaved changes
// included, nothing saved); after a success the page offers to save exactly what
// was tested, and withdraws the offer as soon as the form changes.
"use strict";

(function () {
  const panel = document.getElementById("test-email");
  const form = document.getElementById("test-form");
  if (!panel || !form) {
    return;
  }
  const texts = JSON.parse(panel.dataset.texts || "{}");
  const tx = (key) => texts[key] || key;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const input = document.getElementById("f-test-to");
  const button = document.getElementById("test-send");
  const list = document.getElementById("test-steps");
  const result = document.getElementById("test-result");
  const fieldError = document.getElementById("f-test-to-error");
  const MARKS = { ok: "✓", fail: "✗", start: "…" };
  const settingsForm = document.getElementById("settings-form");
  const fields = JSON.parse(panel.dataset.fields || '{"text": [], "checks": []}');
  let tested = null; // the settings object of the last successful test

  // The form as a settings object, the way the server reads a submitted form: text
  // fields as typed, checkboxes as true/false, the port only when changed from the
  // one shown, the password only when typed (or null when "remove" is ticked).
  function typedSettings() {
    if (!settingsForm) {
      return null;
    }
    const data = new FormData(settingsForm);
    const out = {};
    fields.text.forEach((name) => {
      out[name] = String(data.get(name) || "");
    });
    fields.checks.forEach((name) => {
      out[name] = data.has(name);
    });
    if (String(data.get("port") || "").trim() === String(data.get("port_was") || "").trim()) {
      delete out.port;
    }
    if (data.has("password_clear")) {
      out.password = null;
    } else if (data.get("password")) {
      out.password = String(data.get("password"));
    }
    return out;
  }

  function offerSave(settings) {
    tested = JSON.stringify(settings);
    const box = el("div", "callout callout-tip save-tested");
    box.id = "save-tested";
    box.appendChild(el("p", "", tx("test_save_offer")));
    const save = el("button", "button primary", tx("test_save_tested"));
    save.type = "button";
    save.id = "save-tested-button";
    save.addEventListener("click", () => {
      if (JSON.stringify(typedSettings()) !== tested) {
        withdrawOffer();
        return;
      }
      settingsForm.requestSubmit();
    });
    box.appendChild(save);
    result.appendChild(box);
  }

  function withdrawOffer() {
    const box = document.getElementById("save-tested");
    if (box && tested !== null) {
      tested = null;
      box.replaceChildren(el("p", "", tx("test_changed_since")));
    }
  }

  if (settingsForm) {
    settingsForm.addEventListener("input", withdrawOffer);
    settingsForm.addEventListener("change", withdrawOffer);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function callout(kind, message, extra) {
    const box = el("div", `callout callout-${kind}`);
    box.appendChild(el("p", "", message));
    (extra || []).forEach((line) => box.appendChild(el("p", "", line)));
    result.replaceChildren(box);
  }

  function setFieldError(message) {
    fieldError.textContent = message;
    fieldError.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "f-test-to-error f-test-to-help");
    } else {
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", "f-test-to-help");
    }
  }

  // One row per step.  A "start" opens a row; the next result (ok / fail) closes the
  // open row even when it names a sub-step (STARTTLS is finished by "tls"); a second
  // result of the same step (the TCP connection, then the greeting) adds a line to it.
  function newRow(step, phase) {
    const row = el("li");
    row.dataset.step = step;
    if (phase) {
      row.dataset.phase = phase;
    }
    const mark = el("span", "step-mark");
    mark.setAttribute("aria-hidden", "true");
    const body = el("div", "step-body");
    body.appendChild(el("span", "step-name", tx(`step_${phase || step}`)));
    body.appendChild(el("span", "visually-hidden step-state"));
    body.appendChild(el("div", "step-lines"));
    row.replaceChildren(mark, body);
    list.appendChild(row);
    return row;
  }

  function rowFor(step) {
    const last = list.lastElementChild;
    if (step.status === "start" || !last) {
      return { row: newRow(step.step, step.phase), fresh: true };
    }
    if (last.dataset.status === "start") {
      return { row: last, fresh: true };
    }
    if (last.dataset.step === step.step) {
      return { row: last, fresh: false };
    }
    return { row: newRow(step.step, step.phase), fresh: true };
  }

  function showStep(step) {
    const { row, fresh } = rowFor(step);
    row.dataset.status = step.status;
    row.className = `step step-${step.status}`;
    row.querySelector(".step-mark").textContent = MARKS[step.status] || "•";
    row.querySelector(".step-state").textContent = ` (${tx(`step_${step.status}`)})`;
    const lines = row.querySelector(".step-lines");
    const waiting = lines.querySelector(".step-waiting");
    if (waiting) {
      waiting.remove(); // the step has its answer (or its failure)
    }
    if (step.status === "start" && step.waiting) {
      // Say what the running step waits for ("Waiting for the server's greeting…").
      const line = el("span", "step-waiting", tx("step_waiting").replace("{what}", step.waiting));
      lines.replaceChildren(...(step.summary ? [el("span", "step-summary", step.summary)] : []));
      lines.appendChild(line);
      return;
    }
    if (fresh && step.summary) {
      lines.replaceChildren(el("span", "step-summary", step.summary));
    } else if (step.summary) {
      lines.appendChild(el("span", "step-summary", step.summary));
    }
    if (step.status === "fail" && step.hint) {
      const hint = el("p", "step-hint callout callout-tip");
      hint.append(el("strong", "", tx("step_hint")), ` ${step.hint}`);
      row.appendChild(hint);
    }
  }

  let running = null; // the settings object the running test uses

  function showReport(report) {
    if (report.ok) {
      const extra = report.server_reply ? [`${tx("server_reply")}: ${report.server_reply}`] : [];
      callout("ok", tx("test_ok"), extra);
      if (running !== null) {
        offerSave(running);
      }
    } else {
      callout("error", tx("test_failed"));
    }
  }

  function showRefused(message) {
    const issues = (message.issues || []).map((issue) => {
      const label = texts[`field_${issue.field}`];
      return label ? `${label}: ${issue.message}` : issue.message;
    });
    callout("error", tx("test_refused"), issues);
  }

  let finished = false;
  let controller = null; // aborts the running test (the cancel button)
  const cancel = document.getElementById("test-cancel");
  if (cancel) {
    cancel.addEventListener("click", () => {
      if (controller) {
        controller.abort(); // the server drops the SMTP conversation with the request
      }
    });
  }

  function handle(message) {
    finished = finished || message.type === "report" || message.type === "refused";
    if (message.type === "step") {
      showStep(message);
    } else if (message.type === "report") {
      showReport(message);
    } else if (message.type === "refused") {
      showRefused(message);
    }
  }

  async function readLines(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 1);
        if (line) {
          handle(JSON.parse(line));
        }
      }
    }
    if (buffer.trim()) {
      handle(JSON.parse(buffer));
    }
  }

  async function showHttpError(response) {
    if (response.status === 429) {
      // The server says how long to wait in words, in the admin's language.
      let said = "";
      try {
        said = (await response.json()).detail || "";
      } catch (error) {
        said = "";
      }
      const seconds = response.headers.get("Retry-After") || "60";
      callout("error", said || tx("test_rate_limited").replace("{seconds}", seconds));
    } else if (response.status === 422) {
      setFieldError(tx("test_bad_recipient"));
      input.focus();
    } else if (response.status === 401) {
      callout("error", tx("test_session"));
    } else {
      callout("error", tx("test_error").replace("{status}", String(response.status)));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = input.value.trim();
    setFieldError("");
    if (!to) {
      setFieldError(tx("test_bad_recipient"));
      input.focus();
      return;
    }
    button.disabled = true;
    list.replaceChildren();
    result.replaceChildren(el("p", "help", tx("test_running")));
    tested = null;
    // A backup link of the failover chain is tested as saved (the form is the primary's).
    const linkChoice = document.getElementById("f-test-link");
    const link = linkChoice ? Number(linkChoice.value) : 0;
    running = link ? null : typedSettings();
    const body = running === null ? { to, link } : { to, settings: running };
    controller = new AbortController();
    if (cancel) {
      cancel.hidden = false;
    }
    try {
      const response = await fetch("/api/v1/settings/test-email", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/x-ndjson",
          "X-CSRF-Token": csrf,
        },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) {
        result.replaceChildren();
        await showHttpError(response);
        return;
      }
      finished = false;
      await readLines(response);
      if (!finished) {
        callout("error", tx("test_network"));
      }
    } catch (error) {
      if (controller && controller.signal.aborted) {
        list.querySelectorAll(".step-waiting").forEach((line) => line.remove());
        callout("note", tx("test_cancelled"));
      } else {
        callout("error", tx("test_network"));
      }
    } finally {
      controller = null;
      if (cancel) {
        cancel.hidden = true;
      }
      button.disabled = false;
    }
  });
})();
