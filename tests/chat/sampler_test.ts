// The sampler against a brute-force reference (full sort) on random logits and parameters, seeded
// reproducibility, greedy at temperature 0, the drawn frequencies, and generation_config.json defaults.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import {
  defaultSamplerParams,
  makeRng,
  makeSampler,
  type SamplerParams,
  samplesArgmax,
  samplingDistribution,
} from "../../src/chat/sampler.ts";
import { OssiError } from "../../src/errors.ts";

const params = (o: Partial<SamplerParams> = {}): SamplerParams => ({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  ...o,
});

/** Penalties, temperature, top-k, min-p, top-p by sorting everything: the definition, slowly. */
function referenceDistribution(
  logits: Float32Array,
  p: SamplerParams,
  history: number[] = [],
): Map<number, number> {
  const x = Array.from(logits);
  for (const id of new Set(history)) {
    x[id] = (x[id] > 0 ? x[id] / p.repetitionPenalty : x[id] * p.repetitionPenalty) - p.presencePenalty;
  }
  let order = x.map((v, id) => ({ id, z: v / p.temperature })).sort((a, b) => b.z - a.z || a.id - b.id);
  if (p.topK > 0) order = order.slice(0, p.topK);
  const max = order[0].z;
  if (p.minP > 0) order = order.filter((c) => Math.exp(c.z - max) >= p.minP);
  const total = order.reduce((s, c) => s + Math.exp(c.z - max), 0);
  if (p.topP < 1) {
    let cum = 0, keep = 0;
    while (keep < order.length) {
      cum += Math.exp(order[keep++].z - max) / total;
      if (cum >= p.topP) break;
    }
    order = order.slice(0, keep);
  }
  const kept = order.reduce((s, c) => s + Math.exp(c.z - max), 0);
  return new Map(order.map((c) => [c.id, Math.exp(c.z - max) / kept]));
}

function randomLogits(n: number, rng: () => number, spread: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * spread);
}

Deno.test("samplingDistribution() equals the full-sort reference on random logits and parameters", () => {
  const rng = makeRng(1234);
  for (const n of [1, 2, 7, 50, 1000, 5000]) {
    for (let trial = 0; trial < 12; trial++) {
      const p = params({
        temperature: [0.3, 0.7, 1, 1.5][trial % 4],
        topK: [0, 1, 5, 40, 100000][Math.floor(rng() * 5)],
        topP: [1, 0.95, 0.5, 0.1][Math.floor(rng() * 4)],
        minP: [0, 0.05, 0.2][Math.floor(rng() * 3)],
        repetitionPenalty: [1, 1.3][trial % 2],
        presencePenalty: [0, 0.5][Math.floor(trial / 2) % 2],
      });
      const logits = randomLogits(n, rng, [2, 20, 60][trial % 3]);
      const history = Array.from({ length: Math.min(n, 6) }, () => Math.floor(rng() * n));
      const ours = samplingDistribution(logits, p, history);
      const ref = referenceDistribution(logits, p, history);
      const what = `n=${n} ${JSON.stringify(p)}`;
      assertEquals([...ours.keys()].sort((a, b) => a - b), [...ref.keys()].sort((a, b) => a - b), what);
      for (const [id, prob] of ref) assert(Math.abs(ours.get(id)! - prob) < 1e-5, `${what} id ${id}`);
    }
  }
});

Deno.test("top-p reaching deep into a long flat tail still matches the reference", () => {
  const logits = new Float32Array(3000).fill(0);
  logits[17] = 9; // about 73% of the mass; top-p 0.9 must reach into the tail far below max - 8
  for (let i = 0; i < logits.length; i++) if (i !== 17) logits[i] = -(i % 97) * 1e-3;
  const p = params({ topP: 0.9 });
  const ours = samplingDistribution(logits, p), ref = referenceDistribution(logits, p);
  assertEquals(ours.size, ref.size);
  assert(ours.size > 100, `kept ${ours.size}`);
  for (const [id, prob] of ref) assert(Math.abs(ours.get(id)! - prob) < 1e-6, `id ${id}`);
});

