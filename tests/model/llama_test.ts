// Llama as data: config parsing (head_dim given or derived, llama3 RoPE scaling, biases, tied or untied
// head) and its refusals, and generated checkpoints with the options the fixture lacks (attention and MLP
// biases, an untied head, an explicit head_dim that is not hidden/heads, a 3:1 GQA ratio, with and without
// rope_scaling) checked on every backend against an independent float64 forward pass written here.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { FormatError, MissingError } from "../../src/errors.ts";
import { encodeSafetensors, type TensorToWrite } from "../../src/io/safetensors_write.ts";
import { f32ToBf16 } from "../../src/model/dtypes.ts";
import { llama, type LlamaConfig } from "../../src/model/llama.ts";
import { loadModel } from "../../src/model/load.ts";
import { ropeTables } from "../../src/model/rope.ts";
import { createBackend } from "../../src/engine/create_backend.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../fixture_util.ts";
import { forward1 } from "../backends/fixture_check.ts";
import { rng } from "../random.ts";

const TINY = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/llama-tiny/config.json`));
const parse = (json: Record<string, unknown>) => llama.parseConfig("config.json", json);

Deno.test("llama.parseConfig() derives head_dim when absent and takes it when given", () => {
  const c = parse(TINY);
  assertEquals([c.headDim, c.numKvHeads, c.tieEmbeddings, c.attentionBias, c.mlpBias], [
    16,
    2,
    true,
    false,
    false,
  ]);
  assertEquals(c.rope.scaling, {
    kind: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalContext: 64,
  });
  const given = parse({ ...TINY, head_dim: 24, tie_word_embeddings: undefined, rope_scaling: null });
  assertEquals([given.headDim, given.tieEmbeddings, given.rope.scaling], [24, false, null]);
  // transformers' defaults: 10000 for rope_theta, as many KV heads as heads
  const bare = parse({ ...TINY, rope_theta: undefined, num_key_value_heads: undefined });
  assertEquals([bare.rope.theta, bare.numKvHeads], [10000, 4]);
});

Deno.test("llama.parseConfig() refuses configs out of range or meaning in one line naming key and value", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ rope_scaling: { ...TINY.rope_scaling, factor: 0 } }, /key 'factor' must be >= 1, got 0/],
    [
      { rope_scaling: { ...TINY.rope_scaling, high_freq_factor: 1 } },
      /key 'high_freq_factor' must be > low_freq_factor \(1\), got 1/,
    ],
    [
      { rope_scaling: { ...TINY.rope_scaling, low_freq_factor: -1 } },
      /key 'low_freq_factor' must be > 0, got -1/,
    ],
    [{ rope_scaling: { rope_type: "dynamic", factor: 2 } }, /rope type "dynamic" is not supported/],
    [{ rope_scaling: { type: "linear", factor: 0.5 } }, /key 'factor' must be >= 1, got 0.5/],
    [{ rope_theta: 0 }, /key 'rope_theta' must be > 0, got 0/],
    [{ rms_norm_eps: -1e-5 }, /key 'rms_norm_eps' must be in \(0, 1\), got -0.00001/],
    [{ head_dim: 15 }, /key 'head_dim' must be even/],
    [{ num_key_value_heads: 3 }, /key 'num_key_value_heads' \(3\) must divide the 4 attention heads/],
    [{ hidden_size: 66, head_dim: undefined }, /'num_attention_heads' \(4\) must divide the hidden size 66/],
    [{ hidden_act: "gelu" }, /key 'hidden_act' is "gelu", not supported \(expected 'silu'\)/],
    [{ mlp_bias: "yes" }, /key 'mlp_bias' must be true or false/],
    [{ eos_token_id: 576 }, /key 'eos_token_id' holds 576, outside the vocabulary of 576/],
    [{ intermediate_size: 0 }, /key 'intermediate_size' must be a positive integer, got 0/],
  ];
  for (const [patch, want] of bad) assertThrows(() => parse({ ...TINY, ...patch }), FormatError, want);
  const missing = {
    ...TINY,
    rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 },
  };
  assertThrows(() => parse(missing), MissingError, /missing key 'original_max_position_embeddings'/);
});

Deno.test("ropeTables() reproduces llama-tiny's llama3-scaled inverse frequencies (one high, one medium, six low)", () => {
  const ref = readReference("llama-tiny") as unknown as {
    debug: { rope_inv_freq: number[]; rope_inv_freq_unscaled: number[] };
  };
  const c = parse(TINY), t = ropeTables(c.rope);
  assert(maxAbsDiff(t.invFreq, ref.debug.rope_inv_freq) < 1e-7, "scaled");
  assertEquals(t.concentration, 1);
  const plain = ropeTables({ ...c.rope, scaling: null });
  assert(maxAbsDiff(plain.invFreq, ref.debug.rope_inv_freq_unscaled) < 1e-7, "unscaled");
  // rope_type linear (older long-context Llamas): every frequency divided by the factor
  const linear = parse({ ...TINY, rope_scaling: { type: "linear", factor: 4 } });
  assertEquals(linear.rope.scaling, { kind: "linear", factor: 4 });
  const l = ropeTables(linear.rope).invFreq;
  assert(maxAbsDiff(l, ref.debug.rope_inv_freq_unscaled.map((f) => f / 4)) < 1e-7, "linear");
});

// ---- generated checkpoints against a float64 forward pass ----

interface Dims {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
}

/** A Llama config.json and BF16 tensors of random values (biases everywhere, untied head). */
function generate(d: Dims, seed: number, ropeScaling: Record<string, unknown> | null) {
  const r = rng(seed), tensors = new Map<string, { shape: number[]; values: Float64Array }>();
  const put = (name: string, shape: number[], scale: number, base = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // stored as BF16: the float64 pass uses the rounded values
    const values = Float64Array.from({ length: n }, () => bf16Round(base + (r() * 2 - 1) * scale));
    tensors.set(name, { shape, values });
  };
  const qw = d.heads * d.headDim, kvw = d.kvHeads * d.headDim;
  put("model.embed_tokens.weight", [d.vocab, d.hidden], 1);
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}.`;
    put(p + "input_layernorm.weight", [d.hidden], 0.2, 1);
    for (
      const [m, rows, cols] of [["q", qw, d.hidden], ["k", kvw, d.hidden], ["v", kvw, d.hidden], [
        "o",
        d.hidden,
        qw,
      ]] as const
    ) {
      put(`${p}self_attn.${m}_proj.weight`, [rows, cols], 0.3);
      put(`${p}self_attn.${m}_proj.bias`, [rows], 0.2);
    }
    put(p + "post_attention_layernorm.weight", [d.hidden], 0.2, 1);
    for (
      const [m, rows, cols] of [["gate", d.ffn, d.hidden], ["up", d.ffn, d.hidden], [
        "down",
        d.hidden,
        d.ffn,
      ]] as const
    ) {
      put(`${p}mlp.${m}_proj.weight`, [rows, cols], 0.3);
      put(`${p}mlp.${m}_proj.bias`, [rows], 0.2);
    }
  }
  put("model.norm.weight", [d.hidden], 0.2, 1);
  put("lm_head.weight", [d.vocab, d.hidden], 0.5);
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: d.vocab,
    hidden_size: d.hidden,
    intermediate_size: d.ffn,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads,
    head_dim: d.headDim,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: ropeScaling,
    attention_bias: true,
    mlp_bias: true,
    tie_word_embeddings: false,
    hidden_act: "silu",
    eos_token_id: d.vocab - 1,
    torch_dtype: "bfloat16",
  };
  return { config, tensors };
}

