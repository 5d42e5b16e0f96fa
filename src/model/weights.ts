// The one weights structure of every architecture, the tensor-name table an architecture file gives for
// its checkpoint layout, and the loader that resolves exactly the tensors a plan needs through that table.

import { FormatError } from "../errors.ts";
import type { Tensor } from "../io/safetensors.ts";
import type { ModelConfig } from "./config.ts";
import { expectTensor, type Mat, matOf, toF32 } from "./dtypes.ts";
import type { Mxfp4Experts } from "./mxfp4.ts";
import type { DenseMlpPlan, LayerPlan, ModelPlan, MoePlan } from "./plan.ts";

/** Where a logical weight lives in a checkpoint. */
export interface TensorRef {
  readonly name: string;
  /** Rows [from, to) of a tensor fused along its output axis, `of` rows in all (gpt-oss original/ qkv). */
  readonly rows?: { readonly from: number; readonly to: number; readonly of: number };
  /** Stored [in, out] (GPT-2's Conv1D): transposed to [out, in] at load, as an F32 copy. */
  readonly transposed?: boolean;
}

/** The tensors of one layer; the plan says which of the optional ones are read. */
export interface LayerTensorNames {
  readonly attnNorm: TensorRef;
  readonly attnNormBias?: TensorRef;
  readonly q: TensorRef;
  readonly k: TensorRef;
  readonly v: TensorRef;
  readonly o: TensorRef;
  readonly qBias?: TensorRef;
  readonly kBias?: TensorRef;
  readonly vBias?: TensorRef;
  readonly oBias?: TensorRef;
  readonly qNorm?: TensorRef;
  readonly kNorm?: TensorRef;
  readonly sinks?: TensorRef;
  readonly mlpNorm: TensorRef;
  readonly mlpNormBias?: TensorRef;
  /** Dense MLP (GELU: up and down only). */
  readonly gate?: TensorRef;
  readonly up?: TensorRef;
  readonly down?: TensorRef;
  readonly gateBias?: TensorRef;
  readonly upBias?: TensorRef;
  readonly downBias?: TensorRef;
  /** Routed experts. */
  readonly router?: TensorRef;
  readonly routerBias?: TensorRef;
  /** Float experts: expert e's SwiGLU matrices. */
  readonly expert?: (
    e: number,
  ) => { readonly gate: TensorRef; readonly up: TensorRef; readonly down: TensorRef };
  /** MXFP4 experts: blocks, scales and bias of the stacked gate_up and down projections. */
  readonly mxfp4?: {
    readonly gateUp: { readonly blocks: TensorRef; readonly scales: TensorRef; readonly bias: TensorRef };
    readonly down: { readonly blocks: TensorRef; readonly scales: TensorRef; readonly bias: TensorRef };
  };
}

