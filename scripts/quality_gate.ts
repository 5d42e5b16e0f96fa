// The quality gate of the fast paths: runs the exact path and each fast path of the WASM backend over the
// same token streams and reports what llama.cpp's `llama-perplexity --kl-divergence` reports for a
// quantization: mean (and 99th percentile, max) KL divergence of the fast path's next-token distribution
// from the exact one, top-1 agreement, and the largest |logit difference|. Streams: the demo model's eval
// prompts with the exact path's greedy answers (whose answers must not change), pseudo-random tokens on
// a 2-layer gpt-oss-20b-shaped synthetic model, and (reported, not gated) each other architecture's
// fixture: its reference prompt with the exact path's greedy continuation.
// usage: deno task bench --quality [--layers 2] [--json]

import { WasmBackend, type WasmBackendOptions } from "../src/backends/wasm/wasm_backend.ts";
import { loadModel } from "../src/model/load.ts";
import { cachedSynth20b } from "./synth_checkpoint.ts";
import { textTable } from "./text_table.ts";

/**
 * The exact path, the fast ones and the yardstick, as WasmBackend options. "fast" is the default of
 * chat/run/serve; "q8_0-recipe" is llama.cpp's arithmetic on the same weights (Q8_0 weights and router,
 * one int8 level for every matmul's activations), to tell the fast path's loss from the model's
 * sensitivity.
 */
export const MODES: Record<string, Pick<WasmBackendOptions, "moeInt8" | "int8Weights" | "q8Recipe">> = {
  "exact": {},
  "moe-int8": { moeInt8: true },
  "int8-weights": { int8Weights: true },
  "fast": { moeInt8: true, int8Weights: true },
  "q8_0-recipe": { q8Recipe: true },
};

export interface KlStats {
  positions: number;
  mean_kl: number;
  p99_kl: number;
  max_kl: number;
  /** Share of positions whose argmax is the same. */
  top1_agreement: number;
  max_abs_dlogit: number;
}

/**
 * KL(P_exact || P_fast) per position of two [positions, vocab] logit arrays, in nats, from log-softmax in
 * f64; with top-1 agreement and the largest |logit difference|.
 */
export function klStats(exact: Float32Array, fast: Float32Array, vocab: number): KlStats {
  const n = exact.length / vocab, kls: number[] = [];
  let same = 0, maxD = 0;
  for (let t = 0; t < n; t++) {
    const e = exact.subarray(t * vocab, (t + 1) * vocab), f = fast.subarray(t * vocab, (t + 1) * vocab);
    const le = logSumExp(e), lf = logSumExp(f);
    let kl = 0, ae = 0, af = 0;
    for (let i = 0; i < vocab; i++) {
      const lpe = e[i] - le, lpf = f[i] - lf;
      kl += Math.exp(lpe) * (lpe - lpf);
      if (e[i] > e[ae]) ae = i;
      if (f[i] > f[af]) af = i;
      maxD = Math.max(maxD, Math.abs(e[i] - f[i]));
    }
    kls.push(Math.max(0, kl));
    if (ae === af) same++;
  }
  const sorted = [...kls].sort((a, b) => a - b);
  return {
    positions: n,
    mean_kl: kls.reduce((a, b) => a + b, 0) / n,
    p99_kl: sorted[Math.min(n - 1, Math.floor(0.99 * n))],
    max_kl: sorted[n - 1],
    top1_agreement: same / n,
    max_abs_dlogit: maxD,
  };
}

function logSumExp(x: Float32Array): number {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  return m + Math.log(s);
}

export interface GateRow extends KlStats {
  model: string;
  mode: string;
  /** Demo model: eval prompts whose greedy answer (token for token) differs from the exact path's. */
  answers_changed?: number;
}

/** Greedy continuation of `prompt`, up to `max` tokens or one of `stops`. */
async function greedyAnswer(
  b: WasmBackend,
  prompt: number[],
  max: number,
  stops: number[],
): Promise<number[]> {
  const out: number[] = [];
  let tok = await b.greedy(prompt, 0);
  for (let i = 0; i < max; i++) {
    out.push(tok);
    if (stops.includes(tok)) break;
    tok = await b.greedy([tok], prompt.length + i);
  }
  return out;
}

/** Logits at every position of each stream, concatenated. */
async function streamLogits(b: WasmBackend, streams: number[][]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const s of streams) out.push(await b.forward(s, 0, { logits: "all" }));
  return out;
}

function concat(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of xs) out.set(x, at), (at += x.length);
  return out;
}

