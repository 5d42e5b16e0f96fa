// Kernel scratchpad for the WebGPU backend: times each kernel variant pair at gpt-oss-20b shapes on this
// machine's adapter, interleaved (A, B, A, B, ...) so a machine whose speed drifts still gives a fair
// ratio: prefill matmul as rows vs tiled GEMM, the prefill MoE slot by slot vs grouped by expert, and
// decode attention on one workgroup per head vs split (flash-decoding). Wall time per submitted run.
// usage: deno run -A scripts/webgpu_kernel_bench.ts [--reps 5] [--tokens 128] [--context 4096] [--only NAME]

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { openGpuDevice } from "../src/backends/webgpu/gpu_device.ts";
import { STORAGE, WeightUploader } from "../src/backends/webgpu/gpu_weights.ts";
import { attentionSplits, f32Bf16wMatmul, sdpaSinkWindow } from "../src/backends/webgpu/ops.ts";
import {
  moe,
  type MoeArgs,
  moeGroupedSizes,
  moeRouter,
  type MoeRouterArgs,
} from "../src/backends/webgpu/ops_moe.ts";
import { PipelineCache } from "../src/backends/webgpu/pipelines.ts";
import { Recorder } from "../src/backends/webgpu/recorder.ts";
import type { Mxfp4Experts } from "../src/model/mxfp4.ts";
import { GPT_OSS_20B } from "./synth_checkpoint.ts";

const args = parseArgs(Deno.args, { values: ["reps", "tokens", "context", "only"], switches: [] });
const reps = numberFlag(args, "reps", 5), T = numberFlag(args, "tokens", 128);
const ctx = numberFlag(args, "context", 4096), only = stringFlag(args, "only");
const gpu = await openGpuDevice(), dev = gpu.device;
const rec = new Recorder(dev, PipelineCache.of(dev));
const s = GPT_OSS_20B, H = s.hidden, F = s.ffn, E = s.experts, K = s.topK;

/** Random words (xorshift): weights in any dtype, as long as their values stay finite. */
function randomWords(n: number, seed: number, mask = 0xffffffff, or = 0): Uint32Array {
  const out = new Uint32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x & mask) | or;
  }
  return out;
}
/** bf16 pairs of magnitude below 2 (exponent bits kept under 0x3f80). */
const bf16Words = (n: number, seed: number) => randomWords(n, seed, 0x3f7f3f7f);
const f32 = (n: number, seed: number) =>
  new Float32Array(randomWords(n, seed, 0x3f7fffff, 0x3c000000).buffer);

function buffer(data: ArrayBufferView | number): GPUBuffer {
  const size = Math.max(16, Math.ceil((typeof data === "number" ? data : data.byteLength) / 4) * 4);
  const b = dev.createBuffer({ size, usage: STORAGE });
  if (typeof data !== "number") dev.queue.writeBuffer(b, 0, data as Uint8Array<ArrayBuffer>);
  return b;
}

function experts(rows: number, cols: number, seed: number): Mxfp4Experts {
  const blocks = new Uint8Array(randomWords((E * rows * cols) / 8, seed).buffer);
  const scales = new Uint8Array(
    randomWords((E * rows * cols) / 128, seed + 1, 0x03030303, 0x78787878).buffer,
  );
  return { numExperts: E, rows, cols, blocks, scales, bias: f32(E * rows, seed + 2) };
}

/** A pair of variants of one kernel: `record` records variant 0 or 1 of one run. */
interface Pair {
  name: string;
  variants: [string, string];
  record: (v: 0 | 1) => void;
}

const up = new WeightUploader(
  dev,
  Math.min(dev.limits.maxStorageBufferBindingSize, dev.limits.maxBufferSize),
);
const pairs: Pair[] = [];

