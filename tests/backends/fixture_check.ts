// Checks a backend against a fixture's reference.json: prompt logits and argmax, named debug values,
// greedy decoding one token at a time over the KV cache with every step's logits, chunked prefill.

import { assert, assertEquals } from "../assert.ts";
import type { Backend, DebugSink } from "../../src/backends/backend.ts";
import { RefBackend } from "../../src/backends/ref/ref_backend.ts";
import type { LoadedModel } from "../../src/model/load.ts";
import { rowTopkArgmax } from "../../src/backends/ref/kernels.ts";
import { maxAbsDiff, readReference } from "../fixture_util.ts";

/** One sequence in slot 0: forward() of the batch API, for checks written against one sequence. */
export async function forward1(
  b: Backend,
  tokens: ArrayLike<number>,
  pos: number,
  logits: "all" | "last" | "none",
  debug?: DebugSink,
): Promise<Float32Array> {
  return (await b.forward([{ slot: 0, tokens, pos, logits }], { debug }))[0];
}

/** The named intermediates a gpt-oss backend dumps, as the gpt-oss fixture's reference names them. */
export const GPT_OSS_DEBUG = {
  residual_after_attention: "residual_after_attention",
  router_logits: "router_logits",
  residual_after_moe: "residual_after_moe",
};
export const GPT_OSS_EXACT = { experts_selected: "router_topk" };

/** The reference backend of a loaded model, one slot of `maxContext` tokens. */
export function refBackend(model: LoadedModel, maxContext: number): RefBackend {
  return new RefBackend(model.config, model.plan, model.weights, { maxContext });
}

/** greedy() of one sequence in slot 0. */
export async function greedy1(b: Backend, tokens: ArrayLike<number>, pos: number): Promise<number> {
  return (await b.greedy!([{ slot: 0, tokens, pos }]))[0];
}

/** topk() of one sequence in slot 0. */
export async function topk1(
  b: Backend,
  tokens: ArrayLike<number>,
  pos: number,
  k: number,
): Promise<{ ids: Uint32Array; logits: Float32Array }> {
  return (await b.topk!([{ slot: 0, tokens, pos }], k))[0];
}

/**
 * Every per-layer intermediate the fixture's reference holds, under the tap name a backend that runs the
 * plan uses (the same names; experts_selected is router_topk, compared exactly).
 */
export function referenceTaps(
  fixture: string,
): { debug: Record<string, string>; exact: Record<string, string> } {
  const keys = new Set(readReference(fixture).debug.layers.flatMap((L) => Object.keys(L)));
  keys.delete("layer_type");
  const exact: Record<string, string> = keys.delete("experts_selected")
    ? { experts_selected: "router_topk" }
    : {};
  return { debug: Object.fromEntries([...keys].map((k) => [k, k])), exact };
}

/**
 * `debug` maps a reference layer key to our dump name (both per layer); `exact` keys compare as integers.
 * Returns the largest logit difference seen, for reports.
 */
export async function checkAgainstReference(
  fixture: string,
  make: () => Backend | Promise<Backend>,
  debug: Record<string, string>,
  exact: Record<string, string> = {},
): Promise<number> {
  const ref = readReference(fixture);
  const tol = ref.recommended_tolerance.logits_max_abs_diff,
    dtol = ref.recommended_tolerance.debug_values_max_abs_diff;
  const backend = await make(), V = backend.config.vocabSize;
  const dumps = new Map<string, Float32Array>();
  const logits = await forward1(
    backend,
    ref.prompt_token_ids,
    0,
    "all",
    (name, layer, _rows, v) => dumps.set(`${name}.${layer}`, v.slice()),
  );
  let worst = maxAbsDiff(logits, ref.prompt_logits);
  assert(worst <= tol, `${fixture}: prompt logits differ by ${worst}`);
  assertEquals(ref.prompt_token_ids.map((_, t) => rowTopkArgmax(logits, t, V)), ref.prompt_argmax);
  assert(maxAbsDiff(dumps.get("embedding.-1")!, ref.debug.embedding_rows) <= dtol, "embedding rows");
  ref.debug.layers.forEach((L, l) => {
    for (const [theirs, ours] of Object.entries(debug)) {
      if (L[theirs] === undefined) continue;
      const d = maxAbsDiff(dumps.get(`${ours}.${l}`)!, L[theirs] as number[][]);
      assert(d <= dtol, `${fixture} layer ${l} ${ours} differs by ${d}`);
    }
    for (const [theirs, ours] of Object.entries(exact)) {
      assertEquals(
        Array.from(dumps.get(`${ours}.${l}`)!),
        (L[theirs] as number[][]).flat(),
        `layer ${l} ${theirs}`,
      );
    }
  });

  // greedy, one token per forward over the cache; step_logits[i] chose token i
  const n = ref.prompt_token_ids.length;
  let next = rowTopkArgmax(logits, n - 1, V);
  for (let i = 0; i < ref.greedy.token_ids.length; i++) {
    assertEquals(next, ref.greedy.token_ids[i], `${fixture}: greedy token ${i}`);
    if (i + 1 === ref.greedy.token_ids.length) break;
    const step = await forward1(backend, [next], n + i, "last");
    const d = maxAbsDiff(step, ref.greedy.step_logits[i + 1]);
    worst = Math.max(worst, d);
    assert(d <= tol, `${fixture}: step ${i + 1} logits differ by ${d}`);
    next = rowTopkArgmax(step);
  }
  backend.dispose();

  // prefill in chunks equals prefill in one call
  const a = await make(), b = await make(), toks = ref.prompt_token_ids;
  try {
    const whole = await forward1(a, toks, 0, "last");
    await forward1(b, toks.slice(0, 7), 0, "none");
    await forward1(b, toks.slice(7, 12), 7, "none");
    const last = await forward1(b, toks.slice(12), 12, "last");
    // within f32 rounding of the logits' scale: chunks of other sizes may run other matmul kernels (the
    // WebGPU row kernel for a few tokens, tiled GEMM for many), which add in another order
    const scale = Math.max(1, ...Array.from(whole, Math.abs)), d = maxAbsDiff(last, Array.from(whole));
    assert(d < 1e-5 * scale, `chunked prefill differs by ${d} (logits up to ${scale})`);
  } finally {
    a.dispose();
    b.dispose();
  }
  return worst;
}
