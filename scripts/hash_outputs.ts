// Hashes what every backend computes on every fixture: prompt logits, debug dumps, greedy tokens through
// forward(), greedy() and topk(), and the logits of each decode step. Run before and after a refactor:
// equal hashes mean bit-identical outputs. --taps FILE also writes one hash per debug tap (name.layer),
// and --compare FILE checks a run against such a file: every tap present before must hash the same
// (taps a run adds are listed, not failed).
// --precision fast hashes the wasm backend's fast path (the default is the exact one).
//   deno run -A scripts/hash_outputs.ts [--backends ref,wasm,webgpu] [--precision exact|fast] [--taps FILE]
//                                       [--compare FILE]

import type { Precision } from "../src/engine/create_backend.ts";
import { openBackend } from "./hash_outputs_open.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURES = [
  "tests/fixtures/gpt-oss-tiny",
  "tests/fixtures/gpt-oss-tiny/original",
  "tests/fixtures/gpt2-tiny",
  "tests/fixtures/qwen3-tiny",
  "tests/fixtures/qwen3-moe-tiny",
  "tests/fixtures/llama-tiny",
  "models/tiny-oss-math",
];
const STEPS = 6;

/** FNV-1a over bytes, as 8 hex digits: enough to tell two runs apart. */
class Hash {
  private h = 0x811c9dc5;
  bytes(b: Uint8Array): this {
    for (let i = 0; i < b.length; i++) this.h = Math.imul(this.h ^ b[i], 0x01000193) >>> 0;
    return this;
  }
  floats(f: Float32Array): this {
    return this.bytes(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }
  text(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }
  hex(): string {
    return this.h.toString(16).padStart(8, "0");
  }
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** The prompt: the fixture's reference prompt, or 12 ids spread over the vocabulary. */
function promptOf(dir: string, vocab: number): number[] {
  try {
    const ref = JSON.parse(Deno.readTextFileSync(`${dir.replace(/\/original$/, "")}/reference.json`));
    return ref.prompt_token_ids;
  } catch {
    return Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % vocab);
  }
}

/** Per fixture and backend: each debug tap's hash. */
const tapHashes: Record<string, Record<string, string>> = {};

async function hashOne(dir: string, backend: string, key: string): Promise<Record<string, string>> {
  const b = await openBackend(dir, backend, precision);
  const V = b.vocabSize, prompt = promptOf(dir, V);
  const dumps = new Hash(), logitsHash = new Hash(), taps: Record<string, string> = {};
  const all = await b.forward(prompt, 0, "all", (name, layer, rows, values) => {
    dumps.text(`${name}.${layer}.${rows}`).floats(values);
    taps[`${name}.${layer}`] = new Hash().text(String(rows)).floats(values).hex();
  });
  tapHashes[key] = taps;
  logitsHash.floats(all);
  const tokens: number[] = [];
  const steps = new Hash();
  let next = argmax(all.subarray((prompt.length - 1) * V));
  for (let i = 0; i < STEPS; i++) {
    tokens.push(next);
    const step = await b.forward([next], prompt.length + i, "last");
    steps.floats(step);
    next = argmax(step);
  }
  b.dispose();
  const out: Record<string, string> = {
    logits: logitsHash.hex(),
    dumps: dumps.hex(),
    steps: steps.hex(),
    tokens: tokens.join(","),
  };
  const g = await openBackend(dir, backend, precision);
  if (g.greedy) {
    const fast: number[] = [];
    let t = await g.greedy(prompt, 0);
    for (let i = 0; i < STEPS; i++) {
      fast.push(t);
      t = await g.greedy([t], prompt.length + i);
    }
    out.greedy = fast.join(",");
  }
  g.dispose();
  const k = await openBackend(dir, backend, precision);
  if (k.topk) {
    const r = await k.topk(prompt, 0, 5);
    out.topk = new Hash().bytes(new Uint8Array(r.ids.buffer)).floats(r.logits).hex();
  }
  k.dispose();
  return out;
}

const flag = (name: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const precision = (flag("--precision") ?? "exact") as Precision;
const backends = flag("--backends")?.split(",") ?? ["ref", "wasm", "webgpu"];
for (const fixture of FIXTURES) {
  for (const backend of backends) {
    const key = `${fixture} ${backend}`;
    const r = await hashOne(`${ROOT}${fixture}`, backend, key);
    console.log(`${key.padEnd(45)} ${Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  }
}
const tapsOut = flag("--taps");
if (tapsOut) Deno.writeTextFileSync(tapsOut, JSON.stringify(tapHashes, null, 1) + "\n");
const compareWith = flag("--compare");
if (compareWith) {
  const before: Record<string, Record<string, string>> = JSON.parse(Deno.readTextFileSync(compareWith));
  let changed = 0;
  for (const [key, taps] of Object.entries(tapHashes)) {
    const old = before[key] ?? {};
    const differ = Object.keys(old).filter((t) => taps[t] !== old[t]);
    const added = Object.keys(taps).filter((t) => !(t in old));
    changed += differ.length;
    const names = (list: string[]) => [...new Set(list.map((t) => t.replace(/\.-?\d+$/, "")))].join(",");
    console.log(
      `${key.padEnd(45)} taps ${Object.keys(old).length - differ.length}/${Object.keys(old).length} same` +
        (differ.length ? `; CHANGED ${differ.join(",")}` : "") +
        (added.length ? `; added ${names(added)}` : ""),
    );
  }
  if (changed) Deno.exit(1);
}
