// Scalar conversions between storage dtypes and float32, and typed views of tensors as matrices.

import { FormatError } from "../errors.ts";
import type { DType, Tensor } from "../io/safetensors.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits to float32: bf16 is the top half of a float32. */
export function bf16ToF32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** IEEE half bits to float32. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 to bfloat16 bits, round to nearest even (for synthetic checkpoints and tests). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return 0x7fc0;
  return ((b + 0x7fff + ((b >> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 to IEEE half bits, round to nearest even; overflow is infinity (for synthetic checkpoints and tests). */
export function f32ToF16(x: number): number {
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0, a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a >= 65520) return s | 0x7c00;
  if (a < 2 ** -14) return s | roundEven(a * 2 ** 24); // subnormal (rounds up into the normals at 1024)
  const e = Math.floor(Math.log2(a)), m = roundEven((a / 2 ** e - 1) * 1024);
  return m === 1024 ? s | ((e + 16) << 10) : s | ((e + 15) << 10) | m;
}

function roundEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** Float dtypes a weight matrix may be stored in. */
export type FloatDType = "BF16" | "F16" | "F32";

/** A row-major [rows, cols] weight matrix in its storage dtype (a view: never written). */
export interface Mat {
  readonly dtype: FloatDType;
  readonly rows: number;
  readonly cols: number;
  /** BF16/F16: raw 16-bit words; F32: floats. */
  readonly data: Uint16Array | Float32Array;
}

/** Checks dtype and shape of a tensor, naming file and tensor on mismatch. */
export function expectTensor(t: Tensor, dtypes: readonly DType[], shape: readonly number[]): void {
  if (!dtypes.includes(t.dtype)) {
    throw new FormatError(
      `${t.file}: tensor '${t.name}' has dtype ${t.dtype}, expected ${dtypes.join(" or ")}`,
    );
  }
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(
      `${t.file}: tensor '${t.name}' has shape [${t.shape}], expected [${shape}]`,
    );
  }
}

/** Bytes as a typed array of `Ctor`, zero-copy when aligned, copied otherwise. */
function typedView<T extends Uint16Array | Float32Array>(
  bytes: Uint8Array,
  Ctor: { new (b: ArrayBufferLike, o: number, n: number): T; new (n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const n = bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, n);
}

/** A tensor's rows [r0, r1) of a 2-D float tensor as a Mat. */
export function matOf(t: Tensor, r0 = 0, r1 = t.shape[0]): Mat {
  const cols = t.shape[t.shape.length - 1];
  const esize = t.dtype === "F32" ? 4 : 2;
  const bytes = t.bytes.subarray(r0 * cols * esize, r1 * cols * esize);
  const data = t.dtype === "F32" ? typedView(bytes, Float32Array) : typedView(bytes, Uint16Array);
  return { dtype: t.dtype as FloatDType, rows: r1 - r0, cols, data };
}

/** Elements [i0, i1) of a float tensor, widened to a fresh Float32Array (for vectors: norms, biases). */
export function toF32(
  t: Tensor,
  i0 = 0,
  i1 = t.bytes.byteLength / (t.dtype === "F32" ? 4 : 2),
): Float32Array {
  const out = new Float32Array(i1 - i0);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  for (let i = i0; i < i1; i++) {
    if (t.dtype === "F32") out[i - i0] = dv.getFloat32(i * 4, true);
    else if (t.dtype === "BF16") out[i - i0] = bf16ToF32(dv.getUint16(i * 2, true));
    else if (t.dtype === "F16") out[i - i0] = f16ToF32(dv.getUint16(i * 2, true));
    else throw new FormatError(`${t.file}: tensor '${t.name}' has dtype ${t.dtype}, expected a float dtype`);
  }
  return out;
}

/**
 * Widens row r of a Mat into `out` (length cols): bf16 is the top half of an f32 word, so its bits are
 * shifted straight into `outBits`, a Uint32Array over out's memory (made here when not given).
 */
export function loadRow(
  m: Mat,
  r: number,
  out: Float32Array,
  outBits: Uint32Array = new Uint32Array(out.buffer, out.byteOffset, out.length),
): void {
  const base = r * m.cols;
  if (m.dtype === "F32") {
    out.set((m.data as Float32Array).subarray(base, base + m.cols));
  } else if (m.dtype === "BF16") {
    const d = m.data as Uint16Array;
    for (let c = 0; c < m.cols; c++) outBits[c] = d[base + c] << 16;
  } else {
    const d = m.data as Uint16Array;
    for (let c = 0; c < m.cols; c++) out[c] = f16ToF32(d[base + c]);
  }
}
