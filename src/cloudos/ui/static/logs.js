// The app page's logs: read the plain-text stream and show it as text (never as HTML).
// Without this script the form opens the same stream as a plain-text page.
"use strict";
(function () {
  const MAX_LINES = 2000;
  let running = null;

  function start(form) {
    const box = document.getElementById("logs");
    const state = document.getElementById("logs-state");
    if (running) running.abort();
    const controller = new AbortController();
    running = controller;
    const params = new URLSearchParams();
    params.set("tail", form.elements.tail.value || "100");
    params.set("follow", document.getElementById("logs-follow").checked ? "true" : "false");
    box.textContent = "";
    state.textContent = "Loading…";
    fetch(form.action + "?" + params.toString(), {
      credentials: "same-origin",
      signal: controller.signal,
    }).then(async (answer) => {
      if (!answer.ok) {
        state.textContent = "The logs could not be read (" + answer.status + ").";
        return;
      }
      state.textContent = params.get("follow") === "true" ? "Following: new lines appear below." : "";
      const reader = answer.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
        box.textContent += decoder.decode(value, { stream: true });
        const lines = box.textContent.split("\n");
        if (lines.length > MAX_LINES) box.textContent = lines.slice(-MAX_LINES).join("\n");
        if (atEnd) box.scrollTop = box.scrollHeight;
      }
      if (running === controller) state.textContent = "The log stream ended.";
    }).catch((error) => {
      if (error.name !== "AbortError") state.textContent = "The log stream broke: " + error.message;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("logs-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      start(form);
    });
    start(form);
  });
})();
