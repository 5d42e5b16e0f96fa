// How a rendered prompt becomes token ids: on the calling thread (stub engines in tests), or in a
// tokenizer worker with a time budget per prompt (the CLI and the server), so that no text, however a
// model folder's pre-tokenizer regex copes with it, can stall the main thread's event loop.

import { OssiError } from "../io/errors.ts";
import type { RenderedPrompt } from "./rendered_prompt.ts";
import type { Tokenizer } from "./tokenizer.ts";
import type { TokenizeReply, TokenizeRequest } from "./tokenize_worker.ts";

export interface PromptEncoder {
  /** The ids of the prompt; special-token text inside its literal spans stays ordinary text. */
  encode(prompt: RenderedPrompt): Promise<number[]>;
  dispose(): void;
}

/** Encodes on the calling thread: for tokenizers known to be fast (tests, stubs). */
export function inThreadEncoder(tok: Pick<Tokenizer, "encodeWithLiterals">): PromptEncoder {
  return {
    encode: (p) => Promise.resolve(tok.encodeWithLiterals(p.text, p.literal)),
    dispose: () => {},
  };
}

export interface WorkerEncoderOptions {
  /** Time allowed for any prompt (default 10 s), plus `msPerKiloChar` per 1000 characters (default 2). */
  budgetMs?: number;
  msPerKiloChar?: number;
}

interface Pending {
  readonly id: number;
  readonly prompt: RenderedPrompt;
  resolve(ids: number[]): void;
  reject(e: Error): void;
}

/**
 * Encodes in a worker that loads `modelDir`'s tokenizer.json. Prompts go one at a time; one that runs
 * past its budget is refused (OssiError) and the worker is replaced, so the prompts after it go on.
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

  constructor(private readonly modelDir: string, opts: WorkerEncoderOptions = {}) {
    this.budgetMs = opts.budgetMs ?? 10_000;
    this.msPerKiloChar = opts.msPerKiloChar ?? 2;
  }

  encode(prompt: RenderedPrompt): Promise<number[]> {
    if (this.disposed) return Promise.reject(new OssiError("the prompt encoder is closed"));
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, prompt, resolve, reject });
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
      if (this.current !== p) return; // refused meanwhile (worker failed, or disposed)
      const budget = this.budgetMs + (p.prompt.text.length / 1000) * this.msPerKiloChar;
      this.timer = setTimeout(() => {
        this.stopWorker(); // the only way to stop a running regex
        this.finish(
          p,
          new OssiError(
            `encoding the prompt (${p.prompt.text.length} characters) took over ${
              Math.round(budget / 1000)
            } s: the tokenizer's pre-tokenizer is too slow on this text`,
          ),
        );
      }, budget);
      const literal = new Int32Array(p.prompt.literal.flat());
      const req: TokenizeRequest = { kind: "encode", id: p.id, text: p.prompt.text, literal };
      this.worker!.postMessage(req, [literal.buffer]);
    }, (e) => this.finish(p, e));
  }

  private finish(p: Pending, result: number[] | Error): void {
    if (this.current !== p) return;
    clearTimeout(this.timer);
    this.current = null;
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
    this.pump();
  }

  private startWorker(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(new URL("./tokenize_worker.ts", import.meta.url).href, { type: "module" });
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<TokenizeReply>) => {
        const m = e.data;
        if (m.kind === "ready") return resolve();
        const p = this.current;
        if (m.kind === "error" && m.id === null) {
          reject(new OssiError(`tokenizer worker: ${m.message}`));
          this.stopWorker();
        } else if (p && m.id === p.id) {
          this.finish(p, m.kind === "ids" ? Array.from(m.ids) : new OssiError(m.message));
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        const err = new OssiError(`tokenizer worker failed: ${e.message}`);
        reject(err);
        this.stopWorker();
        if (this.current) this.finish(this.current, err);
      };
    });
    const init: TokenizeRequest = { kind: "init", modelDir: this.modelDir };
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
