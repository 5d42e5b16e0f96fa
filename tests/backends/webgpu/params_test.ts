// The Params structs declared in params.ts agree field by field with each shader's `struct Params`, and a
// WebGPU adapter exists (CI must fail loudly, not skip the GPU tests, when it has none).

import { assert, assertEquals } from "../../assert.ts";
import { type KernelName, packParams, PARAMS, paramsSize } from "../../../src/backends/webgpu/params.ts";
import { shaderSource } from "../../../src/backends/webgpu/pipelines.ts";
import { requestAdapter } from "../../../src/backends/webgpu/gpu_device.ts";
import { ROOT } from "../../fixture_util.ts";

/** [name, type] of each field of the WGSL `struct Params`, comments stripped. */
function wgslParams(src: string): [string, string][] {
  const body = src.replace(/\/\/[^\n]*/g, "").match(/struct\s+Params\s*\{([^}]*)\}/);
  assert(body !== null, "no struct Params");
  return body[1].split(",").map((f) => f.trim()).filter((f) => f).map((f) => {
    const [name, type] = f.split(":").map((s) => s.trim());
    return [name, type];
  });
}

Deno.test("navigator.gpu.requestAdapter() returns an adapter (the webgpu tests need one: install mesa-vulkan-drivers)", async () => {
  const adapter = await requestAdapter();
  assert(adapter !== null, "no WebGPU adapter: every webgpu kernel test would be meaningless");
});

Deno.test("every shader's struct Params matches its declaration in params.ts", () => {
  for (const kernel of Object.keys(PARAMS) as KernelName[]) {
    assertEquals(wgslParams(shaderSource(kernel)), Object.entries(PARAMS[kernel]), `shaders/${kernel}.wgsl`);
  }
});

Deno.test("every shader in shaders/ has a Params declaration", () => {
  const files = [...Deno.readDirSync(`${ROOT}/shaders`)].filter((e) => e.isFile).map((e) =>
    e.name.replace(/\.wgsl$/, "")
  ).sort();
  assertEquals(files, Object.keys(PARAMS).sort());
});

Deno.test("packParams() writes fields in order and rejects missing or non-u32 values", () => {
  const view = new DataView(new ArrayBuffer(paramsSize("rmsnorm")));
  assertEquals(view.byteLength, 16);
  packParams("rmsnorm", { tokens: 3, n: 64, x_offset: 128, eps: 1e-5 }, view, 0);
  assertEquals([view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true)], [3, 64, 128]);
  assert(Math.abs(view.getFloat32(12, true) - 1e-5) < 1e-12);
  let threw = 0;
  for (const bad of [{ tokens: -1 }, { tokens: 1.5 }, { tokens: undefined }]) {
    try {
      packParams("rmsnorm", { n: 64, x_offset: 0, eps: 1, ...bad } as never, view, 0);
    } catch (e) {
      threw += e instanceof RangeError ? 1 : 0;
    }
  }
  assertEquals(threw, 3);
});
