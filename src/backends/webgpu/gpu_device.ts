// Opens a WebGPU device on the best adapter with that adapter's maximum limits (big storage bindings,
// large workgroup memory) and `shader-f16` when it has it; errors become one-line OssiErrors.

import { OssiError } from "../../errors.ts";
import { ensureXdgRuntimeDir } from "./gpu_env.ts";

export interface GpuDevice {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** The adapter's description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), for logs and bench rows. */
  readonly description: string;
  readonly hasF16: boolean;
  readonly hasTimestamps: boolean;
}

/** The limits worth raising to the adapter's maximum for this engine. */
const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
] as const;

export async function requestAdapter(): Promise<GPUAdapter | null> {
  ensureXdgRuntimeDir();
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
  return await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
}

export async function openGpuDevice(): Promise<GpuDevice> {
  const adapter = await requestAdapter();
  if (!adapter) {
    throw new OssiError("no WebGPU adapter found (install a GPU driver or Mesa's mesa-vulkan-drivers)");
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) requiredLimits[k] = adapter.limits[k];
  const features: GPUFeatureName[] = [];
  const hasF16 = adapter.features.has("shader-f16");
  const hasTimestamps = adapter.features.has("timestamp-query");
  if (hasF16) features.push("shader-f16");
  if (hasTimestamps) features.push("timestamp-query");
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  } catch (e) {
    throw new OssiError(`WebGPU device request failed: ${(e as Error).message}`);
  }
  return {
    adapter,
    device,
    description: adapter.info.description || adapter.info.vendor,
    hasF16,
    hasTimestamps,
  };
}
