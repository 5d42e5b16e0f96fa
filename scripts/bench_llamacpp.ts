// ossi side by side with llama.cpp on the same synthetic gpt-oss-20b-shaped weights: writes the checkpoint
// as a GGUF (synth_gguf.ts), then runs llama-bench and ossi in turns, each pinned to the same cores with
// taskset, on the same phases (prefill of each prompt length from an empty cache, decode from an empty
// cache), and prints tokens/s and the ratio ossi / llama.cpp per round. A developer's comparison: nothing
// in the test suite needs llama.cpp.
// usage: deno task bench --vs-llamacpp PATH/TO/llama-bench [--layers 24] [--threads 1,2] [--prompts 64,512]
//                        [--decode 16] [--rounds 2] [--modes fast,exact] [--before DIR] [--json]
// --before DIR: another ossi checkout (its node_modules and build/ in place), whose fast mode runs in each
// round too, as "ossi before": a change measured against the code it replaces in the same minutes.

import { WasmBackend } from "../src/backends/wasm/wasm_backend.ts";
import { loadModel } from "../src/model/load.ts";
import { writeGptOssGguf } from "./synth_gguf.ts";
import { cachedSynth20b } from "./synth_checkpoint.ts";
import { textTable } from "./text_table.ts";

export interface VsOptions {
  llamaBench: string;
  layers: number;
  threads: number[];
  prompts: number[];
  decode: number;
  rounds: number;
  /** ossi's modes to run: "fast" (the default of chat/run/serve) and/or "exact". */
  modes: string[];
  /** An ossi checkout whose fast mode runs beside, as "ossi before". */
  before?: string;
  json: boolean;
}

/** tokens/s per phase ("pp64", "pp512", "tg") of one engine run. */
type Speeds = Record<string, number>;

/** ossi's decode time per token by worker step, and "host" for the rest (main thread, wake-ups), in ms. */
export type StepProfile = Record<string, number>;

export interface Row {
  round: number;
  threads: number;
  phase: string;
  engine: string;
  tokens_per_s: number;
  /** engine tok/s / llama.cpp tok/s in the same round (llama.cpp's rows: 1). */
  ratio: number;
}

/** The GGUF beside the cached checkpoint, written once. */
async function cachedGguf(dir: string): Promise<string> {
  const path = `${dir}.gguf`;
  try {
    if (Deno.statSync(path).isFile) return path;
  } catch { /* not there yet */ }
  console.error(`writing ${path} ...`);
  await writeGptOssGguf(dir, `${path}.partial`);
  Deno.renameSync(`${path}.partial`, path);
  return path;
}

/** taskset's CPU list for `threads` threads: cores 0..threads-1. */
function cpuList(threads: number): string {
  return Array.from({ length: threads }, (_, i) => i).join(",");
}

