// The WASM GPT-2 / Qwen3 backends against the reference backend on shapes the fixtures do not have, built
// in memory: Qwen3-MoE with norm_topk_prob false and with a dense-only layer, Qwen3 with a sliding window,
// attention biases and an untied head, GPT-2 untied, and random Qwen3 / GPT-2 shapes with odd widths and
// f16 / f32 / bf16 weights (so both matmul kernels and the widening at load run).

import { assert, assertEquals } from "../../assert.ts";
import { argmax } from "../../../src/backends/ref/kernels.ts";
import { createArchRefBackend } from "../../../src/backends/ref/arch_backend.ts";
import { createArchWasmBackend } from "../../../src/backends/wasm/dense_arch_backend.ts";
import { f32ToBf16, type FloatDType, type Mat } from "../../../src/model/dtypes.ts";
import type { Gpt2Config, Gpt2Weights } from "../../../src/model/gpt2.ts";
import type { LoadedGpt2, LoadedQwen3 } from "../../../src/model/load_any.ts";
import type { Qwen3Config, Qwen3LayerWeights, Qwen3Weights } from "../../../src/model/qwen3.ts";
import { maxAbsDiff } from "../../fixture_util.ts";
import { fixtureVariants, gpt2, qwen3 } from "../dense_variants.ts";
import { randomF32, rng } from "../../random.ts";

/** f16 bits of x (round to nearest, normal range only: enough for random weights). */
function f32ToF16(x: number): number {
  if (x === 0) return 0;
  const s = x < 0 ? 0x8000 : 0, a = Math.abs(x);
  const e = Math.max(-14, Math.floor(Math.log2(a)));
  const m = Math.round((a / 2 ** e - (e === -14 && a < 2 ** -14 ? 0 : 1)) * 1024);
  return s | ((e + 15) << 10) + m;
}

function randomMat(r: () => number, rows: number, cols: number, dtype: FloatDType, scale = 0.3): Mat {
  const v = randomF32(rows * cols, r, scale);
  if (dtype === "F32") return { dtype, rows, cols, data: v };
  const data = Uint16Array.from(v, (x) => dtype === "BF16" ? f32ToBf16(x) : f32ToF16(x));
  return { dtype, rows, cols, data };
}

const norm = (r: () => number, n: number) => randomF32(n, r, 0.3).map((v) => 1 + v);

/** A random Qwen3-MoE (or dense Qwen3 when experts == 0) on the fixture's store, for the type only. */
function randomQwen3(seed: number): LoadedQwen3 {
  const r = rng(seed), pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const kvHeads = pick([1, 2, 3]), heads = kvHeads * pick([1, 2]), D = pick([4, 12, 20]);
  const H = pick([24, 36, 40]), F = pick([20, 44]), layers = 3, V = pick([45, 70]), E = pick([0, 5]);
  const dt = (): FloatDType => pick(["BF16", "F16", "F32"] as const);
  const moe = E
    ? { numExperts: E, expertsPerToken: pick([1, 2, 3]), expertSize: pick([12, 16]), normTopkProb: r() < 0.5 }
    : null;
  const config: Qwen3Config = {
    ...qwen3.config,
    arch: moe ? "qwen3_moe" : "qwen3",
    vocabSize: V,
    hiddenSize: H,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: D,
    intermediateSize: F,
    rope: { theta: 10000, dim: D, yarn: null },
    attentionBias: r() < 0.5,
    tieEmbeddings: false,
    layerWindows: [0, 4, 0],
    moe,
    layerIsMoe: [!!moe, false, !!moe],
  };
  const qw = heads * D,
    kvw = kvHeads * D,
    bias = (n: number) => config.attentionBias ? randomF32(n, r, 0.3) : null;
  const layerWeights: Qwen3LayerWeights[] = config.layerIsMoe.map((isMoe) => ({
    attnNorm: norm(r, H),
    q: randomMat(r, qw, H, dt()),
    k: randomMat(r, kvw, H, dt()),
    v: randomMat(r, kvw, H, dt()),
    o: randomMat(r, H, qw, dt()),
    qBias: bias(qw),
    kBias: bias(kvw),
    vBias: bias(kvw),
    oBias: bias(H),
    qNorm: norm(r, D),
    kNorm: norm(r, D),
    mlpNorm: norm(r, H),
    ffn: isMoe
      ? {
        kind: "moe" as const,
        router: randomMat(r, E, H, dt(), 1),
        gate: Array.from({ length: E }, () => randomMat(r, moe!.expertSize, H, dt())),
        up: Array.from({ length: E }, () => randomMat(r, moe!.expertSize, H, dt())),
        down: Array.from({ length: E }, () => randomMat(r, H, moe!.expertSize, dt())),
      }
      : {
        kind: "dense" as const,
        gate: randomMat(r, F, H, dt()),
        up: randomMat(r, F, H, dt()),
        down: randomMat(r, H, F, dt()),
      },
  }));
  const weights: Qwen3Weights = {
    embed: randomMat(r, V, H, dt(), 1),
    layers: layerWeights,
    finalNorm: norm(r, H),
    unembed: randomMat(r, V, H, dt()),
  };
  return { ...qwen3, config, weights };
}

