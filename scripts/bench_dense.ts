// Prefill and decode speed of the ref and wasm backends on GPT-2 (f32) and Qwen3 / Qwen3-MoE (bf16) models
// with random weights built in memory, in one run so the figures compare (one JSON line per row).
// usage: deno run -A scripts/bench_dense.ts [--layers 2] [--prefill 32] [--decode 4] [--models gpt2,qwen3,qwen3_moe]

import { numberFlag, parseArgs, stringFlag } from "../src/cli/args.ts";
import { createArchRefBackend } from "../src/backends/ref/arch_backend.ts";
import { createArchWasmBackend } from "../src/backends/wasm/dense_arch_backend.ts";
import { f32ToBf16, type Mat } from "../src/model/dtypes.ts";
import { parseGpt2Config } from "../src/model/gpt2.ts";
import type { LoadedGpt2, LoadedQwen3 } from "../src/model/load_any.ts";
import { parseQwen3Config, type Qwen3LayerWeights } from "../src/model/qwen3.ts";
import type { TensorStore } from "../src/io/checkpoint.ts";

let seed = 1;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
const vec = (n: number, base = 0, scale = 0.2) =>
  Float32Array.from({ length: n }, () => base + rand() * scale);
function mat(rows: number, cols: number, bf16: boolean): Mat {
  const v = vec(rows * cols, 0, 0.1);
  return bf16
    ? { dtype: "BF16", rows, cols, data: Uint16Array.from(v, f32ToBf16) }
    : { dtype: "F32", rows, cols, data: v };
}
const noStore = { dir: "(in memory)" } as unknown as TensorStore;

/** GPT-2 small's widths (768 wide, 12 heads, ffn 3072) over `layers` layers and a 16k vocabulary. */
function gpt2(layers: number): LoadedGpt2 {
  const config = parseGpt2Config("bench", {
    vocab_size: 16384,
    n_embd: 768,
    n_head: 12,
    n_layer: layers,
    n_positions: 1024,
    eos_token_id: 0,
  });
  const H = 768, F = 3072;
  const layer = () => ({
    ln1W: vec(H, 1),
    ln1B: vec(H),
    q: mat(H, H, false),
    qBias: vec(H),
    k: mat(H, H, false),
    kBias: vec(H),
    v: mat(H, H, false),
    vBias: vec(H),
    o: mat(H, H, false),
    oBias: vec(H),
    ln2W: vec(H, 1),
    ln2B: vec(H),
    fc: mat(F, H, false),
    fcBias: vec(F),
    proj: mat(H, F, false),
    projBias: vec(H),
  });
  const tokenEmbed = mat(16384, H, false);
  const weights = {
    tokenEmbed,
    posEmbed: mat(1024, H, false),
    layers: Array.from({ length: layers }, layer),
    finalNormW: vec(H, 1),
    finalNormB: vec(H),
    unembed: tokenEmbed,
  };
  return { arch: "gpt2", dir: "(in memory)", config, weights, store: noStore };
}

/** Qwen3-0.6B's widths (1024 wide, 16/8 heads of 128, ffn 3072), or a 16-expert MoE of width 768, top 4. */
function qwen3(layers: number, moe: boolean): LoadedQwen3 {
  const config = parseQwen3Config("bench", {
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
  const H = 1024, qw = 2048, kvw = 1024, F = 3072, E = 16, Fe = 768;
  const layer = (): Qwen3LayerWeights => ({
    attnNorm: vec(H, 1),
    q: mat(qw, H, true),
    k: mat(kvw, H, true),
    v: mat(kvw, H, true),
    o: mat(H, qw, true),
    qBias: null,
    kBias: null,
    vBias: null,
    oBias: null,
    qNorm: vec(128, 1),
    kNorm: vec(128, 1),
    mlpNorm: vec(H, 1),
    ffn: moe
      ? {
        kind: "moe",
        router: mat(E, H, true),
        gate: Array.from({ length: E }, () => mat(Fe, H, true)),
        up: Array.from({ length: E }, () => mat(Fe, H, true)),
        down: Array.from({ length: E }, () => mat(H, Fe, true)),
      }
      : { kind: "dense", gate: mat(F, H, true), up: mat(F, H, true), down: mat(H, F, true) },
  });
  const embed = mat(16384, H, true);
  const weights = {
    embed,
    layers: Array.from({ length: layers }, layer),
    finalNorm: vec(H, 1),
    unembed: embed,
  };
  return { arch: "qwen3", dir: "(in memory)", config, weights, store: noStore };
}

const args = parseArgs(Deno.args, { values: ["layers", "prefill", "decode", "models"], switches: [] });
const layers = numberFlag(args, "layers", 2),
  P = numberFlag(args, "prefill", 32),
  N = numberFlag(args, "decode", 4);
const models = (stringFlag(args, "models") ?? "gpt2,qwen3,qwen3_moe").split(",");
for (const name of models) {
  const model = name === "gpt2" ? gpt2(layers) : qwen3(layers, name === "qwen3_moe");
  const tokens = Array.from({ length: P }, (_, i) => (i * 7919) % 16384);
  const speeds: Record<string, { prefill: number; decode: number }> = {};
  for (const backend of ["ref", "wasm"] as const) {
    const b = backend === "ref"
      ? createArchRefBackend(model, P + N)
      : createArchWasmBackend(model, { maxContext: P + N });
    let t = performance.now();
    await b.forward(tokens, 0, { logits: "last" });
    const prefill = P / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < N; i++) await b.forward([i + 1], P + i, { logits: "last" });
    const decode = N / ((performance.now() - t) / 1000);
    b.dispose();
    speeds[backend] = { prefill, decode };
    console.log(
      JSON.stringify({
        model: name,
        layers,
        backend,
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
