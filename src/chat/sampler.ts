// Next-token sampling: temperature, top-k, top-p, min-p, repetition and presence penalties, with a seeded
// PRNG so the same seed gives the same text. Temperature 0 is greedy. No full sort of the vocabulary:
// top-k keeps a k-heap, top-p sorts only the tokens a histogram of the logits shows it needs.

import { exists, joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError, OssiError } from "../errors.ts";

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
  /** Subtracted from a token's logit once per time it was already generated (OpenAI's frequency_penalty). */
  frequencyPenalty?: number;
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
  if (!exists(file)) return p;
  const g = readJson(file);
  const num = (key: string): number | undefined => {
    const v = g[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new FormatError(`${file}: ${key} must be a number`);
    }
    return v;
  };
  p.temperature = num("temperature") ?? p.temperature;
  p.topK = num("top_k") ?? p.topK;
  p.topP = num("top_p") ?? p.topP;
  p.minP = num("min_p") ?? p.minP;
  p.repetitionPenalty = num("repetition_penalty") ?? p.repetitionPenalty;
  if (g.do_sample !== undefined && g.do_sample !== null && typeof g.do_sample !== "boolean") {
    throw new FormatError(`${file}: do_sample must be true or false`);
  }
  if (g.do_sample === false) p.temperature = 0;
  try {
    validateSamplerParams(p);
  } catch (e) {
    throw new FormatError(`${file}: ${(e as Error).message.replace(/^sampler: /, "")}`);
  }
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
  if (p.frequencyPenalty !== undefined && !Number.isFinite(p.frequencyPenalty)) {
    bad(`frequency penalty must be a number`);
  }
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

/** Applies penalties and filters to logits; leaves the kept candidates in `ids`/`vals` (scaled logits). */
class CandidateFilter {
  ids = new Int32Array(0);
  vals = new Float32Array(0);
  private scratch = new Float32Array(0);

  constructor(private readonly p: SamplerParams) {}

  /** Logits with the repetition and presence penalties applied to `history` (a copy when changed). */
  penalized(logits: Float32Array, history: readonly number[] | undefined): Float32Array {
    const p = this.p;
    const freq = p.frequencyPenalty ?? 0;
    if (!history?.length || (p.repetitionPenalty === 1 && p.presencePenalty === 0 && freq === 0)) {
      return logits;
    }
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const x = this.scratch;
    x.set(logits);
    const counts = new Map<number, number>();
    for (const id of history) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, n] of counts) {
      if (id < 0 || id >= x.length) continue;
      const v = x[id];
      x[id] = (v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty) - p.presencePenalty - freq * n;
    }
    return x;
  }

  /** Filters penalized logits `x` (temperature > 0); returns the candidate count and the max scaled logit. */
  filter(x: Float32Array): { count: number; max: number } {
    const p = this.p;
    const invT = 1 / p.temperature;
    const n = x.length;
    if (this.ids.length < n) {
      this.ids = new Int32Array(n);
      this.vals = new Float32Array(n);
    }
    const ids = this.ids, vals = this.vals;
    // Candidates as (id, scaled logit): top-k through a heap, else every finite logit.
    let count = 0;
    if (p.topK > 0 && p.topK < n) count = topKInto(x, p.topK, ids, vals, invT);
    else {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        if (v === -Infinity || Number.isNaN(v)) continue;
        ids[count] = i;
        vals[count++] = v * invT;
      }
    }
    let max = -Infinity;
    for (let i = 0; i < count; i++) if (vals[i] > max) max = vals[i];
    if (count === 0) return { count, max };
    // min-p: p_i >= minP * p_max  <=>  z_i >= max + ln(minP).
    if (p.minP > 0) {
      const floor = max + Math.log(p.minP);
      let w = 0;
      for (let i = 0; i < count; i++) {
        if (vals[i] >= floor) {
          ids[w] = ids[i];
          vals[w++] = vals[i];
        }
      }
      count = w;
    }
    if (p.topP < 1) {
      let total = 0;
      for (let i = 0; i < count; i++) total += Math.exp(vals[i] - max);
      count = topPInPlace(ids, vals, count, max, total, p.topP);
    }
    return { count, max };
  }
}

/**
 * Builds a sampler. `history` returns the tokens the penalties apply to (the caller decides which: the
 * chat engine passes this turn's generated text tokens, never the harmony markup).
 */
export function makeSampler(
  p: SamplerParams,
  history?: () => readonly number[],
): (logits: Float32Array) => number {
  validateSamplerParams(p);
  const rng = makeRng(p.seed ?? Math.floor(Math.random() * 2 ** 32));
  const f = new CandidateFilter(p);
  const penalize = p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || (p.frequencyPenalty ?? 0) !== 0;
  let weights = new Float64Array(0);
  return (logits: Float32Array): number => {
    if (logits.length > MAX_SORT_IDS) {
      throw new OssiError(`sampler: vocabulary of ${logits.length} is too large`);
    }
    const x = penalize ? f.penalized(logits, history?.()) : logits;
    if (p.temperature === 0) return argmax(x);
    const { count, max } = f.filter(x);
    if (count === 0) return argmax(x);
    // Sample from the kept candidates in proportion to exp(z - max).
    if (weights.length < count) weights = new Float64Array(f.ids.length);
    let kept = 0;
    for (let i = 0; i < count; i++) kept += weights[i] = Math.exp(f.vals[i] - max);
    let r = rng() * kept;
    for (let i = 0; i < count; i++) {
      r -= weights[i];
      if (r < 0) return f.ids[i];
    }
    return f.ids[count - 1];
  };
}

