// A model of any registered architecture with random weights, built in memory from a config.json object
// through the same plan and name table a checkpoint goes through (for benches and backend tests).

import type { TensorStore } from "../src/io/checkpoint.ts";
import { f32ToBf16, f32ToF16, type FloatDType, type Mat } from "../src/model/dtypes.ts";
import type { LoadedModel } from "../src/model/load.ts";
import { architectureOf } from "../src/model/registry.ts";
import { loadWeights, type TensorRef, type WeightReader } from "../src/model/weights.ts";

export interface RandomModelOptions {
  /** Uniform values in [0, 1) (default: a fixed LCG). */
  readonly rng?: () => number;
  /** Each matrix is stored in one of these, drawn at random (default BF16). */
  readonly dtypes?: readonly FloatDType[];
  /** Matrix values are uniform in [-scale, scale) (default 0.1). */
  readonly scale?: number;
}

/** A fixed linear congruential generator: the same model every run. */
function lcg(seed = 1): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
}

/** Fills every tensor a plan reads: norm weights near 1, biases and sinks near 0, MXFP4 scales near 2^-4. */
class RandomReader implements WeightReader {
  private readonly r: () => number;

  constructor(private readonly o: RandomModelOptions) {
    this.r = o.rng ?? lcg();
  }

  private uniform(n: number, scale: number, base = 0): Float32Array {
    return Float32Array.from({ length: n }, () => base + (this.r() * 2 - 1) * scale);
  }

  mat(_ref: TensorRef, rows: number, cols: number): Mat {
    const dtypes = this.o.dtypes ?? ["BF16"], dtype = dtypes[Math.floor(this.r() * dtypes.length)];
    const v = this.uniform(rows * cols, this.o.scale ?? 0.1);
    if (dtype === "F32") return { dtype, rows, cols, data: v };
    return { dtype, rows, cols, data: Uint16Array.from(v, dtype === "BF16" ? f32ToBf16 : f32ToF16) };
  }

  vec(ref: TensorRef, shape: readonly number[]): Float32Array {
    const n = shape.reduce((a, d) => a * d, 1),
      norm = /norm|ln_|\.scale$/.test(ref.name) && !/bias/.test(ref.name);
    return this.uniform(n, 0.2, norm ? 1 : 0);
  }

  u8(ref: TensorRef, shape: readonly number[]): Uint8Array {
    const n = shape.reduce((a, d) => a * d, 1), scales = /scales$/.test(ref.name);
    return Uint8Array.from(
      { length: n },
      () => Math.floor(this.r() * (scales ? 6 : 256)) + (scales ? 119 : 0),
    );
  }
}

export function randomModel(json: Record<string, unknown>, opts: RandomModelOptions = {}): LoadedModel {
  const file = "(random model)", arch = architectureOf(file, json), config = arch.parseConfig(file, json);
  const plan = arch.plan(config), names = arch.tensorNames(config, null, file);
  const weights = loadWeights(new RandomReader(opts), config, plan, names);
  const store = { dir: file, files: [] } as unknown as TensorStore;
  return { dir: file, arch, config, plan, layout: names.layout, weights, store };
}
