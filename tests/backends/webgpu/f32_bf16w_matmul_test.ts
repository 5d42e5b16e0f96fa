// shaders/f32_bf16w_matmul.wgsl against the scalar reference f32Bf16wMatmul(): bf16, f16 and f32 weights, exact fit and
// partial tails (rows, columns, token tiles), several tokens, strided/offset input and output, split parts;
// the row kernel (decode, small batches) and the tiled GEMM (prefill) alike.

import { assert } from "../../assert.ts";
import { f32Bf16wMatmul as refF32Bf16wMatmul } from "../../../src/backends/ref/kernels.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { f32Bf16wMatmul, GEMM_MIN_TOKENS } from "../../../src/backends/webgpu/ops.ts";
import type { FloatDType } from "../../../src/model/dtypes.ts";
import { type KernelHarness, withHarness } from "./gpu_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";

interface Case {
  rows: number;
  cols: number;
  tokens: number;
  dtype: FloatDType;
  bias: boolean;
  maxBinding?: number;
}

async function check(h: KernelHarness, c: Case, seed: number): Promise<void> {
  const r = rng(seed);
  const w = randomMat(r, c.rows, c.cols, c.dtype);
  const bias = c.bias ? randomF32(c.rows, r) : null;
  // input rows sit at offset 3 with stride cols+5; output rows at offset 2 with stride rows+1
  const xs = c.cols + 5, ys = c.rows + 1;
  const xPadded = randomF32(3 + c.tokens * xs, r);
  const x = new Float32Array(c.tokens * c.cols);
  for (let t = 0; t < c.tokens; t++) x.set(xPadded.subarray(3 + t * xs, 3 + t * xs + c.cols), t * c.cols);
  const want = new Float32Array(c.tokens * c.rows);
  refF32Bf16wMatmul(want, x, w, bias, c.tokens);

  const up = new WeightUploader(
    h.gpu.device,
    c.maxBinding ?? h.gpu.device.limits.maxStorageBufferBindingSize,
  );
  const gw = up.mat(w, "w");
  const y = h.put(new Float32Array(2 + c.tokens * ys).fill(NaN));
  f32Bf16wMatmul(h.rec, {
    w: gw,
    bias: bias && h.put(bias),
    dummy: h.put(4),
    x: h.put(xPadded),
    xOffset: 3,
    xStride: xs,
    y,
    yOffset: 2,
    yStride: ys,
    tokens: c.tokens,
  });
  const out = await h.f32(y, 2 + c.tokens * ys);
  const got = new Float32Array(c.tokens * c.rows);
  for (let t = 0; t < c.tokens; t++) got.set(out.subarray(2 + t * ys, 2 + t * ys + c.rows), t * c.rows);
  up.destroy();
  const d = maxRelDiff(got, want);
  assert(d < 1e-5, `${JSON.stringify(c)}: differs by ${d} (parts ${gw.parts.length})`);
  assert(
    Number.isNaN(out[1]) && Number.isNaN(out[2 + c.rows]),
    `${JSON.stringify(c)}: wrote outside its rows`,
  );
}

Deno.test(
  "f32_bf16w_matmul matches the reference for bf16/f16/f32 weights, exact fits and tails",
  withHarness(async (h) => {
    let seed = 1;
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      await check(h, { rows: 64, cols: 128, tokens: 1, dtype, bias: true }, seed++); // exact fit, decode variant
      await check(h, { rows: 64, cols: 128, tokens: 8, dtype, bias: false }, seed++); // two full token tiles
      await check(h, { rows: 37, cols: 70, tokens: 6, dtype, bias: true }, seed++); // partial tails everywhere
      await check(h, { rows: 5, cols: 2, tokens: 3, dtype, bias: true }, seed++); // narrower than a workgroup
    }
  }),
);

Deno.test(
  "f32_bf16w_matmul over weights split into row parts equals the whole",
  withHarness(async (h) => {
    await check(h, { rows: 41, cols: 48, tokens: 3, dtype: "BF16", bias: true, maxBinding: 48 * 2 * 8 }, 50);
    await check(h, { rows: 41, cols: 48, tokens: 2, dtype: "F32", bias: true, maxBinding: 48 * 4 * 5 }, 51);
  }),
);

Deno.test(
  "f32_bf16w_matmul matches the reference on random shapes",
  withHarness(async (h) => {
    const r = rng(99);
    for (let i = 0; i < 6; i++) {
      const c: Case = {
        rows: 1 + Math.floor(r() * 90),
        cols: 2 * (1 + Math.floor(r() * 100)),
        tokens: 1 + Math.floor(r() * 9),
        dtype: (["BF16", "F16", "F32"] as const)[i % 3],
        bias: r() < 0.5,
      };
      await check(h, c, 200 + i);
    }
  }),
);

Deno.test(
  "f32_bf16w_matmul as tiled GEMM matches the reference: full 64x64 tiles, tails in rows, tokens and columns",
  withHarness(async (h) => {
    let seed = 300;
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      await check(h, { rows: 128, cols: 64, tokens: 64, dtype, bias: true }, seed++); // exact tiles, 2 slices
      await check(h, { rows: 130, cols: 70, tokens: 65, dtype, bias: false }, seed++); // a tail everywhere
      await check(h, { rows: 3, cols: 2, tokens: GEMM_MIN_TOKENS, dtype, bias: true }, seed++); // tiny
    }
    await check(h, { rows: 200, cols: 96, tokens: 130, dtype: "BF16", bias: true }, seed++); // 3 token tiles
  }),
);

Deno.test(
  "f32_bf16w_matmul as tiled GEMM over weights split into row parts equals the whole",
  withHarness(async (h) => {
    // parts of 40 rows: the first row tile of each part starts at its row0, tails within each part
    await check(
      h,
      { rows: 101, cols: 48, tokens: 20, dtype: "BF16", bias: true, maxBinding: 48 * 2 * 40 },
      350,
    );
    await check(
      h,
      { rows: 77, cols: 34, tokens: 70, dtype: "F32", bias: false, maxBinding: 34 * 4 * 64 },
      351,
    );
  }),
);

Deno.test(
  "f32_bf16w_matmul as tiled GEMM matches the reference on random shapes",
  withHarness(async (h) => {
    const r = rng(404);
    for (let i = 0; i < 5; i++) {
      const c: Case = {
        rows: 1 + Math.floor(r() * 150),
        cols: 2 * (1 + Math.floor(r() * 60)),
        tokens: GEMM_MIN_TOKENS + Math.floor(r() * 120),
        dtype: (["BF16", "F16", "F32"] as const)[i % 3],
        bias: r() < 0.5,
      };
      await check(h, c, 400 + i);
    }
  }),
);
