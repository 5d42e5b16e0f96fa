// Builds the WebGPU backend for a loaded model: its one forward pass over the plan, for every architecture.

import type { LoadedModel } from "../../model/load.ts";
import type { Backend } from "../backend.ts";
import { WebGpuBackend, type WebGpuOptions } from "./webgpu_backend.ts";

/** The device, chunk size and weight splitting are the backend's own options (tests choose them). */
export interface WebGpuCreateOptions extends Omit<WebGpuOptions, "files"> {
  readonly slots: number;
}

export function createWebGpuBackend(model: LoadedModel, o: WebGpuCreateOptions): Promise<Backend> {
  return WebGpuBackend.create(model.config, model.plan, model.weights, { ...o, files: model.store.files });
}
