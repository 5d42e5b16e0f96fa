// A GGUF (version 3) writer, the file format of llama.cpp: header, metadata key/values, tensor infos, then
// each tensor's data aligned to `general.alignment` (32). Layout as in llama.cpp's gguf-py; for the
// side-by-side bench (scripts/synth_gguf.ts). Tensor data is streamed, never held whole.

/** GGUF metadata value types (gguf-py GGUFValueType). */
export enum GgufType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}

/** The ggml tensor types this writer knows, with their block sizes (gguf-py GGML_QUANT_SIZES). */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,
  BF16 = 30,
  MXFP4 = 39,
}

/** [values per block, bytes per block] of each ggml type. */
export const GGML_BLOCK: Record<GgmlType, readonly [number, number]> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q8_0]: [32, 34],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.MXFP4]: [32, 17],
};

/** A metadata value: a scalar of one type, or an array of scalars of one type. */
export type GgufValue =
  | { type: Exclude<GgufType, GgufType.Array | GgufType.String | GgufType.Bool>; value: number }
  | { type: GgufType.String; value: string }
  | { type: GgufType.Bool; value: boolean }
  | { type: GgufType.Array; of: GgufType.String; value: readonly string[] }
  | { type: GgufType.Array; of: GgufType.I32 | GgufType.U32 | GgufType.F32; value: readonly number[] };

export const gguf = {
  u32: (value: number): GgufValue => ({ type: GgufType.U32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.F32, value }),
  str: (value: string): GgufValue => ({ type: GgufType.String, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.Bool, value }),
  strings: (value: readonly string[]): GgufValue => ({ type: GgufType.Array, of: GgufType.String, value }),
  i32s: (value: readonly number[]): GgufValue => ({ type: GgufType.Array, of: GgufType.I32, value }),
};

export interface GgufTensor {
  readonly name: string;
  /** ggml order: ne[0] is the innermost (contiguous) dimension, e.g. [cols, rows]. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
}

export const GGUF_ALIGNMENT = 32;

/** Bytes of a tensor's data. ne[0] must be a multiple of the type's block size. */
export function ggufTensorBytes(t: GgufTensor): number {
  const [per, bytes] = GGML_BLOCK[t.type];
  if (t.dims[0] % per !== 0) {
    throw new Error(`gguf: ${t.name}: ne[0]=${t.dims[0]} is not a multiple of ${per}`);
  }
  return (t.dims.reduce((a, b) => a * b, 1) / per) * bytes;
}

/** Little-endian byte builder for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.length++, v);
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.room(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  pad(align: number): void {
    while (this.length % align) this.u8(0);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function scalar(b: Bytes, type: GgufType, v: number | string | boolean): void {
  switch (type) {
    case GgufType.U8:
    case GgufType.I8:
      return b.u8(Number(v) & 255);
    case GgufType.U32:
      return b.u32(Number(v));
    case GgufType.I32:
      return b.i32(Number(v));
    case GgufType.F32:
      return b.f32(Number(v));
    case GgufType.U64:
      return b.u64(Number(v));
    case GgufType.Bool:
      return b.u8(v ? 1 : 0);
    case GgufType.String:
      return b.str(String(v));
  }
  throw new Error(`gguf: value type ${type} is not supported by this writer`);
}

/** The header (magic .. padding before the data section) and each tensor's offset within the data. */
export function encodeGgufHeader(
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const b = new Bytes();
  b.u32(0x46554747); // "GGUF" read as a little-endian u32
  b.u32(3);
  b.u64(tensors.length);
  b.u64(metadata.length);
  for (const [key, v] of metadata) {
    b.str(key);
    b.u32(v.type);
    if (v.type === GgufType.Array) {
      b.u32(v.of);
      b.u64(v.value.length);
      for (const x of v.value) scalar(b, v.of, x);
    } else {
      scalar(b, v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(ggufTensorBytes(t) / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  b.pad(GGUF_ALIGNMENT);
  return { header: b.bytes(), offsets, dataBytes: offset };
}

/**
 * Writes a GGUF file: `fill(i, out)` writes tensor i's bytes (ggufTensorBytes of it) into `out`, in order.
 * Returns the file size.
 */
export async function writeGgufFile(
  path: string,
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
  fill: (index: number, out: Uint8Array) => void,
): Promise<number> {
  const { header, dataBytes } = encodeGgufHeader(metadata, tensors);
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await writeAll(f, header);
    for (let i = 0; i < tensors.length; i++) {
      const n = ggufTensorBytes(tensors[i]), padded = Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
      const out = new Uint8Array(padded);
      fill(i, out.subarray(0, n));
      await writeAll(f, out);
    }
  } finally {
    f.close();
  }
  return header.length + dataBytes;
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
}
