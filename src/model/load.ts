// Opens a model folder of any registered architecture: finds its config and weights (Hub layout, or the
// original/ layout), parses the config with the architecture's parser, plans the layers and resolves the
// weights the plan needs through the layout's name table.

import { isDir, isFile, joinPath, listWeightFiles, readJson, TensorStore } from "../io/checkpoint.ts";
import { MissingError } from "../errors.ts";
import type { Architecture } from "./architecture.ts";
import type { ModelConfig } from "./config.ts";
import type { ModelPlan } from "./plan.ts";
import { architectureOf } from "./registry.ts";
import { CheckpointReader, loadWeights, type ModelWeights } from "./weights.ts";

export interface LoadedModel<C extends ModelConfig = ModelConfig> {
  /** The folder holding config.json and the weights actually used. */
  readonly dir: string;
  readonly arch: Architecture<C>;
  readonly config: C;
  readonly plan: ModelPlan;
  /** The checkpoint layout found ("hub", "original", ...). */
  readonly layout: string;
  readonly weights: ModelWeights;
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
export function readModelConfig(dir: string): { arch: Architecture; config: ModelConfig } {
  const file = joinPath(dir, "config.json");
  const json = readJson(file);
  const arch = architectureOf(file, json);
  return { arch, config: arch.parseConfig(file, json) };
}

export function loadModel(path: string): LoadedModel {
  const dir = resolveWeightsDir(path);
  const { arch, config } = readModelConfig(dir);
  const store = TensorStore.open(dir);
  const plan = arch.plan(config);
  const names = arch.tensorNames(config, (n) => store.has(n), dir);
  const weights = loadWeights(new CheckpointReader((n) => store.tensor(n)), config, plan, names);
  return { dir, arch, config, plan, layout: names.layout, weights, store };
}