/** A random GPT-2 with an odd FFN width (not a multiple of 4) and f16 or f32 weights. */
function randomGpt2(seed: number): LoadedGpt2 {
  const r = rng(seed), pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const heads = pick([1, 3]), D = pick([4, 8]), H = heads * D, F = pick([13, 30]);
  const V = 50, dt = (): FloatDType => pick(["F16", "F32"] as const);
  const config: Gpt2Config = {
    ...gpt2.config,
    vocabSize: V,
    hiddenSize: H,
    numHeads: heads,
    headDim: D,
    ffnSize: F,
    numLayers: 2,
    maxContext: 40,
  };
  const layer = () => ({
    ln1W: norm(r, H),
    ln1B: randomF32(H, r, 0.2),
    q: randomMat(r, H, H, dt()),
    qBias: randomF32(H, r, 0.2),
    k: randomMat(r, H, H, dt()),
    kBias: randomF32(H, r, 0.2),
    v: randomMat(r, H, H, dt()),
    vBias: randomF32(H, r, 0.2),
    o: randomMat(r, H, H, dt()),
    oBias: randomF32(H, r, 0.2),
    ln2W: norm(r, H),
    ln2B: randomF32(H, r, 0.2),
    fc: randomMat(r, F, H, dt()),
    fcBias: randomF32(F, r, 0.2),
    proj: randomMat(r, H, F, dt()),
    projBias: randomF32(H, r, 0.2),
  });
  const tokenEmbed = randomMat(r, V, H, dt(), 1);
  const weights: Gpt2Weights = {
    tokenEmbed,
    posEmbed: randomMat(r, 40, H, dt(), 0.5),
    layers: [layer(), layer()],
    finalNormW: norm(r, H),
    finalNormB: randomF32(H, r, 0.2),
    unembed: tokenEmbed,
  };
  return { ...gpt2, config, weights };
}

function variants(): [string, LoadedGpt2 | LoadedQwen3][] {
  return [
    ...fixtureVariants(rng(77), randomMat, randomF32),
    ...[1, 2, 3, 4, 5].map((s): [string, LoadedQwen3] => {
      const m = randomQwen3(s), k = m.config;
      return [
        `random ${k.arch} ${s}: hidden ${k.hiddenSize}, ${k.numHeads}/${k.numKvHeads} heads of ${k.headDim}`,
        m,
      ];
    }),
    ...[6, 7].map((s): [string, LoadedGpt2] => {
      const m = randomGpt2(s), k = m.config;
      return [`random gpt2 ${s}: hidden ${k.hiddenSize}, ffn ${k.ffnSize}`, m];
    }),
  ];
}

Deno.test("wasm GPT-2/Qwen3 variants match the reference backend: prompt logits and 4 greedy steps", async () => {
  const tokens = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 45);
  for (const [what, model] of variants()) {
    const ref = createArchRefBackend(model, 32);
    const wb = createArchWasmBackend(model, { maxContext: 32, maxTokens: 5 });
    const V = model.config.vocabSize;
    const want = await ref.forward(tokens, 0, { logits: "all" });
    const got = await wb.forward(tokens, 0, { logits: "all" });
    const d = maxAbsDiff(got, Array.from(want));
    assert(d < 1e-3, `${what}: prompt logits differ by ${d}`);
    let a = argmax(want, tokens.length - 1, V);
    for (let i = 0; i < 4; i++) {
      const w = await ref.forward([a], tokens.length + i, { logits: "last" });
      const g = await wb.forward([a], tokens.length + i, { logits: "last" });
      assert(maxAbsDiff(g, Array.from(w)) < 1e-3, `${what}: step ${i} logits`);
      assertEquals(argmax(g), argmax(w), `${what}: step ${i}`);
      a = argmax(w);
    }
    // rolling back: rerunning the last two positions with other tokens overwrites their cache entries
    const back = [3, 4], p = tokens.length + 2;
    const w2 = await ref.forward(back, p, { logits: "all" }),
      g2 = await wb.forward(back, p, { logits: "all" });
    assert(maxAbsDiff(g2, Array.from(w2)) < 1e-3, `${what}: after rollback`);
  }
});
