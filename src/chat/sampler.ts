// Next-token sampling: temperature, top-k, top-p, min-p, repetition and presence penalties, with a seeded
// PRNG so the same seed gives the same text. Temperature 0 is greedy. No full sort of the vocabulary:
// top-k keeps a k-heap, top-p sorts only the tokens above a probability floor that it lowers on demand.

import { isFile, joinPath, readJson } from "../io/checkpoint.ts";
import { OssiError } from "../io/errors.ts";

export interface SamplerParams {
  /** 0 is greedy. */
  temperature: number;
  /** 0 disables top-k. */
  topK: number;
  /** 1 disables top-p. */
  topP: number;
  /** 0 disables min-p (tokens below minP * p(max) are dropped). */
  minP: number;
  /** 1 disables; > 1 divides positive / multiplies negative logits of tokens already generated. */
  repetitionPenalty: number;
  /** Subtracted once from the logit of every token already generated. */
  presencePenalty: number;
  /** Same seed, same parameters, same logits: same tokens. Random when absent. */
  seed?: number;
}

const BASE_DEFAULTS: SamplerParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
};

/** Sampling defaults: gpt-oss's recommended (temperature 1, top-p 1) overridden by generation_config.json. */
export function defaultSamplerParams(modelDir?: string): SamplerParams {
  const p = { ...BASE_DEFAULTS };
  if (!modelDir) return p;
  const file = joinPath(modelDir, "generation_config.json");
  if (!isFile(file)) return p;
  const g = readJson(file);
  const num = (key: string): number | undefined => {
    const v = g[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new OssiError(`${file}: ${key} must be a number`);
    return v;
  };
  p.temperature = num("temperature") ?? p.temperature;
  p.topK = num("top_k") ?? p.topK;
  p.topP = num("top_p") ?? p.topP;
  p.minP = num("min_p") ?? p.minP;
  p.repetitionPenalty = num("repetition_penalty") ?? p.repetitionPenalty;
  if (g.do_sample === false) p.temperature = 0;
  return p;
}

/** Throws a one-line error for parameters out of range. */
export function validateSamplerParams(p: SamplerParams): void {
  const bad = (what: string) => {
    throw new OssiError(`sampler: ${what}`);
  };
  if (!(p.temperature >= 0)) bad(`temperature must be >= 0 (got ${p.temperature})`);
  if (!Number.isInteger(p.topK) || p.topK < 0) bad(`top-k must be a whole number >= 0 (got ${p.topK})`);
  if (!(p.topP > 0 && p.topP <= 1)) bad(`top-p must be in (0, 1] (got ${p.topP})`);
  if (!(p.minP >= 0 && p.minP < 1)) bad(`min-p must be in [0, 1) (got ${p.minP})`);
  if (!(p.repetitionPenalty > 0)) bad(`repetition penalty must be > 0 (got ${p.repetitionPenalty})`);
  if (!Number.isFinite(p.presencePenalty)) bad(`presence penalty must be a number`);
  if (p.seed !== undefined && !Number.isInteger(p.seed)) bad(`seed must be a whole number (got ${p.seed})`);
}

/** xoshiro128** seeded through splitmix32: a small PRNG giving floats in [0, 1). */
export function makeRng(seed: number): () => number {
  let x = seed >>> 0;
  const split = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([split(), split(), split(), split()]);
  return () => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result / 4294967296;
  };
}

function rotl(v: number, k: number): number {
  return ((v << k) | (v >>> (32 - k))) >>> 0;
}

export function argmax(a: Float32Array): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < a.length; i++) {
    if (a[i] > bestV) {
      bestV = a[i];
      best = i;
    }
  }
  return best;
}

/**
 * Builds a sampler. `history` returns the tokens the penalties apply to (the caller decides which: the
 * chat engine passes this turn's generated text tokens, never the harmony markup).
 */
