// Weights in GPU buffers, uploaded from the mapped checkpoint views with queue.writeBuffer. A tensor
// larger than the storage-binding limit is split into parts: matrices by row ranges, MXFP4 experts by
// whole experts, each part its own buffer (kernels run once per part).

import { OssiError } from "../../errors.ts";
import { loadRow, type Mat } from "../../model/dtypes.ts";
import type { Mxfp4Experts } from "../../model/mxfp4.ts";
import type { GpuDevice } from "./gpu_device.ts";

/** Weight dtype code of the WGSL `WDT` override: 0 bf16, 1 f16, 2 f32. */
export const WDT = { BF16: 0, F16: 1, F32: 2 } as const;

export interface MatPart {
  readonly buffer: GPUBuffer;
  readonly row0: number;
  readonly rows: number;
}

/** A [rows, cols] matrix in its storage dtype, split into row-range parts. */
export interface GpuMat {
  readonly wdt: number;
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly MatPart[];
}

export interface ExpertPart {
  readonly buffer: GPUBuffer;
  readonly e0: number;
  readonly e1: number;
}

/** MXFP4 experts: blocks split by whole experts; scales and biases in one buffer each. */
export interface GpuExperts {
  readonly numExperts: number;
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly ExpertPart[];
  readonly scales: GPUBuffer;
  readonly bias: GPUBuffer;
}

/**
 * Matrices of equal width stacked by rows into one (q, k, v into one projection), at load time. Same dtype:
 * raw words copied; mixed dtypes: all widened to f32 (exact for bf16 and f16).
 */
export function stackRows(mats: readonly Mat[]): Mat {
  const cols = mats[0].cols, rows = mats.reduce((n, m) => n + m.rows, 0);
  if (mats.some((m) => m.cols !== cols)) throw new RangeError("stackRows: widths differ");
  if (mats.every((m) => m.dtype === mats[0].dtype)) {
    const data = mats[0].dtype === "F32" ? new Float32Array(rows * cols) : new Uint16Array(rows * cols);
    let at = 0;
    for (const m of mats) (data.set(m.data, at), at += m.data.length);
    return { dtype: mats[0].dtype, rows, cols, data };
  }
  const data = new Float32Array(rows * cols),
    row = new Float32Array(cols),
    bits = new Uint32Array(row.buffer);
  let r0 = 0;
  for (const m of mats) {
    for (let r = 0; r < m.rows; r++) (loadRow(m, r, row, bits), data.set(row, (r0 + r) * cols));
    r0 += m.rows;
  }
  return { dtype: "F32", rows, cols, data };
}

const CHUNK = 32 << 20; // bytes per writeBuffer call: bounds the staging copy
const FLUSH = 256 << 20; // staged bytes after which the pending writes are submitted

/**
 * Uploads weights. Invariant: queue.writeBuffer() stages a copy of the data that lives until a submit has
 * carried it to the GPU (WebGPU implementations hold pending writes until the next submit, and a buffer's
 * memory is often only committed by that copy), so at most FLUSH staged bytes are left unsubmitted and
 * drain() waits for the queue: a model larger than half the memory loads without holding it twice.
 */
export class WeightUploader {
  readonly buffers: GPUBuffer[] = [];
  bytes = 0;
  private staged = 0;
  constructor(readonly device: GPUDevice, readonly maxBinding: number) {}

  /** Submits the pending writes (their staging is freed once the queue has run them). */
  flush(): void {
    this.device.queue.submit([]);
    this.staged = 0;
  }

