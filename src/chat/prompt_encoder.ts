// How a conversation becomes prompt ids: rendered (only the renderer's markup may become special tokens,
// see rendered_prompt.ts) and encoded, either on the calling thread (stub engines in tests) or in a
// worker with a time budget per prompt (the CLI and the server), so that no conversation, however a
// model folder's template loops or its pre-tokenizer regex copes with the text, can stall the main
// thread's event loop.

import { OssiError } from "../errors.ts";
import type { ChatFormatSpec } from "./chat_formats.ts";
import type { ChatMessage, PromptOptions, RawPrompt } from "./messages.ts";
import type { PromptRenderer } from "./prompt.ts";
import type { PromptReply, PromptRequest } from "./prompt_worker.ts";
import { literalPrompt, type RenderedPrompt, type Span } from "./rendered_prompt.ts";
import { boundaryChars } from "./stand_ins.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** A conversation rendered and encoded: only the renderer's markup became special tokens. */
export interface EncodedPrompt {
  readonly rendered: RenderedPrompt;
  readonly ids: readonly number[];
}

export interface PromptEncoder {
  encode(messages: ChatMessage[], opts: PromptOptions): Promise<EncodedPrompt>;
  dispose(): void;
}

type EncodingTokenizer = Pick<Tokenizer, "encodeWithLiterals" | "addedTokenTexts" | "decode" | "vocabSize">;

/**
 * Renders and encodes on the calling thread. The renderer marks every piece of user text as literal,
 * and special-token text inside literal text is encoded as plain text.
 */
export function inThreadEncoder(renderer: PromptRenderer, tok: EncodingTokenizer): PromptEncoder {
  const guard = boundaryChars(tok.addedTokenTexts());
  return {
    encode: (messages, opts) => {
      if (opts.raw) return Promise.resolve(encodeRaw(opts.raw, tok));
      const rendered = renderer.renderPrompt(messages, opts, guard);
      return Promise.resolve({ rendered, ids: tok.encodeWithLiterals(rendered.text, rendered.literal) });
    },
    dispose: () => {},
  };
}

/**
 * A raw prompt's ids and text: text is all literal (no special token comes of it); ids are checked
 * against the vocabulary and decoded.
 */
function encodeRaw(raw: RawPrompt, tok: EncodingTokenizer): EncodedPrompt {
  if ("text" in raw) {
    const rendered = literalPrompt(raw.text);
    return { rendered, ids: tok.encodeWithLiterals(raw.text, rendered.literal) };
  }
  const bad = raw.ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < tok.vocabSize));
  if (bad >= 0) {
    throw new OssiError(
      `prompt token ${bad} is ${raw.ids[bad]}: not a token id (the vocabulary has ${tok.vocabSize})`,
    );
  }
  return { rendered: literalPrompt(tok.decode(raw.ids)), ids: [...raw.ids] };
}

export interface WorkerEncoderOptions {
  /** Time allowed for any prompt (default 10 s), plus `msPerKiloChar` per 1000 characters (default 2). */
  budgetMs?: number;
  msPerKiloChar?: number;
}

interface Pending {
  readonly id: number;
  readonly messages: ChatMessage[];
  readonly opts: PromptOptions;
  /** Characters of user text, for the time budget. */
  readonly size: number;
  resolve(p: EncodedPrompt): void;
  reject(e: Error): void;
}

/** Characters in the strings of a conversation. */
function textSize(messages: ChatMessage[], opts: PromptOptions): number {
  return JSON.stringify(messages).length + JSON.stringify(opts).length;
}

/**
 * Renders and encodes in a worker that loads `modelDir`'s template and tokenizer.json. Prompts go one at a
 * time; one that runs past its budget is refused (OssiError) and the worker is replaced, so the prompts
 * after it go on.
 */
export class WorkerEncoder implements PromptEncoder {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly waiting: Pending[] = [];
  private current: Pending | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextId = 0;
  private disposed = false;
  private readonly budgetMs: number;
  private readonly msPerKiloChar: number;

  constructor(
    private readonly modelDir: string,
    /** The model family's chat format (its architecture's `chat`): which renderer the folder gets. */
    private readonly format: ChatFormatSpec,
    opts: WorkerEncoderOptions = {},
  ) {
    this.budgetMs = opts.budgetMs ?? 10_000;
    this.msPerKiloChar = opts.msPerKiloChar ?? 2;
    // Load the template and tokenizer now, while the model loads, not at the first prompt.
    this.startWorker().catch(() => {});
  }

  encode(messages: ChatMessage[], opts: PromptOptions): Promise<EncodedPrompt> {
    if (this.disposed) return Promise.reject(new OssiError("the prompt encoder is closed"));
    const size = textSize(messages, opts);
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, messages, opts, size, resolve, reject });
      this.pump();
    });
  }

  dispose(): void {
    this.disposed = true;
    this.stopWorker();
    const gone = new OssiError("the prompt encoder is closed");
    for (const p of this.waiting.splice(0)) p.reject(gone);
    this.current?.reject(gone);
    this.current = null;
  }

  /** Sends the next waiting prompt once the worker is free and ready. */
  private pump(): void {
    if (this.current || this.waiting.length === 0 || this.disposed) return;
    const p = this.waiting.shift()!;
    this.current = p;
    this.startWorker().then(() => {
      if (this.current !== p) return; // refused meanwhile (the worker failed, or disposed)
      const budget = this.budgetMs + (p.size / 1000) * this.msPerKiloChar;
      this.timer = setTimeout(() => {
        this.stopWorker(); // the only way to stop a running regex or template
        this.finish(
          p,
          new OssiError(
            `preparing the prompt (${p.size} characters of messages) took over ${
              Math.round(budget / 1000)
            } s: the model's chat template or tokenizer is too slow on this text`,
          ),
        );
      }, budget);
      const req: PromptRequest = { kind: "encode", id: p.id, messages: p.messages, opts: p.opts };
      this.worker!.postMessage(req);
    }, (e) => this.finish(p, e));
  }

  private finish(p: Pending, result: EncodedPrompt | Error): void {
    if (this.current !== p) return;
    clearTimeout(this.timer);
    this.current = null;
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
    this.pump();
  }

  private startWorker(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(new URL("./prompt_worker.ts", import.meta.url).href, { type: "module" });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<PromptReply>) => {
        const m = e.data;
        if (m.kind === "ready") return resolve();
        if (m.kind === "error" && m.id === null) {
          reject(m.ossi ? new OssiError(m.message) : new Error(`prompt worker: ${m.message}`));
          this.stopWorker();
          return;
        }
        const p = this.current;
        if (!p || m.id !== p.id) return;
        if (m.kind === "error") this.finish(p, m.ossi ? new OssiError(m.message) : new Error(m.message));
        else {this.finish(p, {
            rendered: { text: m.text, literal: spans(m.literal) },
            ids: Array.from(m.ids),
          });}
      };
      worker.onerror = (e) => {
        e.preventDefault();
        const err = new Error(`prompt worker failed: ${e.message}`);
        reject(err);
        this.stopWorker();
        if (this.current) this.finish(this.current, err);
      };
    });
    const init: PromptRequest = { kind: "init", modelDir: this.modelDir, format: this.format };
    worker.postMessage(init);
    return this.ready;
  }

  private stopWorker(): void {
    clearTimeout(this.timer);
    this.worker?.terminate();
    this.worker = null;
    this.ready = null;
  }
}

function spans(flat: Int32Array): Span[] {
  const out: Span[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
