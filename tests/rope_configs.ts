// RoPE configs the kernel tests of every backend share: gpt-oss's YaRN (theta 150000, factor 32).

import type { RopeConfig } from "../src/model/config.ts";

/** gpt-oss-20b's RoPE for heads of `dim`, with or without the truncated ramp (Hub vs original/ configs). */
export function gptOssRope(dim: number, truncate = false): RopeConfig {
  return {
    theta: 150000,
    dim,
    scaling: {
      kind: "yarn",
      factor: 32,
      betaFast: 32,
      betaSlow: 1,
      originalContext: 4096,
      truncate,
      attentionFactor: null,
    },
  };
}
