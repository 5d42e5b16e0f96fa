// Synthetic gpt-oss checkpoints with the real gpt-oss-20b shapes (or any smaller shape) and random weights
// in the real dtypes and MXFP4 layout, written as a Hub-layout folder: config.json, one safetensors file
// per layer plus embeddings, and model.safetensors.index.json. For benchmarks and shape tests.
// usage: deno run -A scripts/synth_checkpoint.ts OUT_DIR [--layers N] [--seed S] [--shape 20b|120b]

import { writeSafetensorsFile } from "../src/io/safetensors_write.ts";
import type { DType } from "../src/io/safetensors.ts";

/** The parts of config.json that set tensor shapes; defaults are gpt-oss-20b's. */
export interface SynthShape {
  layers: number;
  vocab: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  experts: number;
  topK: number;
  ffn: number;
  slidingWindow: number;
}

export const GPT_OSS_20B: SynthShape = {
  layers: 24,
  vocab: 201088,
  hidden: 2880,
  heads: 64,
  kvHeads: 8,
  headDim: 64,
  experts: 32,
  topK: 4,
  ffn: 2880,
  slidingWindow: 128,
};

/** gpt-oss-120b: 36 layers of 128 experts, otherwise the 20b's per-layer shapes. */
export const GPT_OSS_120B: SynthShape = { ...GPT_OSS_20B, layers: 36, experts: 128 };

export const SYNTH_SHAPES = { "20b": GPT_OSS_20B, "120b": GPT_OSS_120B } as const;
export type SynthShapeName = keyof typeof SYNTH_SHAPES;

export function synthConfig(s: SynthShape): Record<string, unknown> {
  return {
    architectures: ["GptOssForCausalLM"],
    model_type: "gpt_oss",
    attention_bias: true,
    vocab_size: s.vocab,
    hidden_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    head_dim: s.headDim,
    num_local_experts: s.experts,
    num_experts_per_tok: s.topK,
    experts_per_token: s.topK,
    intermediate_size: s.ffn,
    sliding_window: s.slidingWindow,
    layer_types: Array.from(
      { length: s.layers },
      (_, i) => (i % 2 === 0 ? "sliding_attention" : "full_attention"),
    ),
    rope_theta: 150000,
    rope_scaling: {
      rope_type: "yarn",
      factor: 32.0,
      beta_fast: 32.0,
      beta_slow: 1.0,
      original_max_position_embeddings: 4096,
      truncate: false,
    },
    initial_context_length: 4096,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    swiglu_limit: 7.0,
    // gpt-oss's ids where the vocabulary holds them (config eos ids must lie inside it)
    eos_token_id: [200002, 199999].map((id) => Math.min(id, s.vocab - 1)),
    pad_token_id: Math.min(199999, s.vocab - 1),
    tie_word_embeddings: false,
    quantization_config: {
      quant_method: "mxfp4",
      modules_to_not_convert: [
        "model.layers.*.self_attn",
        "model.layers.*.mlp.router",
        "model.embed_tokens",
        "lm_head",
      ],
    },
  };
}

/** xorshift32 filling a byte array fast (multi-GB checkpoints). */
class Bits {
  constructor(private s: number) {
    this.s = s >>> 0 || 1;
  }
  fill(out: Uint32Array): void {
    let s = this.s;
    for (let i = 0; i < out.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s;
    }
    this.s = s;
  }
}

interface Spec {
  name: string;
  dtype: DType;
  shape: number[];
  /** bf16: "weight" (random, magnitude ~ 2^-exp), "one" (1.0), "small"; u8: "blocks" | "scales". */
  kind: "weight" | "one" | "small" | "blocks" | "scales";
  exp?: number;
}

function bytesOf(s: Spec): number {
  return s.shape.reduce((a, b) => a * b, 1) * (s.dtype === "BF16" ? 2 : 1);
}

function fillTensor(s: Spec, bits: Bits): Uint8Array {
  const n = bytesOf(s);
  const words = new Uint32Array(Math.ceil(n / 4));
  bits.fill(words);
  const out = new Uint8Array(words.buffer, 0, n);
  if (s.kind === "blocks") return out;
  if (s.kind === "scales") {
    for (let i = 0; i < n; i++) out[i] = 122 + (out[i] & 3); // 2^-5 .. 2^-2
    return out;
  }
  // bf16: sign and 7 mantissa bits random; exponent in [127-exp-1, 127-exp+1]
  const h = new Uint16Array(words.buffer, 0, n / 2);
  const e = s.kind === "one" ? 0 : s.kind === "small" ? 6 : s.exp!;
  for (let i = 0; i < h.length; i++) {
    const r = h[i];
    h[i] = s.kind === "one" ? 0x3f80 | (r & 0x1f) : (r & 0x807f) | ((127 - e - 1 + ((r >> 7) % 3)) << 7);
  }
  return out;
}

