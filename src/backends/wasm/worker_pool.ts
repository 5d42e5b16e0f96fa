// Host side of the shard workers: the calling thread computes its own share of the shards and starts one
// Deno Worker for each further thread, hands each its shards (round robin), and runs a step on all shards
// at once, synchronised through Atomics on a shared control block. No allocation per step. A step given a
// stop poll can be abandoned midway: the host polls while it computes and while it waits, and tells the
// workers through the control block.

import { ForwardAbortedError } from "../backend.ts";
import { OssiError } from "../../errors.ts";
import { instantiateKernels, type Kernels } from "./kernels.ts";
import type { ShardLayout, ShardParams } from "./shard_layout.ts";
import type { WorkerInit } from "./shard_worker.ts";
import {
  ackSlot,
  Ctl,
  ctlInts,
  runStep,
  type Segment,
  type ShardMemory,
  shardMemory,
  Step,
} from "./shard_step.ts";
import { waitForChange } from "./spin_wait.ts";

/** How long the host waits for workers to make progress on one step. */
const STALL_MS = 300_000;
/** While a step with a stop poll runs, the waiting host polls it this often (ms). */
const STOP_POLL_MS = 5;

/** A shard the calling thread computes on. */
interface HostShard {
  readonly layout: ShardLayout;
  readonly k: Kernels;
  readonly mem: ShardMemory;
}

export class WorkerPool {
  private readonly ctl: Int32Array;
  private segs: readonly Segment[] = [];
  /** The running step's stop poll. */
  private stop: (() => boolean) | undefined = undefined;
  /** The host's check within a step: the flag, else the stop poll (which then raises the flag). */
  private readonly abandoned = () => Atomics.load(this.ctl, Ctl.Abandon) !== 0 || this.pollStop();

  private constructor(
    private readonly workers: Worker[],
    private readonly host: readonly HostShard[],
    private readonly params: ShardParams,
    ctlBuffer: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(ctlBuffer);
  }

  /**
   * Thread 0 is the caller: it keeps shards 0, threads, 2*threads, ...; each of the threads - 1 workers
   * takes the shards s with s % threads == its index. So one thread starts no worker at all, and a step
   * on two costs one wake-up instead of two (and the caller does not sleep through its share).
   */
  static async start(
    wasm: Uint8Array,
    layouts: readonly ShardLayout[],
    memories: readonly WebAssembly.Memory[],
    params: ShardParams,
    threads: number,
  ): Promise<WorkerPool> {
    const ctlBuffer = new SharedArrayBuffer(ctlInts(params.maxTokens, threads - 1) * 4);
    const module = new WebAssembly.Module(wasm as BufferSource);
    const host = layouts.filter((_, s) => s % threads === 0).map((layout) => ({
      layout,
      k: instantiateKernels(module, memories[layout.index]),
      mem: shardMemory(memories[layout.index]),
    }));
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let t = 1; t < threads; t++) {
      const worker = new Worker(new URL("./shard_worker.ts", import.meta.url), { type: "module" });
      workers.push(worker);
      ready.push(
        new Promise((resolve, reject) => {
          worker.onmessage = (e) =>
            e.data === "ready" ? resolve() : reject(new OssiError(`wasm worker: ${e.data}`));
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new OssiError(`wasm worker failed to start: ${e.message}`));
          };
        }),
      );
      const init: WorkerInit = {
        wasm,
        shards: layouts.filter((_, s) => s % threads === t).map((layout) => ({
          layout,
          memory: memories[layout.index],
        })),
        params,
        ctl: ctlBuffer,
        index: t - 1,
      };
      worker.postMessage(init);
    }
    const pool = new WorkerPool(workers, host, params, ctlBuffer);
    try {
      await Promise.all(ready);
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /** Stores the sequences of the next steps' rows (at most one per row) for the Attn steps. */
  setSegments(segs: readonly Segment[]): void {
    const c = this.ctl;
    if (Ctl.Slots + 4 * segs.length > c.length) throw new Error("wasm backend: more segments than rows");
    segs.forEach((g, i) => c.set([g.slot, g.row, g.n, g.pos], Ctl.Slots + 4 * i));
    Atomics.store(c, Ctl.Segments, segs.length);
    this.segs = segs.map((g) => ({ ...g }));
  }

  /**
   * Runs `step` on every shard: wakes the workers, computes the caller's shards, then waits until every
   * worker is done (a worker's failure, or the caller's, is thrown once all of them have stopped). With
   * `stop`, polled within the step (between its parts, and every few ms while the host waits), a stop
   * abandons the step on every thread and throws ForwardAbortedError: its output is then unfinished.
   */
  run(step: Step, layer: number, tokens: number, stop?: () => boolean): void {
    const c = this.ctl, n = this.workers.length;
    const t0 = this.profile ? performance.now() : 0;
    this.stop = stop;
    Atomics.store(c, Ctl.Abandon, 0);
    let seq = 0;
    if (n > 0) {
      Atomics.store(c, Ctl.Step, step);
      Atomics.store(c, Ctl.Layer, layer);
      Atomics.store(c, Ctl.Tokens, tokens);
      seq = Atomics.add(c, Ctl.Seq, 1) + 1;
      Atomics.notify(c, Ctl.Seq);
    }
    let failed: unknown = null;
    try {
      for (const s of this.host) {
        if (this.abandoned()) break;
        runStep(s.k, s.mem, s.layout, this.params, step, layer, tokens, this.segs, this.abandoned);
      }
    } catch (e) {
      failed = e;
    }
    for (let w = 0; w < n; w++) this.awaitAck(ackSlot(this.params.maxTokens, w), seq | 0);
    this.stop = undefined;
    if (failed) throw failed;
    if (Atomics.load(c, Ctl.Failed)) throw new Error("wasm backend: a worker step failed");
    if (Atomics.load(c, Ctl.Abandon)) throw new ForwardAbortedError();
    if (this.profile) this.profile[step] = (this.profile[step] ?? 0) + performance.now() - t0;
  }

  /** Raises Ctl.Abandon when the running step's stop poll turns true; returns whether it did. */
  private pollStop(): boolean {
    if (!this.stop?.()) return false;
    Atomics.store(this.ctl, Ctl.Abandon, 1);
    return true;
  }

  /**
   * Waits until the ack slot `at` holds `seq` (Int32 wrap-around included); with a stop poll, polls it every
   * few ms meanwhile (raising Ctl.Abandon).
   */
  private awaitAck(at: number, seq: number): void {
    const c = this.ctl, wait = this.stop ? STOP_POLL_MS : STALL_MS;
    // a step takes milliseconds to seconds; minutes without progress means a worker died
    const since = performance.now();
    for (let last = Atomics.load(c, at); last !== seq; last = Atomics.load(c, at)) {
      if (waitForChange(c, at, last, wait) !== "timed-out" || Atomics.load(c, at) !== last) continue;
      this.abandoned();
      if (performance.now() - since >= STALL_MS) {
        throw new Error(`wasm backend: workers made no progress for ${STALL_MS / 1000} s`);
      }
    }
  }

  /** When set, run() adds each step's wall time (ms, host side: compute plus wake-up) under its Step. */
  profile: Record<number, number> | null = null;

  dispose(): void {
    Atomics.store(this.ctl, Ctl.Step, Step.Exit);
    Atomics.add(this.ctl, Ctl.Seq, 1);
    Atomics.notify(this.ctl, Ctl.Seq);
    for (const w of this.workers) w.terminate();
  }
}
