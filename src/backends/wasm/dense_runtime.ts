// One wasm memory for a GPT-2 / Qwen3 model on the CPU: weights placed once (bf16 kept as bf16 where the
// bf16 matmul takes them, everything else widened to f32), activations, KV cache, and the linear layer
// that picks the matmul kernel by weight dtype. Single-threaded: the main thread runs every kernel.

import { OssiError } from "../../errors.ts";
import { loadRow, type Mat } from "../../model/dtypes.ts";
import type { AllKernels } from "./dense_kernels.ts";
import { Arena, instantiateKernels, readKernelsWasm, sharedMemory } from "./kernels.ts";

/** A weight matrix in wasm memory: [rows, cols] row-major at byte offset `at`. */
export interface PlacedMat {
  readonly dtype: "F32" | "BF16";
  readonly rows: number;
  readonly cols: number;
  readonly at: number;
}

/** Largest layout we accept: wasm32's 4 GiB less 1 MiB of headroom. */
const MAX_BYTES = 4 * 2 ** 30 - 2 ** 20;

/**
 * Lays out buffers in a future memory, then creates it and copies the weights in (`finish`). Each Mat is
 * placed once however often it is asked for (a tied head shares the embedding's bytes).
 */
export class DensePlacer {
  private readonly arena = new Arena();
  private readonly fills: ((u8: Uint8Array, f32: Float32Array) => void)[] = [];
  private readonly placed = new Map<Mat, PlacedMat>();
  /** Largest column count of a placed bf16 matrix: sizes the permuted-activation scratch. */
  maxBf16Cols = 0;

  /** Places m as bf16 when it is bf16 with cols % 8 == 0 (the bf16 kernel's contract) and f32 otherwise. */
  mat(m: Mat, f32Only = false): PlacedMat {
    const seen = this.placed.get(m);
    if (seen && (!f32Only || seen.dtype === "F32")) return seen;
    const bf16 = !f32Only && m.dtype === "BF16" && m.cols % 8 === 0;
    const at = this.arena.alloc(m.rows * m.cols * (bf16 ? 2 : 4));
    const p: PlacedMat = { dtype: bf16 ? "BF16" : "F32", rows: m.rows, cols: m.cols, at };
    if (bf16) this.maxBf16Cols = Math.max(this.maxBf16Cols, m.cols);
    this.fills.push((u8, f32) => {
      if (bf16 || m.dtype === "F32") {
        const d = m.data;
        u8.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
      } else {
        const row = new Float32Array(m.cols), bits = new Uint32Array(row.buffer);
        for (let r = 0; r < m.rows; r++) (loadRow(m, r, row, bits), f32.set(row, at / 4 + r * m.cols));
      }
    });
    this.placed.set(m, p);
    return p;
  }

  /** Places a float vector; null (no bias) is offset 0, which kernels read as "none". */
  vec(v: Float32Array | null): number {
    if (!v) return 0;
    const at = this.arena.alloc(v.byteLength);
    this.fills.push((_, f32) => f32.set(v, at / 4));
    return at;
  }

  /** Scratch of `n` floats (or i32s), zeroed. */
  floats(n: number): number {
    return this.arena.alloc(n * 4);
  }

  /** One buffer per layer of `n` floats each. */
  perLayer(layers: number, n: number): number[] {
    return Array.from({ length: layers }, () => this.floats(n));
  }

  /**
   * Creates the memory (exactly the size laid out) with the bf16 matmul's scratch for `maxTokens` rows,
   * and copies every placed weight in.
   */
  finish(maxTokens: number): DenseRuntime {
    const xp = this.floats(maxTokens * this.maxBf16Cols);
    if (this.arena.offset > MAX_BYTES) {
      const gib = (this.arena.offset / 2 ** 30).toFixed(2);
      throw new OssiError(
        `wasm backend: weights, activations and KV cache need ${gib} GiB, more than wasm32's 4 GiB; use --backend ref or webgpu, or a smaller --max-context`,
      );
    }
    const memory = sharedMemory(this.arena.pages);
    const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
    for (const fill of this.fills) fill(u8, f32);
    this.fills.length = 0;
    const module = new WebAssembly.Module(readKernelsWasm() as BufferSource);
    return new DenseRuntime(instantiateKernels(module, memory) as AllKernels, memory, xp);
  }
}

/** The memory, typed views of it, and the kernels over it. */
export class DenseRuntime {
  readonly f32: Float32Array;
  readonly i32: Int32Array;

  constructor(readonly k: AllKernels, readonly memory: WebAssembly.Memory, private readonly xp: number) {
    this.f32 = new Float32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
  }

  /** y[t, r] = W[r] . x[t] + bias[r] for T tokens of m.cols floats at x; y is [T, m.rows]. */
  linear(m: PlacedMat, bias: number, x: number, T: number, y: number): void {
    if (m.dtype === "BF16") {
      this.k.permute_bf16_x(x, this.xp, T * m.cols);
      this.k.f32_bf16w_matmul(m.at, bias, m.rows, m.cols, this.xp, T, y, m.rows);
    } else {
      this.k.f32_f32w_matmul(m.at, bias, m.rows, m.cols, x, T, y, m.rows);
    }
  }

  /** y[t] = row ids[t] of m as floats, for T i32 ids at byte offset `ids`; y is [T, m.cols]. */
  gather(m: PlacedMat, ids: number, T: number, y: number): void {
    if (m.dtype === "BF16") this.k.gather_rows_bf16(m.at, ids, T, m.cols, y);
    else this.k.gather_rows_f32(m.at, ids, T, m.cols, y);
  }

  /** Copies `floats` floats from byte offset `from` to byte offset `to`. */
  copy(to: number, from: number, floats: number): void {
    this.f32.copyWithin(to / 4, from / 4, from / 4 + floats);
  }

  /** A copy of `floats` floats at byte offset `at` (for debug dumps and results). */
  read(at: number, floats: number): Float32Array {
    return this.f32.slice(at / 4, at / 4 + floats);
  }
}
