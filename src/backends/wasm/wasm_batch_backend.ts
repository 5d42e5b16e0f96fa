// The sharded wasm pass (wasm_backend.ts) behind the batch interface of backend.ts: a batch of sequences,
// each on its own KV slot, runs as stacks of rows (every weight is read once for all of them), shouldStop
// is polled between layers, and the logits are checked finite.

import type { ModelConfig } from "../../model/config.ts";
import {
  type Backend,
  checkFinite,
  checkPickBatch,
  checkTopK,
  type ForwardOptions,
  logitRows,
  type PickSequence,
  type Precision,
  type Sequence,
} from "../backend.ts";
import type { WasmBackend } from "./wasm_backend.ts";

export class WasmBatchBackend implements Backend {
  readonly name = "wasm" as const;

  constructor(
    readonly config: ModelConfig,
    readonly inner: WasmBackend,
    readonly precision: Precision = "exact",
  ) {}

  get slots(): number {
    return this.inner.slots;
  }

  get maxContext(): number {
    return this.inner.maxContext;
  }

  get chunkTokens(): number {
    return this.inner.maxTokens;
  }

  forward(batch: readonly Sequence[], opts: ForwardOptions = {}): Promise<Float32Array[]> {
    return settle(() => {
      const outs = this.inner.forwardBatch(batch, opts.debug, opts.shouldStop), V = this.config.vocabSize;
      batch.forEach((s, i) => checkFinite(outs[i], V, s.pos + s.tokens.length - logitRows(s)));
      return outs;
    });
  }

  greedy(batch: readonly PickSequence[], opts: ForwardOptions = {}): Promise<number[]> {
    return settle(() => {
      checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
      return this.inner.greedyBatch(batch.map((s) => ({ ...s, logits: "last" })), opts.shouldStop);
    });
  }

  /** One sequence takes the shards' top-k path; several share one forward and pick here. */
  topk(
    batch: readonly PickSequence[],
    k: number,
    opts: ForwardOptions = {},
  ): Promise<{ ids: Uint32Array; logits: Float32Array }[]> {
    return settle(() => {
      checkTopK(k, this.config.vocabSize);
      checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
      if (batch.length === 1) {
        const s = batch[0];
        return [this.inner.topkSync(s.tokens, s.pos, k, s.slot, opts.shouldStop)];
      }
      const V = this.config.vocabSize;
      const rows = this.inner.forwardBatch(
        batch.map((s) => ({ ...s, logits: "last" })),
        undefined,
        opts.shouldStop,
      );
      return rows.map((r, i) => {
        checkFinite(r, V, batch[i].pos + batch[i].tokens.length - 1);
        const ids = Uint32Array.from(r.keys()).sort((a, b) => r[b] - r[a] || a - b).slice(0, k);
        return { ids, logits: Float32Array.from(ids, (id) => r[id]) };
      });
    });
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/** The pass is synchronous: its result, or its error, as a promise. */
function settle<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (e) {
    return Promise.reject(e);
  }
}
