// A worker thread of the WASM backend: instantiates the kernels over each of its shards' memories, then
// loops: wait until the host bumps Ctl.Seq, run that step on its shards (leaving it early when the host
// abandons it), store the Seq in its ack slot.

import { instantiateKernels, type Kernels } from "./kernels.ts";
import type { ShardLayout, ShardParams } from "./shard_layout.ts";
import { ackSlot, Ctl, readSegments, runStep, type ShardMemory, shardMemory, Step } from "./shard_step.ts";
import { waitForChange } from "./spin_wait.ts";

export interface WorkerInit {
  readonly wasm: Uint8Array;
  readonly shards: { layout: ShardLayout; memory: WebAssembly.Memory }[];
  readonly params: ShardParams;
  readonly ctl: SharedArrayBuffer;
  /** This worker's index among the pool's workers (its ack slot). */
  readonly index: number;
}

// Lives in a worker: `self` is the worker scope.
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
  postMessage(m: unknown): void;
};

scope.onmessage = (e) => {
  const init = e.data;
  let shards: { layout: ShardLayout; k: Kernels; mem: ShardMemory }[];
  try {
    const module = new WebAssembly.Module(init.wasm as BufferSource);
    shards = init.shards.map((s) => ({
      layout: s.layout,
      k: instantiateKernels(module, s.memory),
      mem: shardMemory(s.memory),
    }));
  } catch (err) {
    scope.postMessage(`cannot instantiate the kernels: ${(err as Error).message}`);
    return;
  }
  const ctl = new Int32Array(init.ctl);
  // the host raises Ctl.Abandon when its stop poll turns true mid-step
  const abandoned = () => Atomics.load(ctl, Ctl.Abandon) !== 0;
  scope.onmessage = null;
  const ack = ackSlot(init.params.maxTokens, init.index);
  // read the sequence number before saying ready: the host may start a step right after
  let seq = Atomics.load(ctl, Ctl.Seq);
  scope.postMessage("ready");
  for (;;) {
    // a wait may end without a new step (early wake-ups): only a changed Seq is a step to run
    for (let now = seq; now === seq; now = Atomics.load(ctl, Ctl.Seq)) {
      waitForChange(ctl, Ctl.Seq, seq, Infinity);
    }
    seq = Atomics.load(ctl, Ctl.Seq);
    const step = Atomics.load(ctl, Ctl.Step) as Step;
    if (step === Step.Exit) break;
    const layer = Atomics.load(ctl, Ctl.Layer), tokens = Atomics.load(ctl, Ctl.Tokens);
    const segs = step === Step.Attn ? readSegments(ctl) : [];
    try {
      for (const s of shards) {
        if (abandoned()) break;
        runStep(s.k, s.mem, s.layout, init.params, step, layer, tokens, segs, abandoned);
      }
    } catch (err) {
      Atomics.store(ctl, Ctl.Failed, 1);
      console.error(`wasm worker: ${(err as Error).message}`);
    }
    Atomics.store(ctl, ack, seq);
    Atomics.notify(ctl, ack);
  }
};
