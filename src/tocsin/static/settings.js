// Email settings page: live reactions to the choices, so the page explains itself.
//  - choosing an encryption presets the port (from the server's DEFAULT_PORTS table in
//    data-default-ports), but only while the port is still the old mode's default: the
//    same rule the server applies, so a port the user chose is never overwritten;
//  - choosing "none" shows the warning (and the plaintext-login option) at once;
//  - the transport choice shows the SMTP settings or the online service;
//  - unchecking certificate verification shows that it is insecure;
//  - unsaved changes are flagged, since the test email uses the saved settings.
"use strict";

(function () {
  const form = document.getElementById("settings-form");
  if (!form) {
    return;
  }
  const ports = JSON.parse(form.dataset.defaultPorts || "{}");
  const byId = (id) => document.getElementById(id);
  const port = byId("f-port");
  const presetNote = byId("port-preset");
  const radios = (name) => Array.from(form.querySelectorAll(`input[name="${name}"]`));
  const checked = (name) => {
    const on = radios(name).find((r) => r.checked);
    return on ? on.value : "";
  };

  // ------------------------------------------------------------ encryption -> port
  let mode = checked("encryption");

  function showEncryption(value) {
    byId("encryption-none-warning").hidden = value !== "none";
    byId("plaintext-auth").hidden = value !== "none";
  }

  radios("encryption").forEach((radio) => {
    radio.addEventListener("change", () => {
      const next = radio.value;
      const oldDefault = ports[mode];
      if (port && oldDefault !== undefined && port.value.trim() === String(oldDefault)) {
        port.value = String(ports[next]);
        presetNote.textContent = presetNote.dataset.template
          .replace("{port}", String(ports[next]))
          .replace("{mode}", radio.dataset.modeName || next);
      } else {
        presetNote.textContent = "";
      }
      mode = next;
      showEncryption(next);
    });
  });

  // ------------------------------------------------------------ transport
  function showTransport(value) {
    byId("smtp-settings").hidden = value === "online";
    byId("online-settings").hidden = value !== "online";
  }
  radios("transport").forEach((radio) => {
    radio.addEventListener("change", () => showTransport(radio.value));
  });

  // ------------------------------------------------------------ TLS verification
  const verify = byId("f-tls_verify");
  if (verify) {
    verify.addEventListener("change", () => {
      byId("tls-verify-off").hidden = verify.checked;
    });
  }

  // ------------------------------------------------------------ password clear
  const clear = byId("f-password_clear");
  const password = byId("f-password");
  if (clear && password) {
    clear.addEventListener("change", () => {
      password.disabled = clear.checked;
      if (clear.checked) {
        password.value = "";
      }
    });
  }

  // ------------------------------------------------------------ unsaved changes
  function markDirty() {
    byId("unsaved-note").hidden = false;
    const testNote = byId("test-unsaved");
    if (testNote) {
      testNote.hidden = false;
    }
  }
  form.addEventListener("input", markDirty);
  form.addEventListener("change", markDirty);

  // After a refused save, bring the list of problems into view for keyboard and
  // screen-reader users.
  const summary = byId("error-summary");
  if (summary) {
    summary.focus();
  }
})();
