// add_inplace (asm/add_inplace.ts): exact f32 sums, with a partial SIMD tail.

import { assertEquals } from "../../assert.ts";
import { Harness } from "./kernel_harness.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("add_inplace() adds with a partial tail", () => {
  const r = rng(4), a = randomF32(23, r), b = randomF32(23, r);
  const h = new Harness();
  const at = h.put(a);
  h.k.add_inplace(at, h.put(b), 23);
  assertEquals(Array.from(h.f32(at, 23)), Array.from(a, (v, i) => Math.fround(v + b[i])));
});
