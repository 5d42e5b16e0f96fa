// safetensors: header parsing and validation, and zero-copy tensor views over a mapped file.
// Format: u64 little-endian header length N, N bytes of JSON, then the data section; every tensor's
// `data_offsets` are relative to the start of the data section.

import { FormatError, MissingError } from "../errors.ts";
import { fileChange, type FileStamp, mapFile } from "./mmap.ts";

export type DType =
  | "BF16"
  | "F16"
  | "F32"
  | "F64"
  | "U8"
  | "I8"
  | "U16"
  | "I16"
  | "U32"
  | "I32"
  | "I64"
  | "U64"
  | "BOOL";

export const DTYPE_BYTES: Record<DType, number> = {
  BF16: 2,
  F16: 2,
  F32: 4,
  F64: 8,
  U8: 1,
  I8: 1,
  U16: 2,
  I16: 2,
  U32: 4,
  I32: 4,
  I64: 8,
  U64: 8,
  BOOL: 1,
};

/** One tensor as described by a header; `begin`/`end` are absolute byte offsets in the file. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A tensor together with its bytes (a view into the mapping: never write to it). */
export interface Tensor extends TensorInfo {
  readonly file: string;
  readonly bytes: Uint8Array;
}

export interface SafetensorsHeader {
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  /** Absolute offset of the data section. */
  readonly dataStart: number;
}

/** Header lengths above this are refused (the format's own parsers use 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Parses and validates a safetensors header from the first bytes of a file of `fileSize` bytes.
 * Throws FormatError naming `file` for: a short file, a header past the end, non-JSON, unknown dtypes,
 * bad shapes, offsets outside the data section, sizes that disagree with shape x dtype, overlaps.
 */
export function parseHeader(file: string, bytes: Uint8Array, fileSize = bytes.length): SafetensorsHeader {
  if (fileSize < 8 || bytes.length < 8) {
    throw new FormatError(`${file}: truncated safetensors file (${fileSize} bytes)`);
  }
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(`${file}: header length ${n64} is implausibly large`);
  }
  const n = Number(n64);
  if (8 + n > fileSize || 8 + n > bytes.length) {
    throw new FormatError(`${file}: header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw new FormatError(`${file}: header is not valid UTF-8 JSON`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new FormatError(`${file}: header is not a JSON object`);
  }
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        metadata = value as Record<string, string>;
      }
      continue;
    }
    tensors.set(name, parseEntry(file, name, value, dataStart, dataSize));
  }
  checkTiling(file, [...tensors.values()], dataStart, dataSize);
  return { tensors, metadata, dataStart };
}

function parseEntry(
  file: string,
  name: string,
  value: unknown,
  dataStart: number,
  dataSize: number,
): TensorInfo {
  const bad = (why: string) => new FormatError(`${file}: tensor '${name}': ${why}`);
  if (!value || typeof value !== "object" || Array.isArray(value)) throw bad("entry is not an object");
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`bad shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) throw bad(`bad data_offsets ${JSON.stringify(offsets)}`);
  const [b, e] = offsets as [number, number];
  if (e > dataSize) {
    throw bad(`data_offsets [${b}, ${e}] run past the end of the file (data section is ${dataSize} bytes)`);
  }
  const count = (shape as number[]).reduce((a, d) => a * d, 1);
  const expected = count * DTYPE_BYTES[dtype as DType];
  if (e - b !== expected) {
    throw bad(`holds ${e - b} bytes but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
  }
  return { name, dtype: dtype as DType, shape: shape as number[], begin: dataStart + b, end: dataStart + e };
}

/**
 * The tensors must cover the data section one after another, to its last byte, as the format requires
 * (gaps of up to 7 bytes that align the next tensor to 8 bytes are allowed: ossi's own writer leaves
 * them). A wrong header length moves the data section but not the tensors' extent, so it leaves bytes
 * at the end uncovered (or runs past it): refused here rather than read as tensors shifted by a byte.
 */
function checkTiling(file: string, infos: TensorInfo[], dataStart: number, dataSize: number): void {
  const sorted = infos.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  let at = dataStart;
  for (const [i, t] of sorted.entries()) {
    if (t.begin < at) {
      throw new FormatError(`${file}: tensors '${sorted[i - 1].name}' and '${t.name}' overlap`);
    }
    const gap = t.begin - at;
    if (gap > 0 && (gap >= 8 || (t.begin - dataStart) % 8 !== 0)) {
      throw new FormatError(
        `${file}: ${gap} bytes of the data section before tensor '${t.name}' belong to no tensor`,
      );
    }
    at = t.end;
  }
  const end = dataStart + dataSize;
  if (at !== end) {
    throw new FormatError(
      `${file}: the last ${end - at} bytes of the data section belong to no tensor (a wrong header length ` +
        "would shift every tensor)",
    );
  }
}

/** One opened safetensors file: its validated header and its (mapped) bytes. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private constructor(
    readonly path: string,
    readonly bytes: Uint8Array,
    readonly mapped: boolean,
    /** The file as it was opened: a mapping read after the file shrank would be a SIGBUS. */
    readonly stamp: FileStamp,
  ) {
    this.header = parseHeader(path, bytes);
  }

  static open(path: string): SafetensorsFile {
    const m = mapFile(path);
    return new SafetensorsFile(path, m.bytes, m.mapped, m.stamp);
  }

  /** How the file changed on disk since it was opened, or null. */
  change(): string | null {
    return fileChange(this.path, this.stamp);
  }

  /** Reads only the header (no mapping of the data): for `inspect`. */
  static readHeader(path: string): SafetensorsHeader {
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new MissingError(`${path}: file not found`);
      throw new FormatError(`${path}: cannot open (${(e as Error).message})`);
    }
    try {
      const size = f.statSync().size;
      const head = new Uint8Array(8);
      const got = size >= 8 ? readFully(f, head) : 0;
      if (got < 8) throw new FormatError(`${path}: truncated safetensors file (${size} bytes)`);
      const n = Number(new DataView(head.buffer).getBigUint64(0, true));
      if (n > MAX_HEADER_BYTES || 8 + n > size) return parseHeader(path, head, size);
      const all = new Uint8Array(8 + n);
      all.set(head);
      readFully(f, all.subarray(8));
      return parseHeader(path, all, size);
    } finally {
      f.close();
    }
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  tensor(name: string): Tensor {
    const info = this.header.tensors.get(name);
    if (!info) throw new MissingError(`${this.path}: missing tensor '${name}'`);
    return { ...info, file: this.path, bytes: this.bytes.subarray(info.begin, info.end) };
  }
}

function readFully(f: Deno.FsFile, into: Uint8Array): number {
  let off = 0;
  while (off < into.length) {
    const n = f.readSync(into.subarray(off));
    if (n === null || n === 0) break;
    off += n;
  }
  return off;
}
