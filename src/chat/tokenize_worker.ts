// A worker thread that encodes prompts with a model folder's tokenizer.json, so that a slow pre-tokenizer
// regex (catastrophic backtracking on some text) never stalls the main thread's event loop: the host
// (prompt_encoder.ts) gives each prompt a time budget and terminates this worker when it runs over.

import { loadTokenizerSync } from "./tokenizer.ts";
import type { BpeTokenizer } from "./tokenizer.ts";

export type TokenizeRequest =
  | { readonly kind: "init"; readonly modelDir: string }
  | { readonly kind: "encode"; readonly id: number; readonly text: string; readonly literal: Int32Array };

export type TokenizeReply =
  | { readonly kind: "ready" }
  | { readonly kind: "ids"; readonly id: number; readonly ids: Int32Array }
  | { readonly kind: "error"; readonly id: number | null; readonly message: string };

// Lives in a worker: `self` is the worker scope.
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<TokenizeRequest>) => void) | null;
  postMessage(m: TokenizeReply, transfer?: Transferable[]): void;
};

let tok: BpeTokenizer | null = null;

scope.onmessage = (e) => {
  const req = e.data;
  if (req.kind === "init") {
    try {
      tok = loadTokenizerSync(req.modelDir);
      scope.postMessage({ kind: "ready" });
    } catch (err) {
      scope.postMessage({ kind: "error", id: null, message: (err as Error).message.split("\n")[0] });
    }
    return;
  }
  try {
    const spans: [number, number][] = [];
    for (let i = 0; i + 1 < req.literal.length; i += 2) spans.push([req.literal[i], req.literal[i + 1]]);
    const ids = Int32Array.from(tok!.encodeWithLiterals(req.text, spans));
    scope.postMessage({ kind: "ids", id: req.id, ids }, [ids.buffer]);
  } catch (err) {
    scope.postMessage({ kind: "error", id: req.id, message: (err as Error).message.split("\n")[0] });
  }
};
