// WebGPU speed and where the time goes: prefill and greedy decode tokens/s on a model folder with the
// dispatches, submits and weight bytes of a decode step, then the same runs with every dispatch timed
// (timestamp-query) as a per-kernel table. For scripts/device_check.sh.
// usage: deno run -A scripts/webgpu_profile.ts MODEL_DIR [--prefill 512] [--decode 32] [--json]

import { numberFlag, parseArgs } from "../src/cli/args.ts";
import { loadModel } from "../src/model/load.ts";
import { openGpuDevice } from "../src/backends/webgpu/gpu_device.ts";
import { WebGpuBackend } from "../src/backends/webgpu/webgpu_backend.ts";
import { gptOssView } from "../src/backends/legacy_views.ts";

const args = parseArgs(Deno.args, { values: ["prefill", "decode"], switches: ["json"] });
const dir = args.positionals[0];
if (!dir) {
  console.error("usage: webgpu_profile.ts MODEL_DIR [--prefill 512] [--decode 32] [--json]");
  Deno.exit(2);
}
const prefill = numberFlag(args, "prefill", 512), decode = numberFlag(args, "decode", 32);
const model = loadModel(dir);
const gpu = await openGpuDevice();
const prompt = Array.from({ length: prefill }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
console.log(`adapter: ${gpu.description} (f16 ${gpu.hasF16}, timestamps ${gpu.hasTimestamps})`);

const t0 = performance.now();
const view = gptOssView(model);
if (typeof view === "string") throw new Error(`${dir}: not a gpt-oss-shaped model (${view})`);
const b = await WebGpuBackend.create(view.config, view.weights, {
  maxContext: prefill + decode + 1,
  gpu,
  files: model.store.files,
});
const loadS = (performance.now() - t0) / 1000;
await b.greedy(prompt.slice(0, 4), 0); // build every pipeline once
for (const profile of [false, true]) {
  if (profile && !b.setProfiling(true)) break;
  try {
    b.kernelTimes();
    let t = performance.now();
    let next = await b.greedy(prompt, 0);
    const prefillS = (performance.now() - t) / 1000;
    const prefillTimes = b.kernelTimes();
    const c0 = b.counters();
    t = performance.now();
    for (let i = 0; i < decode; i++) next = await b.greedy([next], prefill + i);
    const decodeS = (performance.now() - t) / 1000;
    const c1 = b.counters();
    const decodeTimes = b.kernelTimes();
    let last = 0;
    t = performance.now();
    for (let i = 0; i < Math.min(decode, 8); i++) {
      last = (await b.forward([1], prefill + i, { logits: "last" })).length;
    }
    const logitsS = (performance.now() - t) / 1000 / Math.min(decode, 8);
    const summary = {
      backend: "webgpu",
      adapter: gpu.description,
      profiled: profile,
      load_s: loadS,
      prefill_tokens: prefill,
      prefill_tokens_per_s: prefill / prefillS,
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
  } catch (e) {
    b.dispose();
    throw e;
  }
}
b.dispose();
