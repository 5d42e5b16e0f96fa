// ossi chat page logic (plain browser JS, no build step): keeps the conversation, streams answers from
// /v1/chat/completions, shows reasoning_content folded apart from the answer, and stops on request.
// @ts-check
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
"use strict";

/** @typedef {{ role: "user" | "assistant", content: string }} Message */

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
  let content = "";
  let finish = "";
  try {
    const res = await apiFetch("/v1/chat/completions", {
      method: "POST",
      signal: running.signal,
      body: JSON.stringify({
        model: modelId,
        messages: history,
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
      if (delta.reasoning_content) {
        reasoningBox.hidden = false;
        reasoningText.textContent += delta.reasoning_content;
      }
      if (delta.content) {
        content += delta.content;
        answer.textContent = content;
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
    history.push({ role: "assistant", content });
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
  log.innerHTML = '<p class="hint">New conversation.</p>';
});
loadModel();
