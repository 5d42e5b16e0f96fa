// The WebGPU GPT-2 / Qwen3 backends against the reference backend on other shapes of the fixtures built in
// memory: Qwen3-MoE with norm_topk_prob false and with a dense-only layer, Qwen3 with a sliding-window layer,
// attention biases and an untied head, GPT-2 untied.

import { assert, assertEquals } from "../../assert.ts";
import { argmax } from "../../../src/backends/ref/kernels.ts";
import { createArchRefBackend } from "../../../src/backends/ref/arch_backend.ts";
import { createArchWebGpuBackend } from "../../../src/backends/webgpu/arch_backend.ts";
import { loadAnyModel, type LoadedGpt2, type LoadedQwen3 } from "../../../src/model/load_any.ts";
import { FIXTURES, maxAbsDiff } from "../../fixture_util.ts";
import { randomF32, rng, sharedGpu } from "./gpu_harness.ts";
import { randomMat } from "./random_model.ts";

const qwen3 = loadAnyModel(`${FIXTURES}/qwen3-tiny`) as LoadedQwen3;
const qwen3Moe = loadAnyModel(`${FIXTURES}/qwen3-moe-tiny`) as LoadedQwen3;
const gpt2 = loadAnyModel(`${FIXTURES}/gpt2-tiny`) as LoadedGpt2;
const r = rng(41);

function variants(): [string, LoadedGpt2 | LoadedQwen3][] {
  const moeCfg = qwen3Moe.config, c = qwen3.config, H = c.hiddenSize, D = c.headDim;
  const F = moeCfg.intermediateSize;
  const denseLayer = {
    ...qwen3Moe.weights.layers[1],
    ffn: {
      kind: "dense" as const,
      gate: randomMat(r, F, H, "BF16", 0.2),
      up: randomMat(r, F, H, "BF16", 0.2),
      down: randomMat(r, H, F, "BF16", 0.2),
    },
  };
  return [
    ["qwen3-moe norm_topk_prob false", {
      ...qwen3Moe,
      config: { ...moeCfg, moe: { ...moeCfg.moe!, normTopkProb: false } },
    }],
    ["qwen3-moe with a dense-only layer 1", {
      ...qwen3Moe,
      config: { ...moeCfg, layerIsMoe: moeCfg.layerIsMoe.map((m, l) => l === 1 ? false : m) },
      weights: {
        ...qwen3Moe.weights,
        layers: qwen3Moe.weights.layers.map((L, l) => l === 1 ? denseLayer : L),
      },
    }],
    ["qwen3 with a 3-token sliding window on layer 1, attention biases and an untied head", {
      ...qwen3,
      config: {
        ...c,
        attentionBias: true,
        tieEmbeddings: false,
        layerWindows: c.layerWindows.map((w, l) => l === 1 ? 3 : w),
      },
      weights: {
        ...qwen3.weights,
        unembed: randomMat(r, c.vocabSize, H, "BF16"),
        layers: qwen3.weights.layers.map((L) => ({
          ...L,
          qBias: randomF32(c.numHeads * D, r, 0.5),
          kBias: randomF32(c.numKvHeads * D, r, 0.5),
          vBias: randomF32(c.numKvHeads * D, r, 0.5),
          oBias: randomF32(H, r, 0.5),
        })),
      },
    }],
    ["gpt2 with its own lm_head", {
      ...gpt2,
      weights: {
        ...gpt2.weights,
        unembed: randomMat(r, gpt2.config.vocabSize, gpt2.config.hiddenSize, "F32"),
      },
    }],
  ];
}

Deno.test("WebGPU GPT-2/Qwen3 variants match the reference backend: prompt logits and 4 greedy steps", async () => {
  const gpu = await sharedGpu();
  const tokens = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 300);
  for (const [what, model] of variants()) {
    const ref = createArchRefBackend(model, 32);
    const gb = await createArchWebGpuBackend(model, { maxContext: 32, gpu, maxTokens: 8 });
    try {
      const want = await ref.forward(tokens, 0, { logits: "all" });
      const got = await gb.forward(tokens, 0, { logits: "all" });
      const d = maxAbsDiff(got, Array.from(want));
      assert(d < 2e-3, `${what}: prompt logits differ by ${d}`);
      let a = argmax(want, tokens.length - 1, model.config.vocabSize);
      for (let i = 0; i < 4; i++) {
        const next = argmax(await ref.forward([a], tokens.length + i, { logits: "last" }));
        assertEquals(await gb.greedy([a], tokens.length + i), next, `${what}: step ${i}`);
        a = next;
      }
    } finally {
      ref.dispose();
      gb.dispose();
    }
  }
});
