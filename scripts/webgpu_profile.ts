// WebGPU speed and where the time goes: prefill and greedy decode tokens/s on a model folder with the
// dispatches, submits and weight bytes of a decode step, then the same runs with every dispatch timed
// (timestamp-query) as a per-kernel table; then greedy decode steps of a batch of B sequences (one per KV
// slot, B = --batch, default 1,2,4; interleaved step by step): aggregate tokens/s and what one step costs.
// For scripts/device_check.sh.
// usage: deno run -A scripts/webgpu_profile.ts MODEL_DIR [--prefill 512] [--decode 32] [--batch 1,2,4] [--json]

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { loadModel } from "../src/model/load.ts";
import { openGpuDevice } from "../src/backends/webgpu/gpu_device.ts";
import { WebGpuBackend } from "../src/backends/webgpu/webgpu_backend.ts";

const args = parseArgs(Deno.args, { values: ["prefill", "decode", "batch"], switches: ["json"] });
const dir = args.positionals[0];
if (!dir) {
  console.error("usage: webgpu_profile.ts MODEL_DIR [--prefill 512] [--decode 32] [--batch 1,2,4] [--json]");
  Deno.exit(2);
}
const prefill = numberFlag(args, "prefill", 512), decode = numberFlag(args, "decode", 32);
const batches = (stringFlag(args, "batch") ?? "1,2,4").split(",").map(Number);
const model = loadModel(dir);
const gpu = await openGpuDevice();
const prompt = Array.from({ length: prefill }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
console.log(`adapter: ${gpu.description} (f16 ${gpu.hasF16}, timestamps ${gpu.hasTimestamps})`);

const t0 = performance.now();
const b = await WebGpuBackend.create(model.config, model.plan, model.weights, {
  maxContext: prefill + decode + 1,
  slots: Math.max(1, batches.reduce((n, B) => n + B, 0)),
  gpu,
  files: model.store.files,
});
const loadS = (performance.now() - t0) / 1000;
const greedy = async (tokens: number[], pos: number, slot = 0) =>
  (await b.greedy([{ slot, tokens, pos }]))[0];
await greedy(prompt.slice(0, 4), 0); // build every pipeline once
try {
  for (const profile of [false, true]) {
    if (profile && !b.setProfiling(true)) break;
    b.kernelTimes();
    const p0 = b.counters();
    let t = performance.now();
    let next = await greedy(prompt, 0);
    const prefillS = (performance.now() - t) / 1000, p1 = b.counters();
    const prefillTimes = b.kernelTimes();
    // the same prefill with a stop hook: steps of 16+ rows submit per layer and poll between layers
    t = performance.now();
    if (!profile) await b.greedy([{ slot: 0, tokens: prompt, pos: 0 }], { shouldStop: () => false });
    const polledS = (performance.now() - t) / 1000;
    const c0 = b.counters();
    t = performance.now();
    for (let i = 0; i < decode; i++) next = await greedy([next], prefill + i);
    const decodeS = (performance.now() - t) / 1000;
    const c1 = b.counters();
    const decodeTimes = b.kernelTimes();
    let last = 0;
    t = performance.now();
    for (let i = 0; i < Math.min(decode, 8); i++) {
      last = (await b.forward([{ slot: 0, tokens: [1], pos: prefill + i, logits: "last" }]))[0].length;
    }
    const logitsS = (performance.now() - t) / 1000 / Math.min(decode, 8);
    const summary = {
      backend: "webgpu",
      adapter: gpu.description,
      profiled: profile,
      load_s: loadS,
      prefill_tokens: prefill,
      prefill_tokens_per_s: prefill / prefillS,
      prefill_tokens_per_s_stop_polled: profile ? undefined : prefill / polledS,
      prefill_dispatches: p1.dispatches - p0.dispatches,
      prefill_submits: p1.submits - p0.submits,
      prefill_weight_gb: (p1.weightBytes - p0.weightBytes) / 1e9,
      decode_tokens: decode,
      decode_tokens_per_s_greedy: decode / decodeS,
      decode_tokens_per_s_with_logits: 1 / logitsS,
      // counted by the kernels' host wrappers, per greedy decode step
      dispatches_per_step: (c1.dispatches - c0.dispatches) / decode,
      submits_per_step: (c1.submits - c0.submits) / decode,
      weight_gb_per_step: (c1.weightBytes - c0.weightBytes) / decode / 1e9,
      vocab_read_back: last,
    };
    console.log(JSON.stringify(summary));
    if (profile) {
      for (
        const [phase, times, tokens] of [["prefill", prefillTimes, prefill], [
          "decode",
          decodeTimes,
          decode,
        ]] as const
      ) {
        const total = [...times.values()].reduce((s, k) => s + k.ns, 0);
        console.log(
          `\n${phase}: GPU time per token by kernel (sum of timed passes ${
            (total / 1e6 / tokens).toFixed(3)
          } ms/token)`,
        );
        for (const [k, v] of [...times].sort((a, b) => b[1].ns - a[1].ns)) {
          const ms = v.ns / 1e6 / tokens;
          console.log(
            `  ${k.padEnd(34)} ${ms.toFixed(4).padStart(9)} ms  ${
              (100 * v.ns / total).toFixed(1).padStart(5)
            }%  ${v.count} dispatches`,
          );
        }
      }
    }
  }
  b.setProfiling(false);
  // decode steps of B sequences, each in its own slot with a short prompt of its own; the batch sizes take
  // turns step by step (the machine's speed drifts), each with slots of its own
  const short = Math.min(prefill, 16),
    runs = batches.map((B, i) => {
      const first = batches.slice(0, i).reduce((n, x) => n + x, 0);
      return {
        B,
        slots: Array.from({ length: B }, (_, s) => first + s),
        next: [] as number[],
        s: 0,
        counts: [0, 0, 0],
      };
    });
  for (const r of runs) {
    r.next = await b.greedy(r.slots.map((slot, s) => ({ slot, tokens: prompt.slice(s, s + short), pos: 0 })));
  }
  for (let i = 0; i < decode; i++) {
    for (const r of runs) {
      const c0 = b.counters(), t = performance.now();
      r.next = await b.greedy(r.next.map((id, s) => ({ slot: r.slots[s], tokens: [id], pos: short + i })));
      const c1 = b.counters();
      r.s += (performance.now() - t) / 1000;
      r.counts = [c1.dispatches - c0.dispatches, c1.submits - c0.submits, c1.weightBytes - c0.weightBytes];
    }
  }
  for (const r of runs) {
    console.log(JSON.stringify({
      backend: "webgpu",
      batch: r.B,
      decode_steps: decode,
      decode_tokens_per_s: (r.B * decode) / r.s,
      dispatches_per_step: r.counts[0],
      submits_per_step: r.counts[1],
      weight_gb_per_step: r.counts[2] / 1e9,
    }));
  }
} finally {
  b.dispose();
}
