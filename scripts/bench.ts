// Prefill and decode speed of each backend on the tiny fixture and on synthetic gpt-oss-20b-shaped
// checkpoints (cached under ~/.cache/ossi/synth). One JSON line per (backend, model, phase) with --json,
// a table otherwise. Weight bandwidth counts the bytes one decoded token must read; memread_gb_s is the
// machine's streaming-read bandwidth on as many threads (scripts/mem_bandwidth.ts), measured in the same run.
// WebGPU rows also give the dispatches, submits and weight bytes its kernels counted per token.
// Then the serving row (scripts/bench_serve.ts: wasm with 4 KV slots on the 20b shapes, aggregate decode
// tokens/s with 1, 2 and 4 concurrent streams, time to first token beside a long generation), and last
// the cost of constrained decoding per token (scripts/bench_constrain.ts).
// usage: deno task bench [--json] [--backends ref,wasm,wasm-exact,webgpu] [--models tiny,20b] [--layers 2] [--threads N]
//                        [--prefill 64] [--decode 8]
//        deno task bench --quality [--layers 2] [--json] (see quality_gate.ts)
//        deno task bench --vs-llamacpp PATH/TO/llama-bench [--layers 24] [--threads 1,2] [--prompts 64,512]
//                        [--decode 16] [--rounds 2] [--modes fast,exact] [--before DIR] (see bench_llamacpp.ts)

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { createBackend, parseBackendName } from "../src/engine/create_backend.ts";
import type { GptOssConfig } from "../src/model/gpt_oss.ts";
import { loadModel } from "../src/model/load.ts";
import { cachedSynth20b } from "./synth_checkpoint.ts";
import { profileTable, vsLlamacpp, vsTable } from "./bench_llamacpp.ts";
import { gateDemo, gateFixtures, gateHolds, gateSynthetic, gateTable } from "./quality_gate.ts";
import { benchConstrain, constrainTable, findGptOssTokenizer } from "./bench_constrain.ts";
import { benchServe, serveTable } from "./bench_serve.ts";
import { textTable } from "./text_table.ts";

export interface BenchRow {
  backend: string;
  model: string;
  phase: "prefill" | "decode";
  tokens: number;
  tokens_per_s: number;
  weights_gb_per_token: number;
  effective_gb_s: number;
  threads: number;
  load_s: number;
  rss_gb: number;
  peak_rss_gb: number;
  /** The machine's streaming-read bandwidth on the same thread count (measured once per count, this run). */
  memread_gb_s: number;
  /** effective_gb_s / memread_gb_s. */
  bandwidth_share: number;
  /** WebGPU: dispatches, queue submits and counted bytes of weights read, per token of the phase. */
  dispatches_per_token?: number;
  submits_per_token?: number;
  counted_weights_gb_per_token?: number;
}

interface StepCounters {
  dispatches: number;
  submits: number;
  weightBytes: number;
}

/**
 * Bytes of weights one token reads: attention (bf16, or int8 with a bf16 scale per 32 on the fast path),
 * router (bf16), k active experts (MXFP4), unembedding (as attention), one embedding row.
 */
export function weightBytesPerToken(c: GptOssConfig, fast = false): number {
  const H = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKvHeads * c.headDim, F = c.intermediateSize;
  const dense = fast ? 34 / 32 : 2;
  const attn = (qw * H + 2 * kvw * H + H * qw) * dense + c.numExperts * H * 2;
  const expert = (2 * F * H + H * F) * (17 / 32) + (2 * F + H) * 2;
  return c.numLayers * (attn + c.expertsPerToken * expert) + c.vocabSize * H * dense + H * 2;
}

