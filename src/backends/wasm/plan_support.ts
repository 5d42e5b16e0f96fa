// What the wasm forward pass computes, checked against a model's plan before anything is placed (and by the
// backend choice of `--backend auto`): one line saying what it lacks, or null. No kernels here.

import type { ModelConfig } from "../../model/config.ts";
import type { ModelPlan } from "../../model/plan.ts";

/** Why the wasm pass cannot run a model, or null when it can. */
export function wasmUnsupported(c: ModelConfig, plan: ModelPlan): string | null {
  if (c.headDim % 4 !== 0) return `head_dim ${c.headDim} (needs a multiple of 4)`;
  for (const p of plan.layers) {
    const m = p.mlp;
    if (m.kind === "dense") {
      if (m.act.kind === "swiglu_clamped") return "a dense MLP with clamped SwiGLU";
    } else if (m.format === "mxfp4") {
      if (m.act.kind !== "swiglu_clamped") return `MXFP4 experts with ${m.act.kind}`;
      if (m.width % 32 !== 0 || c.hiddenSize % 32 !== 0) {
        return "MXFP4 experts of widths not a multiple of 32";
      }
    } else if (m.act.kind !== "swiglu") return `float experts with ${m.act.kind}`;
  }
  return null;
}
