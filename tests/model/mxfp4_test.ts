// MXFP4 decode against the shared test vectors (nibble order, every code, extreme scales).

import { assert, assertEquals } from "../assert.ts";
import { decodeMxfp4Row } from "../../src/model/mxfp4.ts";
import { FIXTURES } from "../fixture_util.ts";

type Num = number | string;
const vectors = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/mxfp4/mxfp4_decode_vectors.json`));
const num = (v: Num) => (typeof v === "string" ? Number(v) : v); // "NaN", "Infinity", "-Infinity"

function same(actual: number, expected: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  return Object.is(actual, expected) || (actual === expected && expected !== 0);
}

for (const v of vectors.vectors) {
  Deno.test(`decodeMxfp4Row() decodes vector '${v.name}' exactly (float32, signed zeros)`, () => {
    const out = new Float32Array(32);
    decodeMxfp4Row(Uint8Array.from(v.blocks), 0, Uint8Array.from([v.scale]), 0, 32, out);
    const expected: Num[] = v.expected_float32 ?? v.expected;
    for (let i = 0; i < 32; i++) {
      const e = Math.fround(num(expected[i]));
      assert(same(out[i], e), `${v.name} element ${i}: got ${out[i]}, expected ${e}`);
    }
  });
}

Deno.test("decodeMxfp4Row() decodes the tensor and checkpoint examples row by row", () => {
  for (const ex of [vectors.tensor_example, vectors.checkpoint_example]) {
    const blocks: number[][][] = ex.blocks, scales: number[][] = ex.scales;
    const rows = blocks.length, cols = blocks[0].length * 32;
    const expected: Num[][] = ex.expected ?? ex.decoded;
    for (let r = 0; r < rows; r++) {
      const out = new Float32Array(cols);
      decodeMxfp4Row(Uint8Array.from(blocks[r].flat()), 0, Uint8Array.from(scales[r]), 0, cols, out);
      assertEquals(Array.from(out), expected[r].map((x) => Math.fround(num(x))));
    }
  }
});
