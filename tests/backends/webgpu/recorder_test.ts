// The Recorder counts dispatches, submits and the weight bytes its host wrappers report, and turns a bad
// binding (which WebGPU would only report asynchronously, dropping the dispatch) into a thrown error.

import { assertEquals, assertRejects } from "../../assert.ts";
import { OssiError } from "../../../src/errors.ts";
import { addInplace, f32Bf16wMatmul } from "../../../src/backends/webgpu/ops.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { withHarness } from "./gpu_harness.ts";
import { rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";

Deno.test(
  "Recorder counts dispatches, submits and weight bytes (once per token tile)",
  withHarness(async (h) => {
    const up = new WeightUploader(h.gpu.device, 40 * 64 * 2); // parts of 40 rows
    const w = up.mat(randomMat(rng(1), 100, 64, "BF16"), "w"); // 3 parts
    const x = h.put(70 * 64 * 4), y = h.put(70 * 100 * 4), dummy = h.put(4);
    const d0 = h.rec.dispatches, s0 = h.rec.submits, b0 = h.rec.weightBytes;
    f32Bf16wMatmul(h.rec, { w, bias: null, dummy, x, y, tokens: 1 }); // decode: each weight once
    assertEquals([h.rec.dispatches - d0, h.rec.weightBytes - b0], [3, 100 * 64 * 2]);
    f32Bf16wMatmul(h.rec, { w, bias: null, dummy, x, y, tokens: 70 }); // GEMM: 2 tiles of 64 tokens
    assertEquals([h.rec.dispatches - d0, h.rec.weightBytes - b0], [6, 3 * 100 * 64 * 2]);
    await h.read(y, 1);
    assertEquals(h.rec.submits - s0, 1);
    up.destroy();
  }),
);

Deno.test(
  "Recorder.submit() throws a one-line OssiError for a binding the kernel does not have",
  withHarness(async (h) => {
    const a = h.put(64), b = h.put(64);
    h.rec.dispatch("add_inplace", "main", { WG: 64 }, { 1: a, 2: b, 7: a }, { n: 4 }, [1]);
    await assertRejects(() => h.rec.submit(), OssiError, /add_inplace:main bindings/);
    // the recorder stays usable
    addInplace(h.rec, a, b, 4);
    await h.read(b, 4);
  }),
);
