// ModelConfig: the frozen description of a model, parsed once from config.json by an architecture file.

import { FormatError, MissingError } from "../io/errors.ts";

/** YaRN context extension (gpt-oss): scales the low RoPE frequencies and the attention logits. */
export interface YarnConfig {
  readonly factor: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  readonly originalContext: number;
  readonly truncate: boolean;
}

export interface RopeConfig {
  readonly theta: number;
  /** Rotated dimensions per head (= headDim). Pairs are (i, i + dim/2): the "half split" layout. */
  readonly dim: number;
  readonly yarn: YarnConfig | null;
}

export interface ModelConfig {
  readonly arch: "gpt_oss";
  /** The config.json this came from, for error messages. */
  readonly source: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly numExperts: number;
  readonly expertsPerToken: number;
  /** Per-expert FFN width; gate_up has 2x this many rows. */
  readonly intermediateSize: number;
  /** Per layer: attention window in tokens (query i sees keys i-w < j <= i), 0 for full attention. */
  readonly layerWindows: readonly number[];
  readonly rope: RopeConfig;
  readonly swigluLimit: number;
  readonly swigluAlpha: number;
  readonly rmsNormEps: number;
  /** Longest context the model supports (max_position_embeddings). */
  readonly maxContext: number;
  readonly eosTokenIds: readonly number[];
}

/** Typed access to config.json keys; every error names the key and the file. */
export class ConfigReader {
  constructor(readonly file: string, readonly json: Record<string, unknown>) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** The first of `keys` present; if several are present they must agree. */
  number(keys: string | string[], fallback?: number): number {
    const list = Array.isArray(keys) ? keys : [keys];
    let found: { key: string; value: number } | undefined;
    for (const key of list) {
      if (!this.has(key)) continue;
      const v = this.json[key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new FormatError(`${this.file}: key '${key}' must be a number, got ${JSON.stringify(v)}`);
      }
      if (found && found.value !== v) {
        throw new FormatError(
          `${this.file}: keys '${found.key}' (${found.value}) and '${key}' (${v}) contradict`,
        );
      }
      found ??= { key, value: v };
    }
    if (found) return found.value;
    if (fallback !== undefined) return fallback;
    throw new MissingError(`${this.file}: missing key '${list[0]}'`);
  }

  /** Like number(), and the value must be a positive integer. */
  int(keys: string | string[], fallback?: number): number {
    const v = this.number(keys, fallback);
    if (!Number.isSafeInteger(v) || v <= 0) {
      const key = Array.isArray(keys) ? keys[0] : keys;
      throw new FormatError(`${this.file}: key '${key}' must be a positive integer, got ${v}`);
    }
    return v;
  }

  object(key: string): ConfigReader | null {
    if (!this.has(key)) return null;
    const v = this.json[key];
    if (typeof v !== "object" || Array.isArray(v)) {
      throw new FormatError(`${this.file}: key '${key}' must be an object`);
    }
    return new ConfigReader(`${this.file} (${key})`, v as Record<string, unknown>);
  }

  stringArray(key: string): string[] | null {
    if (!this.has(key)) return null;
    const v = this.json[key];
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
      throw new FormatError(`${this.file}: key '${key}' must be an array of strings`);
    }
    return v as string[];
  }

  intList(key: string): number[] {
    if (!this.has(key)) return [];
    const v = this.json[key];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((n) => Number.isSafeInteger(n))) {
      throw new FormatError(`${this.file}: key '${key}' must be integer(s)`);
    }
    return list as number[];
  }
}