/** One checkpoint layout's names. */
export interface TensorNames {
  /** The layout's name ("hub", "original", ...). */
  readonly layout: string;
  readonly embed: TensorRef;
  /** Learned positions (config.rope null). */
  readonly posEmbed?: TensorRef;
  readonly finalNorm: TensorRef;
  readonly finalNormBias?: TensorRef;
  /** null: the head is the token embedding (tied). */
  readonly unembed: TensorRef | null;
  readonly layer: (i: number) => LayerTensorNames;
  /** Non-weight tensors a checkpoint of this layout carries (GPT-2's causal masks), for `ossi inspect`. */
  readonly buffers?: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

export interface DenseFfnWeights {
  readonly kind: "dense";
  readonly gate: Mat | null; // [width, hidden]; null for GELU
  readonly gateBias: Float32Array | null; // [width]
  readonly up: Mat; // [width, hidden]
  readonly upBias: Float32Array | null; // [width]
  readonly down: Mat; // [hidden, width]
  readonly downBias: Float32Array | null; // [hidden]
}

export type ExpertWeights =
  | {
    readonly format: "mxfp4";
    readonly gateUp: Mxfp4Experts; // [experts, 2*width, hidden]: rows interleaved gate_0, up_0, gate_1, ...
    readonly down: Mxfp4Experts; // [experts, hidden, width]
  }
  | {
    readonly format: "float";
    readonly gate: readonly Mat[]; // per expert [width, hidden]
    readonly up: readonly Mat[]; // per expert [width, hidden]
    readonly down: readonly Mat[]; // per expert [hidden, width]
  };

export interface MoeFfnWeights {
  readonly kind: "moe";
  readonly router: Mat; // [experts, hidden]
  readonly routerBias: Float32Array | null; // [experts]
  readonly experts: ExpertWeights;
}

export interface LayerWeights {
  readonly attnNorm: Float32Array; // [hidden]
  readonly attnNormBias: Float32Array | null; // [hidden], LayerNorm only
  readonly q: Mat; // [heads*headDim, hidden]; head j owns rows headDim*j ..
  readonly k: Mat; // [kvHeads*headDim, hidden]
  readonly v: Mat; // [kvHeads*headDim, hidden]
  readonly o: Mat; // [hidden, heads*headDim]
  readonly qBias: Float32Array | null; // [heads*headDim]
  readonly kBias: Float32Array | null; // [kvHeads*headDim]
  readonly vBias: Float32Array | null; // [kvHeads*headDim]
  readonly oBias: Float32Array | null; // [hidden]
  readonly qNorm: Float32Array | null; // [headDim], shared by every query head
  readonly kNorm: Float32Array | null; // [headDim], shared by every KV head
  readonly sinks: Float32Array | null; // [heads]
  readonly mlpNorm: Float32Array; // [hidden]
  readonly mlpNormBias: Float32Array | null; // [hidden]
  readonly ffn: DenseFfnWeights | MoeFfnWeights;
}

/** All weights: matrices are views over the mapped files (or F32 copies); vectors are widened copies. */
export interface ModelWeights {
  readonly embed: Mat; // [vocab, hidden]
  readonly posEmbed: Mat | null; // [maxContext, hidden], learned positions
  readonly layers: readonly LayerWeights[];
  readonly finalNorm: Float32Array; // [hidden]
  readonly finalNormBias: Float32Array | null; // [hidden], LayerNorm only
  readonly unembed: Mat; // [vocab, hidden]: the same object as embed when tied
}

/** Where tensors come from: a checkpoint, or (ossi inspect) a recorder of what would be read. */
export interface WeightReader {
  /** A [rows, cols] float matrix. */
  mat(ref: TensorRef, rows: number, cols: number): Mat;
  /** A float tensor of the given shape (usually [n]), widened to a flat f32 copy. */
  vec(ref: TensorRef, shape: readonly number[]): Float32Array;
  /** A U8 tensor of the given shape. */
  u8(ref: TensorRef, shape: readonly number[]): Uint8Array;
}

/**
 * Resolves every tensor the plan needs through the layout's name table, checking dtype and shape against
 * the config. A tensor the plan needs and the table does not name is a bug in the architecture file.
 */
export function loadWeights(
  r: WeightReader,
  c: ModelConfig,
  plan: ModelPlan,
  names: TensorNames,
): ModelWeights {
  const H = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKvHeads * c.headDim;
  const embed = r.mat(names.embed, c.vocabSize, H);
  const layers = plan.layers.map((p, i): LayerWeights => {
    const n = names.layer(i),
      a = p.attention,
      bias = (ref: TensorRef | undefined, len: number, on: boolean) =>
        on ? r.vec(need(ref, i, "a bias"), [len]) : null;
    const layernorm = p.norm === "layernorm";
    return {
      attnNorm: r.vec(n.attnNorm, [H]),
      attnNormBias: bias(n.attnNormBias, H, layernorm),
      q: r.mat(n.q, qw, H),
      k: r.mat(n.k, kvw, H),
      v: r.mat(n.v, kvw, H),
      o: r.mat(n.o, H, qw),
      qBias: bias(n.qBias, qw, a.bias),
      kBias: bias(n.kBias, kvw, a.bias),
      vBias: bias(n.vBias, kvw, a.bias),
      oBias: bias(n.oBias, H, a.bias),
      qNorm: a.qkNorm ? r.vec(need(n.qNorm, i, "q_norm"), [c.headDim]) : null,
      kNorm: a.qkNorm ? r.vec(need(n.kNorm, i, "k_norm"), [c.headDim]) : null,
      sinks: a.sinks ? r.vec(need(n.sinks, i, "sinks"), [c.numHeads]) : null,
      mlpNorm: r.vec(n.mlpNorm, [H]),
      mlpNormBias: bias(n.mlpNormBias, H, layernorm),
      ffn: p.mlp.kind === "dense" ? denseFfn(r, n, p, H, i) : moeFfn(r, n, p, H, i),
    };
  });
  return {
    embed,
    posEmbed: c.rope ? null : r.mat(need(names.posEmbed, -1, "position embedding"), c.maxContext, H),
    layers,
    finalNorm: r.vec(names.finalNorm, [H]),
    finalNormBias: c.norm.kind === "layernorm" ? r.vec(need(names.finalNormBias, -1, "a bias"), [H]) : null,
    unembed: names.unembed ? r.mat(names.unembed, c.vocabSize, H) : embed,
  };
}

function denseFfn(r: WeightReader, n: LayerTensorNames, p: LayerPlan, H: number, i: number): DenseFfnWeights {
  const m = p.mlp as DenseMlpPlan, F = m.width, gated = m.act.kind !== "gelu_tanh";
  const bias = (ref: TensorRef | undefined, len: number) =>
    m.bias ? r.vec(need(ref, i, "an MLP bias"), [len]) : null;
  return {
    kind: "dense",
    gate: gated ? r.mat(need(n.gate, i, "gate"), F, H) : null,
    gateBias: gated ? bias(n.gateBias, F) : null,
    up: r.mat(need(n.up, i, "up"), F, H),
    upBias: bias(n.upBias, F),
    down: r.mat(need(n.down, i, "down"), H, F),
    downBias: bias(n.downBias, H),
  };
}

function moeFfn(r: WeightReader, n: LayerTensorNames, p: LayerPlan, H: number, i: number): MoeFfnWeights {
  const m = p.mlp as MoePlan, E = m.experts, F = m.width;
  const router = r.mat(need(n.router, i, "router"), E, H);
  const routerBias = m.routerBias ? r.vec(need(n.routerBias, i, "router bias"), [E]) : null;
  if (m.format === "mxfp4") {
    const x = need(n.mxfp4, i, "MXFP4 experts");
    const stack = (t: typeof x.gateUp, rows: number, cols: number): Mxfp4Experts => ({
      numExperts: E,
      rows,
      cols,
      blocks: r.u8(t.blocks, [E, rows, cols / 32, 16]),
      scales: r.u8(t.scales, [E, rows, cols / 32]),
      bias: r.vec(t.bias, [E, rows]),
    });
    return {
      kind: "moe",
      router,
      routerBias,
      experts: { format: "mxfp4", gateUp: stack(x.gateUp, 2 * F, H), down: stack(x.down, H, F) },
    };
  }
  const expert = need(n.expert, i, "experts"), all = Array.from({ length: E }, (_, e) => expert(e));
  return {
    kind: "moe",
    router,
    routerBias,
    experts: {
      format: "float",
      gate: all.map((x) => r.mat(x.gate, F, H)),
      up: all.map((x) => r.mat(x.up, F, H)),
      down: all.map((x) => r.mat(x.down, H, F)),
    },
  };
}

function need<T>(v: T | undefined, layer: number, what: string): T {
  if (v === undefined) throw new Error(`the architecture's name table has no ${what} (layer ${layer})`);
  return v;
}

const FLOAT = ["BF16", "F16", "F32"] as const;

/** Reads from a checkpoint's tensors (by name, across shards), checking dtypes and shapes. */
export class CheckpointReader implements WeightReader {
  /** Transposed Conv1D tensors, by name: q, k and v of GPT-2's c_attn share one copy. */
  private readonly transposedCache = new Map<string, Mat>();

