// Converts a gpt-oss checkpoint folder (in practice a synthetic one from synth_checkpoint.ts) into the GGUF
// llama.cpp runs, with the same weights: experts stay MXFP4 (repacked to ggml's block layout), the other
// matrices become Q8_0 (blocks of 32 int8 with an f16 scale, as llama.cpp's gpt-oss files hold them), norms,
// biases and sinks f32. The tokenizer is llama.cpp's "no vocab" (vocab_size dummy tokens): the bench feeds
// token ids, never text.
// usage: deno run -A scripts/synth_gguf.ts MODEL_DIR OUT.gguf

import { bf16ToF32, f16ToF32, type Mat } from "../src/model/dtypes.ts";
import { gptOss, type GptOssConfig } from "../src/model/gpt_oss.ts";
import { loadModel } from "../src/model/load.ts";
import type { Mxfp4Experts } from "../src/model/mxfp4.ts";
import type { ModelWeights } from "../src/model/weights.ts";
import { GgmlType, gguf, type GgufTensor, type GgufValue, writeGgufFile } from "./gguf_write.ts";

const ARCH = "gpt-oss";

/** Round half away from zero, as C's roundf (ggml's reference quantizer). */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

const half = new Float16Array(1), halfBits = new Uint16Array(half.buffer);

/**
 * Q8_0 blocks of `n` floats from `x` into `out` (n/32 blocks of 34 bytes): d = amax/127 as f16, then
 * q = roundf(x / d) with 1/d in f32, as ggml's quantize_row_q8_0_ref.
 */
export function quantizeQ8_0(x: Float32Array, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = Math.fround(amax / 127), id = d ? Math.fround(1 / d) : 0;
    half[0] = d;
    view.setUint16(b * 34, halfBits[0], true);
    for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, roundAway(Math.fround(x[b * 32 + j] * id)));
  }
}

/** Dequantizes Q8_0 blocks (for tests). */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 32);
    out[i] = f16ToF32(view.getUint16(b * 34, true)) * view.getInt8(b * 34 + 2 + (i % 32));
  }
  return out;
}

/**
 * One MXFP4 block from the checkpoint layout (16 bytes: column 2j in the low nibble of byte j, 2j+1 in the
 * high) into ggml's block_mxfp4 (e8m0 byte, then qs[j] = column j | column j+16 << 4) at out[at].
 * Both read the e2m1 code the same way and scale by 2^(e-127).
 */
export function repackMxfp4Block(
  src: Uint8Array,
  s: number,
  scale: number,
  out: Uint8Array,
  at: number,
): void {
  const code = (c: number) => (c & 1 ? src[s + (c >> 1)] >> 4 : src[s + (c >> 1)] & 15);
  out[at] = scale;
  for (let j = 0; j < 16; j++) out[at + 1 + j] = code(j) | (code(j + 16) << 4);
}

function f32Row(m: Mat, r: number, out: Float32Array): void {
  const d = m.data;
  for (let c = 0; c < m.cols; c++) {
    out[c] = m.dtype === "BF16"
      ? bf16ToF32((d as Uint16Array)[r * m.cols + c])
      : m.dtype === "F16"
      ? f16ToF32((d as Uint16Array)[r * m.cols + c])
      : (d as Float32Array)[r * m.cols + c];
  }
}

function q8Matrix(m: Mat, out: Uint8Array): void {
  const row = new Float32Array(m.cols), rowBytes = (m.cols / 32) * 34;
  for (let r = 0; r < m.rows; r++) {
    f32Row(m, r, row);
    quantizeQ8_0(row, out.subarray(r * rowBytes, (r + 1) * rowBytes));
  }
}

/** Rows `first`, first+step, ... of every expert (gate: 0/2, up: 1/2, down: 0/1) as ggml MXFP4. */
function mxfp4Experts(m: Mxfp4Experts, first: number, step: number, out: Uint8Array): void {
  const nb = m.cols / 32, rows = m.rows / step;
  let at = 0;
  for (let e = 0; e < m.numExperts; e++) {
    for (let r = 0; r < rows; r++) {
      const src = e * m.rows + first + r * step;
      for (let g = 0; g < nb; g++, at += 17) {
        repackMxfp4Block(m.blocks, (src * nb + g) * 16, m.scales[src * nb + g], out, at);
      }
    }
  }
}

function f32Into(x: Float32Array, out: Uint8Array): void {
  new Float32Array(out.buffer, out.byteOffset, x.length).set(x);
}

/** Every `step`-th value of each expert's bias [experts, rows] from `first`. */
function strided(
  bias: Float32Array,
  experts: number,
  rows: number,
  first: number,
  step: number,
): Float32Array {
  const n = rows / step, out = new Float32Array(experts * n);
  for (let e = 0; e < experts; e++) {
    for (let r = 0; r < n; r++) out[e * n + r] = bias[e * rows + first + r * step];
  }
  return out;
}