/**
 * Whether makeSampler(p) is the plain argmax of the logits (temperature 0, no penalties), so a backend's
 * greedy() can pick the token without handing over the logits. Top-k sampling has no such shortcut: the
 * token drawn depends on the order the full row leaves in the k-heap.
 */
export function samplesArgmax(p: SamplerParams): boolean {
  return p.temperature === 0 && p.repetitionPenalty === 1 && p.presencePenalty === 0 &&
    (p.frequencyPenalty ?? 0) === 0;
}

export interface Logprobs {
  logprob: number;
  /** The k most likely ids, most likely first. */
  top: { id: number; logprob: number }[];
}

/**
 * Log-probabilities under the distribution makeSampler(p) draws from: penalties, temperature and the
 * top-k / top-p / min-p cut applied, renormalised over the tokens kept (a token outside them has none and
 * is never listed). Greedy decoding (temperature 0) has no spread to report, so it reports the
 * temperature-1 distribution whose argmax it takes.
 */
export function makeLogprobs(
  p: SamplerParams,
  history?: () => readonly number[],
): (logits: Float32Array, chosen: number, k: number) => Logprobs {
  validateSamplerParams(p);
  const q = p.temperature === 0 ? { ...p, temperature: 1, topK: 0, topP: 1, minP: 0 } : p;
  const f = new CandidateFilter(q);
  return (logits, chosen, k) => {
    const { count, max } = f.filter(f.penalized(logits, history?.()));
    let sum = 0;
    for (let i = 0; i < count; i++) sum += Math.exp(f.vals[i] - max);
    const lse = max + Math.log(sum);
    let logprob = -Infinity;
    const top: { id: number; logprob: number }[] = [];
    for (let i = 0; i < count; i++) {
      const lp = f.vals[i] - lse;
      if (f.ids[i] === chosen) logprob = lp;
      if (k > 0 && (top.length < k || lp > top[top.length - 1].logprob)) {
        let j = top.length < k ? top.length : k - 1;
        top[j] = { id: f.ids[i], logprob: lp };
        for (
          ;
          j > 0 && (top[j - 1].logprob < lp || (top[j - 1].logprob === lp && top[j - 1].id > f.ids[i]));
          j--
        ) {
          [top[j - 1], top[j]] = [top[j], top[j - 1]];
        }
      }
    }
    return { logprob, top };
  };
}

/** The distribution makeSampler draws from, id -> probability (for tests and debugging). */
export function samplingDistribution(
  logits: Float32Array,
  p: SamplerParams,
  history?: readonly number[],
): Map<number, number> {
  validateSamplerParams(p);
  const f = new CandidateFilter(p);
  const x = f.penalized(logits, history);
  if (p.temperature === 0) return new Map([[argmax(x), 1]]);
  const { count, max } = f.filter(x);
  let total = 0;
  for (let i = 0; i < count; i++) total += Math.exp(f.vals[i] - max);
  const out = new Map<number, number>();
  for (let i = 0; i < count; i++) out.set(f.ids[i], Math.exp(f.vals[i] - max) / total);
  return out;
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

/** Token ids must stay below this for the packed sort keys of top-p (2^21). */
const MAX_SORT_IDS = 2097152;

/** Histogram resolution of top-p: bins of width TOP_P_RANGE / TOP_P_BINS below the max scaled logit. */
const TOP_P_BINS = 4096;
const TOP_P_RANGE = 64;

/**
 * Keeps the smallest set of highest-probability candidates whose mass reaches topP; returns its size,
 * with those candidates first, in descending order. A histogram of the scaled logits finds the bin where
 * the cumulative mass reaches topP; only candidates at or above that bin are sorted, which gives the same
 * set as sorting everything (every candidate left out is below every candidate sorted).
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
  const mass = new Float64Array(TOP_P_BINS + 1); // the last bin collects everything below the range
  const scale = TOP_P_BINS / TOP_P_RANGE;
  const binOf = (z: number) => Math.min(TOP_P_BINS, Math.floor((max - z) * scale));
  for (let i = 0; i < count; i++) mass[binOf(vals[i])] += Math.exp(vals[i] - max);
  let stop = 0;
  for (let cum = 0; stop <= TOP_P_BINS; stop++) {
    cum += mass[stop];
    if (cum >= need) break;
  }
  let w = 0;
  for (let i = 0; i < count; i++) {
    if (binOf(vals[i]) <= stop) {
      const v = vals[w], id = ids[w];
      vals[w] = vals[i];
      ids[w] = ids[i];
      vals[i] = v;
      ids[i] = id;
      w++;
    }
  }
  sortDescending(ids, vals, w);
  let cum = 0;
  let keep = 0;
  while (keep < w) {
    cum += Math.exp(vals[keep] - max);
    keep++;
    if (cum >= need) break;
  }
  return keep;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Sorts the first n candidates by value descending, then id ascending, with one native Float64Array sort:
 * each key packs the value's order-preserving 32-bit pattern above a 21-bit id (exact below 2^53).
 */
function sortDescending(ids: Int32Array, vals: Float32Array, n: number): void {
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    f32[0] = vals[i];
    const bits = u32[0];
    const ascending = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ascending) * MAX_SORT_IDS + ids[i];
  }
  keys.sort();
  for (let i = 0; i < n; i++) {
    const id = keys[i] % MAX_SORT_IDS;
    ids[i] = id;
    u32[0] = 0;
    const ascending = 0xffffffff - (keys[i] - id) / MAX_SORT_IDS;
    u32[0] = ascending & 0x80000000 ? ascending & 0x7fffffff : ~ascending >>> 0;
    vals[i] = f32[0];
  }
}