export function makeSampler(p: SamplerParams, history?: () => readonly number[]): (logits: Float32Array) => number {
  validateSamplerParams(p);
  const rng = makeRng(p.seed ?? Math.floor(Math.random() * 2 ** 32));
  const penalize = p.repetitionPenalty !== 1 || p.presencePenalty !== 0;
  let scratch = new Float32Array(0);
  let candIds = new Int32Array(0);
  let candVals = new Float32Array(0);

  return (logits: Float32Array): number => {
    let x = logits;
    if (penalize && history) {
      if (scratch.length !== logits.length) scratch = new Float32Array(logits.length);
      scratch.set(logits);
      x = scratch;
      const seen = new Set(history());
      for (const id of seen) {
        if (id < 0 || id >= x.length) continue;
        let v = x[id];
        v = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty;
        x[id] = v - p.presencePenalty;
      }
    }
    if (p.temperature === 0) return argmax(x);
    const invT = 1 / p.temperature;
    const n = x.length;
    if (candIds.length < n) {
      candIds = new Int32Array(n);
      candVals = new Float32Array(n);
    }
    // Candidates as (id, scaled logit). top-k first (heap), else every finite logit.
    let count: number;
    if (p.topK > 0 && p.topK < n) count = topKInto(x, p.topK, candIds, candVals, invT);
    else {
      count = 0;
      for (let i = 0; i < n; i++) {
        const v = x[i];
        if (v === -Infinity || Number.isNaN(v)) continue;
        candIds[count] = i;
        candVals[count++] = v * invT;
      }
    }
    if (count === 0) return argmax(x);
    let max = -Infinity;
    for (let i = 0; i < count; i++) if (candVals[i] > max) max = candVals[i];
    // min-p: p_i >= minP * p_max  <=>  z_i >= max + ln(minP).
    if (p.minP > 0) {
      const floor = max + Math.log(p.minP);
      let w = 0;
      for (let i = 0; i < count; i++) {
        if (candVals[i] >= floor) {
          candIds[w] = candIds[i];
          candVals[w++] = candVals[i];
        }
      }
      count = w;
    }
    let total = 0;
    for (let i = 0; i < count; i++) total += Math.exp(candVals[i] - max);
    if (p.topP < 1) count = topPInPlace(candIds, candVals, count, max, total, p.topP);
    // Sample from the kept candidates in proportion to exp(z - max).
    let kept = 0;
    for (let i = 0; i < count; i++) kept += Math.exp(candVals[i] - max);
    let r = rng() * kept;
    for (let i = 0; i < count; i++) {
      r -= Math.exp(candVals[i] - max);
      if (r < 0) return candIds[i];
    }
    return candIds[count - 1];
  };
}

/** The k largest logits (scaled by invT) into ids/vals, through a min-heap of size k: O(n log k). */
function topKInto(x: Float32Array, k: number, ids: Int32Array, vals: Float32Array, invT: number): number {
  let size = 0;
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && vals[l] < vals[m]) m = l;
      if (r < size && vals[r] < vals[m]) m = r;
      if (m === i) return;
      [vals[i], vals[m]] = [vals[m], vals[i]];
      [ids[i], ids[m]] = [ids[m], ids[i]];
      i = m;
    }
  };
  for (let i = 0; i < x.length; i++) {
    const v = x[i] * invT;
    if (Number.isNaN(v) || v === -Infinity) continue;
    if (size < k) {
      let j = size++;
      vals[j] = v;
      ids[j] = i;
      while (j > 0) {
        const parent = (j - 1) >> 1;
        if (vals[parent] <= vals[j]) break;
        [vals[parent], vals[j]] = [vals[j], vals[parent]];
        [ids[parent], ids[j]] = [ids[j], ids[parent]];
        j = parent;
      }
    } else if (v > vals[0]) {
      vals[0] = v;
      ids[0] = i;
      siftDown(0);
    }
  }
  return size;
}

/**
 * Keeps the smallest set of highest-probability candidates whose mass reaches topP; returns its size,
 * with those candidates first, in descending order. Only candidates above a floor are sorted; the floor
 * drops until the sorted ones hold enough mass, so the result equals a full sort's.
 */
function topPInPlace(
  ids: Int32Array,
  vals: Float32Array,
  count: number,
  max: number,
  total: number,
  topP: number,
): number {
  const need = topP * total;
  for (let gap = 8; ; gap *= 2) {
    const floor = max - gap;
    // Partition: candidates >= floor to the front.
    let w = 0;
    for (let i = 0; i < count; i++) {
      if (vals[i] >= floor) {
        [vals[w], vals[i]] = [vals[i], vals[w]];
        [ids[w], ids[i]] = [ids[i], ids[w]];
        w++;
      }
    }
    let mass = 0;
    for (let i = 0; i < w; i++) mass += Math.exp(vals[i] - max);
    if (mass < need && w < count) continue;
    const order = Array.from({ length: w }, (_, i) => i).sort((a, b) => vals[b] - vals[a] || ids[a] - ids[b]);
    const sortedIds = order.map((i) => ids[i]);
    const sortedVals = order.map((i) => vals[i]);
    let cum = 0;
    let keep = 0;
    while (keep < w) {
      cum += Math.exp(sortedVals[keep] - max);
      keep++;
      if (cum >= need) break;
    }
    for (let i = 0; i < keep; i++) {
      ids[i] = sortedIds[i];
      vals[i] = sortedVals[i];
    }
    return keep;
  }
}
