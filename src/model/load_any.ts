// Opens a model folder of any supported architecture: gpt-oss through load.ts (unchanged), GPT-2 and
// Qwen3 / Qwen3-MoE through their architecture files. Returns a union tagged by `arch`.

import { joinPath, readJson, TensorStore } from "../io/checkpoint.ts";
import { FormatError } from "../io/errors.ts";
import { type Gpt2Config, type Gpt2Weights, loadGpt2Weights, parseGpt2Config } from "./gpt2.ts";
import { type LoadedModel, loadModel, resolveWeightsDir } from "./load.ts";
import { loadQwen3Weights, parseQwen3Config, type Qwen3Config, type Qwen3Weights } from "./qwen3.ts";

export interface LoadedGpt2 {
  readonly arch: "gpt2";
  readonly dir: string;
  readonly config: Gpt2Config;
  readonly weights: Gpt2Weights;
  readonly store: TensorStore;
}

export interface LoadedQwen3 {
  readonly arch: "qwen3";
  readonly dir: string;
  readonly config: Qwen3Config;
  readonly weights: Qwen3Weights;
  readonly store: TensorStore;
}

export type AnyLoadedModel =
  | { readonly arch: "gpt_oss"; readonly model: LoadedModel }
  | LoadedGpt2
  | LoadedQwen3;

/** The config.json model_type values this build runs, by family. */
export const MODEL_TYPES = { gpt_oss: ["gpt_oss"], gpt2: ["gpt2"], qwen3: ["qwen3", "qwen3_moe"] } as const;

/** Which family a folder's config.json describes (no model_type and openai keys: gpt-oss original/). */
export function modelFamily(file: string, json: Record<string, unknown>): keyof typeof MODEL_TYPES {
  const type = json.model_type;
  if (type === undefined || type === "gpt_oss") return "gpt_oss";
  for (const [family, types] of Object.entries(MODEL_TYPES)) {
    if ((types as readonly unknown[]).includes(type)) return family as keyof typeof MODEL_TYPES;
  }
  const all = Object.values(MODEL_TYPES).flat().map((t) => `'${t}'`).join(", ");
  throw new FormatError(
    `${file}: model_type ${JSON.stringify(type)} is not supported (expected one of ${all})`,
  );
}

export function loadAnyModel(path: string): AnyLoadedModel {
  const dir = resolveWeightsDir(path);
  const file = joinPath(dir, "config.json");
  const json = readJson(file);
  switch (modelFamily(file, json)) {
    case "gpt_oss":
      return { arch: "gpt_oss", model: loadModel(path) };
    case "gpt2": {
      const config = parseGpt2Config(file, json);
      const store = TensorStore.open(dir);
      return { arch: "gpt2", dir, config, weights: loadGpt2Weights(store, config), store };
    }
    case "qwen3": {
      const config = parseQwen3Config(file, json);
      const store = TensorStore.open(dir);
      return { arch: "qwen3", dir, config, weights: loadQwen3Weights(store, config), store };
    }
  }
}
