// Full-size check of the WebGPU backend on this machine's adapter (Mesa's lavapipe on a workstation): a
// synthetic gpt-oss checkpoint with the real per-layer shapes loads within the adapter's buffer and binding
// limits, and its logits for a short prompt (and a few greedy tokens) match the wasm backend's. Each
// backend runs in its own process, one after the other, so each one's load time and peak RSS are its own.
// Slow and big (the 24-layer 20b is 13 GB of weights): run it alone, under the big-memory lock:
//   flock /tmp/ossi-bigmem.lock deno run -A scripts/webgpu_full_size.ts [--shape 20b|120b] [--layers 24]
//     [--tokens 4] [--generate 2] [--tol 2e-3] [--no-ref] [--json]
// Passes (exit 0) when every backend picks the same greedy tokens and the WebGPU logits are within the
// tolerance (default: gpt-oss-tiny's fixture tolerance) of the wasm backend's, or, where the model itself
// amplifies f32 rounding past it (random weights over 24 layers do: the wasm backend is then as far from
// the scalar reference), no farther from the scalar reference (ref backend, also run) than wasm is.

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { createBackend, parseBackendName } from "../src/engine/create_backend.ts";
import { loadModel } from "../src/model/load.ts";
import { cachedSynth, SYNTH_SHAPES, type SynthShapeName } from "./synth_checkpoint.ts";

interface RunResult {
  backend: string;
  adapter?: string;
  load_s: number;
  forward_s: number;
  rss_gb: number;
  peak_rss_gb: number;
  generated: number[];
  logits_file: string;
}

function procStatusGb(field: "VmRSS" | "VmHWM"): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 2 ** 20 : NaN;
}

/** Deterministic prompt ids spread over the vocabulary. */
function promptTokens(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
}

