// ModelConfig: the frozen description every architecture parses config.json into (plus its own fields),
// and ConfigReader, which reads keys with their range checked: an error names the file, the key and the value.

import { FormatError, MissingError } from "../errors.ts";

export type NormKind = "rmsnorm" | "layernorm";

/** YaRN context extension (gpt-oss, Qwen3): scales the low RoPE frequencies and the attention logits. */
export interface YarnScaling {
  readonly kind: "yarn";
  /** >= 1; 1 is plain RoPE. */
  readonly factor: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  readonly originalContext: number;
  readonly truncate: boolean;
  /** Scale of cos and sin; null: 0.1 ln(factor) + 1. */
  readonly attentionFactor: number | null;
}

/** Llama 3's frequency-dependent scaling (transformers `_compute_llama3_parameters`); cos/sin unscaled. */
export interface Llama3Scaling {
  readonly kind: "llama3";
  /** >= 1: long wavelengths are divided by it. */
  readonly factor: number;
  readonly lowFreqFactor: number;
  /** > lowFreqFactor: wavelengths between originalContext/high and originalContext/low are blended. */
  readonly highFreqFactor: number;
  readonly originalContext: number;
}

/** Position interpolation (transformers' "linear"): every frequency divided by the factor. */
export interface LinearScaling {
  readonly kind: "linear";
  /** >= 1 */
  readonly factor: number;
}

export interface RopeConfig {
  readonly theta: number;
  /** Rotated dimensions per head (= headDim). Pairs are (i, i + dim/2): the "half split" layout. */
  readonly dim: number;
  readonly scaling: YarnScaling | Llama3Scaling | LinearScaling | null;
}

/** What every architecture's config holds; each architecture file adds its own fields. */
export interface ModelConfig {
  /** The registry key of the architecture: config.json's model_type ("gpt_oss" for gpt-oss's original/). */
  readonly arch: string;
  /** The config.json this came from, for error messages. */
  readonly source: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** numHeads is a multiple of it: query head h reads KV head h / (numHeads / numKvHeads). */
  readonly numKvHeads: number;
  /** Even (RoPE rotates pairs). */
  readonly headDim: number;
  /** Longest context the model supports (learned positions: no embedding past it). */
  readonly maxContext: number;
  /** Each in [0, vocabSize). */
  readonly eosTokenIds: readonly number[];
  /** The final norm's kind and every norm's epsilon (> 0). */
  readonly norm: { readonly kind: NormKind; readonly eps: number };
  /** RoPE; null: learned absolute positions added to the embedding (GPT-2). */
  readonly rope: RopeConfig | null;
}

/** A numeric key's allowed range, and the words an error uses for it. */
interface Range {
  readonly ok: (v: number) => boolean;
  readonly says: string;
}

export const POSITIVE: Range = { ok: (v) => v > 0, says: "> 0" };
export const AT_LEAST_ONE: Range = { ok: (v) => v >= 1, says: ">= 1" };
/** A normalisation epsilon: a small positive number. */
export const EPSILON: Range = { ok: (v) => v > 0 && v < 1, says: "in (0, 1)" };

/** Typed access to config.json keys; every error names the file, the key and the value. */
export class ConfigReader {
  constructor(readonly file: string, readonly json: Record<string, unknown>) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** The first of `keys` present (several present must agree), else `fallback`; in `range` when given. */
  number(keys: string | string[], fallback?: number, range?: Range): number {
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
    if (!found) {
      if (fallback !== undefined) return fallback;
      throw new MissingError(`${this.file}: missing key '${list[0]}'`);
    }
    if (range && !range.ok(found.value)) {
      throw new FormatError(`${this.file}: key '${found.key}' must be ${range.says}, got ${found.value}`);
    }
    return found.value;
  }

  /** Like number(), and the value must be a positive integer. */
  int(keys: string | string[], fallback?: number): number {
    return this.number(keys, fallback, {
      ok: (v) => Number.isSafeInteger(v) && v > 0,
      says: "a positive integer",
    });
  }