function memoryGb(): { rss: number; peak: number } {
  let peak = 0;
  try {
    // Deno reads /proc/self only with -A; a child `cat` of our pid needs just --allow-run
    const out = new Deno.Command("cat", {
      args: [`/proc/${Deno.pid}/status`],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const m = new TextDecoder().decode(out.stdout).match(/VmHWM:\s+(\d+) kB/);
    if (m) peak = Number(m[1]) / 2 ** 20;
  } catch { /* not Linux */ }
  return { rss: Deno.memoryUsage().rss / 2 ** 30, peak };
}

const memreadCache = new Map<number, number>();

/** The streaming-read yardstick, measured in a child process so its buffers stay out of our peak RSS. */
async function memReadGbS(threads: number): Promise<number> {
  const cached = memreadCache.get(threads);
  if (cached !== undefined) return cached;
  const script = new URL("./mem_bandwidth.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script, "--threads", String(threads)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const v = JSON.parse(new TextDecoder().decode(out.stdout)).memread_gb_s as number;
  memreadCache.set(threads, v);
  return v;
}

/** Deterministic token ids below vocab. */
function promptTokens(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
}

export async function benchOne(
  backendName: string,
  modelName: string,
  dir: string,
  opts: { threads?: number; prefill: number; decode: number },
): Promise<BenchRow[]> {
  const t0 = performance.now();
  const model = loadModel(dir);
  // "wasm": the fast path (the default of chat, run, serve); "wasm-exact": --exact
  const exact = backendName === "wasm-exact", fast = backendName === "wasm";
  const backend = await createBackend(model, parseBackendName(exact ? "wasm" : backendName), {
    threads: opts.threads,
    maxContext: opts.prefill + opts.decode + 1,
    precision: fast ? "fast" : "exact",
  });
  const loadS = (performance.now() - t0) / 1000;
  try {
    const c = model.config as GptOssConfig, gb = weightBytesPerToken(c, fast) / 1e9;
    const threads = backend.name === "ref" ? 1 : opts.threads ?? navigator.hardwareConcurrency;
    const prompt = promptTokens(opts.prefill, c.vocabSize);
    // the WebGPU backend counts what its steps cost (WebGpuBackend.counters())
    const counted = backend as { counters?: () => StepCounters };
    const counters = counted.counters?.bind(backend);
    const c0 = counters?.();
    let t = performance.now();
    await backend.forward([{ slot: 0, tokens: prompt, pos: 0, logits: "last" }]);
    const prefillS = (performance.now() - t) / 1000;
    const c1 = counters?.();
    let next = 1;
    t = performance.now();
    for (let i = 0; i < opts.decode; i++) {
      const [logits] = await backend.forward([{
        slot: 0,
        tokens: [next],
        pos: opts.prefill + i,
        logits: "last",
      }]);
      next = logits.indexOf(Math.max(...logits.subarray(0, 4096)));
    }
    const decodeS = (performance.now() - t) / 1000;
    const c2 = counters?.();
    const perToken = (a: StepCounters | undefined, b: StepCounters | undefined, tokens: number) =>
      a && b
        ? {
          dispatches_per_token: (b.dispatches - a.dispatches) / tokens,
          submits_per_token: (b.submits - a.submits) / tokens,
          counted_weights_gb_per_token: (b.weightBytes - a.weightBytes) / tokens / 1e9,
        }
        : {};
    const mem = memoryGb();
    const memread = await memReadGbS(threads);
    const row = (phase: "prefill" | "decode", tokens: number, s: number, counted: object): BenchRow => ({
      backend: exact ? backendName : backend.name,
      model: modelName,
      phase,
      tokens,
      tokens_per_s: tokens / s,
      weights_gb_per_token: gb,
      effective_gb_s: (gb * tokens) / s,
      threads,
      load_s: loadS,
      rss_gb: mem.rss,
      peak_rss_gb: mem.peak,
      memread_gb_s: memread,
      bandwidth_share: (gb * tokens) / s / memread,
      ...counted,
    });
    return [
      row("prefill", opts.prefill, prefillS, perToken(c0, c1, opts.prefill)),
      row("decode", opts.decode, decodeS, perToken(c1, c2, opts.decode)),
    ];
  } finally {
    backend.dispose();
  }
}

/**
 * Frees the disposed backend's memories before the next one loads: two 24-layer 20b models do not fit in
 * 24 GiB together, and V8 collects shared wasm memories only at a GC (the bench task passes --expose-gc).
 */
async function collectGarbage(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100)); // let the terminated workers release their instances
  (globalThis as { gc?: () => void }).gc?.();
}

function table(rows: BenchRow[]): string {
  const head = [
    "backend",
    "model",
    "phase",
    "tokens",
    "tok/s",
    "GB/token",
    "GB/s",
    "of memread",
    "threads",
    "load s",
    "peak RSS GB",
    "dispatches/tok",
    "submits/tok",
    "counted GB/tok",
  ];
  const body = rows.map((r) => [
    r.backend,
    r.model,
    r.phase,
    String(r.tokens),
    r.tokens_per_s.toFixed(2),
    r.weights_gb_per_token.toFixed(3),
    r.effective_gb_s.toFixed(2),
    `${(100 * r.bandwidth_share).toFixed(0)}% of ${r.memread_gb_s.toFixed(1)}`,
    String(r.threads),
    r.load_s.toFixed(1),
    r.peak_rss_gb.toFixed(2),
    r.dispatches_per_token?.toFixed(1) ?? "-",
    r.submits_per_token?.toFixed(2) ?? "-",
    r.counted_weights_gb_per_token?.toFixed(3) ?? "-",
  ]);
  return textTable(head, body);
}

/** `--threads 1,2` and the like: a list of positive integers. */
function intList(s: string, flag: string): number[] {
  const xs = s.split(",").map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new Error(`--${flag}: expected numbers like 1,2, got '${s}'`);
  }
  return xs;
}

