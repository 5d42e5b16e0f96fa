// Prefill and decode speed of the ref and wasm backends on GPT-2 (f32) and Qwen3 / Qwen3-MoE (bf16) models
// with random weights built in memory, in one run so the figures compare (one JSON line per row).
// usage: deno run -A scripts/bench_dense.ts [--layers 2] [--prefill 32] [--decode 4] [--models gpt2,qwen3,qwen3_moe]
//                                          [--precision exact|fast] (the wasm backend's; default exact)

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { createBackend } from "../src/engine/create_backend.ts";
import type { LoadedModel } from "../src/model/load.ts";
import { randomModel } from "./random_model.ts";

/** GPT-2 small's widths (768 wide, 12 heads, ffn 3072) over `layers` layers and a 16k vocabulary, f32. */
function gpt2(layers: number): LoadedModel {
  return randomModel({
    model_type: "gpt2",
    vocab_size: 16384,
    n_embd: 768,
    n_head: 12,
    n_layer: layers,
    n_positions: 1024,
    eos_token_id: 0,
  }, { dtypes: ["F32"] });
}

/** Qwen3-0.6B's widths (1024 wide, 16/8 heads of 128, ffn 3072), or a 16-expert MoE of width 768, top 4. */
function qwen3(layers: number, moe: boolean): LoadedModel {
  return randomModel({
    model_type: moe ? "qwen3_moe" : "qwen3",
    vocab_size: 16384,
    hidden_size: 1024,
    num_hidden_layers: layers,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    intermediate_size: 3072,
    rope_theta: 1e6,
    tie_word_embeddings: true,
    eos_token_id: 0,
    ...(moe
      ? { num_experts: 16, num_experts_per_tok: 4, moe_intermediate_size: 768, norm_topk_prob: true }
      : {}),
  });
}

const args = parseArgs(Deno.args, {
  values: ["layers", "prefill", "decode", "models", "precision"],
  switches: [],
});
const precision = stringFlag(args, "precision") === "fast" ? "fast" : "exact";
const layers = numberFlag(args, "layers", 2),
  P = numberFlag(args, "prefill", 32),
  N = numberFlag(args, "decode", 4);
const models = (stringFlag(args, "models") ?? "gpt2,qwen3,qwen3_moe").split(",");
for (const name of models) {
  const model = name === "gpt2" ? gpt2(layers) : qwen3(layers, name === "qwen3_moe");
  const tokens = Array.from({ length: P }, (_, i) => (i * 7919) % 16384);
  const speeds: Record<string, { prefill: number; decode: number }> = {};
  for (const backend of ["ref", "wasm"] as const) {
    const b = await createBackend(model, backend, { maxContext: P + N, precision });
    let t = performance.now();
    await b.forward([{ slot: 0, tokens, pos: 0, logits: "last" }]);
    const prefill = P / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < N; i++) await b.forward([{ slot: 0, tokens: [i + 1], pos: P + i, logits: "last" }]);
    const decode = N / ((performance.now() - t) / 1000);
    b.dispose();
    speeds[backend] = { prefill, decode };
    console.log(
      JSON.stringify({
        model: name,
        layers,
        backend,
        precision: backend === "wasm" ? precision : "exact",
        prefill_tok_s: +prefill.toFixed(2),
        decode_tok_s: +decode.toFixed(2),
      }),
    );
  }
  console.log(JSON.stringify({
    model: name,
    wasm_over_ref_prefill: +(speeds.wasm.prefill / speeds.ref.prefill).toFixed(1),
    wasm_over_ref_decode: +(speeds.wasm.decode / speeds.ref.decode).toFixed(1),
  }));
}