function layerSpecs(s: SynthShape, l: number): Spec[] {
  const p = `model.layers.${l}.`,
    H = s.hidden,
    qw = s.heads * s.headDim,
    kvw = s.kvHeads * s.headDim,
    E = s.experts,
    F = s.ffn;
  const wexp = (cols: number) => Math.round(Math.log2(Math.sqrt(cols)));
  return [
    { name: p + "input_layernorm.weight", dtype: "BF16", shape: [H], kind: "one" },
    { name: p + "self_attn.q_proj.weight", dtype: "BF16", shape: [qw, H], kind: "weight", exp: wexp(H) },
    { name: p + "self_attn.q_proj.bias", dtype: "BF16", shape: [qw], kind: "small" },
    { name: p + "self_attn.k_proj.weight", dtype: "BF16", shape: [kvw, H], kind: "weight", exp: wexp(H) },
    { name: p + "self_attn.k_proj.bias", dtype: "BF16", shape: [kvw], kind: "small" },
    { name: p + "self_attn.v_proj.weight", dtype: "BF16", shape: [kvw, H], kind: "weight", exp: wexp(H) },
    { name: p + "self_attn.v_proj.bias", dtype: "BF16", shape: [kvw], kind: "small" },
    { name: p + "self_attn.o_proj.weight", dtype: "BF16", shape: [H, qw], kind: "weight", exp: wexp(qw) },
    { name: p + "self_attn.o_proj.bias", dtype: "BF16", shape: [H], kind: "small" },
    { name: p + "self_attn.sinks", dtype: "BF16", shape: [s.heads], kind: "small" },
    { name: p + "post_attention_layernorm.weight", dtype: "BF16", shape: [H], kind: "one" },
    { name: p + "mlp.router.weight", dtype: "BF16", shape: [E, H], kind: "weight", exp: wexp(H) },
    { name: p + "mlp.router.bias", dtype: "BF16", shape: [E], kind: "small" },
    {
      name: p + "mlp.experts.gate_up_proj_blocks",
      dtype: "U8",
      shape: [E, 2 * F, H / 32, 16],
      kind: "blocks",
    },
    { name: p + "mlp.experts.gate_up_proj_scales", dtype: "U8", shape: [E, 2 * F, H / 32], kind: "scales" },
    { name: p + "mlp.experts.gate_up_proj_bias", dtype: "BF16", shape: [E, 2 * F], kind: "small" },
    { name: p + "mlp.experts.down_proj_blocks", dtype: "U8", shape: [E, H, F / 32, 16], kind: "blocks" },
    { name: p + "mlp.experts.down_proj_scales", dtype: "U8", shape: [E, H, F / 32], kind: "scales" },
    { name: p + "mlp.experts.down_proj_bias", dtype: "BF16", shape: [E, H], kind: "small" },
  ];
}

/** Writes a checkpoint folder; returns its size in bytes. Reports each file written. */
export async function writeSynthCheckpoint(
  dir: string,
  s: SynthShape,
  seed = 1,
  onFile?: (name: string) => void,
): Promise<number> {
  Deno.mkdirSync(dir, { recursive: true });
  const H = s.hidden;
  const files: { file: string; specs: Spec[] }[] = [
    {
      file: "embeddings.safetensors",
      specs: [
        { name: "model.embed_tokens.weight", dtype: "BF16", shape: [s.vocab, H], kind: "weight", exp: 0 },
        { name: "model.norm.weight", dtype: "BF16", shape: [H], kind: "one" },
        {
          name: "lm_head.weight",
          dtype: "BF16",
          shape: [s.vocab, H],
          kind: "weight",
          exp: Math.round(Math.log2(Math.sqrt(H))),
        },
      ],
    },
    ...Array.from(
      { length: s.layers },
      (_, l) => ({ file: `layer-${String(l).padStart(2, "0")}.safetensors`, specs: layerSpecs(s, l) }),
    ),
  ];
  const bits = new Bits(seed * 2654435761);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const { file, specs } of files) {
    const infos = specs.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      byteLength: bytesOf(t),
    }));
    await writeSafetensorsFile(`${dir}/${file}`, infos, (i) => fillTensor(specs[i], bits));
    for (const t of specs) (weightMap[t.name] = file), (total += bytesOf(t));
    onFile?.(file);
  }
  Deno.writeTextFileSync(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1),
  );
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(synthConfig(s), null, 2));
  return total;
}

/** A cached 20b-shaped checkpoint with `layers` layers under the cache dir; written on first use. */
export function cachedSynth20b(layers: number, onFile?: (name: string) => void): Promise<string> {
  return cachedSynth("20b", layers, onFile);
}

/** A cached checkpoint of gpt-oss-`shape`'s per-layer shapes with `layers` layers; written on first use. */
export async function cachedSynth(
  shape: SynthShapeName,
  layers: number,
  onFile?: (name: string) => void,
): Promise<string> {
  const base = Deno.env.get("OSSI_CACHE") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`}/ossi`;
  const dir = `${base}/synth/gpt-oss-${shape}-synth-${layers}l`;
  try {
    if (Deno.statSync(`${dir}/config.json`).isFile) return dir;
  } catch { /* not there yet */ }
  await writeSynthCheckpoint(dir + ".partial", { ...SYNTH_SHAPES[shape], layers }, layers, onFile);
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* absent */ }
  Deno.renameSync(dir + ".partial", dir);
  return dir;
}

if (import.meta.main) {
  const [out, ...rest] = Deno.args;
  if (!out) {
    console.error("usage: synth_checkpoint.ts OUT_DIR [--layers N] [--seed S] [--shape 20b|120b]");
    Deno.exit(2);
  }
  const flag = (name: string, d: number) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? Number(rest[i + 1]) : d;
  };
  const shape = rest.includes("--shape") ? rest[rest.indexOf("--shape") + 1] : "20b";
  if (!(shape in SYNTH_SHAPES)) {
    console.error(`synth_checkpoint.ts: unknown --shape '${shape}' (expected 20b or 120b)`);
    Deno.exit(2);
  }
  const bytes = await writeSynthCheckpoint(
    out,
    { ...SYNTH_SHAPES[shape as SynthShapeName], layers: flag("layers", 2) },
    flag("seed", 1),
    (f) => console.error(`wrote ${f}`),
  );
  console.error(`${out}: ${(bytes / 1e9).toFixed(2)} GB`);
}
