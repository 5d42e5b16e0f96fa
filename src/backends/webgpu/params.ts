// The uniform parameter struct of every WGSL kernel, declared once here and matched field by field by the
// kernel's `struct Params` (tests/backends/webgpu/params_test.ts checks that they agree).

/** Every field is a 4-byte scalar, so the WGSL layout is the fields in order, padded to 16 bytes. */
export type ParamType = "u32" | "f32";

/** The expert kernels' one struct (shaders/lib/moe_params.wgsl, included by each of them). */
const MOE_PARAMS = {
  tokens: "u32",
  k: "u32",
  num_experts: "u32",
  rows: "u32",
  cols: "u32",
  e0: "u32",
  e1: "u32",
  first: "u32",
  limit: "f32",
  alpha: "f32",
} as const;

export const PARAMS = {
  f32_bf16w_matmul: {
    rows: "u32",
    cols: "u32",
    tokens: "u32",
    row0: "u32",
    x_stride: "u32",
    x_offset: "u32",
    y_stride: "u32",
    y_offset: "u32",
  },
  rmsnorm: { tokens: "u32", n: "u32", x_offset: "u32", eps: "f32" },
  rope: { tokens: "u32", heads: "u32", kv_heads: "u32", head_dim: "u32", ctx: "u32", stride: "u32" },
  embedding_gather: { tokens: "u32", n: "u32" },
  add_inplace: { n: "u32" },
  row_topk: { n: "u32", k: "u32" },
  f32_mxfp4w_moe: MOE_PARAMS,
  f32_mxfp4w_moe_gemm: MOE_PARAMS,
  sdpa_sink_window: {
    tokens: "u32",
    ctx: "u32",
    heads: "u32",
    kv_heads: "u32",
    head_dim: "u32",
    window: "u32",
    scale: "f32",
    splits: "u32",
    split_keys: "u32",
  },
  layernorm: { tokens: "u32", n: "u32", x_offset: "u32", eps: "f32" },
  gelu_tanh: { n: "u32" },
  qk_rmsnorm: { tokens: "u32", heads: "u32", kv_heads: "u32", head_dim: "u32", stride: "u32", eps: "f32" },
  swiglu: { tokens: "u32", n: "u32" },
  moe_router: { tokens: "u32", k: "u32", num_experts: "u32", norm_topk: "u32" },
  f32_bf16w_moe: MOE_PARAMS,
} as const satisfies Record<string, Record<string, ParamType>>;

export type KernelName = keyof typeof PARAMS;
export type ParamValues<K extends KernelName> = { readonly [F in keyof (typeof PARAMS)[K]]: number };

/** Bytes of a kernel's Params struct (a multiple of 16, as uniform buffers require). */
export function paramsSize(kernel: KernelName): number {
  return Math.ceil(Object.keys(PARAMS[kernel]).length / 4) * 16;
}

/** Writes `values` in declaration order at byte `offset` of `view`; every field must be given. */
const FIELDS = new Map<string, [string, ParamType][]>();

export function packParams<K extends KernelName>(
  kernel: K,
  values: ParamValues<K>,
  view: DataView,
  offset: number,
): void {
  let fields = FIELDS.get(kernel);
  if (!fields) FIELDS.set(kernel, fields = Object.entries(PARAMS[kernel] as Record<string, ParamType>));
  let at = offset;
  for (const [name, type] of fields) {
    const v = (values as Record<string, number>)[name];
    if (v === undefined || !Number.isFinite(v)) throw new RangeError(`${kernel}: param '${name}' is ${v}`);
    if (type === "u32") {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new RangeError(`${kernel}: param '${name}' = ${v} is not a u32`);
      }
      view.setUint32(at, v, true);
    } else view.setFloat32(at, v, true);
    at += 4;
  }
}
