// Deterministic random test data shared by the kernel tests of every backend, so a failure reproduces
// from its seed alone.

import type { Mxfp4Experts } from "../src/model/mxfp4.ts";

/** A deterministic generator (mulberry32): uniform values in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [-scale, scale). */
export function randomF32(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** MXFP4 experts with random codes, scales 2^-8 .. 2^-3 and biases in [-0.2, 0.2). */
export function randomExperts(r: () => number, numExperts: number, rows: number, cols: number): Mxfp4Experts {
  const blocks = Uint8Array.from({ length: (numExperts * rows * cols) / 2 }, () => Math.floor(r() * 256));
  const scales = Uint8Array.from(
    { length: (numExperts * rows * cols) / 32 },
    () => 119 + Math.floor(r() * 6),
  );
  return { numExperts, rows, cols, blocks, scales, bias: randomF32(numExperts * rows, r, 0.2) };
}
