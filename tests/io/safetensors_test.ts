// safetensors header validation: every malformed input is a FormatError naming the file, never a crash.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { FormatError, MissingError } from "../../src/errors.ts";
import { parseHeader, SafetensorsFile } from "../../src/io/safetensors.ts";
import { encodeSafetensors } from "../../src/io/safetensors_write.ts";

const F = "test.safetensors";

function withHeader(json: string, data = new Uint8Array(0)): Uint8Array {
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

Deno.test("parseHeader() reads tensors, dtypes, shapes and absolute offsets", () => {
  const bytes = encodeSafetensors([
    { name: "a", dtype: "F32", shape: [2, 3], bytes: new Uint8Array(24) },
    { name: "b", dtype: "BF16", shape: [5], bytes: new Uint8Array(10) },
  ]);
  const h = parseHeader(F, bytes);
  assertEquals([...h.tensors.keys()], ["a", "b"]);
  const a = h.tensors.get("a")!;
  assertEquals(a.dtype, "F32");
  assertEquals(a.shape, [2, 3]);
  assertEquals(a.begin, h.dataStart);
  assertEquals(h.tensors.get("b")!.end - h.tensors.get("b")!.begin, 10);
  assertEquals(h.metadata, { format: "pt" });
});

const bad: [string, Uint8Array, RegExp][] = [
  ["empty file", new Uint8Array(0), /truncated/],
  ["short length prefix", new Uint8Array(5), /truncated/],
  [
    "header length past the end",
    (() => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setBigUint64(0, 1000n, true);
      return b;
    })(),
    /past the end/,
  ],
  [
    "huge header length",
    (() => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setBigUint64(0, 0xffffffffffffn, true);
      return b;
    })(),
    /implausibly large/,
  ],
  ["header not JSON", withHeader("{not json"), /not valid UTF-8 JSON/],
  ["header not an object", withHeader("[1,2]"), /not a JSON object/],
  [
    "unknown dtype",
    withHeader('{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
    /tensor 'x'.*dtype/,
  ],
  [
    "negative shape",
    withHeader('{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', new Uint8Array(1)),
    /bad shape/,
  ],
  [
    "offsets past the end",
    withHeader('{"x":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}', new Uint8Array(4)),
    /past the end/,
  ],
  [
    "reversed offsets",
    withHeader('{"x":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}', new Uint8Array(4)),
    /bad data_offsets/,
  ],
  [
    "size disagrees with shape",
    withHeader('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)),
    /needs 8/,
  ],
  [
    "overlapping tensors",
    withHeader(
      '{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
      new Uint8Array(6),
    ),
    /overlap/,
  ],
  [
    "a header length one byte short (the tensors would all shift by a byte)",
    (() => {
      const b = encodeSafetensors([{ name: "w", dtype: "F32", shape: [3], bytes: new Uint8Array(12) }]);
      const view = new DataView(b.buffer);
      view.setBigUint64(0, view.getBigUint64(0, true) - 1n, true); // the header is padded with spaces
      return b;
    })(),
    /last 1 bytes of the data section belong to no tensor/,
  ],
  [
    "bytes after the last tensor",
    withHeader('{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', new Uint8Array(5)),
    /last 1 bytes/,
  ],
  [
    "a gap between tensors that is not alignment",
    withHeader(
      '{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[4],"data_offsets":[20,24]}}',
      new Uint8Array(24),
    ),
    /16 bytes of the data section before tensor 'y' belong to no tensor/,
  ],
];
for (const [what, bytes, re] of bad) {
  Deno.test(`parseHeader() rejects ${what} with a FormatError naming the file`, () => {
    const e = assertThrows(() => parseHeader(F, bytes), FormatError, re);
    assert(e.message.startsWith(F), e.message);
  });
}

Deno.test("parseHeader() survives random bytes and random mutations (fuzz)", () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const good = encodeSafetensors([
    { name: "w", dtype: "BF16", shape: [4, 4], bytes: new Uint8Array(32) },
    { name: "b", dtype: "F32", shape: [4], bytes: new Uint8Array(16) },
  ]);
  let rejected = 0, accepted = 0;
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    if (i % 3 === 0) {
      bytes = new Uint8Array(Math.floor(rand() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = rand() * 256;
    } else {
      bytes = good.slice(0, i % 3 === 1 ? good.length : Math.floor(rand() * good.length));
      for (let k = 0; k < 1 + rand() * 4; k++) bytes[Math.floor(rand() * bytes.length)] = rand() * 256;
    }
    try {
      const h = parseHeader(F, bytes);
      for (const t of h.tensors.values()) assert(t.end <= bytes.length && t.begin >= h.dataStart);
      accepted++;
    } catch (e) {
      assert(e instanceof FormatError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
      rejected++;
    }
  }
  assert(rejected > 1000 && accepted > 0, `rejected ${rejected}, accepted ${accepted}`);
});

Deno.test("SafetensorsFile.open() maps a file and hands out exact tensor bytes; missing names are MissingError", async () => {
  const dir = await Deno.makeTempDir();
  const data = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
  await Deno.writeFile(
    `${dir}/m.safetensors`,
    encodeSafetensors([{ name: "t", dtype: "U8", shape: [3, 4], bytes: data }]),
  );
  const f = SafetensorsFile.open(`${dir}/m.safetensors`);
  assertEquals(Array.from(f.tensor("t").bytes), Array.from(data));
  assertThrows(() => f.tensor("nope"), MissingError, /missing tensor 'nope'/);
  assertThrows(() => SafetensorsFile.open(`${dir}/absent.safetensors`), MissingError, /not found/);
  assertEquals(SafetensorsFile.readHeader(`${dir}/m.safetensors`).tensors.get("t")!.shape, [3, 4]);
  await Deno.remove(dir, { recursive: true });
});
