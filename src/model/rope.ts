// RoPE tables shared by every backend: the inverse frequencies (plain, linearly interpolated, YaRN's blend
// of interpolated and extrapolated ones, or Llama 3's wavelength bands) and the cos/sin scale, computed once
// from a RopeConfig.

import type { Llama3Scaling, RopeConfig, YarnScaling } from "./config.ts";

/** RoPE frequencies and the cos/sin scale. */
export interface RopeTables {
  readonly invFreq: Float32Array; // [dim/2]
  /** YaRN attention scaling (0.1 ln(factor) + 1 unless the config gives it), applied to cos and sin; else 1. */
  readonly concentration: number;
}

export function ropeTables(rope: RopeConfig): RopeTables {
  const half = rope.dim / 2;
  const invFreq = new Float32Array(half);
  const s = rope.scaling;
  if (s?.kind === "yarn" && s.factor > 1) return yarnTables(rope, s);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / rope.theta ** ((2 * i) / rope.dim);
  if (s?.kind === "llama3") llama3Scale(invFreq, s);
  if (s?.kind === "linear") { for (let i = 0; i < half; i++) invFreq[i] /= s.factor; }
  return { invFreq, concentration: 1 };
}

function yarnTables(rope: RopeConfig, y: YarnScaling): RopeTables {
  const half = rope.dim / 2, invFreq = new Float32Array(half);
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
  return { invFreq, concentration: y.attentionFactor ?? 0.1 * Math.log(y.factor) + 1 };
}

/**
 * Llama 3: wavelengths shorter than originalContext / highFreqFactor keep their frequency, those longer
 * than originalContext / lowFreqFactor are divided by the factor, and the band between blends the two.
 */
function llama3Scale(invFreq: Float32Array, s: Llama3Scaling): void {
  const lowWavelen = s.originalContext / s.lowFreqFactor, highWavelen = s.originalContext / s.highFreqFactor;
  for (let i = 0; i < invFreq.length; i++) {
    const f = invFreq[i], wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      invFreq[i] = f / s.factor;
      continue;
    }
    const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    invFreq[i] = (1 - smooth) * (f / s.factor) + smooth * f;
  }
}