function bf16Round(x: number): number {
  const bits = f32ToBf16(x) << 16;
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

async function writeCheckpoint(g: ReturnType<typeof generate>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ossi-llama-" });
  const list: TensorToWrite[] = [...g.tensors].map(([name, t]) => ({
    name,
    dtype: "BF16",
    shape: t.shape,
    bytes: new Uint8Array(Uint16Array.from(t.values, f32ToBf16).buffer),
  }));
  await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(list));
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(g.config));
  return dir;
}

/**
 * transformers' LlamaForCausalLM in float64, written from its definition: RMSNorm (x / sqrt(mean x^2 +
 * eps) * w), q/k/v/o with biases, RoPE on (i, i + d/2) pairs with the config's inverse frequencies, causal
 * GQA softmax attention scaled by 1/sqrt(head_dim), SwiGLU down(silu(gate) * up) with biases, lm_head.
 * Returns [tokens, vocab] logits.
 */
function float64Llama(
  g: ReturnType<typeof generate>,
  d: Dims,
  invFreq: ArrayLike<number>,
  tokens: number[],
): Float64Array {
  const W = (name: string) => g.tensors.get(name)!.values, T = tokens.length, H = d.hidden, D = d.headDim;
  const eps = 1e-5, qw = d.heads * D, kvw = d.kvHeads * D;
  const rms = (x: Float64Array, w: Float64Array) => {
    const out = new Float64Array(x.length);
    for (let t = 0; t < x.length / w.length; t++) {
      let ss = 0;
      for (let i = 0; i < w.length; i++) ss += x[t * w.length + i] ** 2;
      const inv = 1 / Math.sqrt(ss / w.length + eps);
      for (let i = 0; i < w.length; i++) out[t * w.length + i] = x[t * w.length + i] * inv * w[i];
    }
    return out;
  };
  const proj = (x: Float64Array, name: string, rows: number, cols: number, bias = true) => {
    const w = W(name + ".weight"), b = bias ? W(name + ".bias") : null, n = x.length / cols;
    const y = new Float64Array(n * rows);
    for (let t = 0; t < n; t++) {
      for (let r = 0; r < rows; r++) {
        let acc = b ? b[r] : 0;
        for (let c = 0; c < cols; c++) acc += w[r * cols + c] * x[t * cols + c];
        y[t * rows + r] = acc;
      }
    }
    return y;
  };
  const rope = (x: Float64Array, heads: number) => {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < D / 2; i++) {
          const a = t * invFreq[i], o = t * heads * D + h * D, x1 = x[o + i], x2 = x[o + i + D / 2];
          x[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
          x[o + i + D / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
        }
      }
    }
  };
  let x = new Float64Array(T * H);
  tokens.forEach((id, t) => x.set(W("model.embed_tokens.weight").subarray(id * H, (id + 1) * H), t * H));
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}.`;
    const xn = rms(x, W(p + "input_layernorm.weight"));
    const q = proj(xn, p + "self_attn.q_proj", qw, H), k = proj(xn, p + "self_attn.k_proj", kvw, H);
    const v = proj(xn, p + "self_attn.v_proj", kvw, H);
    rope(q, d.heads);
    rope(k, d.kvHeads);
    const att = new Float64Array(T * qw);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < d.heads; h++) {
        const kv = Math.floor(h / (d.heads / d.kvHeads)), s = new Float64Array(t + 1);
        for (let j = 0; j <= t; j++) {
          for (let i = 0; i < D; i++) s[j] += q[t * qw + h * D + i] * k[j * kvw + kv * D + i];
          s[j] /= Math.sqrt(D);
        }
        const m = Math.max(...s), e = s.map((z) => Math.exp(z - m)), z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < D; i++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += (e[j] / z) * v[j * kvw + kv * D + i];
          att[t * qw + h * D + i] = acc;
        }
      }
    }
    const o = proj(att, p + "self_attn.o_proj", H, qw);
    x = x.map((xi, i) => xi + o[i]);
    const xm = rms(x, W(p + "post_attention_layernorm.weight"));
    const gate = proj(xm, p + "mlp.gate_proj", d.ffn, H), up = proj(xm, p + "mlp.up_proj", d.ffn, H);
    const act = gate.map((gi, i) => (gi / (1 + Math.exp(-gi))) * up[i]);
    const down = proj(act, p + "mlp.down_proj", H, d.ffn);
    x = x.map((xi, i) => xi + down[i]);
  }
  const w = W("lm_head.weight"), xf = rms(x, W("model.norm.weight")), out = new Float64Array(T * d.vocab);
  for (let t = 0; t < T; t++) {
    for (let vv = 0; vv < d.vocab; vv++) {
      let acc = 0;
      for (let i = 0; i < H; i++) acc += w[vv * H + i] * xf[t * H + i];
      out[t * d.vocab + vv] = acc;
    }
  }
  return out;
}

const SHAPES: [string, Dims, Record<string, unknown> | null][] = [
  [
    "head_dim 12 given (hidden 40 / 6 heads would be 6.67), 6 heads over 2 KV heads, no rope_scaling",
    { vocab: 97, hidden: 40, layers: 2, heads: 6, kvHeads: 2, headDim: 12, ffn: 56 },
    null,
  ],
  [
    "head_dim 8 given (hidden 32 / 4 = 8), MQA (4 heads over 1 KV head), llama3 scaling of a longer context",
    { vocab: 50, hidden: 32, layers: 2, heads: 4, kvHeads: 1, headDim: 8, ffn: 24 },
    {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 2,
      high_freq_factor: 8,
      original_max_position_embeddings: 32,
    },
  ],
  [
    "head_dim 16 given (hidden 48 / 3 = 16), MHA, llama3 scaling",
    { vocab: 64, hidden: 48, layers: 3, heads: 3, kvHeads: 3, headDim: 16, ffn: 40 },
    {
      rope_type: "llama3",
      factor: 4,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
  ],
];

for (const [what, dims, scaling] of SHAPES) {
  Deno.test(`Llama with biases and an untied head, ${what}: every backend matches float64`, async () => {
    const g = generate(dims, dims.vocab, scaling), dir = await writeCheckpoint(g);
    try {
      const model = loadModel(dir), c = model.config as LlamaConfig;
      assertEquals([c.attentionBias, c.mlpBias, c.tieEmbeddings, c.headDim], [
        true,
        true,
        false,
        dims.headDim,
      ]);
      assert(model.weights.unembed !== model.weights.embed, "untied head");
      const tokens = Array.from({ length: 21 }, (_, i) => (i * 31 + 7) % dims.vocab);
      const want = float64Llama(g, dims, ropeTables(c.rope).invFreq, tokens);
      const wantArgmax = tokens.map((_, t) => argmaxRow(want, t, dims.vocab));
      for (const name of ["ref", "wasm", "webgpu"] as const) {
        const b = await createBackend(model, name, { maxContext: 32 });
        try {
          const got = await forward1(b, tokens, 0, "all");
          const d = maxAbsDiff(got, Array.from(want));
          assert(d < 1e-4, `${name}: logits differ from float64 by ${d}`);
          assertEquals(tokens.map((_, t) => argmaxRow(got, t, dims.vocab)), wantArgmax, `${name}: argmax`);
        } finally {
          b.dispose();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

function argmaxRow(v: ArrayLike<number>, t: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[t * n + i] > v[t * n + best]) best = i;
  return best;
}

Deno.test("a Llama config that says untied but has no lm_head.weight names the missing tensor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ossi-llama-" });
  try {
    await Deno.copyFile(`${FIXTURES}/llama-tiny/model.safetensors`, `${dir}/model.safetensors`);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...TINY, tie_word_embeddings: false }));
    assertThrows(() => loadModel(dir), MissingError, /missing tensor 'lm_head\.weight'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
