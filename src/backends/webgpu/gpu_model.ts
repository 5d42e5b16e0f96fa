// A model's weights in GPU buffers, exactly as its plan needs them, uploaded through one path for every
// architecture: q, k and v stacked into one projection, gate and up too (a dense MLP's stacked, a float
// expert's rows interleaved as MXFP4 experts come), each layer drained to the GPU before the next is staged
// (progress reported, the mapped checkpoint pages released as they land), plus the KV caches of every slot
// and the RoPE table.

import { OssiError } from "../../errors.ts";
import { type MappedFile, releaseMappedPages } from "../../io/mmap.ts";
import type { ModelConfig, NormKind } from "../../model/config.ts";
import type { ModelPlan } from "../../model/plan.ts";
import type { ModelWeights } from "../../model/weights.ts";
import { uploadFloatExperts } from "./gpu_float_experts.ts";
import {
  type GpuMat,
  interleaveRows,
  stackRows,
  STORAGE,
  uploadLayers,
  type WeightUploader,
} from "./gpu_weights.ts";
import type { NormWeights } from "./ops.ts";
import type { Experts } from "./ops_moe.ts";
import { cosSinTable } from "./rope_table.ts";

export type GpuFfn =
  | {
    readonly kind: "dense";
    /** GELU: up [width, hidden]; SwiGLU: gate rows then up rows, [2*width, hidden]. */
    readonly up: GpuMat;
    readonly upBias: GPUBuffer | null;
    readonly down: GpuMat; // [hidden, width]
    readonly downBias: GPUBuffer | null;
  }
  | {
    readonly kind: "moe";
    readonly router: GpuMat; // [experts, hidden]
    readonly routerBias: GPUBuffer | null;
    readonly experts: Experts;
  };

export interface GpuLayer {
  readonly attnNorm: NormWeights;
  readonly qkv: GpuMat; // [(heads + 2 kvHeads) headDim, hidden]: q, k, v stacked at load
  readonly qkvBias: GPUBuffer | null;
  readonly qNorm: GPUBuffer | null; // [headDim]
  readonly kNorm: GPUBuffer | null; // [headDim]
  readonly o: GpuMat;
  readonly oBias: GPUBuffer | null;
  readonly sinks: GPUBuffer | null; // [heads]
  readonly mlpNorm: NormWeights;
  readonly ffn: GpuFfn;
  readonly kCache: GPUBuffer; // [slots, ctx, kvHeads*headDim] of f32 or f16
  readonly vCache: GPUBuffer;
}

export interface GpuModel {
  readonly embed: GpuMat; // [vocab, hidden]
  readonly posEmbed: GpuMat | null; // [maxContext, hidden], learned positions
  readonly layers: readonly GpuLayer[];
  readonly finalNorm: NormWeights;
  readonly unembed: GpuMat; // the same object as embed when tied
  /** cos and sin of every position and frequency (null: learned positions). */
  readonly cosSin: GPUBuffer | null;
}

export interface UploadOptions {
  readonly slots: number;
  /** Cache rows per slot. */
  readonly ctx: number;
  readonly kvF16: boolean;
  /** Largest KV-cache buffer (the adapter's binding limit; weights may be split smaller). */
  readonly cacheLimit: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** The mapped checkpoint files: their resident pages are dropped as each layer reaches the GPU. */
  readonly files?: readonly Pick<MappedFile, "bytes" | "mapped">[];
}

/**
 * Uploads everything the plan reads (the caller pushes an out-of-memory error scope around it and checks
 * it after, with checkUploaded()).
 */
