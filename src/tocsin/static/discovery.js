// "Find settings" on the email settings page: a provider chooser and a lookup from the
// sender address (POST /api/v1/settings/discover).  Both only fill in host, port and
// encryption (and the authentication method, where the form has one); nothing is saved
// until the admin presses Save.  Texts and presets come from the section's data-
// attributes; everything is inserted as text, never HTML.
"use strict";

(function () {
  const panel = document.getElementById("discovery");
  const form = document.getElementById("settings-form");
  if (!panel || !form) {
    return;
  }
  const presets = JSON.parse(panel.dataset.presets || "{}");
  const texts = JSON.parse(panel.dataset.texts || "{}");
  const tx = (key) => texts[key] || key;
  const fill = (template, values) =>
    Object.keys(values).reduce((text, key) => text.replace(`{${key}}`, values[key]), template);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const byId = (id) => document.getElementById(id);
  const chooser = byId("f-preset");
  const button = byId("discover-button");
  const status = byId("discover-status");
  const result = byId("discover-result");
  const presetResult = byId("preset-result");

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

  function setValue(name, value) {
    const field = form.elements.namedItem(name);
    if (!field || value === null || value === undefined) {
      return;
    }
    if (field instanceof RadioNodeList) {
      const radio = Array.from(field).find((r) => r.value === value);
      if (radio && !radio.checked) {
        radio.checked = true;
        radio.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } else {
      field.value = String(value);
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  // Fill the form from a preset or a proposal; returns the note that says so.
  function apply(settings, target) {
    setValue("encryption", settings.encryption); // first: its change moves the port
    if (settings.host) {
      setValue("host", settings.host);
    }
    setValue("port", settings.port);
    setValue("auth_method", settings.auth); // only where the form has these fields
    setValue("oauth_provider", settings.oauth_provider);
    setValue("oauth_flow", settings.oauth_flow); // a provider with one sign-in (Outlook.com)
    setValue("oauth_tenant", settings.oauth_tenant);
    const box = el("div", "callout callout-ok");
    const note = settings.host
      ? fill(tx("discover_filled"), { host: settings.host, port: String(settings.port) })
      : "";
    if (note) {
      box.appendChild(el("p", "discover-filled", note));
    }
    appendNeeds(box, settings.needs);
    target.replaceChildren(box);
    box.hidden = !box.childElementCount;
  }

  function appendNeeds(box, needs) {
    if (!needs || !needs.length) {
      return;
    }
    box.appendChild(el("p", "", tx("discover_needs")));
    const list = el("ul", "discover-needs");
    needs.forEach((need) => list.appendChild(el("li", "", need)));
    box.appendChild(list);
  }

  chooser.addEventListener("change", () => {
    const chosen = presets[chooser.value];
    if (chosen) {
      apply(chosen, presetResult);
    } else {
      presetResult.replaceChildren();
    }
  });

  function proposalItem(proposal, index) {
    const item = el("li", "discover-proposal");
    item.dataset.index = String(index);
    const head = `${proposal.host} · ${proposal.port} · ${proposal.encryption}`;
    item.appendChild(el("strong", "discover-host", head));
    if (proposal.provider) {
      item.appendChild(el("span", "discover-provider", ` — ${proposal.provider}`));
    }
    item.appendChild(
      el("p", "help discover-origin", `${tx("discover_from")} ${proposal.source_label}: ${proposal.origin}`),
    );
    const needs = el("div");
    appendNeeds(needs, proposal.needs);
    item.appendChild(needs);
    const use = el("button", "button small discover-use", tx("discover_use"));
    use.type = "button";
    use.setAttribute("aria-label", `${tx("discover_use")}: ${head}`);
    use.addEventListener("click", () => {
      chooser.value = proposal.preset || ""; // the chooser shows the provider, if known
      apply(proposal, presetResult);
      byId("f-host").focus();
    });
    item.appendChild(use);
    return item;
  }

  function show(body) {
    const box = el("div", `callout ${body.found ? "callout-ok" : "callout-note"}`);
    box.appendChild(el("p", "discover-message", body.message));
    const items = el("ol", "discover-proposals");
    body.proposals.forEach((p, i) => items.appendChild(proposalItem(p, i)));
    const details = el("details", "discover-sources");
    details.appendChild(el("summary", "", tx("discover_sources")));
    const sources = el("ul");
    body.sources.forEach((s) => {
      const line = el("li", `discover-source discover-${s.status}`, `${s.source_label}: ${s.text}`);
      line.dataset.source = s.source;
      line.dataset.status = s.status;
      sources.appendChild(line);
    });
    details.appendChild(sources);
    const parts = [box];
    if (body.proposals.length) {
      parts.push(items);
    }
    parts.push(details);
    result.replaceChildren(...parts);
  }

  button.addEventListener("click", async () => {
    const input = byId("f-sender_address");
    const address = input ? input.value.trim() : "";
    result.replaceChildren();
    if (!address) {
      status.textContent = tx("discover_need_address");
      if (input) {
        input.focus();
      }
      return;
    }
    status.textContent = fill(tx("discover_running"), { domain: address.split("@").pop() });
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/settings/discover", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ address }),
      });
      if (response.ok) {
        status.textContent = "";
        show(await response.json());
      } else if (response.status === 422) {
        const body = await response.json();
        const first = Array.isArray(body.detail) && body.detail[0];
        status.textContent = (first && first.message) || fill(tx("discover_error"), { status: "422" });
      } else {
        status.textContent = fill(tx("discover_error"), { status: String(response.status) });
      }
    } catch (_error) {
      status.textContent = tx("discover_network");
    } finally {
      button.disabled = false;
    }
  });
})();