/** Child process: loads `dir` on one backend, runs the prompt, writes all logits to `out` (raw f32). */
async function runOne(name: string, dir: string, tokens: number, generate: number, out: string) {
  const t0 = performance.now();
  const model = loadModel(dir);
  const backend = await createBackend(model, parseBackendName(name), { maxContext: tokens + generate + 1 });
  const loadS = (performance.now() - t0) / 1000;
  const rss = procStatusGb("VmRSS");
  const prompt = promptTokens(tokens, model.config.vocabSize), V = model.config.vocabSize;
  const t1 = performance.now();
  const [logits] = await backend.forward([{ slot: 0, tokens: prompt, pos: 0, logits: "all" }]);
  const forwardS = (performance.now() - t1) / 1000;
  const generated: number[] = [];
  let last = logits.subarray((tokens - 1) * V);
  for (let i = 0; i < generate; i++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
    generated.push(best);
    if (i + 1 < generate) {
      [last] = await backend.forward([{ slot: 0, tokens: [best], pos: tokens + i, logits: "last" }]);
    }
  }
  Deno.writeFileSync(out, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
  const pass = ((backend as { inner?: object }).inner ?? backend) as { gpu?: { description: string } };
  const adapter = pass.gpu?.description;
  backend.dispose();
  const result: RunResult = {
    backend: name,
    adapter,
    load_s: loadS,
    forward_s: forwardS,
    rss_gb: rss,
    peak_rss_gb: procStatusGb("VmHWM"),
    generated,
    logits_file: out,
  };
  console.log(JSON.stringify(result));
}

async function spawn(name: string, dir: string, tokens: number, generate: number): Promise<RunResult> {
  const out = await Deno.makeTempFile({ prefix: `ossi-fullsize-${name}-` });
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--run",
      name,
      "--dir",
      dir,
      "--tokens",
      String(tokens),
      "--generate",
      String(generate),
      "--out",
      out,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!child.success) throw new Error(`${name} run failed (exit ${child.code})`);
  const lines = new TextDecoder().decode(child.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as RunResult;
}

function readLogits(file: string): Float32Array {
  const bytes = Deno.readFileSync(file);
  Deno.removeSync(file);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function fixtureTolerance(): number {
  const ref = JSON.parse(
    Deno.readTextFileSync(new URL("../tests/fixtures/gpt-oss-tiny/reference.json", import.meta.url)),
  );
  return ref.recommended_tolerance.logits_max_abs_diff;
}

if (import.meta.main) {
  const args = parseArgs(Deno.args, {
    values: ["shape", "layers", "tokens", "generate", "tol", "run", "dir", "out"],
    switches: ["json", "no-ref"],
  });
  const tokens = numberFlag(args, "tokens", 4), generate = numberFlag(args, "generate", 2);
  const run = stringFlag(args, "run");
  if (run) {
    await runOne(run, stringFlag(args, "dir")!, tokens, generate, stringFlag(args, "out")!);
    Deno.exit(0);
  }
  const shape = (stringFlag(args, "shape") ?? "20b") as SynthShapeName;
  if (!(shape in SYNTH_SHAPES)) {
    console.error(`webgpu_full_size.ts: unknown --shape '${shape}' (expected 20b or 120b)`);
    Deno.exit(2);
  }
  const layers = numberFlag(args, "layers", shape === "20b" ? 24 : 2);
  const tol = numberFlag(args, "tol", fixtureTolerance());
  const dir = await cachedSynth(shape, layers, (f) => console.error(`synthetic checkpoint: wrote ${f}`));
  const withRef = !args.flags.has("no-ref");
  console.error(`${dir}: ${tokens}-token prompt, ${generate} greedy tokens; wasm, then webgpu, then ref`);
  const runs = [await spawn("wasm", dir, tokens, generate), await spawn("webgpu", dir, tokens, generate)];
  if (withRef) runs.push(await spawn("ref", dir, tokens, generate));
  const [wasm, gpu, ref] = runs.map((r) => readLogits(r.logits_file));
  const maxDiff = (a: Float32Array, b: Float32Array) => {
    let d = a.length === b.length ? 0 : Infinity;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    return d;
  };
  const top = wasm.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const gpuWasm = maxDiff(gpu, wasm);
  const gpuRef = ref ? maxDiff(gpu, ref) : NaN, wasmRef = ref ? maxDiff(wasm, ref) : NaN;
  const sameTokens = runs.every((r) => JSON.stringify(r.generated) === JSON.stringify(runs[0].generated));
  const ok = sameTokens && (gpuWasm <= tol || gpuRef <= Math.max(tol, wasmRef));
  const summary = {
    model: `gpt-oss-${shape}-synth-${layers}l`,
    tokens,
    webgpu_vs_wasm: gpuWasm,
    webgpu_vs_ref: gpuRef,
    wasm_vs_ref: wasmRef,
    logits_max_abs: top,
    tolerance: tol,
    greedy: Object.fromEntries(runs.map((r) => [r.backend, r.generated])),
    ok,
    runs: runs.map(({ logits_file: _, ...r }) => r),
  };
  if (args.flags.has("json")) console.log(JSON.stringify(summary));
  else {
    for (const r of summary.runs) {
      console.log(
        `${r.backend.padEnd(7)} load ${r.load_s.toFixed(1)} s, forward ${r.forward_s.toFixed(1)} s, ` +
          `RSS after load ${r.rss_gb.toFixed(2)} GB, peak RSS ${r.peak_rss_gb.toFixed(2)} GB` +
          (r.adapter ? ` (${r.adapter})` : ""),
      );
    }
    const e = (x: number) => x.toExponential(2);
    console.log(
      `${summary.model}: max |logit diff| webgpu-wasm ${e(gpuWasm)}` +
        (ref ? `, webgpu-ref ${e(gpuRef)}, wasm-ref ${e(wasmRef)}` : "") +
        ` (logits up to ${top.toFixed(2)}, tolerance ${tol}); greedy ${JSON.stringify(summary.greedy)}: ` +
        (ok ? "OK" : "MISMATCH"),
    );
  }
  Deno.exit(ok ? 0 : 1);
}
