// How scripts/hash_outputs.ts opens a backend: the one part that follows the loader and factory API.

import { createAnyBackend } from "../src/engine/create_backend.ts";
import { loadAnyModel } from "../src/model/load_any.ts";

export interface HashedBackend {
  readonly vocabSize: number;
  forward(
    tokens: number[],
    pos: number,
    logits: "all" | "last",
    debug?: (name: string, layer: number, rows: number, values: Float32Array) => void,
  ): Promise<Float32Array>;
  greedy?(tokens: number[], pos: number): Promise<number>;
  topk?(tokens: number[], pos: number, k: number): Promise<{ ids: Uint32Array; logits: Float32Array }>;
  dispose(): void;
}

export async function openBackend(dir: string, name: string): Promise<HashedBackend> {
  const b = await createAnyBackend(loadAnyModel(dir), name as "ref", { maxContext: 64, threads: 2 });
  return {
    vocabSize: b.config.vocabSize,
    forward: (tokens, pos, logits, debug) => b.forward(tokens, pos, { logits, debug }),
    greedy: b.greedy && ((tokens, pos) => b.greedy!(tokens, pos)),
    topk: b.topk && ((tokens, pos, k) => b.topk!(tokens, pos, k)),
    dispose: () => b.dispose(),
  };
}
