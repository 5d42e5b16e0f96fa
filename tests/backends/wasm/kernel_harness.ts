// A one-memory harness for calling asm kernels from tests: allocate, write typed arrays, read results back.

import {
  Arena,
  instantiateKernels,
  type Kernels,
  readKernelsWasm,
  sharedMemory,
} from "../../../src/backends/wasm/kernels.ts";

const module = new WebAssembly.Module(readKernelsWasm() as BufferSource);

export class Harness {
  readonly k: Kernels;
  readonly memory: WebAssembly.Memory;
  private readonly arena = new Arena();
  constructor(pages = 256) {
    this.memory = sharedMemory(pages);
    this.k = instantiateKernels(module, this.memory);
  }
  /** Copies `data` into fresh memory and returns its offset. */
  put(data: Float32Array | Int32Array | Uint8Array | Uint16Array): number {
    const at = this.arena.alloc(data.byteLength);
    new Uint8Array(this.memory.buffer, at, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    return at;
  }
  zeros(bytes: number): number {
    const at = this.arena.alloc(bytes);
    new Uint8Array(this.memory.buffer, at, bytes).fill(0);
    return at;
  }
  f32(at: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, n).slice();
  }
  i32(at: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, at, n).slice();
  }
}

/** A deterministic generator (mulberry32) so failures reproduce. */
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

export function randomF32(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Largest |a - b| relative to max(1, |b|) over two equal-length arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** Largest |a - b| relative to the largest |b|: for kernels whose error scales with the whole output. */
export function maxScaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0, top = 0;
  for (let i = 0; i < a.length; i++) {
    (m = Math.max(m, Math.abs(a[i] - b[i]))), (top = Math.max(top, Math.abs(b[i])));
  }
  return m / Math.max(top, 1e-30);
}
