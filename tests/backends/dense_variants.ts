// GPT-2 / Qwen3 shapes the fixtures do not have, built in memory from them, for comparing a backend
// with the reference: Qwen3-MoE with norm_topk_prob false and with a dense-only layer, Qwen3 with a
// sliding-window layer, attention biases and an untied head, GPT-2 with its own lm_head.

import type { FloatDType, Mat } from "../../src/model/dtypes.ts";
import { type LoadedModel, loadModel } from "../../src/model/load.ts";
import type { Qwen3Config } from "../../src/model/qwen3.ts";
import type { LayerWeights } from "../../src/model/weights.ts";
import { FIXTURES } from "../fixture_util.ts";

export type RandomMat = (
  r: () => number,
  rows: number,
  cols: number,
  dtype: FloatDType,
  scale?: number,
) => Mat;

export const qwen3 = loadModel(`${FIXTURES}/qwen3-tiny`);
export const qwen3Moe = loadModel(`${FIXTURES}/qwen3-moe-tiny`);
export const gpt2 = loadModel(`${FIXTURES}/gpt2-tiny`);

/** The model with its config patched and its plan made again from the patched config. */
export function withConfig(m: LoadedModel, patch: Record<string, unknown>): LoadedModel {
  const config = { ...m.config, ...patch };
  return { ...m, config, plan: m.arch.plan(config) };
}

/** The four fixture variants; `r` draws the new weights through the caller's `randomMat`. */
export function fixtureVariants(
  r: () => number,
  randomMat: RandomMat,
  randomF32: (n: number, r: () => number, scale?: number) => Float32Array,
): [string, LoadedModel][] {
  const moeCfg = qwen3Moe.config as Qwen3Config,
    c = qwen3.config as Qwen3Config,
    H = c.hiddenSize,
    D = c.headDim;
  const F = moeCfg.intermediateSize;
  const denseLayer: LayerWeights = {
    ...qwen3Moe.weights.layers[1],
    ffn: {
      kind: "dense",
      gate: randomMat(r, F, H, "BF16", 0.2),
      gateBias: null,
      up: randomMat(r, F, H, "BF16", 0.2),
      upBias: null,
      down: randomMat(r, H, F, "BF16", 0.2),
      downBias: null,
    },
  };
  const withDense = withConfig(qwen3Moe, {
    layerIsMoe: moeCfg.layerIsMoe.map((m, l) => l === 1 ? false : m),
  });
  return [
    [
      "qwen3-moe norm_topk_prob false",
      withConfig(qwen3Moe, { moe: { ...moeCfg.moe!, normTopkProb: false } }),
    ],
    ["qwen3-moe with a dense-only layer 1", {
      ...withDense,
      weights: {
        ...qwen3Moe.weights,
        layers: qwen3Moe.weights.layers.map((L, l) => l === 1 ? denseLayer : L),
      },
    }],
    ["qwen3 with a 3-token sliding window on layer 1, attention biases and an untied head", {
      ...withConfig(qwen3, {
        attentionBias: true,
        tieEmbeddings: false,
        layerWindows: c.layerWindows.map((w, l) => l === 1 ? 3 : w),
      }),
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
