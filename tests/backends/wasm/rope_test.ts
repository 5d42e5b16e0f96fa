// rope (asm/rope.ts, tables from rope_tables.ts) against the reference rope() with YaRN frequencies.

import { assert } from "../../assert.ts";
import { rope } from "../../../src/backends/ref/kernels.ts";
import { ropeTables } from "../../../src/model/rope.ts";
import { gptOssRope } from "../../rope_configs.ts";
import { ropeCosSin } from "../../../src/backends/wasm/rope_tables.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("rope() with YaRN tables matches the reference at several positions", () => {
  const cfg = gptOssRope(64);
  const tables = ropeTables(cfg);
  const { cos, sin } = ropeCosSin(tables, 64, 300);
  const r = rng(5), tokens = 3, heads = 4, stride = heads * 64 + 32, pos0 = 297;
  const x = randomF32(tokens * stride, r);
  const want = x.slice();
  for (let t = 0; t < tokens; t++) rope(want, t * stride, heads, 64, pos0 + t, tables);
  const h = new Harness(1024);
  const at = h.put(x);
  h.k.rope(at, tokens, stride, heads, 64, h.put(cos), h.put(sin), pos0);
  assert(maxRelDiff(h.f32(at, x.length), want) < 1e-5);
});
