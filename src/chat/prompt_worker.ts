// A worker thread that renders and encodes prompts for a model folder (its chat template or the built-in
// renderer, its tokenizer.json), so that neither a template's loops nor a slow pre-tokenizer regex
// (catastrophic backtracking on some text) can stall the main thread's event loop: the host
// (prompt_encoder.ts) gives each prompt a time budget and terminates this worker when it runs over.

import { chatFormat, type ChatFormatSpec } from "./chat_formats.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import { inThreadEncoder, type PromptEncoder } from "./prompt_encoder.ts";
import { OssiError } from "../errors.ts";
import { loadTokenizerSync } from "./tokenizer.ts";

export type PromptRequest =
  | { readonly kind: "init"; readonly modelDir: string; readonly format: ChatFormatSpec }
  | {
    readonly kind: "encode";
    readonly id: number;
    readonly messages: ChatMessage[];
    readonly opts: PromptOptions;
  };

export type PromptReply =
  | { readonly kind: "ready" }
  | {
    readonly kind: "encoded";
    readonly id: number;
    readonly text: string;
    /** The literal spans, flattened: start, end, start, end, ... */
    readonly literal: Int32Array;
    readonly ids: Int32Array;
  }
  | {
    readonly kind: "error";
    readonly id: number | null;
    readonly message: string;
    /** An OssiError (the input's fault, one line for the user) rather than a bug. */
    readonly ossi: boolean;
  };

// Lives in a worker: `self` is the worker scope.
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<PromptRequest>) => void) | null;
  postMessage(m: PromptReply, transfer?: Transferable[]): void;
};

let encoder: PromptEncoder | null = null;

function errorReply(id: number | null, err: unknown): PromptReply {
  const ossi = err instanceof OssiError;
  const message = err instanceof Error ? (ossi ? err.message : err.stack ?? err.message) : String(err);
  return { kind: "error", id, message, ossi };
}

scope.onmessage = async (e) => {
  const req = e.data;
  if (req.kind === "init") {
    try {
      encoder = inThreadEncoder(
        chatFormat(req.format).renderer(req.modelDir),
        loadTokenizerSync(req.modelDir),
      );
      scope.postMessage({ kind: "ready" });
    } catch (err) {
      scope.postMessage(errorReply(null, err));
    }
    return;
  }
  try {
    const { rendered, ids } = await encoder!.encode(req.messages, req.opts);
    const literal = new Int32Array(rendered.literal.flat());
    const idArray = Int32Array.from(ids);
    scope.postMessage(
      { kind: "encoded", id: req.id, text: rendered.text, literal, ids: idArray },
      [literal.buffer, idArray.buffer],
    );
  } catch (err) {
    scope.postMessage(errorReply(req.id, err));
  }
};
