// Opens a model folder: finds its config and weights (Hub layout, or the original/ layout), parses the
// config with the architecture's parser and resolves the weights.

import { isDir, isFile, joinPath, listWeightFiles, readJson, TensorStore } from "../io/checkpoint.ts";
import { FormatError, MissingError } from "../io/errors.ts";
import type { ModelConfig } from "./config.ts";
import {
  detectLayout,
  type GptOssLayout,
  type GptOssWeights,
  loadGptOssWeights,
  parseGptOssConfig,
} from "./gpt_oss.ts";

export interface LoadedModel {
  /** The folder holding config.json and the weights actually used. */
  readonly dir: string;
  readonly config: ModelConfig;
  readonly layout: GptOssLayout;
  readonly weights: GptOssWeights;
  readonly store: TensorStore;
}

/** The folder within `path` whose config.json and safetensors describe the model. */
export function resolveWeightsDir(path: string): string {
  if (!isDir(path)) throw new MissingError(`${path}: no such model folder`);
  if (listWeightFiles(path).length > 0 && isFile(joinPath(path, "config.json"))) return path;
  const original = joinPath(path, "original");
  if (isDir(original) && listWeightFiles(original).length > 0 && isFile(joinPath(original, "config.json"))) {
    return original;
  }
  if (!isFile(joinPath(path, "config.json"))) {
    throw new MissingError(`${path}: no config.json (not a model folder)`);
  }
  throw new MissingError(`${path}: no *.safetensors weights`);
}

/** Parses a folder's config.json with the parser of its architecture. */
export function readModelConfig(dir: string): ModelConfig {
  const file = joinPath(dir, "config.json");
  const json = readJson(file);
  const type = json.model_type;
  // The original/ config has no model_type; it is recognised by its openai key names.
  if (type === "gpt_oss" || (type === undefined && "num_experts" in json && "rope_ntk_alpha" in json)) {
    return parseGptOssConfig(file, json);
  }
  throw new FormatError(`${file}: model_type ${JSON.stringify(type)} is not supported (expected 'gpt_oss')`);
}

export function loadModel(path: string): LoadedModel {
  const dir = resolveWeightsDir(path);
  const config = readModelConfig(dir);
  const store = TensorStore.open(dir);
  const layout = detectLayout(store);
  const weights = loadGptOssWeights(store, config, layout);
  return { dir, config, layout, weights, store };
}