/** The metadata llama.cpp's gpt-oss loader reads (llama-model.cpp, models/openai-moe.cpp). */
export function gptOssMetadata(c: GptOssConfig, name: string): [string, GgufValue][] {
  const k = (s: string) => `${ARCH}.${s}`;
  const meta: [string, GgufValue][] = [
    ["general.architecture", gguf.str(ARCH)],
    ["general.name", gguf.str(name)],
    ["general.alignment", gguf.u32(32)],
    ["general.file_type", gguf.u32(38)], // MOSTLY_MXFP4_MOE
    [k("block_count"), gguf.u32(c.numLayers)],
    [k("context_length"), gguf.u32(c.maxContext)],
    [k("embedding_length"), gguf.u32(c.hiddenSize)],
    [k("feed_forward_length"), gguf.u32(c.intermediateSize)],
    [k("expert_feed_forward_length"), gguf.u32(c.intermediateSize)],
    [k("attention.head_count"), gguf.u32(c.numHeads)],
    [k("attention.head_count_kv"), gguf.u32(c.numKvHeads)],
    [k("attention.key_length"), gguf.u32(c.headDim)],
    [k("attention.value_length"), gguf.u32(c.headDim)],
    [k("attention.layer_norm_rms_epsilon"), gguf.f32(c.norm.eps)],
    [k("attention.sliding_window"), gguf.u32(Math.max(...c.layerWindows, 1))],
    [k("expert_count"), gguf.u32(c.numExperts)],
    [k("expert_used_count"), gguf.u32(c.expertsPerToken)],
    [k("rope.freq_base"), gguf.f32(c.rope.theta)],
    [k("vocab_size"), gguf.u32(c.vocabSize)],
    ["tokenizer.ggml.model", gguf.str("none")],
  ];
  const y = c.rope.scaling;
  if (y?.kind === "yarn") {
    meta.push(
      [k("rope.scaling.type"), gguf.str("yarn")],
      [k("rope.scaling.factor"), gguf.f32(y.factor)],
      [k("rope.scaling.original_context_length"), gguf.u32(y.originalContext)],
    );
  }
  return meta;
}

/** Tensor infos and fillers in llama.cpp's gpt-oss names (ggml dims: [cols, rows, experts]). */
export function gptOssTensors(
  c: GptOssConfig,
  w: ModelWeights,
): { tensors: GgufTensor[]; fills: ((out: Uint8Array) => void)[] } {
  const tensors: GgufTensor[] = [], fills: ((out: Uint8Array) => void)[] = [];
  const add = (name: string, dims: number[], type: GgmlType, fill: (out: Uint8Array) => void) => {
    tensors.push({ name, dims, type });
    fills.push(fill);
  };
  const mat = (name: string, m: Mat) => add(name, [m.cols, m.rows], GgmlType.Q8_0, (o) => q8Matrix(m, o));
  const vec = (name: string, x: Float32Array, dims = [x.length]) =>
    add(name, dims, GgmlType.F32, (o) => f32Into(x, o));
  const H = c.hiddenSize, F = c.intermediateSize, E = c.numExperts;
  mat("token_embd.weight", w.embed);
  vec("output_norm.weight", w.finalNorm);
  mat("output.weight", w.unembed);
  w.layers.forEach((L, l) => {
    const p = `blk.${l}.`, f = L.ffn;
    if (f.kind !== "moe" || f.experts.format !== "mxfp4") throw new Error(`layer ${l}: no MXFP4 experts`);
    const { gateUp, down } = f.experts;
    vec(p + "attn_norm.weight", L.attnNorm);
    vec(p + "post_attention_norm.weight", L.mlpNorm);
    mat(p + "attn_q.weight", L.q);
    vec(p + "attn_q.bias", L.qBias!);
    mat(p + "attn_k.weight", L.k);
    vec(p + "attn_k.bias", L.kBias!);
    mat(p + "attn_v.weight", L.v);
    vec(p + "attn_v.bias", L.vBias!);
    mat(p + "attn_output.weight", L.o);
    vec(p + "attn_output.bias", L.oBias!);
    vec(p + "attn_sinks.weight", L.sinks!);
    mat(p + "ffn_gate_inp.weight", f.router);
    vec(p + "ffn_gate_inp.bias", f.routerBias!);
    add(p + "ffn_gate_exps.weight", [H, F, E], GgmlType.MXFP4, (o) => mxfp4Experts(gateUp, 0, 2, o));
    vec(p + "ffn_gate_exps.bias", strided(gateUp.bias, E, 2 * F, 0, 2), [F, E]);
    add(p + "ffn_up_exps.weight", [H, F, E], GgmlType.MXFP4, (o) => mxfp4Experts(gateUp, 1, 2, o));
    vec(p + "ffn_up_exps.bias", strided(gateUp.bias, E, 2 * F, 1, 2), [F, E]);
    add(p + "ffn_down_exps.weight", [F, H, E], GgmlType.MXFP4, (o) => mxfp4Experts(down, 0, 1, o));
    vec(p + "ffn_down_exps.bias", down.bias, [H, E]);
  });
  return { tensors, fills };
}

/** Writes `modelDir` as a GGUF at `out`; returns its size in bytes. */
export async function writeGptOssGguf(modelDir: string, out: string): Promise<number> {
  const model = loadModel(modelDir);
  if (model.arch !== gptOss) throw new Error(`${modelDir}: not a gpt-oss model (${model.arch.family})`);
  const config = model.config as GptOssConfig, { tensors, fills } = gptOssTensors(config, model.weights);
  const name = modelDir.split("/").filter(Boolean).pop() ?? "gpt-oss";
  return await writeGgufFile(out, gptOssMetadata(config, name), tensors, (i, o) => fills[i](o));
}

if (import.meta.main) {
  const [dir, out] = Deno.args;
  if (!dir || !out) {
    console.error("usage: synth_gguf.ts MODEL_DIR OUT.gguf");
    Deno.exit(2);
  }
  const bytes = await writeGptOssGguf(dir, out);
  console.error(`${out}: ${(bytes / 1e9).toFixed(2)} GB`);
}
