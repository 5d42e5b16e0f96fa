// Loads build/ossi_kernels.wasm (compiled from asm/ by `deno task build:asm`) and instantiates it over a
// shared memory. Every pointer argument is a byte offset into that memory.

import { OssiError } from "../../errors.ts";

export const KERNELS_WASM_URL = new URL("../../../build/ossi_kernels.wasm", import.meta.url);

/**
 * The arguments the expert matmuls share after their weights: y[yRows[i]*yStride + r] = W[r] . xq[xRows[i]]
 * + bias[r] for i < n, r < rows (asm/f32_mxfp4w_matmul.ts, asm/f32_mxfp4w_matmul_q8.ts).
 */
type RowListArgs = [
  bias: number,
  rows: number,
  cols: number,
  xq: number,
  xRows: number,
  n: number,
  y: number,
  yRows: number,
  yStride: number,
];

/** The exports of asm/index.ts; see each asm/ file for the contract of its kernel. */
export interface Kernels {
  permute_bf16_x(x: number, xp: number, n: number): void;
  f32_bf16w_matmul(
    w: number,
    bias: number,
    rows: number,
    cols: number,
    xp: number,
    tokens: number,
    y: number,
    yStride: number,
  ): void;
  i8w_xq_row_bytes(cols: number): number;
  i8w_bytes(rows: number, cols: number): number;
  i8w_group_bytes(cols: number): number;
  /** qMax: 1..127 (127, one int8 level: the fast path). */
  quantize_i8w_x(x: number, xq: number, rows: number, cols: number, qMax: number): void;
  /** The int8 matmul's form: 1 one relaxed dot per 16 products (where exact), 0 two 7-bit digits, -1 probe. */
  i8w_u8_dot(form: number): number;
  pack_i8w_bf16(src: number, rows: number, cols: number, dst: number): void;
  pack_i8w_f32(src: number, rows: number, cols: number, dst: number): void;
  f32_i8w_matmul(
    w: number,
    bias: number,
    rows: number,
    cols: number,
    xq: number,
    tokens: number,
    y: number,
    yStride: number,
  ): void;
  mxfp4_rows4_bytes(rows: number, cols: number): number;
  mxfp4_rows4_group_bytes(cols: number): number;
  pack_mxfp4_rows4(blocks: number, scales: number, rows: number, cols: number, dst: number): void;
  q8_xq_row_bytes(cols: number): number;
  quantize_q8_x(x: number, xq: number, rows: number, cols: number): void;
  /** scratch: mxfp4_q8_scratch_bytes(n, cols) bytes. */
  f32_mxfp4w_matmul_q8(w: number, ...args: [...RowListArgs, scratch: number]): void;
  mxfp4_q8_scratch_bytes(n: number, cols: number): number;
  mxfp4_xq_row_bytes(cols: number): number;
  quantize_mxfp4_x(x: number, xq: number, rows: number, cols: number): void;
  f32_mxfp4w_matmul(blocks: number, scales: number, ...args: RowListArgs): void;
  f32_mxfp4w_moe_gate_up_swiglu(
    blocks: number,
    scales: number,
    bias: number,
    experts: number,
    rows: number,
    cols: number,
    x: number,
    xp: number,
    tokens: number,
    sel: number,
    k: number,
    act: number,
    limit: number,
    alpha: number,
    tmp: number,
    lists: number,
    /** 1: int8 activations on pack_mxfp4_rows4 weights (the fast path); 0: 22 bits on the checkpoint's. */
    int8: number,
    /** Experts [e0, e1): e0 0 prepares the input, e1 `experts` finishes the output (see the asm file). */
    e0: number,
    e1: number,
    /** int8: mxfp4_q8_scratch_bytes(tokens * k, cols) bytes. */
    scratch: number,
  ): void;
  f32_mxfp4w_moe_down_sum(
    blocks: number,
    scales: number,
    bias: number,
    experts: number,
    rows: number,
    cols: number,
    act: number,
    xp: number,
    tokens: number,
    sel: number,
    weights: number,
    k: number,
    out: number,
    tmp: number,
    lists: number,
    /** 1: int8 activations on pack_mxfp4_rows4 weights (the fast path); 0: 22 bits on the checkpoint's. */
    int8: number,
    /** Experts [e0, e1): e0 0 prepares the input, e1 `experts` finishes the output (see the asm file). */
    e0: number,
    e1: number,
    /** int8: mxfp4_q8_scratch_bytes(tokens * k, cols) bytes. */
    scratch: number,
  ): void;
  rmsnorm(y: number, x: number, w: number, eps: number, tokens: number, n: number): void;
  add_inplace(y: number, x: number, n: number): void;
  rope(
    x: number,
    tokens: number,
    stride: number,
    heads: number,
    dim: number,
    cosTab: number,
    sinTab: number,
    pos0: number,
  ): void;
  sdpa_sink_window(
    out: number,
    q: number,
    kCache: number,
    vCache: number,
    pos0: number,
    tokens: number,
    window: number,
    sinks: number,
    heads: number,
    kvHeads: number,
    dim: number,
    scores: number,
  ): void;
  moe_router_topk_softmax(
    logits: number,
    tokens: number,
    n: number,
    k: number,
    sel: number,
    weights: number,
  ): void;
  row_topk(x: number, n: number, k: number, ids: number, vals: number): number;
  stream_read(p: number, bytes: number): number;
  layernorm(y: number, x: number, w: number, b: number, eps: number, tokens: number, n: number): void;
  gelu_tanh(x: number, n: number): void;
  qk_rmsnorm(x: number, w: number, eps: number, rows: number, heads: number, dim: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  moe_router_softmax_topk(
    logits: number,
    tokens: number,
    n: number,
    k: number,
    normTopk: number,
    sel: number,
    weights: number,
  ): void;
  weighted_row_sum(out: number, src: number, weights: number, tokens: number, k: number, n: number): void;
  f32_f32w_matmul(
    w: number,
    bias: number,
    rows: number,
    cols: number,
    x: number,
    tokens: number,
    y: number,
    yStride: number,
  ): void;
}

/** Bytes below this offset are left to the module's static data (constant tables from 1024 up). */
export const RESERVED_BYTES = 65536;
export const PAGE_BYTES = 65536;
/** wasm32 addresses at most 65536 pages (4 GiB). */
export const MAX_PAGES = 65536;

export function readKernelsWasm(): Uint8Array {
  try {
    return Deno.readFileSync(KERNELS_WASM_URL);
  } catch {
    throw new OssiError(`${KERNELS_WASM_URL.pathname}: missing; run 'deno task build:asm' first`);
  }
}

/** A shared memory of exactly `pages` pages (no growth: layouts are fixed at load). */
export function sharedMemory(pages: number): WebAssembly.Memory {
  if (pages > MAX_PAGES) throw new OssiError(`wasm memory of ${pages} pages exceeds the 4 GiB wasm32 limit`);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (e) {
    const gib = ((pages * PAGE_BYTES) / 2 ** 30).toFixed(2);
    throw new OssiError(`wasm backend: cannot allocate ${gib} GiB of wasm memory (${(e as Error).message})`);
  }
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Kernels {
  const env = {
    memory,
    abort: (_m: number, _f: number, line: number, col: number) => {
      throw new Error(`wasm kernel abort at ${line}:${col}`);
    },
  };
  return new WebAssembly.Instance(module, { env }).exports as unknown as Kernels;
}

/** Bump allocator of byte offsets in one memory; every allocation is 16-byte aligned (v128). */
export class Arena {
  constructor(public offset = RESERVED_BYTES) {}
  alloc(bytes: number): number {
    const at = this.offset;
    this.offset += Math.ceil(bytes / 16) * 16;
    return at;
  }
  get pages(): number {
    return Math.ceil(this.offset / PAGE_BYTES);
  }
}