async function run(cmd: string[]): Promise<string> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${cmd.slice(0, 4).join(" ")} ... failed (exit ${out.code}):\n${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function llamaSpeeds(o: VsOptions, gguf: string, threads: number): Promise<Speeds> {
  const out = await run([
    "taskset",
    "-c",
    cpuList(threads),
    o.llamaBench,
    "-m",
    gguf,
    "-t",
    String(threads),
    "-p",
    o.prompts.join(","),
    "-n",
    String(o.decode),
    "-r",
    "1",
    "-o",
    "jsonl",
  ]);
  const speeds: Speeds = {};
  for (const line of out.split("\n").filter((l) => l.startsWith("{"))) {
    const r = JSON.parse(line) as { n_prompt: number; n_gen: number; avg_ts: number };
    speeds[r.n_gen > 0 ? "tg" : `pp${r.n_prompt}`] = r.avg_ts;
  }
  return speeds;
}

async function ossiSpeeds(
  o: VsOptions,
  dir: string,
  threads: number,
  mode: string,
  checkout?: string,
): Promise<{ speeds: Speeds; profile: StepProfile }> {
  const script = checkout ? `${checkout}/scripts/bench_llamacpp.ts` : new URL(import.meta.url).pathname;
  const out = await run([
    "taskset",
    "-c",
    cpuList(threads),
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--allow-sys",
    "--allow-run",
    script,
    "--child",
    dir,
    String(threads),
    o.prompts.join(","),
    String(o.decode),
    mode,
  ]);
  return JSON.parse(out.trim().split("\n").pop()!);
}

/** Deterministic token ids below vocab. */
function promptTokens(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
}

/**
 * The child: loads ossi once, warms the kernels up, then times each prefill and the decode, and profiles
 * one more decode run by step.
 */
async function child(
  dir: string,
  threads: number,
  prompts: number[],
  decode: number,
  mode: string,
): Promise<{ speeds: Speeds; profile: StepProfile }> {
  // the backend createBackend builds for `chat` (the same options as backends/wasm/create.ts), unwrapped
  const model = loadModel(dir), fast = mode !== "exact";
  const backend = await WasmBackend.create(model.config, model.plan, model.weights, {
    threads,
    maxContext: Math.max(...prompts, decode) + 1,
    moeInt8: fast,
    int8Weights: fast,
    files: model.store.files,
  });
  const greedy = (tokens: number[], pos: number) => backend.greedy(tokens, pos);
  try {
    const V = model.config.vocabSize;
    // warm-up: every kernel runs (and tiers up) before the timed runs
    await backend.forward(promptTokens(64, V), 0, { logits: "last" });
    for (let i = 0; i < 3; i++) await greedy([1], i);
    const speeds: Speeds = {};
    for (const n of prompts) {
      const t = performance.now();
      await backend.forward(promptTokens(n, V), 0, { logits: "last" });
      speeds[`pp${n}`] = n / ((performance.now() - t) / 1000);
    }
    let next = 1;
    let t = performance.now();
    for (let i = 0; i < decode; i++) next = await greedy([next], i);
    speeds.tg = decode / ((performance.now() - t) / 1000);
    // the same decode again, timed by step (the profile's bookkeeping costs microseconds per step)
    const wasm = backend;
    wasm.profiling = true;
    t = performance.now();
    for (let i = 0; i < decode; i++) next = await greedy([next], i);
    const total = performance.now() - t, steps = wasm.stepProfile();
    wasm.profiling = false;
    const profile: StepProfile = {};
    for (const [step, ms] of Object.entries(steps)) profile[step] = ms / decode;
    profile.host = (total - Object.values(steps).reduce((a, b) => a + b, 0)) / decode;
    return { speeds, profile };
  } finally {
    backend.dispose();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function vsLlamacpp(
  o: VsOptions,
): Promise<{ rows: Row[]; profiles: Record<string, StepProfile> }> {
  const dir = await cachedSynth20b(o.layers, (f) => console.error(`wrote ${f}`));
  const gguf = await cachedGguf(dir);
  const rows: Row[] = [], profiles: Record<string, StepProfile> = {};
  const phases = [...o.prompts.map((p) => `pp${p}`), "tg"];
  for (let round = 1; round <= o.rounds; round++) {
    for (const threads of o.threads) {
      // llama.cpp and each ossi mode in turn, so all see the machine in the same minute
      const llama = await llamaSpeeds(o, gguf, threads);
      const ossi: Record<string, Speeds> = {};
      for (const mode of o.modes) {
        const r = await ossiSpeeds(o, dir, threads, mode);
        ossi[mode] = r.speeds;
        profiles[`ossi ${mode}, ${threads} thread${threads > 1 ? "s" : ""}`] = r.profile;
      }
      if (o.before) {
        const r = await ossiSpeeds(o, dir, threads, "fast", o.before);
        ossi.before = r.speeds;
        profiles[`ossi before, ${threads} thread${threads > 1 ? "s" : ""}`] = r.profile;
      }
      for (const phase of phases) {
        const base = llama[phase];
        rows.push({ round, threads, phase, engine: "llama.cpp", tokens_per_s: base, ratio: 1 });
        for (const mode of Object.keys(ossi)) {
          const v = ossi[mode][phase];
          rows.push({ round, threads, phase, engine: `ossi ${mode}`, tokens_per_s: v, ratio: v / base });
        }
      }
      if (o.json) {
        for (const r of rows.filter((r) => r.round === round && r.threads === threads)) {
          console.log(JSON.stringify(r));
        }
      }
    }
  }
  return { rows, profiles };
}

/** One line per run: ms per decoded token in each step (the last round's). */
export function profileTable(profiles: Record<string, StepProfile>): string {
  const lines = ["ossi decode, ms per token by step (last round; host: main thread and wake-ups)"];
  for (const [name, p] of Object.entries(profiles)) {
    const total = Object.values(p).reduce((a, b) => a + b, 0);
    const parts = Object.entries(p).map(([step, ms]) => `${step} ${ms.toFixed(1)}`);
    lines.push(`  ${name}: total ${total.toFixed(1)} = ${parts.join(", ")}`);
  }
  return lines.join("\n");
}

/** One line per (phase, threads, engine): tok/s of each round and the median ratio to llama.cpp. */
export function vsTable(rows: Row[], layers: number): string {
  const keys = [...new Set(rows.map((r) => `${r.phase}|${r.threads}|${r.engine}`))];
  const head = ["phase", "threads", "engine", "tok/s per round", "ratio (median)"];
  const body = keys.map((key) => {
    const [phase, threads, engine] = key.split("|");
    const rs = rows.filter((r) => `${r.phase}|${r.threads}|${r.engine}` === key);
    const label = phase === "tg" ? "decode" : `prefill ${phase.slice(2)}`;
    return [
      label,
      threads,
      engine,
      rs.map((r) => r.tokens_per_s.toFixed(2)).join(" "),
      engine === "llama.cpp" ? "" : median(rs.map((r) => r.ratio)).toFixed(2),
    ];
  });
  return `gpt-oss-20b shapes, ${layers} layers, same weights (GGUF for llama.cpp)\n${textTable(head, body)}`;
}

if (import.meta.main && Deno.args[0] === "--child") {
  const [, dir, threads, prompts, decode, mode] = Deno.args;
  console.log(
    JSON.stringify(await child(dir, Number(threads), prompts.split(",").map(Number), Number(decode), mode)),
  );
}
