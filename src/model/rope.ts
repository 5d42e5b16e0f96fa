// RoPE tables shared by every backend: the inverse frequencies (with YaRN's blend of interpolated and
// extrapolated ones) and the cos/sin scale, computed once per model from its RopeConfig.

import type { RopeConfig } from "./config.ts";

/** RoPE frequencies (with YaRN's blend of interpolated and extrapolated ones) and the cos/sin scale. */
export interface RopeTables {
  readonly invFreq: Float32Array; // [dim/2]
  /** YaRN attention scaling 0.1 ln(factor) + 1, applied to cos and sin; 1 without YaRN. */
  readonly concentration: number;
}

export function ropeTables(rope: RopeConfig): RopeTables {
  const half = rope.dim / 2;
  const invFreq = new Float32Array(half);
  const y = rope.yarn;
  if (!y || y.factor <= 1) {
    for (let i = 0; i < half; i++) invFreq[i] = 1 / rope.theta ** ((2 * i) / rope.dim);
    return { invFreq, concentration: 1 };
  }
  // Dimension index at which a frequency completes `turns` rotations over the original context.
  const correctionDim = (turns: number) =>
    (rope.dim * Math.log(y.originalContext / (turns * 2 * Math.PI))) / (2 * Math.log(rope.theta));
  let low = correctionDim(y.betaFast), high = correctionDim(y.betaSlow);
  if (y.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, rope.dim - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const freq = rope.theta ** ((2 * i) / rope.dim);
    const extrapolation = 1 / freq, interpolation = 1 / (y.factor * freq);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const keep = 1 - ramp; // share of the unscaled (extrapolated) frequency
    invFreq[i] = interpolation * (1 - keep) + extrapolation * keep;
  }
  return { invFreq, concentration: 0.1 * Math.log(y.factor) + 1 };
}
