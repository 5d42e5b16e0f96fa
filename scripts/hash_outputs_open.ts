// How scripts/hash_outputs.ts opens a backend: the one part that follows the loader and factory API.

import { createBackend, type Precision } from "../src/engine/create_backend.ts";
import { loadModel } from "../src/model/load.ts";

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

export async function openBackend(
  dir: string,
  name: string,
  precision: Precision = "exact",
): Promise<HashedBackend> {
  const b = await createBackend(loadModel(dir), name as "ref", { maxContext: 64, threads: 2, precision });
  return {
    vocabSize: b.config.vocabSize,
    forward: async (tokens, pos, logits, debug) =>
      (await b.forward([{ slot: 0, tokens, pos, logits }], { debug }))[0],
    greedy: b.greedy && (async (tokens, pos) => (await b.greedy!([{ slot: 0, tokens, pos }]))[0]),
    topk: b.topk && (async (tokens, pos, k) => (await b.topk!([{ slot: 0, tokens, pos }], k))[0]),
    dispose: () => b.dispose(),
  };
}
