// Helpers for server tests: a server on an ephemeral loopback port over the stub engine (the real
// ChatEngine and harmony renderer/parser on a ScriptedGenerator), and a server-sent-events reader.

import { ChatEngine } from "../../src/chat/chat_engine.ts";
import { harmonyRenderer, type PromptRenderer } from "../../src/chat/prompt.ts";
import type { PromptEncoder } from "../../src/chat/prompt_encoder.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { loadTokenizer, type Tokenizer } from "../../src/chat/tokenizer.ts";
import { type RunningServer, startServer } from "../../src/serve/server.ts";
import { LocalChatService } from "../../src/service/local_service.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { ScriptedGenerator, type ScriptOptions } from "./scripted_generator.ts";

export const STUB_MODEL = "stub-oss";

/** A parsed JSON body, read loosely as tests do. */
// deno-lint-ignore no-explicit-any
export type Json = Record<string, any>;

export interface StubServer {
  server: RunningServer;
  gen: ScriptedGenerator;
  url: string;
  close(): Promise<void>;
}

export type StubOptions = ScriptOptions & {
  apiKey?: string;
  maxWaiting?: number;
  corsOrigins?: string[];
  /** Default: the built-in harmony renderer. */
  renderer?: PromptRenderer;
  /** Default: the demo model's tokenizer. */
  tokenizer?: Tokenizer;
  /** Default: prompts are encoded on the calling thread. */
  encoder?: PromptEncoder;
};

export async function startStubServer(opts: StubOptions = {}): Promise<StubServer> {
  const tok = opts.tokenizer ?? await loadTokenizer(DEMO_MODEL);
  const gen = new ScriptedGenerator(tok, opts);
  const stops = ["<|return|>", "<|call|>", "<|endoftext|>"].map((t) => tok.tokenId(t)!);
  const engine = new LocalChatService([
    new ChatEngine(gen, tok, opts.renderer ?? harmonyRenderer, stops, undefined, opts.encoder),
  ]);
  const logs: string[] = [];
  const server = startServer({
    engine,
    modelId: STUB_MODEL,
    sampler: { ...defaultSamplerParams(), temperature: 0 },
    apiKey: opts.apiKey,
    corsOrigins: opts.corsOrigins,
    maxWaiting: opts.maxWaiting,
    log: (line) => logs.push(line),
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    server,
    gen,
    url: server.url,
    close: async () => {
      await server.shutdown();
      await engine.close();
      if (logs.length) throw new Error(`server logged errors:\n${logs.join("\n")}`);
    },
  };
}

/** A Deno.test body that runs `body` against a fresh stub server and closes it afterwards, pass or fail. */
export function withStubServer(
  opts: StubOptions,
  body: (s: StubServer) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const s = await startStubServer(opts);
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };
}

export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

export interface SseEvent {
  event?: string;
  data: string;
}

/** Reads a whole text/event-stream body into its events. */
export async function readSse(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim()) continue;
    const ev: SseEvent = { data: "" };
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) ev.event = line.slice(7);
      else if (line.startsWith("data: ")) ev.data += line.slice(6);
    }
    events.push(ev);
  }
  return events;
}

/** JSON payloads of the data events (the final "[DONE]" left out). */
export async function sseJson(res: Response): Promise<Json[]> {
  const events = await readSse(res);
  if (events.at(-1)?.data === "[DONE]") events.pop();
  return events.map((e) => JSON.parse(e.data));
}

/** Polls `cond` every 5 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
