// The GGUF writer's header and tensor layout, read back by a small independent parser of the format, and
// the Q8_0 and MXFP4 conversions of scripts/synth_gguf.ts against their definitions.

import { assert, assertEquals } from "../assert.ts";
import {
  encodeGgufHeader,
  GgmlType,
  gguf,
  type GgufTensor,
  ggufTensorBytes,
  GgufType,
  writeGgufFile,
} from "../../scripts/gguf_write.ts";
import { dequantizeQ8_0, quantizeQ8_0, repackMxfp4Block } from "../../scripts/synth_gguf.ts";
import { decodeMxfp4Row, e8m0ToF32 } from "../../src/model/mxfp4.ts";
import { randomF32, rng } from "../random.ts";

/** Reads back what a GGUF v3 header says, little-endian, the way llama.cpp's gguf.cpp walks it. */
function parseGguf(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u32 = () => ((at += 4), v.getUint32(at - 4, true));
  const u64 = () => ((at += 8), Number(v.getBigUint64(at - 8, true)));
  const str = () => {
    const n = u64();
    at += n;
    return new TextDecoder().decode(bytes.subarray(at - n, at));
  };
  const value = (t: number): unknown => {
    if (t === GgufType.U32) return u32();
    if (t === GgufType.I32) return ((at += 4), v.getInt32(at - 4, true));
    if (t === GgufType.F32) return ((at += 4), v.getFloat32(at - 4, true));
    if (t === GgufType.Bool) return bytes[at++] !== 0;
    if (t === GgufType.String) return str();
    if (t === GgufType.Array) {
      const of = u32(), n = u64();
      return Array.from({ length: n }, () => value(of));
    }
    throw new Error(`type ${t}`);
  };
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  at = 4;
  const version = u32(), nTensors = u64(), nKv = u64();
  const kv = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    kv.set(key, value(u32()));
  }
  const tensors = Array.from({ length: nTensors }, () => {
    const name = str(), nd = u32();
    const dims = Array.from({ length: nd }, () => u64());
    return { name, dims, type: u32(), offset: u64() };
  });
  const dataStart = Math.ceil(at / 32) * 32;
  return { magic, version, kv, tensors, dataStart };
}

Deno.test("encodeGgufHeader() writes magic, version, key/values and tensor infos as GGUF v3", () => {
  const tensors: GgufTensor[] = [
    { name: "a.weight", dims: [64, 3], type: GgmlType.Q8_0 },
    { name: "b.bias", dims: [5], type: GgmlType.F32 },
    { name: "c.exps", dims: [32, 2, 4], type: GgmlType.MXFP4 },
  ];
  const { header, offsets, dataBytes } = encodeGgufHeader([
    ["general.architecture", gguf.str("gpt-oss")],
    ["x.count", gguf.u32(24)],
    ["x.eps", gguf.f32(0.5)],
    ["x.flag", gguf.bool(true)],
    ["x.list", gguf.strings(["p", "qq"])],
    ["x.ids", gguf.i32s([-1, 7])],
  ], tensors);
  const g = parseGguf(header);
  assertEquals(g.magic, "GGUF");
  assertEquals(g.version, 3);
  assertEquals(g.kv.get("general.architecture"), "gpt-oss");
  assertEquals(g.kv.get("x.count"), 24);
  assertEquals(g.kv.get("x.eps"), 0.5);
  assertEquals(g.kv.get("x.flag"), true);
  assertEquals(g.kv.get("x.list"), ["p", "qq"]);
  assertEquals(g.kv.get("x.ids"), [-1, 7]);
  assertEquals(
    g.tensors.map((t) => [t.name, t.dims, t.type]),
    tensors.map((t) => [t.name, [...t.dims], t.type]),
  );
  // Q8_0: 2 blocks x 3 rows x 34 bytes; F32: 20 bytes; MXFP4: 8 blocks x 17 bytes; each padded to 32
  assertEquals(tensors.map(ggufTensorBytes), [204, 20, 136]);
  assertEquals(offsets, [0, 224, 256]);
  assertEquals(g.tensors.map((t) => t.offset), offsets);
  assertEquals(dataBytes, 256 + 160);
  assertEquals(header.length % 32, 0);
  assertEquals(g.dataStart, header.length);
});

Deno.test("writeGgufFile() puts each tensor's bytes at the data section + its offset", async () => {
  const path = Deno.makeTempFileSync({ suffix: ".gguf" });
  try {
    const tensors: GgufTensor[] = [
      { name: "t0", dims: [3], type: GgmlType.F32 },
      { name: "t1", dims: [32, 2], type: GgmlType.Q8_0 },
    ];
    const size = await writeGgufFile(path, [["k", gguf.u32(1)]], tensors, (i, out) => out.fill(i + 1));
    const bytes = Deno.readFileSync(path);
    assertEquals(bytes.length, size);
    const g = parseGguf(bytes);
    for (const [i, t] of g.tensors.entries()) {
      const at = g.dataStart + t.offset, n = ggufTensorBytes(tensors[i]);
      assert(bytes.subarray(at, at + n).every((b) => b === i + 1), `${t.name} data`);
    }
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("ggufTensorBytes() refuses a row that is not whole blocks", () => {
  let msg = "";
  try {
    ggufTensorBytes({ name: "bad", dims: [30, 2], type: GgmlType.Q8_0 });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("not a multiple of 32"), msg);
});

Deno.test("quantizeQ8_0() keeps each value within half a step of its block's amax/127", () => {
  const x = randomF32(96, rng(3));
  x[40] = 0;
  x.fill(0, 64, 96); // an all-zero block gets d = 0 and zeros
  const q = new Uint8Array(3 * 34);
  quantizeQ8_0(x, q);
  const back = dequantizeQ8_0(q, 96);
  for (let b = 0; b < 3; b++) {
    const amax = Math.max(...x.subarray(b * 32, b * 32 + 32).map(Math.abs));
    for (let j = 0; j < 32; j++) {
      const i = b * 32 + j;
      // the f16 scale is within 2^-11 relative, and |q| <= 127
      assert(Math.abs(back[i] - x[i]) <= amax / 254 + amax * 2 ** -10, `value ${i}: ${back[i]} vs ${x[i]}`);
    }
  }
  assertEquals([...back.subarray(64)], new Array(32).fill(0));
});

Deno.test("repackMxfp4Block() gives ggml's block_mxfp4 for the same 32 values", () => {
  const r = rng(9), src = Uint8Array.from({ length: 16 }, () => Math.floor(r() * 256));
  const want = new Float32Array(32);
  decodeMxfp4Row(src, 0, Uint8Array.of(124), 0, 32, want);
  const out = new Uint8Array(17);
  repackMxfp4Block(src, 0, 124, out, 0);
  // ggml: kvalues_mxfp4 (twice the e2m1 value) times 2^(e-128); element j in qs[j] low, j+16 in qs[j] high
  const kvalues = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
  const got = Array.from({ length: 32 }, (_, j) => {
    const nib = j < 16 ? out[1 + j] & 15 : out[1 + j - 16] >> 4;
    return kvalues[nib] * e8m0ToF32(out[0]) / 2;
  });
  assertEquals(got.map((x) => x + 0), [...want].map((x) => x + 0)); // -0 and 0 alike
});
