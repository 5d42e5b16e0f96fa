// The wait of the shard workers and their host on the control block: a short spin, then a futex sleep.

/** Atomics.load polls before a wait sleeps: tens of microseconds. */
const SPINS = 20_000;

/**
 * Atomics.wait(ctl, at, value, ms), after spinning a few microseconds on the slot first: between two steps
 * the other side is usually that close, and a futex sleep and wake-up costs far more on a VM.
 */
export function waitForChange(ctl: Int32Array, at: number, value: number, ms: number): string {
  for (let i = 0; i < SPINS; i++) if (Atomics.load(ctl, at) !== value) return "ok";
  return Atomics.wait(ctl, at, value, ms);
}