if (import.meta.main) {
  const args = parseArgs(Deno.args, {
    values: [
      "backends",
      "models",
      "layers",
      "threads",
      "prefill",
      "decode",
      "vs-llamacpp",
      "prompts",
      "rounds",
      "modes",
      "before",
    ],
    switches: ["json", "quality"],
  });
  const json = args.flags.has("json");
  if (args.flags.has("quality")) {
    const demo = new URL("../models/tiny-oss-math", import.meta.url).pathname;
    const prompts = Deno.readTextFileSync(`${demo}/eval.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l).prompt_ids as number[]
    );
    const rows = [
      ...await gateDemo(demo, prompts),
      ...await gateSynthetic(numberFlag(args, "layers", 2)),
      ...await gateFixtures(),
    ];
    const verdict = gateHolds(rows, "fast");
    if (json) { for (const r of rows) console.log(JSON.stringify(r)); }
    else {
      console.log(gateTable(rows));
      console.log(
        `gate for the fast path: ${verdict.holds ? "holds" : `fails (${verdict.reasons.join("; ")})`}`,
      );
    }
    Deno.exit(verdict.holds ? 0 : 1);
  }
  const llamaBench = stringFlag(args, "vs-llamacpp");
  if (llamaBench) {
    const layers = numberFlag(args, "layers", 2);
    const { rows, profiles } = await vsLlamacpp({
      llamaBench,
      layers,
      threads: intList(stringFlag(args, "threads") ?? "1,2", "threads"),
      prompts: intList(stringFlag(args, "prompts") ?? "64,512", "prompts"),
      decode: numberFlag(args, "decode", 16),
      rounds: numberFlag(args, "rounds", 2),
      modes: (stringFlag(args, "modes") ?? "fast").split(","),
      before: stringFlag(args, "before"),
      json,
    });
    if (json) console.log(JSON.stringify({ profiles }));
    else console.log(`${vsTable(rows, layers)}\n${profileTable(profiles)}`);
    Deno.exit(0);
  }
  const backends = (stringFlag(args, "backends") ?? "ref,wasm,webgpu").split(",");
  const models = (stringFlag(args, "models") ?? "tiny,20b").split(",");
  const layers = numberFlag(args, "layers", 2), threads = numberFlag(args, "threads");
  const rows: BenchRow[] = [];
  for (const m of models) {
    const dir = m === "tiny"
      ? new URL("../tests/fixtures/gpt-oss-tiny", import.meta.url).pathname
      : await cachedSynth20b(layers);
    const name = m === "tiny" ? "gpt-oss-tiny" : `gpt-oss-20b-synth-${layers}l`;
    for (const b of backends) {
      // the scalar reference needs seconds per 20b-shaped token: keep its run short
      const slow = b === "ref" && m !== "tiny";
      const prefill = numberFlag(args, "prefill", slow ? 2 : m === "tiny" ? 24 : 32);
      const decode = numberFlag(args, "decode", slow ? 1 : 8);
      const out = await benchOne(b, name, dir, { threads, prefill, decode });
      await collectGarbage();
      rows.push(...out);
      if (json) { for (const r of out) console.log(JSON.stringify(r)); }
    }
  }
  if (!json) console.log(table(rows));
  // serving: continuous batching over 4 slots on the 20b shapes
  if (models.includes("20b") && backends.includes("wasm")) {
    const serve = await benchServe(await cachedSynth20b(layers), `gpt-oss-20b-synth-${layers}l`, {
      threads,
      decode: 16,
      rounds: 2,
    });
    await collectGarbage();
    if (json) { for (const r of serve) console.log(JSON.stringify(r)); }
    else console.log(serveTable(serve));
  }
  // The cost of constrained decoding (structured outputs, forced tool calls) per token, on gpt-oss's vocabulary.
  const tokDir = findGptOssTokenizer();
  if (tokDir) {
    const row = benchConstrain(tokDir);
    console.log(json ? JSON.stringify({ phase: "constrain", ...row }) : constrainTable(row));
  } else if (!json) {
    console.log("constrained decoding: no gpt-oss tokenizer found (run `deno task test` once to install it)");
  }
}