  /** Submits the pending writes and waits until the queue has run them. */
  async drain(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** A storage buffer holding `data` (zero-padded to a multiple of 4 bytes). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    if (size > this.maxBinding) {
      throw new OssiError(
        `${label}: ${size} bytes exceed the GPU's storage binding limit (${this.maxBinding})`,
      );
    }
    const buffer = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    const whole = bytes.byteLength - (bytes.byteLength % 4);
    for (let at = 0; at < whole; at += CHUNK) {
      this.device.queue.writeBuffer(
        buffer,
        at,
        bytes.subarray(at, Math.min(whole, at + CHUNK)) as Uint8Array<ArrayBuffer>,
      );
    }
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buffer, whole, tail);
    }
    this.buffers.push(buffer);
    this.bytes += size;
    this.staged += size;
    if (this.staged >= FLUSH) this.flush();
    return buffer;
  }

  /** A matrix split into row ranges of at most maxBinding bytes (an even row count, so words align). */
  mat(m: Mat, label: string): GpuMat {
    const esize = m.dtype === "F32" ? 4 : 2;
    if (m.cols % 2 !== 0) {
      throw new OssiError(`${label}: width ${m.cols} is odd (GPU kernels read column pairs)`);
    }
    const rowBytes = m.cols * esize;
    let per = Math.floor(this.maxBinding / rowBytes);
    if (per > 1) per -= per % 2;
    if (per < 1) {
      throw new OssiError(`${label}: one row (${rowBytes} bytes) exceeds the GPU's storage binding limit`);
    }
    const parts: MatPart[] = [];
    for (let r0 = 0; r0 < m.rows; r0 += per) {
      const rows = Math.min(per, m.rows - r0);
      const view = m.data.subarray(r0 * m.cols, (r0 + rows) * m.cols);
      parts.push({ buffer: this.upload(view, `${label}[${r0}:${r0 + rows}]`), row0: r0, rows });
    }
    return { wdt: WDT[m.dtype], rows: m.rows, cols: m.cols, parts };
  }

  experts(x: Mxfp4Experts, label: string): GpuExperts {
    const perExpert = (x.rows * x.cols) / 2;
    const per = Math.floor(this.maxBinding / perExpert);
    if (per < 1) {
      throw new OssiError(
        `${label}: one expert (${perExpert} bytes) exceeds the GPU's storage binding limit`,
      );
    }
    const parts: ExpertPart[] = [];
    for (let e0 = 0; e0 < x.numExperts; e0 += per) {
      const e1 = Math.min(x.numExperts, e0 + per);
      parts.push({
        buffer: this.upload(
          x.blocks.subarray(e0 * perExpert, e1 * perExpert),
          `${label}.blocks[${e0}:${e1}]`,
        ),
        e0,
        e1,
      });
    }
    return {
      numExperts: x.numExperts,
      rows: x.rows,
      cols: x.cols,
      parts,
      scales: this.upload(x.scales, `${label}.scales`),
      bias: this.upload(x.bias, `${label}.bias`),
    };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/** Usage of activations and KV caches: kernels read and write them, readback and dumps copy them out. */
export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** The binding limit to split weights at: the adapter's, or a smaller one asked for. */
export function bindingLimit(gpu: GpuDevice, asked?: number): number {
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  return Math.min(limit, asked ?? limit);
}

/** A zeroed f32 KV cache of `floats` elements, owned (and destroyed) with the weights. */
export function kvCache(up: WeightUploader, floats: number, label: string): GPUBuffer {
  const size = Math.max(16, floats * 4);
  if (size > up.maxBinding) {
    throw new OssiError(
      `${label}: ${size} bytes exceed the GPU's storage binding limit; use a smaller context`,
    );
  }
  const b = up.device.createBuffer({ label, size, usage: STORAGE });
  up.buffers.push(b);
  return b;
}

/** Throws a one-line OssiError when an error scope around the uploads caught an out-of-memory. */
export async function checkUploaded(dev: GPUDevice): Promise<void> {
  dev.queue.submit([]);
  await dev.queue.onSubmittedWorkDone();
  const oom = await dev.popErrorScope();
  if (oom) throw new OssiError(`the GPU ran out of memory loading the model (${oom.message.split("\n")[0]})`);
}

/**
 * Uploads `count` layers in order (`upload(l)` returns layer l's buffers), submitting and draining the
 * staged uploads after each layer instead of holding the whole model twice; `uploaded(l)` runs after
 * each drain (release the layer's mapped pages there).
 */
export async function uploadLayers<L>(
  dev: GPUDevice,
  count: number,
  upload: (l: number) => L,
  uploaded?: (l: number) => void,
): Promise<L[]> {
  const layers: L[] = [];
  for (let l = 0; l < count; l++) {
    layers.push(upload(l));
    dev.queue.submit([]);
    await dev.queue.onSubmittedWorkDone();
    uploaded?.(l);
  }
  return layers;
}
