// A gpt-oss model of random shape and random weights built in memory (no files): odd head counts, mixed
// weight dtypes (bf16, f16, f32), sliding and full layers, so backends can be compared beyond the fixture.

import type { ModelConfig } from "../../../src/model/config.ts";
import { f32ToBf16, type FloatDType, type Mat } from "../../../src/model/dtypes.ts";
import type { GptOssLayerWeights, GptOssWeights } from "../../../src/model/gpt_oss.ts";
import type { Mxfp4Experts } from "../../../src/model/mxfp4.ts";
import { randomF32, rng } from "../../random.ts";

/** A random f16 bit pattern of magnitude in [2^-6, 2). */
function randomHalf(r: () => number): number {
  return (r() < 0.5 ? 0x8000 : 0) | ((9 + Math.floor(r() * 7)) << 10) | Math.floor(r() * 1024);
}

export function randomMat(r: () => number, rows: number, cols: number, dtype: FloatDType, scale = 0.5): Mat {
  const n = rows * cols;
  if (dtype === "F32") return { dtype, rows, cols, data: randomF32(n, r, scale) };
  const data = new Uint16Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === "BF16" ? f32ToBf16((r() * 2 - 1) * scale) : randomHalf(r);
  return { dtype, rows, cols, data };
}

export function randomExperts(r: () => number, numExperts: number, rows: number, cols: number): Mxfp4Experts {
  const blocks = Uint8Array.from({ length: (numExperts * rows * cols) / 2 }, () => Math.floor(r() * 256));
  const scales = Uint8Array.from(
    { length: (numExperts * rows * cols) / 32 },
    () => 119 + Math.floor(r() * 6),
  );
  return { numExperts, rows, cols, blocks, scales, bias: randomF32(numExperts * rows, r, 0.2) };
}

export function randomModel(seed: number): { config: ModelConfig; weights: GptOssWeights; tokens: number[] } {
  const r = rng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const kvHeads = pick([1, 2, 3]), group = pick([1, 2, 3]), headDim = pick([8, 12, 24]);
  const hidden = pick([32, 64, 96]), ffn = pick([32, 64]), numExperts = pick([3, 5, 9]);
  const layers = pick([2, 3]), vocab = pick([37, 50, 61]);
  const numHeads = kvHeads * group;
  const config: ModelConfig = {
    arch: "gpt_oss",
    source: `random model ${seed}`,
    vocabSize: vocab,
    hiddenSize: hidden,
    numLayers: layers,
    numHeads,
    numKvHeads: kvHeads,
    headDim,
    numExperts,
    expertsPerToken: pick([1, 2, Math.min(3, numExperts)]),
    intermediateSize: ffn,
    layerWindows: Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? pick([3, 5]) : 0)),
    rope: {
      theta: 10000,
      dim: headDim,
      yarn: { factor: 4, betaFast: 32, betaSlow: 1, originalContext: 16, truncate: seed % 2 === 0 },
    },
    swigluLimit: 7,
    swigluAlpha: 1.702,
    rmsNormEps: 1e-5,
    maxContext: 4096,
    eosTokenIds: [0],
  };
  const dt = (): FloatDType => pick(["BF16", "F16", "F32"] as const);
  const qw = numHeads * headDim, kvw = kvHeads * headDim;
  const layerWeights: GptOssLayerWeights[] = Array.from({ length: layers }, () => ({
    attnNorm: randomF32(hidden, r, 1).map((v) => 1 + 0.3 * v),
    q: randomMat(r, qw, hidden, dt()),
    qBias: randomF32(qw, r, 0.1),
    k: randomMat(r, kvw, hidden, dt()),
    kBias: randomF32(kvw, r, 0.1),
    v: randomMat(r, kvw, hidden, dt()),
    vBias: randomF32(kvw, r, 0.1),
    o: randomMat(r, hidden, qw, dt(), 0.2),
    oBias: randomF32(hidden, r, 0.1),
    sinks: randomF32(numHeads, r, 2),
    mlpNorm: randomF32(hidden, r, 1).map((v) => 1 + 0.3 * v),
    router: randomMat(r, numExperts, hidden, dt()),
    routerBias: randomF32(numExperts, r, 0.1),
    gateUp: randomExperts(r, numExperts, 2 * ffn, hidden),
    down: randomExperts(r, numExperts, hidden, ffn),
  }));
  const weights: GptOssWeights = {
    embed: randomMat(r, vocab, hidden, dt(), 1),
    layers: layerWeights,
    finalNorm: randomF32(hidden, r, 1).map((v) => 1 + 0.3 * v),
    unembed: randomMat(r, vocab, hidden, dt(), 0.3),
  };
  const tokens = Array.from({ length: 13 }, () => Math.floor(r() * vocab));
  return { config, weights, tokens };
}
