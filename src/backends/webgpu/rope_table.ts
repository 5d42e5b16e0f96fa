// The RoPE table the WebGPU kernels read: cos and sin of every position and frequency, computed on the
// host in double precision from the model's RoPE (plain, linear, YaRN or llama3 frequencies).

import type { RopeConfig } from "../../model/config.ts";
import { ropeTables } from "../../model/rope.ts";

/** cos and sin (times the YaRN concentration) of every position and frequency: [maxContext, dim/2] pairs. */
export function cosSinTable(config: { readonly rope: RopeConfig }, maxContext: number): Float32Array {
  const t = ropeTables(config.rope), half = config.rope.dim / 2;
  const out = new Float32Array(maxContext * half * 2);
  for (let p = 0; p < maxContext; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * t.invFreq[i];
      out[(p * half + i) * 2] = Math.fround(Math.cos(angle)) * t.concentration;
      out[(p * half + i) * 2 + 1] = Math.fround(Math.sin(angle)) * t.concentration;
    }
  }
  return out;
}
