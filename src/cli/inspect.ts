// `ossi inspect MODEL [MODEL...]`: models side by side from config.json and safetensors headers only
// (no weights read): size, depth vs width, attention, positions, norms, FFN and experts, KV cache.

import { OssiError } from "../errors.ts";
import { isDir } from "../io/checkpoint.ts";
import { isHubId, resolveModel } from "../io/hub.ts";
import { inspectModel, type ModelSummary } from "../model/inspect.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";

const HELP = commandHelp(
  "inspect",
  `usage: ossi inspect MODEL [MODEL...] [--json]

Compares models side by side: folders (Hub layout, original/ layout, or a folder holding only config.json)
or Hub ids (ORG/NAME) found in the Hugging Face cache, as chat, run and serve find them,
reading only config.json and the safetensors headers. --json prints the summaries as a JSON array.
"active" counts what each token multiplies (no input-embedding lookups, k of E experts);
"with embeddings" adds the lookup tables.`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("inspect", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (args.positionals.length === 0) throw new OssiError("inspect: give at least one model folder", 2);
  const summaries = args.positionals.map(inspectTarget);
  const text = args.flags.has("json") ? JSON.stringify(summaries, null, 2) : renderTable(summaries);
  await writeStdout(text + "\n");
  return 0;
}

/** A folder, or a Hub id looked up in the cache (then named by its id, not its snapshot folder). */
function inspectTarget(spec: string): ModelSummary {
  if (isDir(spec) || !isHubId(spec.split("@")[0])) return inspectModel(spec);
  const model = resolveModel(spec);
  return { ...inspectModel(model.dir), name: model.name };
}

/** 20914757184 -> "20.91B"; 124439808 -> "124.4M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(Math.round(n));
}

/** Binary units: 13761264768 -> "12.82 GiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return i === 0 ? `${n} B` : `${n.toFixed(2)} ${units[i]}`;
}

/** The rows of the comparison, one cell per model. */
function rows(s: ModelSummary): [string, string][] {
  const a = s.attention, f = s.ffn, p = s.position;
  const plan = a.slidingLayers === 0
    ? "full attention"
    : a.slidingLayers === s.layers
    ? `sliding ${a.slidingWindow}`
    : `${a.slidingLayers} sliding (${a.slidingWindow}) + ${s.layers - a.slidingLayers} full`;
  const extras = [a.sinks && "sinks", a.qkNorm && "QK-norm", a.bias && "bias"].filter(Boolean).join(", ") ||
    "-";
  const position = p.kind === "learned absolute"
    ? "learned absolute"
    : `${p.kind} (theta ${p.theta}${p.factor ? `, x${p.factor}` : ""})`;
  const ffn = f.experts === 0
    ? `${f.kind}, ${f.width}`
    : `MoE ${f.kind}: ${f.experts} experts x ${f.width}, top-${f.topK}` +
      (f.sparseLayers < s.layers ? `, ${f.sparseLayers}/${s.layers} layers` : "");
  const kv = s.kvCache.bytesPerTokenPastWindow < s.kvCache.bytesPerToken
    ? `${formatBytes(s.kvCache.bytesPerToken)} (${
      formatBytes(s.kvCache.bytesPerTokenPastWindow)
    } past window)`
    : formatBytes(s.kvCache.bytesPerToken);
  return [
    ["model type", s.modelType],
    ["counted from", s.countedFrom],
    ["parameters", formatCount(s.params.total)],
    ["active per token", formatCount(s.params.active)],
    ["  with embeddings", formatCount(s.params.activeWithEmbeddings)],
    ["weights in memory", s.weights.map((w) => `${w.format} ${formatBytes(w.bytes)}`).join(", ")],
    [
      "on disk",
      formatBytes(s.disk.totalBytes) + " (" +
      Object.entries(s.disk.byDtype).map(([d, b]) => `${d} ${formatBytes(b)}`).join(", ") + ")",
    ],
    ["layers x width", `${s.layers} x ${s.width}`],
    ["attention", `${a.kind} ${a.heads} heads / ${a.kvHeads} KV, head_dim ${a.headDim}`],
    ["attention layers", plan],
    ["attention extras", extras],
    ["positions", position],
    ["context", String(s.maxContext)],
    ["norm", `${s.norm.kind} (eps ${s.norm.eps})`],
    ["feed-forward", ffn],
    ["router", f.router ?? "-"],
    ["vocabulary", `${s.vocab}${s.tiedEmbeddings ? " (tied head)" : ""}`],
    ["KV cache / token", kv + " at 16 bits"],
  ];
}

export function renderTable(summaries: readonly ModelSummary[]): string {
  const cols = summaries.map(rows);
  const labels = cols[0].map(([label]) => label);
  const table = [
    ["", ...summaries.map((s) => s.name)],
    ...labels.map((l, i) => [l, ...cols.map((c) => c[i][1])]),
  ];
  const widths = table[0].map((_, j) => Math.max(...table.map((r) => r[j].length)));
  return table.map((r) => r.map((cell, j) => cell.padEnd(widths[j])).join("  ").trimEnd()).join("\n");
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}
