// Compute pipelines built once per {kernel, variant, entry point, override constants} and cached under
// that explicit key; WGSL comes from shaders/<kernel>.wgsl. Shader errors surface as one-line OssiErrors.

import { OssiError } from "../../errors.ts";
import type { KernelName } from "./params.ts";

export type Constants = Readonly<Record<string, number | boolean>>;

const SHADER_DIR = new URL("../../../shaders/", import.meta.url);

/**
 * Source variants: "f32" is the file as written; "f16kv" (adapters with shader-f16) turns the file's
 * `alias kv_t = f32;` line into `enable f16; alias kv_t = f16;`, storing the KV cache in half precision.
 */
export type Variant = "f32" | "f16kv";

const KV_ALIAS = "alias kv_t = f32;";

/** A line `//! include NAME.wgsl` is replaced by shaders/lib/NAME.wgsl (helpers shared by kernels). */
const INCLUDE = /^\/\/! include ([a-z0-9_]+\.wgsl)$/gm;

/** The WGSL source of a kernel variant. */
export function shaderSource(kernel: KernelName, variant: Variant = "f32"): string {
  const src = Deno.readTextFileSync(new URL(`${kernel}.wgsl`, SHADER_DIR)).replace(
    INCLUDE,
    (_, name: string) => Deno.readTextFileSync(new URL(`lib/${name}`, SHADER_DIR)),
  );
  if (variant === "f32") return src;
  if (!src.includes(KV_ALIAS)) {
    throw new OssiError(`shaders/${kernel}.wgsl has no '${KV_ALIAS}' for variant ${variant}`);
  }
  return src.replace(KV_ALIAS, "enable f16;\nalias kv_t = f16;");
}

export function pipelineKey(
  kernel: KernelName,
  variant: Variant,
  entry: string,
  constants: Constants,
): string {
  const c = Object.keys(constants).sort().map((k) => `${k}=${Number(constants[k])}`).join(",");
  return `${kernel}/${variant}:${entry}:{${c}}`;
}

/** Every device's cache (see PipelineCache.of). */
const CACHES = new WeakMap<GPUDevice, PipelineCache>();

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  constructor(private readonly device: GPUDevice) {}

  /**
   * The cache every user of `device` shares (backends built again, kernel tests, scripts), so a pipeline
   * is compiled once per device: compiling is what costs on software adapters (seconds per tiled kernel
   * on llvmpipe's GL driver), and a driver's own shader cache may be absent or cold.
   */
  static of(device: GPUDevice): PipelineCache {
    let cache = CACHES.get(device);
    if (!cache) CACHES.set(device, cache = new PipelineCache(device));
    return cache;
  }

  get size(): number {
    return this.pipelines.size;
  }

  get(
    kernel: KernelName,
    entry: string,
    constants: Constants,
    variant: Variant = "f32",
  ): { key: string; pipeline: GPUComputePipeline } {
    const key = pipelineKey(kernel, variant, entry, constants);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      if (variant === "f16kv" && !this.device.features.has("shader-f16")) {
        throw new OssiError(
          `${kernel}: the f16 KV-cache variant needs a GPU with shader-f16; use the f32 cache`,
        );
      }
      let module = this.modules.get(`${kernel}/${variant}`);
      if (!module) {
        module = this.device.createShaderModule({ label: kernel, code: shaderSource(kernel, variant) });
        this.modules.set(`${kernel}/${variant}`, module);
        this.pending.push(
          module.getCompilationInfo().then((info) => {
            const e = info.messages.find((m) => m.type === "error");
            return e ? `shaders/${kernel}.wgsl:${e.lineNum}: ${e.message.trim().split("\n")[0]}` : null;
          }),
        );
      }
      const c: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants)) c[k] = Number(v);
      this.device.pushErrorScope("validation");
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module, entryPoint: entry, constants: c },
      });
      // Validation errors arrive asynchronously; check() awaits them before the first submit.
      this.pending.push(this.device.popErrorScope().then((e) => e && `${key}: ${e.message.split("\n")[0]}`));
      this.pipelines.set(key, pipeline);
    }
    return { key, pipeline };
  }

  private pending: Promise<string | null>[] = [];

  /** Throws if any pipeline built since the last check failed to compile or validate. */
  async check(): Promise<void> {
    if (this.pending.length === 0) return;
    const errs = (await Promise.all(this.pending)).filter((e) => e !== null).sort((a, b) =>
      b.indexOf(".wgsl:") - a.indexOf(".wgsl:")
    );
    this.pending = [];
    if (errs.length) throw new OssiError(`WGSL pipeline error: ${errs[0]}`);
  }
}
