// What the WebGPU forward pass computes, checked against a model's plan before anything is uploaded (and by
// the backend choice of `--backend auto`): one line saying what it lacks, or null. No GPU code here.

import type { ModelConfig } from "../../model/config.ts";
import type { ModelPlan } from "../../model/plan.ts";

/** Widest attention head: a workgroup of 64 threads accumulates output dims d and d + 64. */
const MAX_HEAD_DIM = 128;
/** Most routed experts (routing keeps one bit per expert; MXFP4 grouping one thread per expert). */
const MAX_EXPERTS = { mxfp4: 256, float: 512 } as const;

/** Why the WebGPU pass cannot run this model, or null when it can. */
export function webgpuUnsupported(config: ModelConfig, plan: ModelPlan): string | null {
  if (config.headDim > MAX_HEAD_DIM) return `head_dim ${config.headDim} (at most ${MAX_HEAD_DIM})`;
  if (config.hiddenSize % 2 !== 0) return `an odd hidden size (${config.hiddenSize})`;
  for (const p of plan.layers) {
    const m = p.mlp;
    if (m.kind === "dense") {
      if (m.act.kind === "swiglu_clamped") return "a dense MLP with clamped SwiGLU";
      continue;
    }
    if (m.format === "mxfp4" && m.act.kind !== "swiglu_clamped") return `MXFP4 experts with ${m.act.kind}`;
    if (m.format === "float" && m.act.kind !== "swiglu") return `float experts with ${m.act.kind}`;
    if (m.experts > MAX_EXPERTS[m.format]) {
      return `${m.experts} ${m.format} experts (at most ${MAX_EXPERTS[m.format]})`;
    }
  }
  return null;
}
