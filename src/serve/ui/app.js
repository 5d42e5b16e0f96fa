// ossi chat page logic (plain browser JS, no build step): keeps the conversation (in localStorage, so it
// survives a reload; Export downloads it as JSON), streams answers from /v1/chat/completions, renders them
// as Markdown (marked, then DOMPurify; code blocks get a copy button), shows the reasoning folded apart
// from the answer, and stops on request.
// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
"use strict";

/** @typedef {{ role: "user" | "assistant", content: string, reasoning?: string }} Message */

/** The vendored libraries (ui/vendor/) set these globals. */
const md = /** @type {{ parse(src: string, o?: object): string }} */ (/** @type {any} */ (globalThis).marked);
const purify = /** @type {{ sanitize(html: string): string }} */ (/** @type {any} */ (globalThis).DOMPurify);
const STORE = "ossi-chat";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const log = $("log");
const input = /** @type {HTMLTextAreaElement} */ ($("input"));
const sendButton = /** @type {HTMLButtonElement} */ ($("send"));
const stopButton = /** @type {HTMLButtonElement} */ ($("stop"));
const effort = /** @type {HTMLSelectElement} */ ($("effort"));

/** @type {Message[]} */
let history = [];
let modelId = "";
/** @type {AbortController | null} */
let running = null;

function headers() {
  /** @type {Record<string, string>} */
  const h = { "content-type": "application/json" };
  const key = localStorage.getItem("ossi-api-key");
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

/** Fetches with the stored API key; on 401 asks for a key once and retries. */
async function apiFetch(/** @type {string} */ path, /** @type {RequestInit} */ init = {}) {
  let res = await fetch(path, { ...init, headers: headers() });
  if (res.status === 401) {
    const key = prompt("This server needs an API key:");
    if (key) {
      localStorage.setItem("ossi-api-key", key);
      res = await fetch(path, { ...init, headers: headers() });
    }
  }
  return res;
}

async function loadModel() {
  try {
    const res = await apiFetch("/v1/models");
    const body = await res.json();
    modelId = body.data?.[0]?.id ?? "";
    $("model").textContent = modelId || "no model";
  } catch {
    $("model").textContent = "server unreachable";
  }
}

/** Markdown to sanitized HTML; each code block gets a copy button. */
function renderMarkdown(/** @type {HTMLElement} */ el, /** @type {string} */ text) {
  el.innerHTML = purify.sanitize(md.parse(text, { gfm: true, breaks: false }));
  for (const pre of el.querySelectorAll("pre")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", () => {
      const code = pre.querySelector("code")?.textContent ?? pre.textContent ?? "";
      navigator.clipboard?.writeText(code).then(() => (button.textContent = "Copied"), () => {});
    });
    pre.appendChild(button);
  }
}

/** Renders at most once per frame while an answer streams (a long answer stays smooth). */
function markdownPainter(/** @type {HTMLElement} */ el) {
  let text = "";
  let queued = false;
  return {
    set(/** @type {string} */ t) {
      text = t;
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        renderMarkdown(el, text);
      });
    },
    flush() {
      renderMarkdown(el, text);
    },
  };
}

function save() {
  try {
    localStorage.setItem(STORE, JSON.stringify({ messages: history, effort: effort.value }));
  } catch { /* storage full or disabled: the page still works */ }
}

/** Shows a saved conversation again (after a reload). */
function restore() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(STORE) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved || !Array.isArray(saved.messages)) return;
  history = saved.messages.filter((/** @type {Message} */ m) => m && typeof m.content === "string");
  if (saved.effort) effort.value = saved.effort;
  for (const m of history) {
    const bubble = addBubble(m.role, m.content);
    if (m.role !== "assistant") continue;
    if (m.reasoning) {
      const box = /** @type {HTMLDetailsElement} */ (bubble.querySelector(".reasoning"));
      box.hidden = false;
      /** @type {HTMLElement} */ (box.querySelector(".text")).textContent = m.reasoning;
    }
    renderMarkdown(/** @type {HTMLElement} */ (bubble.querySelector(".answer")), m.content);
  }
}

function exportConversation() {
  const data = JSON.stringify(
    { format: "ossi-chat", model: modelId, effort: effort.value, messages: history },
    null,
    2,
  );
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([data], { type: "application/json" }));
  a.download = `ossi-chat-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function addBubble(/** @type {"user" | "assistant"} */ role, /** @type {string} */ text = "") {
  log.querySelector(".hint")?.remove();
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  if (role === "user") div.textContent = text;
  else {
    div.innerHTML =
      '<details class="reasoning" hidden><summary>Reasoning</summary><div class="text"></div></details>' +
      '<div class="answer"></div><div class="stats"></div>';
  }
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

/** Yields the JSON payload of each `data:` event of a server-sent-events body, until [DONE]. */
async function* sseEvents(/** @type {ReadableStream<Uint8Array>} */ body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

async function send() {
  const text = input.value.trim();
  if (!text || running) return;
  input.value = "";
  history.push({ role: "user", content: text });
  addBubble("user", text);
  const bubble = addBubble("assistant");
  const reasoningBox = /** @type {HTMLDetailsElement} */ (bubble.querySelector(".reasoning"));
  const reasoningText = /** @type {HTMLElement} */ (bubble.querySelector(".reasoning .text"));
  const answer = /** @type {HTMLElement} */ (bubble.querySelector(".answer"));
  const stats = /** @type {HTMLElement} */ (bubble.querySelector(".stats"));
  running = new AbortController();
  sendButton.disabled = true;
  stopButton.disabled = false;
  const started = performance.now();
  const painter = markdownPainter(answer);
  let content = "";
  let reasoning = "";
  let finish = "";
  save();
  try {
    const res = await apiFetch("/v1/chat/completions", {
      method: "POST",
      signal: running.signal,
      body: JSON.stringify({
        model: modelId,
        messages: history.map((m) => ({ role: m.role, content: m.content })),
        stream: true,
        stream_options: { include_usage: true },
        reasoning_effort: effort.value,
      }),
    });
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error?.message ?? `HTTP ${res.status}`);
    }
    for await (const chunk of sseEvents(res.body)) {
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) {
        const secs = (performance.now() - started) / 1000;
        const n = chunk.usage.completion_tokens;
        stats.textContent = `${n} tokens, ${(n / secs).toFixed(1)} tokens/s`;
      }
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const delta = choice.delta ?? {};
      const thought = delta.reasoning_content ?? delta.reasoning;
      if (thought) {
        reasoningBox.hidden = false;
        reasoning += thought;
        reasoningText.textContent = reasoning;
      }
      if (delta.content) {
        content += delta.content;
        painter.set(content);
      }
      if (choice.finish_reason) finish = choice.finish_reason;
      log.scrollTop = log.scrollHeight;
    }
    if (finish === "length") stats.textContent += " (stopped at the token limit)";
  } catch (e) {
    if (running?.signal.aborted) stats.textContent = "stopped";
    else {
      const err = document.createElement("div");
      err.className = "error";
      err.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
      bubble.appendChild(err);
    }
  } finally {
    painter.flush();
    history.push({ role: "assistant", content, ...(reasoning ? { reasoning } : {}) });
    save();
    running = null;
    sendButton.disabled = false;
    stopButton.disabled = true;
    input.focus();
  }
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  send();
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    send();
  }
});
stopButton.addEventListener("click", () => running?.abort());
$("clear").addEventListener("click", () => {
  running?.abort();
  history = [];
  save();
  log.innerHTML = '<p class="hint">New conversation.</p>';
});
$("export").addEventListener("click", exportConversation);
restore();
loadModel();