{
  const rows = (s.heads + 2 * s.kvHeads) * s.headDim;
  const w = up.mat({
    dtype: "BF16",
    rows,
    cols: H,
    data: new Uint16Array(bf16Words((rows * H) / 2, 7).buffer),
  }, "qkv");
  const x = buffer(f32(T * H, 8)), y = buffer(T * rows * 4), bias = buffer(f32(rows, 9));
  pairs.push({
    name: `f32_bf16w_matmul: qkv ${rows}x${H} bf16, ${T} tokens`,
    variants: ["rows (8 tokens/workgroup)", "tiled GEMM (64x64)"],
    record: (v) =>
      f32Bf16wMatmul(rec, { w, bias, dummy: bias, x, y, tokens: T, kernel: v === 0 ? "rows" : "gemm" }),
  });
}
{
  const g = up.experts(experts(2 * F, H, 11), "gate_up"), d = up.experts(experts(H, F, 21), "down");
  const logits = buffer(f32(T * E, 31)), x = buffer(f32(T * H, 32));
  const sel = buffer(T * K * 4),
    selW = buffer(T * K * 4),
    act = buffer(T * K * F * 4),
    out = buffer(T * H * 4);
  const sz = moeGroupedSizes(T, K, E, H, 0);
  const grouped = {
    order: buffer(sz.order * 4),
    tiles: buffer(sz.tiles * 4),
    slotOut: buffer(sz.slotOut * 4),
  };
  const a: MoeArgs = {
    sel,
    selW,
    x,
    act,
    out,
    experts: { format: "mxfp4", gateUp: g, down: d },
    activation: { kind: "swiglu_clamped", limit: 7, alpha: 1.702 },
    dummy: buffer(4),
    tokens: T,
    k: K,
  };
  const routing: MoeRouterArgs = {
    routing: "topk_softmax",
    normalize: true,
    logits,
    sel,
    selW,
    tokens: T,
    experts: E,
    k: K,
  };
  pairs.push({
    name: `f32_mxfp4w_moe: ${E} experts top-${K}, ${H}x${F} MXFP4, ${T} tokens`,
    variants: ["slot by slot", "grouped by expert"],
    record: (v) => {
      moeRouter(rec, routing);
      moe(rec, v === 0 ? a : { ...a, grouped, groupMin: 0 });
    },
  });
}
{
  const qw = s.heads * s.headDim, kvw = s.kvHeads * s.headDim;
  const q = buffer(f32(qw, 41)), k = buffer(f32(ctx * kvw, 42)), v = buffer(f32(ctx * kvw, 43));
  const sinks = buffer(f32(s.heads, 44)), out = buffer(qw * 4);
  const floats = s.heads * attentionSplits(ctx) * (s.headDim + 2);
  const split = { scratch: buffer(floats * 4), floats };
  const a = {
    q,
    k,
    v,
    sinks,
    out,
    rows: { buffer: buffer(Uint32Array.from([ctx - 1, 0])), ctx, maxPos: ctx - 1 },
    tokens: 1,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.headDim,
    window: 0,
  };
  pairs.push({
    name: `sdpa_sink_window: decode over ${ctx} keys, ${s.heads} heads`,
    variants: ["one workgroup per head", `split (${attentionSplits(ctx)} x 256 keys)`],
    record: (x) => sdpaSinkWindow(rec, x === 0 ? a : { ...a, split }),
  });
}

async function timeRun(p: Pair, v: 0 | 1): Promise<number> {
  rec.reset();
  p.record(v);
  const t = performance.now();
  await rec.submit();
  await dev.queue.onSubmittedWorkDone();
  return performance.now() - t;
}

console.log(`adapter: ${gpu.description}; ${reps} interleaved runs per variant, wall ms per run`);
for (const p of pairs) {
  if (only && !p.name.includes(only)) continue;
  await timeRun(p, 0), await timeRun(p, 1); // build pipelines, warm caches
  const ms: [number[], number[]] = [[], []], ratios: number[] = [];
  for (let r = 0; r < reps; r++) {
    const a = await timeRun(p, 0), b = await timeRun(p, 1);
    ms[0].push(a), ms[1].push(b), ratios.push(a / b);
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(
    `${p.name}: ${p.variants[0]} ${med(ms[0]).toFixed(1)} ms, ${p.variants[1]} ${
      med(ms[1]).toFixed(1)
    } ms; ` +
      `speedup ${med(ratios).toFixed(2)}x (median of ${reps} pairs; range ${Math.min(...ratios).toFixed(2)}-${
        Math.max(...ratios).toFixed(2)
      })`,
  );
}
up.destroy();
rec.destroy();
