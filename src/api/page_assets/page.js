// The session page: the countdown, who else is here, the ended state, and Save. It talks only to
// docsession's page endpoints, whose URLs the page carries in data attributes.
"use strict";
(() => {
  const body = document.body;
  const data = body.dataset;
  const $ = (id) => document.getElementById(id);
  const editor = $("editor");
  const saveButton = $("save");
  const status = $("status");
  const conflictCode = Number(data.conflict);
  const toHost = data.host === "true";
  let version = Number(data.version);
  let expiresAt = Number(data.expires);
  // The server's clock minus ours, so that the countdown follows the server.
  let skew = Number(data.now) - Date.now();
  let ended = false;
  let dirty = false;
  let saving = false;
  let leaving = false;

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const pad = (n) => String(n).padStart(2, "0");
    return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }

  function end(reason) {
    if (ended) return;
    ended = true;
    body.classList.add("ended");
    $("ended-why").textContent = reason === "expired" ? "It expired." : "It was closed.";
    $("ended").hidden = false;
    $("newer").hidden = true;
    $("countdown").closest("p").hidden = true;
    if (editor) editor.readOnly = true;
    for (const button of document.querySelectorAll(".toolbar button")) button.disabled = true;
    for (const link of document.querySelectorAll(".toolbar a")) link.removeAttribute("href");
    if (dirty) say("Your unsaved text is still in the editor: copy it before you leave.", "error");
  }

  function tick() {
    if (ended) return;
    const left = expiresAt - (Date.now() + skew);
    if (left <= 0) {
      end("expired");
      return;
    }
    $("countdown").textContent = clock(left);
  }

  async function poll() {
    if (ended) return;
    try {
      const response = await fetch(data.state, { cache: "no-store" });
      const state = await response.json();
      if (state.state !== "live") {
        end(state.reason);
        return;
      }
      skew = state.now_ms - Date.now();
      expiresAt = state.expires_at_ms;
      $("others").textContent = state.others.length ? state.others.join(", ") : "nobody else";
      if (state.version > version && !saving) $("newer").hidden = false;
      const last = state.last_save;
      if (last && last.outcome !== "saved" && !status.textContent) {
        say(`The last save did not reach the application: ${last.message} The edit is kept here; save again.`, "error");
      }
    } catch (err) {
      // Offline for a moment: the next poll tries again.
    }
    setTimeout(poll, 2000);
  }

  async function errorOf(response) {
    try {
      return await response.json();
    } catch (err) {
      return { message: `The server answered ${response.status}.` };
    }
  }

  async function save() {
    if (saving || ended) return;
    saving = true;
    saveButton.disabled = true;
    $("conflict").hidden = true;
    try {
      if (editor && dirty) {
        say("Saving…");
        const text = editor.value;
        const response = await fetch(`${data.content}?version=${version}`, {
          method: "PUT",
          headers: { "Content-Type": "text/plain; charset=utf-8" },
          body: text,
        });
        if (!response.ok) {
          const error = await errorOf(response);
          if (error.code === conflictCode) {
            $("conflict").hidden = false;
            say("Not saved: a newer version exists.", "error");
          } else {
            say(`Not saved: ${error.message}`, "error");
          }
          return;
        }
        version = (await response.json()).version;
        if (editor.value === text) dirty = false;
      }
      if (!toHost) {
        say(`Changes kept (version ${version}).`, "ok");
        return;
      }
      say("Sending to the application…");
      const response = await fetch(data.save, { method: "POST" });
      if (response.ok) {
        say("Saved.", "ok");
        return;
      }
      const error = await errorOf(response);
      say(`Not saved to the application: ${error.message} The edit is kept here; try Save again.`, "error");
    } catch (err) {
      say("Not saved: the server could not be reached. Your text is still here; try again.", "error");
    } finally {
      saving = false;
      if (!ended) saveButton.disabled = false;
    }
  }

  if (editor) {
    editor.addEventListener("input", () => {
      dirty = true;
      if (!saving) say("Unsaved changes.");
    });
  }
  if (saveButton) {
    saveButton.addEventListener("click", save);
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "s") {
        event.preventDefault();
        save();
      }
    });
  }
  const print = $("print");
  if (print) print.addEventListener("click", () => window.print());
  for (const button of document.querySelectorAll(".reload")) {
    button.addEventListener("click", () => {
      leaving = true;
      location.reload();
    });
  }
  window.addEventListener("beforeunload", (event) => {
    if (dirty && !leaving && !ended) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  tick();
  setInterval(tick, 1000);
  poll();
})();
