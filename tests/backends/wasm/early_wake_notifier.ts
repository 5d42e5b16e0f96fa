// Test helper run as a worker: notifies waiters on Ctl.Seq of a wasm pool's control block without bumping
// it, about every 20 µs, until told to stop (says "started", and at the end how many waiters it woke), so the shard workers wake up early again and again.

import { Ctl } from "../../../src/backends/wasm/shard_step.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<{ ctl: SharedArrayBuffer; stop: SharedArrayBuffer }>) => void) | null;
  postMessage(m: unknown): void;
};

scope.onmessage = (e) => {
  const ctl = new Int32Array(e.data.ctl), stop = new Int32Array(e.data.stop);
  let wakes = 0;
  scope.postMessage("started");
  while (Atomics.wait(stop, 0, 0, 0.02) === "timed-out") wakes += Atomics.notify(ctl, Ctl.Seq);
  scope.postMessage(wakes);
};