Deno.test("makeSampler(): temperature 0 is greedy; penalties can move the greedy choice", () => {
  const logits = Float32Array.from([1, 5, 4.9, -2]);
  for (const seed of [1, 2, 3]) assertEquals(makeSampler(params({ temperature: 0, seed }))(logits), 1);
  const history = [1];
  assertEquals(makeSampler(params({ temperature: 0, repetitionPenalty: 1.1 }), () => history)(logits), 2);
  assertEquals(makeSampler(params({ temperature: 0, presencePenalty: 0.2 }), () => history)(logits), 2);
  // Negative logits are multiplied by the repetition penalty, not divided.
  const neg = Float32Array.from([-1, -1.05]);
  assertEquals(makeSampler(params({ temperature: 0, repetitionPenalty: 1.2 }), () => [0])(neg), 1);
});

Deno.test("makeSampler(): the same seed gives the same tokens on a 201088-entry vocabulary", () => {
  const rng = makeRng(99);
  const steps = Array.from({ length: 6 }, () => randomLogits(201088, rng, 16));
  const run = (seed: number, o: Partial<SamplerParams>) => {
    const s = makeSampler(params({ seed, ...o }));
    return steps.map((l) => s(l));
  };
  for (const o of [{}, { topK: 40 }, { topP: 0.9 }, { minP: 0.1, temperature: 0.8 }]) {
    assertEquals(run(7, o), run(7, o), JSON.stringify(o));
    assert(
      JSON.stringify(run(7, o)) !== JSON.stringify(run(8, o)),
      `seeds 7 and 8 agree for ${JSON.stringify(o)}`,
    );
  }
});

Deno.test("makeSampler(): drawn frequencies follow the softmax", () => {
  const logits = Float32Array.from([0, Math.log(2), Math.log(3), Math.log(4)]); // p = 0.1, 0.2, 0.3, 0.4
  const s = makeSampler(params({ seed: 5 }));
  const counts = [0, 0, 0, 0];
  const n = 40000;
  for (let i = 0; i < n; i++) counts[s(logits)]++;
  counts.forEach((c, i) => assert(Math.abs(c / n - (i + 1) / 10) < 0.01, `token ${i}: ${c / n}`));
});

Deno.test("makeRng(): deterministic, in [0, 1), roughly uniform", () => {
  const a = makeRng(42), b = makeRng(42);
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const v = a();
    assertEquals(v, b());
    assert(v >= 0 && v < 1);
    sum += v;
  }
  assert(Math.abs(sum / 10000 - 0.5) < 0.02);
});

Deno.test("defaultSamplerParams() reads generation_config.json; bad values are one-line errors", () => {
  assertEquals(defaultSamplerParams(DEMO_MODEL).temperature, 0); // do_sample false: greedy
  assertEquals(defaultSamplerParams(), params());
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/generation_config.json`,
      JSON.stringify({ do_sample: true, temperature: 0.7, top_p: 0.9, top_k: 20 }),
    );
    assertEquals(defaultSamplerParams(dir), params({ temperature: 0.7, topP: 0.9, topK: 20 }));
    Deno.writeTextFileSync(`${dir}/generation_config.json`, JSON.stringify({ temperature: "hot" }));
    assertThrows(() => defaultSamplerParams(dir), OssiError, /temperature must be a number/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assertThrows(() => makeSampler(params({ topP: 0 })), OssiError, /top-p/);
  assertThrows(() => makeSampler(params({ temperature: -1 })), OssiError, /temperature/);
  assertThrows(() => makeSampler(params({ topK: 1.5 })), OssiError, /top-k/);
});

Deno.test("samplesArgmax() holds exactly when makeSampler() is the argmax of the raw logits", () => {
  const x = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 0.7) * 4);
  const top = [...x.keys()].reduce((a, i) => (x[i] > x[a] ? i : a), 0);
  const history = () => [top, 3, 4];
  const cases: [Partial<SamplerParams>, boolean][] = [
    [{ temperature: 0 }, true],
    [{ temperature: 0, topK: 5, topP: 0.5, minP: 0.1, seed: 3 }, true],
    [{ temperature: 0, repetitionPenalty: 1.5 }, false],
    [{ temperature: 0, presencePenalty: 9 }, false],
    [{ temperature: 0.5, topK: 1 }, false],
  ];
  for (const [o, plain] of cases) {
    assertEquals(samplesArgmax(params(o)), plain, JSON.stringify(o));
    // where it holds, the sampler (with a history) picks the argmax; the penalised cases pick another token
    if (o.temperature === 0) {
      assertEquals(makeSampler(params(o), history)(x) === top, plain, JSON.stringify(o));
    }
  }
});
