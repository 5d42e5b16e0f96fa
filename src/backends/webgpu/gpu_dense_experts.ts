// Dense (16/32-bit) MoE experts in GPU buffers: every expert's [rows, cols] matrix stacked by experts and
// split into parts of whole experts that fit the storage-binding limit (kernels run once per part).

import { OssiError } from "../../errors.ts";
import type { Mat } from "../../model/dtypes.ts";
import { stackRows, WDT, type WeightUploader } from "./gpu_weights.ts";

export interface DenseExpertPart {
  readonly buffer: GPUBuffer; // [e1 - e0, rows, cols] in dtype wdt
  readonly e0: number;
  readonly e1: number;
  readonly wdt: number;
}

export interface GpuDenseExperts {
  readonly numExperts: number;
  readonly rows: number;
  readonly cols: number;
  readonly parts: readonly DenseExpertPart[];
}

/** Uploads `experts` (all [rows, cols]); a part mixing dtypes is widened to f32 (exact). */
export function uploadDenseExperts(
  up: WeightUploader,
  experts: readonly Mat[],
  label: string,
): GpuDenseExperts {
  const { rows, cols } = experts[0];
  if (experts.some((m) => m.rows !== rows || m.cols !== cols)) {
    throw new OssiError(`${label}: experts differ in shape`);
  }
  if (cols % 2 !== 0) throw new OssiError(`${label}: width ${cols} is odd (GPU kernels read column pairs)`);
  const perExpert = rows * cols * (experts.some((m) => m.dtype === "F32") ? 4 : 2);
  const per = Math.floor(up.maxBinding / perExpert);
  if (per < 1) {
    throw new OssiError(`${label}: one expert (${perExpert} bytes) exceeds the GPU's storage binding limit`);
  }
  const parts: DenseExpertPart[] = [];
  for (let e0 = 0; e0 < experts.length; e0 += per) {
    const e1 = Math.min(experts.length, e0 + per);
    const m = stackRows(experts.slice(e0, e1));
    parts.push({ buffer: up.upload(m.data, `${label}[${e0}:${e1}]`), e0, e1, wdt: WDT[m.dtype] });
  }
  return { numExperts: experts.length, rows, cols, parts };
}