  /** A boolean key (absent: `fallback`). */
  bool(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const v = this.json[key];
    if (typeof v !== "boolean") {
      throw new FormatError(`${this.file}: key '${key}' must be true or false, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A string key (absent: `fallback`); when `allowed` is given, one of those. */
  string(key: string, fallback: string, allowed?: readonly string[]): string {
    const v = this.has(key) ? this.json[key] : fallback;
    if (typeof v !== "string" || (allowed && !allowed.includes(v))) {
      const expected = allowed ? ` (expected ${allowed.map((a) => `'${a}'`).join(" or ")})` : "";
      throw new FormatError(`${this.file}: key '${key}' is ${JSON.stringify(v)}, not supported${expected}`);
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

  /** An error about this file, naming `key` and its value. */
  error(key: string, message: string): FormatError {
    return new FormatError(`${this.file}: key '${key}' ${message}`);
  }
}

/**
 * The attention heads of a config: heads, KV heads (absent key or null: as many as heads) and head_dim
 * (given, or hidden / heads).
 */
export function parseHeads(
  c: ConfigReader,
  hidden: number,
  heads: string[] = ["num_attention_heads"],
  kvHeads: string[] | null = ["num_key_value_heads"],
): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = c.int(heads);
  const numKvHeads = kvHeads ? c.int(kvHeads, numHeads) : numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw c.error(kvHeads![0], `(${numKvHeads}) must divide the ${numHeads} attention heads`);
  }
  if (!c.has("head_dim") && hidden % numHeads !== 0) {
    throw c.error(heads[0], `(${numHeads}) must divide the hidden size ${hidden} when head_dim is absent`);
  }
  const headDim = c.int("head_dim", hidden / numHeads);
  if (headDim % 2 !== 0) throw c.error("head_dim", `must be even (RoPE rotates pairs), got ${headDim}`);
  return { numHeads, numKvHeads, headDim };
}

/**
 * RoPE from `rope_theta` and `rope_scaling` (or the newer `rope_parameters`): plain, linear, YaRN or llama3.
 * `originalContext` is YaRN's default original_max_position_embeddings.
 */
export function parseRope(
  c: ConfigReader,
  headDim: number,
  originalContext: number,
  defaultTheta: number | undefined = 10000,
): RopeConfig {
  const params = c.object("rope_parameters");
  const theta = c.has("rope_theta") || !params
    ? c.number("rope_theta", defaultTheta, POSITIVE)
    : params.number("rope_theta", defaultTheta, POSITIVE);
  const s = c.object("rope_scaling") ?? params;
  const type = s ? s.json.rope_type ?? s.json.type ?? "default" : "default";
  let scaling: RopeConfig["scaling"] = null;
  if (type === "yarn") scaling = parseYarn(s!, originalContext, s!.json.truncate !== false);
  else if (type === "linear") {
    scaling = { kind: "linear", factor: s!.number("factor", undefined, AT_LEAST_ONE) };
  } else if (type === "llama3") {
    const low = s!.number("low_freq_factor", undefined, POSITIVE);
    const high = s!.number("high_freq_factor", undefined, {
      ok: (v) => v > low,
      says: `> low_freq_factor (${low})`,
    });
    scaling = {
      kind: "llama3",
      factor: s!.number("factor", undefined, AT_LEAST_ONE),
      lowFreqFactor: low,
      highFreqFactor: high,
      originalContext: s!.int("original_max_position_embeddings"),
    };
  } else if (type !== "default") {
    throw new FormatError(
      `${s!.file}: rope type ${
        JSON.stringify(type)
      } is not supported (expected 'default', 'linear', 'yarn' or 'llama3')`,
    );
  }
  return Object.freeze({ theta, dim: headDim, scaling: scaling && Object.freeze(scaling) });
}

/** YaRN's keys in `c` (beta_fast > beta_slow > 0, factor >= 1); the original/ layout passes its own names. */
export function parseYarn(
  c: ConfigReader,
  originalContext: number | undefined,
  truncate: boolean,
  keys = {
    factor: "factor",
    betaFast: "beta_fast",
    betaSlow: "beta_slow",
    context: "original_max_position_embeddings",
  },
): YarnScaling {
  const betaSlow = c.number(keys.betaSlow, 1, POSITIVE);
  return {
    kind: "yarn",
    factor: c.number(keys.factor, undefined, AT_LEAST_ONE),
    betaFast: c.number(keys.betaFast, 32, {
      ok: (v) => v > betaSlow,
      says: `> ${keys.betaSlow} (${betaSlow})`,
    }),
    betaSlow,
    originalContext: c.int(keys.context, originalContext),
    truncate,
    attentionFactor: c.has("attention_factor") ? c.number("attention_factor", undefined, POSITIVE) : null,
  };
}

/**
 * Per layer: the attention window in tokens (query i sees keys i-w < j <= i), 0 for full attention, from
 * `layer_types` when present, else from `fallback(layer)`.
 */
export function parseLayerWindows(
  c: ConfigReader,
  numLayers: number,
  fallback: (layer: number) => number,
): number[] {
  const types = c.stringArray("layer_types");
  if (types && types.length !== numLayers) {
    throw c.error("layer_types", `has ${types.length} entries but num_hidden_layers is ${numLayers}`);
  }
  return Array.from({ length: numLayers }, (_, i) => {
    if (!types) return fallback(i);
    if (types[i] === "full_attention") return 0;
    if (types[i] === "sliding_attention") return c.int("sliding_window");
    throw c.error("layer_types", `holds unknown layer type '${types[i]}'`);
  });
}

/** eos_token_id as a list of ids, each inside the vocabulary. */
export function parseEos(c: ConfigReader, vocabSize: number): readonly number[] {
  const eos = c.intList("eos_token_id");
  for (const id of eos) {
    if (id < 0 || id >= vocabSize) {
      throw c.error("eos_token_id", `holds ${id}, outside the vocabulary of ${vocabSize}`);
    }
  }
  return Object.freeze(eos);
}

/**
 * The keys every transformers decoder config shares (Llama, Qwen3, ...): sizes, heads and head_dim,
 * max_position_embeddings, eos_token_id, rms_norm_eps, RoPE, and hidden_act (silu: SwiGLU's gate).
 */
export function hfDecoderConfig(
  c: ConfigReader,
  arch: string,
  defaults: { readonly maxContext: number; readonly eps: number },
): ModelConfig & { readonly rope: RopeConfig } {
  const hiddenSize = c.int("hidden_size"), vocabSize = c.int("vocab_size");
  const heads = parseHeads(c, hiddenSize);
  const maxContext = c.int("max_position_embeddings", defaults.maxContext);
  c.string("hidden_act", "silu", ["silu"]);
  return {
    arch,
    source: c.file,
    vocabSize,
    hiddenSize,
    numLayers: c.int("num_hidden_layers"),
    ...heads,
    maxContext,
    eosTokenIds: parseEos(c, vocabSize),
    norm: Object.freeze({ kind: "rmsnorm" as const, eps: c.number("rms_norm_eps", defaults.eps, EPSILON) }),
    rope: parseRope(c, heads.headDim, maxContext),
  };
}