export async function uploadModel(
  up: WeightUploader,
  c: ModelConfig,
  plan: ModelPlan,
  w: ModelWeights,
  o: UploadOptions,
): Promise<GpuModel> {
  const kvw = c.numKvHeads * c.headDim;
  const kvBytes = Math.ceil((o.slots * o.ctx * kvw * (o.kvF16 ? 2 : 4)) / 4) * 4;
  if (kvBytes > o.cacheLimit) {
    throw new OssiError(
      `the KV cache of ${o.slots} slot(s) x ${o.ctx} tokens (${kvBytes} bytes a layer) exceeds the GPU's ` +
        `storage binding limit (${o.cacheLimit}); use fewer slots or a smaller context`,
    );
  }
  const cache = (label: string) => {
    const b = up.device.createBuffer({ label, size: Math.max(16, kvBytes), usage: STORAGE });
    up.buffers.push(b); // destroyed with the weights
    return b;
  };
  const vec = (v: Float32Array | null, label: string) => v && up.upload(v, label);
  const norm = (kind: NormKind, w: Float32Array, b: Float32Array | null, label: string): NormWeights => ({
    kind,
    w: up.upload(w, label),
    b: vec(b, label + "_bias"),
  });
  const release = () => o.files && releaseMappedPages(o.files);
  const uploadLayer = (l: number): GpuLayer => {
    const L = w.layers[l], f = L.ffn, p = `layer ${l} `;
    const qkvBias = L.qBias || L.kBias || L.vBias
      ? stackedBias([[L.qBias, L.q.rows], [L.kBias, L.k.rows], [L.vBias, L.v.rows]])
      : null;
    let ffn: GpuFfn;
    if (f.kind === "dense") {
      const gated = f.gate !== null;
      ffn = {
        kind: "dense",
        up: up.mat(gated ? stackRows([f.gate!, f.up]) : f.up, p + (gated ? "gate_up" : "up")),
        upBias: f.gateBias || f.upBias
          ? up.upload(
            stackedBias(gated ? [[f.gateBias, f.up.rows], [f.upBias, f.up.rows]] : [[f.upBias, f.up.rows]]),
            p + "up_bias",
          )
          : null,
        down: up.mat(f.down, p + "down"),
        downBias: vec(f.downBias, p + "down_bias"),
      };
    } else {
      const x = f.experts;
      ffn = {
        kind: "moe",
        router: up.mat(f.router, p + "router"),
        routerBias: vec(f.routerBias, p + "router_bias"),
        experts: x.format === "mxfp4"
          ? {
            format: "mxfp4",
            gateUp: up.experts(x.gateUp, p + "gate_up"),
            down: up.experts(x.down, p + "down"),
          }
          : {
            format: "float",
            gateUp: uploadFloatExperts(up, x.gate.map((g, e) => interleaveRows(g, x.up[e])), p + "gate_up"),
            down: uploadFloatExperts(up, x.down, p + "down"),
          },
      };
    }
    return {
      attnNorm: norm(plan.layers[l].norm, L.attnNorm, L.attnNormBias, p + "attn_norm"),
      qkv: up.mat(stackRows([L.q, L.k, L.v]), p + "qkv"),
      qkvBias: qkvBias && up.upload(qkvBias, p + "qkv_bias"),
      qNorm: vec(L.qNorm, p + "q_norm"),
      kNorm: vec(L.kNorm, p + "k_norm"),
      o: up.mat(L.o, p + "o"),
      oBias: vec(L.oBias, p + "o_bias"),
      sinks: vec(L.sinks, p + "sinks"),
      mlpNorm: norm(plan.layers[l].norm, L.mlpNorm, L.mlpNormBias, p + "mlp_norm"),
      ffn,
      kCache: cache(p + "k_cache"),
      vCache: cache(p + "v_cache"),
    };
  };
  const total = plan.layers.length + 1;
  const layers = await uploadLayers(up.device, plan.layers.length, uploadLayer, (l) => {
    release();
    o.onProgress?.(l + 1, total);
  });
  const embed = up.mat(w.embed, "embedding");
  await up.drain();
  release();
  const model: GpuModel = {
    embed,
    posEmbed: w.posEmbed && up.mat(w.posEmbed, "position embedding"),
    layers,
    finalNorm: norm(c.norm.kind, w.finalNorm, w.finalNormBias, "final_norm"),
    unembed: w.unembed === w.embed ? embed : up.mat(w.unembed, "unembedding"),
    cosSin: c.rope && up.upload(cosSinTable({ rope: c.rope }, o.ctx), "rope cos/sin"),
  };
  await up.drain();
  release();
  o.onProgress?.(total, total);
  return model;
}

/** Bias vectors stacked like their matrices' rows; an absent one (of `rows` rows) is zeros. */
function stackedBias(parts: [Float32Array | null, number][]): Float32Array {
  const out = new Float32Array(parts.reduce((n, [, rows]) => n + rows, 0));
  let at = 0;
  for (const [b, rows] of parts) (b && out.set(b, at), at += rows);
  return out;
}
