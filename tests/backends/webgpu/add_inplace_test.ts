// shaders/add_inplace.wgsl (ops.ts addInplace()): exact sums, past one workgroup, nothing past n.

import { assertEquals } from "../../assert.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { addInplace } from "../../../src/backends/webgpu/ops.ts";

Deno.test(
  "add_inplace adds exactly, including past one workgroup",
  withHarness(async (h) => {
    const r = rng(4);
    const x = randomF32(1000, r), y = randomF32(1000, r);
    const b = h.put(y);
    addInplace(h.rec, h.put(x), b, 999);
    const got = await h.f32(b, 1000);
    assertEquals(Array.from(got.subarray(0, 999)), Array.from(y.subarray(0, 999).map((v, i) => v + x[i])));
    assertEquals(got[999], y[999]);
  }),
);