  constructor(private readonly tensor: (name: string) => Tensor) {}

  /** The stored tensor of `ref`, checked: [of or rows, cols], or [cols, ...] when transposed. */
  private get(ref: TensorRef, shape: readonly number[], dtypes: readonly Tensor["dtype"][] = FLOAT): Tensor {
    const t = this.tensor(ref.name);
    const full = ref.rows ? [ref.rows.of, ...shape.slice(1)] : [...shape];
    expectTensor(t, dtypes, ref.transposed ? [full[1], full[0]] : full);
    return t;
  }

  mat(ref: TensorRef, rows: number, cols: number): Mat {
    const t = this.get(ref, [rows, cols]);
    const from = ref.rows?.from ?? 0, to = ref.rows?.to ?? rows;
    if (!ref.transposed) return matOf(t, from, to);
    let m = this.transposedCache.get(ref.name);
    if (!m) this.transposedCache.set(ref.name, m = transposed(t));
    return { dtype: m.dtype, rows: to - from, cols, data: m.data.subarray(from * cols, to * cols) };
  }

  vec(ref: TensorRef, shape: readonly number[]): Float32Array {
    const t = this.get(ref, shape);
    return ref.rows ? toF32(t, ref.rows.from, ref.rows.to) : toF32(t);
  }

  u8(ref: TensorRef, shape: readonly number[]): Uint8Array {
    if (ref.rows || ref.transposed) {
      throw new FormatError(`${ref.name}: a U8 tensor cannot be sliced or transposed`);
    }
    return this.get(ref, shape, ["U8"]).bytes;
  }
}

/** A [in, out] tensor as an F32 Mat [out, in] (a copy, so y = W x like every other matrix). */
function transposed(t: Tensor): Mat {
  const [rows, cols] = [t.shape[1], t.shape[0]];
  const src = toF32(t);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < cols; i++) for (let o = 0; o < rows; o++) data[o * cols + i] = src[i * rows + o];
  return { dtype: "F32", rows, cols, data };
}