/** The demo model: eval prompts + the exact path's greedy answers, teacher-forced through every mode. */
export async function gateDemo(dir: string, prompts: number[][], threads = 2): Promise<GateRow[]> {
  const model = loadModel(dir);
  const stops = [...model.config.eosTokenIds, 506]; // <|end|> ends an analysis message
  const open = (mode: string) =>
    WasmBackend.create(model.config, model.plan, model.weights, { maxContext: 512, threads, ...MODES[mode] });
  const exact = await open("exact");
  const answers: number[][] = [], streams: number[][] = [];
  let want: Float32Array;
  try {
    for (const p of prompts) answers.push(await greedyAnswer(exact, p, 64, stops));
    prompts.forEach((p, i) => streams.push([...p, ...answers[i]]));
    want = concat(await streamLogits(exact, streams));
  } finally {
    exact.dispose();
  }
  const rows: GateRow[] = [];
  for (const mode of Object.keys(MODES).filter((m) => m !== "exact")) {
    const b = await open(mode);
    try {
      let changed = 0;
      for (const [i, p] of prompts.entries()) {
        const got = await greedyAnswer(b, p, 64, stops);
        if (got.join() !== answers[i].join()) changed++;
      }
      const stats = klStats(want, concat(await streamLogits(b, streams)), model.config.vocabSize);
      rows.push({ model: "tiny-oss-math", mode, ...stats, answers_changed: changed });
    } finally {
      b.dispose();
    }
  }
  return rows;
}

/** Pseudo-random token streams on a synthetic gpt-oss-20b-shaped model. */
export async function gateSynthetic(layers: number, threads = 2): Promise<GateRow[]> {
  const dir = await cachedSynth20b(layers);
  const model = loadModel(dir), V = model.config.vocabSize;
  const streams = [1, 2, 3].map((s) => Array.from({ length: 48 }, (_, i) => (i * 7919 * s + 13 * s) % V));
  const run = async (mode: string) => {
    const b = await WasmBackend.create(model.config, model.plan, model.weights, {
      maxContext: 64,
      threads,
      ...MODES[mode],
    });
    try {
      return concat(await streamLogits(b, streams));
    } finally {
      b.dispose();
      await new Promise((r) => setTimeout(r, 100));
      (globalThis as { gc?: () => void }).gc?.();
    }
  };
  const want = await run("exact");
  const rows: GateRow[] = [];
  for (const mode of Object.keys(MODES).filter((m) => m !== "exact")) {
    rows.push({ model: `gpt-oss-20b-synth-${layers}l`, mode, ...klStats(want, await run(mode), V) });
  }
  return rows;
}

/** The other architectures' fixtures (the fast path's int8 weights made from f32 on GPT-2, bf16 on the rest). */
const FIXTURES = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"];

/**
 * Each fixture's reference prompt and the exact path's 24-token greedy continuation, teacher-forced
 * through the int8 modes and the yardstick. Random weights, as the 20b shapes: no answers to keep.
 */
export async function gateFixtures(threads = 2): Promise<GateRow[]> {
  const rows: GateRow[] = [];
  for (const name of FIXTURES) {
    const dir = new URL(`../tests/fixtures/${name}`, import.meta.url).pathname;
    const model = loadModel(dir), V = model.config.vocabSize;
    const prompt: number[] = JSON.parse(Deno.readTextFileSync(`${dir}/reference.json`)).prompt_token_ids;
    const open = (mode: string) =>
      WasmBackend.create(model.config, model.plan, model.weights, {
        maxContext: 64,
        threads,
        ...MODES[mode],
      });
    const exact = await open("exact");
    let stream: number[], want: Float32Array;
    try {
      stream = [...prompt, ...await greedyAnswer(exact, prompt, 24, [])];
      want = await exact.forward(stream, 0, { logits: "all" });
    } finally {
      exact.dispose();
    }
    for (const mode of ["int8-weights", "fast", "q8_0-recipe"]) {
      const b = await open(mode);
      try {
        rows.push({ model: name, mode, ...klStats(want, await b.forward(stream, 0, { logits: "all" }), V) });
      } finally {
        b.dispose();
      }
    }
  }
  return rows;
}

/**
 * Whether `mode` may be a default: the demo model's answers are unchanged and, on every model, its mean KL
 * is at most 1.25x that of llama.cpp's Q8_0 recipe on the same weights (the loss users of llama.cpp's
 * gpt-oss files already accept).
 */
export function gateHolds(rows: GateRow[], mode: string): { holds: boolean; reasons: string[] } {
  const reasons: string[] = [];
  for (const r of rows.filter((r) => r.mode === mode)) {
    if (r.answers_changed) reasons.push(`${r.model}: ${r.answers_changed} answers changed`);
    const yard = rows.find((y) => y.model === r.model && y.mode === "q8_0-recipe");
    if (yard && r.mean_kl > 1.25 * yard.mean_kl) {
      reasons.push(
        `${r.model}: mean KL ${r.mean_kl.toExponential(2)} > 1.25 x the Q8_0 recipe's ${
          yard.mean_kl.toExponential(2)
        }`,
      );
    }
  }
  return { holds: reasons.length === 0, reasons };
}

export function gateTable(rows: GateRow[]): string {
  const head = [
    "model",
    "mode",
    "positions",
    "mean KL",
    "p99 KL",
    "max KL",
    "top-1 same",
    "max |dlogit|",
    "answers changed",
  ];
  const body = rows.map((r) => [
    r.model,
    r.mode,
    String(r.positions),
    r.mean_kl.toExponential(2),
    r.p99_kl.toExponential(2),
    r.max_kl.toExponential(2),
    `${(100 * r.top1_agreement).toFixed(2)}%`,
    r.max_abs_dlogit.toFixed(4),
    r.answers_changed === undefined ? "" : String(r.answers_changed),
  ]);
  return textTable(head, body);
}
