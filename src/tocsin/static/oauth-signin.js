// The OAuth2 block of the settings page (templates/web/_oauth.html): shows the block
// when the sign-in method is OAuth2 (and in it the fields of the chosen flow), and runs
// the device code or browser (loopback) sign-in for the saved settings.  The answer streams JSON lines (the code, then the outcome); the refresh
// token stays on the server.  Everything is inserted as text, never HTML.
"use strict";

(() => {
  const section = document.getElementById("oauth");
  if (!section) {
    return;
  }
  const texts = JSON.parse(section.dataset.texts || "{}");
  const tx = (key) => texts[key] || key;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const fields = document.getElementById("oauth-fields");
  const button = document.getElementById("oauth-sign-in");
  const status = document.getElementById("oauth-status");
  const codeBox = document.getElementById("oauth-code");
  const codeUrl = document.getElementById("oauth-code-url");
  const codeValue = document.getElementById("oauth-code-value");
  const linkBox = document.getElementById("oauth-link");
  const linkUrl = document.getElementById("oauth-link-url");
  const flow = document.getElementById("f-oauth_flow");

  // Show only what the chosen flow uses (a certificate for app-only, a key for a
  // service account, the sign-in for the device code and browser flows).
  const useDevice = document.getElementById("oauth-use-device");
  const provider = document.getElementById("f-oauth_provider");
  const showFlow = () => {
    section.querySelectorAll("[data-flows]").forEach((part) => {
      part.hidden = !part.dataset.flows.split(" ").includes(flow.value);
    });
    const help = flow.value === "loopback" ? "oauth-sign-in-help-loopback" : "oauth-sign-in-help";
    button.setAttribute("aria-describedby", help);
  };
  flow.addEventListener("change", showFlow);
  flow.addEventListener("input", showFlow); // a preset sets the flow with an input event
  showFlow();

  // A browser on another machine: the device code works from anywhere (not for Google,
  // whose device flow does not allow the mail scope).
  useDevice.addEventListener("click", () => {
    flow.value = "device_code";
    showFlow();
    useDevice.hidden = true;
    status.textContent = tx("oauth_web_device_chosen");
    status.dataset.state = "device_chosen";
    flow.focus();
  });

  const methods = section.querySelectorAll('input[name="auth_method"]');
  const showFields = () => {
    const chosen = section.querySelector('input[name="auth_method"]:checked');
    fields.hidden = !chosen || chosen.value !== "oauth2";
  };
  methods.forEach((radio) => radio.addEventListener("change", showFields));
  showFields();

  const finish = (line) => {
    codeBox.hidden = true;
    linkBox.hidden = true;
    useDevice.hidden = !(line.type === "elsewhere" && provider.value !== "google");
    status.textContent = line.message || tx("oauth_web_unreachable");
    if (line.type === "not_ready" && Array.isArray(line.issues)) {
      const more = line.issues.map((issue) => issue.message).filter(Boolean).join(" ");
      if (more) {
        status.textContent += " " + more;
      }
    }
    status.dataset.state = line.type;
  };

  const handle = (line) => {
    if (line.type === "code") {
      codeUrl.textContent = line.verification_uri;
      codeUrl.href = line.verification_uri;
      codeValue.textContent = line.user_code;
      codeBox.hidden = false;
      status.textContent = tx("oauth_web_waiting");
      status.dataset.state = "waiting";
    } else if (line.type === "link") {
      linkUrl.textContent = line.url;
      linkUrl.href = line.url;
      linkBox.hidden = false;
      status.textContent = tx("oauth_web_waiting");
      status.dataset.state = "waiting";
    } else {
      finish(line);
    }
  };

  button.addEventListener("click", async () => {
    button.disabled = true;
    codeBox.hidden = true;
    linkBox.hidden = true;
    status.textContent = tx("oauth_web_starting");
    status.dataset.state = "starting";
    let done = false;
    try {
      const response = await fetch("/api/v1/settings/oauth/sign-in", {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/x-ndjson", "X-CSRF-Token": csrf },
      });
      if (!response.ok || !response.body) {
        finish({ type: "failed" });
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) {
          break;
        }
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const text = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (text) {
            const line = JSON.parse(text);
            done = done || (line.type !== "code" && line.type !== "link");
            handle(line);
          }
        }
      }
      if (!done) {
        finish({ type: "failed" });
      }
    } catch (error) {
      finish({ type: "failed" });
    } finally {
      button.disabled = false;
    }
  });
})();
