// Other shapes of the GPT-2 and Qwen3 fixtures, written as checkpoints: sharded with an index, the
// `transformer.` spelling, untied heads, MHA instead of GQA, norm_topk_prob false, dense-only layers.
// Each is checked against an equivalent computation on the unchanged fixture.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { encodeSafetensors, type TensorToWrite } from "../../src/io/safetensors_write.ts";
import { FormatError, MissingError } from "../../src/errors.ts";
import { bf16ToF32, f32ToBf16 } from "../../src/model/dtypes.ts";
import { type LoadedModel, loadModel } from "../../src/model/load.ts";
import { qwen3, type Qwen3Config } from "../../src/model/qwen3.ts";
import { forward1, refBackend } from "../backends/fixture_check.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../fixture_util.ts";

type Tensors = Map<string, TensorToWrite>;

function readTensors(fixture: string): Tensors {
  const f = SafetensorsFile.open(`${FIXTURES}/${fixture}/model.safetensors`);
  const out: Tensors = new Map();
  for (const name of f.header.tensors.keys()) {
    const t = f.tensor(name);
    out.set(name, { name, dtype: t.dtype, shape: t.shape, bytes: t.bytes.slice() });
  }
  return out;
}

function readConfig(fixture: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${fixture}/config.json`));
}

/** Writes config.json and the tensors, split round-robin over `shards` files listed by an index. */
async function writeModel(config: Record<string, unknown>, tensors: Tensors, shards = 1): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ossi-arch-" });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const list = [...tensors.values()];
  if (shards === 1) {
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(list));
    return dir;
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const mine = list.filter((_, i) => i % shards === s);
    for (const t of mine) weightMap[t.name] = file;
    await Deno.writeFile(`${dir}/${file}`, encodeSafetensors(mine));
  }
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  return dir;
}

async function promptLogits(model: LoadedModel, tokens: number[]): Promise<Float32Array> {
  return await forward1(refBackend(model, 64), tokens, 0, "all");
}

/** The fixture's own logits from the unchanged folder. */
async function baseline(fixture: string): Promise<Float32Array> {
  return await promptLogits(loadModel(`${FIXTURES}/${fixture}`), readReference(fixture).prompt_token_ids);
}

/** A copy of a BF16 tensor with every value multiplied by 2 (exact: only the exponent changes). */
function doubledBf16(t: TensorToWrite, name: string): TensorToWrite {
  const src = new Uint16Array(t.bytes.slice().buffer), dst = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16(bf16ToF32(src[i]) * 2);
  return { ...t, name, bytes: new Uint8Array(dst.buffer) };
}

Deno.test("GPT-2 sharded in two files, `transformer.`-prefixed, with masked_bias buffers, gives identical logits", async () => {
  const tensors: Tensors = new Map();
  for (const [name, t] of readTensors("gpt2-tiny")) {
    tensors.set("transformer." + name, { ...t, name: "transformer." + name });
  }
  for (let l = 0; l < 3; l++) {
    const name = `transformer.h.${l}.attn.masked_bias`;
    tensors.set(name, {
      name,
      dtype: "F32",
      shape: [],
      bytes: new Uint8Array(new Float32Array([-1e4]).buffer),
    });
  }
  const dir = await writeModel(readConfig("gpt2-tiny"), tensors, 2);
  const model = loadModel(dir);
  assert(model.arch.family === "GPT-2" && model.store.files.length === 2);
  assertEquals(
    Array.from(await promptLogits(model, readReference("gpt2-tiny").prompt_token_ids)),
    Array.from(await baseline("gpt2-tiny")),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("GPT-2 with its own lm_head.weight (2 x wte) gives exactly twice the tied logits", async () => {
  const tensors = readTensors("gpt2-tiny"), wte = tensors.get("wte.weight")!;
  const doubled = Float32Array.from(new Float32Array(wte.bytes.slice().buffer), (x) => 2 * x);
  tensors.set("lm_head.weight", { ...wte, name: "lm_head.weight", bytes: new Uint8Array(doubled.buffer) });
  const dir = await writeModel(readConfig("gpt2-tiny"), tensors);
  const got = await promptLogits(loadModel(dir), readReference("gpt2-tiny").prompt_token_ids);
  assertEquals(Array.from(got), Array.from(await baseline("gpt2-tiny"), (x) => 2 * x));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Qwen3 sharded, untied (lm_head = 2 x embed) gives exactly twice the tied logits", async () => {
  const tensors = readTensors("qwen3-tiny");
  tensors.set("lm_head.weight", doubledBf16(tensors.get("model.embed_tokens.weight")!, "lm_head.weight"));
  const dir = await writeModel({ ...readConfig("qwen3-tiny"), tie_word_embeddings: false }, tensors, 2);
  const model = loadModel(dir);
  assertEquals((model.config as Qwen3Config).tieEmbeddings, false);
  const got = await promptLogits(model, readReference("qwen3-tiny").prompt_token_ids);
  assertEquals(Array.from(got), Array.from(await baseline("qwen3-tiny"), (x) => 2 * x));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Qwen3 with untied head but no lm_head.weight names the missing tensor", async () => {
  const dir = await writeModel(
    { ...readConfig("qwen3-tiny"), tie_word_embeddings: false },
    readTensors("qwen3-tiny"),
  );
  assertThrows(() => loadModel(dir), MissingError, /missing tensor 'lm_head\.weight'/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Qwen3 as MHA (4 KV heads, each GQA KV head duplicated) equals the GQA fixture", async () => {
  // kv head h of the MHA model is kv head h / 2 of the fixture: query head h keeps its keys and values
  const tensors = readTensors("qwen3-tiny"), D = 32;
  for (let l = 0; l < 3; l++) {
    for (const p of ["k_proj", "v_proj"]) {
      const name = `model.layers.${l}.self_attn.${p}.weight`, t = tensors.get(name)!, cols = t.shape[1];
      const rowBytes = D * cols * 2, out = new Uint8Array(4 * rowBytes);
      for (let h = 0; h < 4; h++) {
        out.set(t.bytes.subarray((h >> 1) * rowBytes, ((h >> 1) + 1) * rowBytes), h * rowBytes);
      }
      tensors.set(name, { ...t, shape: [4 * D, cols], bytes: out });
    }
  }
  const dir = await writeModel({ ...readConfig("qwen3-tiny"), num_key_value_heads: 4 }, tensors);
  const got = await promptLogits(loadModel(dir), readReference("qwen3-tiny").prompt_token_ids);
  const d = maxAbsDiff(got, Array.from(await baseline("qwen3-tiny")));
  assert(d < 1e-5, `differs by ${d}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Qwen3-MoE with norm_topk_prob false scales each token's expert mix by its kept probability", async () => {
  const ref = readReference("qwen3-moe-tiny"), toks = ref.prompt_token_ids, K = 3, E = 8, H = 64;
  const dumpsOf = async (model: LoadedModel) => {
    const dumps = new Map<string, Float32Array>();
    const logits = await forward1(
      refBackend(model, 64),
      toks,
      0,
      "all",
      (name, layer, _r, v) => dumps.set(`${name}.${layer}`, v.slice()),
    );
    return { dumps, logits };
  };
  const dir = await writeModel(
    { ...readConfig("qwen3-moe-tiny"), norm_topk_prob: false },
    readTensors("qwen3-moe-tiny"),
  );
  const raw = await dumpsOf(loadModel(dir)),
    norm = await dumpsOf(loadModel(`${FIXTURES}/qwen3-moe-tiny`));
  // layer 0 sees the same input, so the same router logits and experts; the mix shrinks by sum(top-k p)
  assertEquals(Array.from(raw.dumps.get("router_topk.0")!), Array.from(norm.dumps.get("router_topk.0")!));
  const logits = raw.dumps.get("router_logits.0")!,
    outRaw = raw.dumps.get("mlp_out.0")!,
    outNorm = norm.dumps.get("mlp_out.0")!;
  let minKept = 1;
  for (let t = 0; t < toks.length; t++) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E)), z = row.reduce((a, x) => a + Math.exp(x), 0);
    const kept = row.map((x) => Math.exp(x) / z).sort((a, b) => b - a).slice(0, K).reduce((a, b) => a + b, 0);
    minKept = Math.min(minKept, kept);
    const want = Array.from(outNorm.subarray(t * H, (t + 1) * H), (x) => x * kept);
    const d = maxAbsDiff(outRaw.subarray(t * H, (t + 1) * H), want);
    assert(d < 1e-5, `token ${t}: ${d}`);
  }
  assert(minKept < 0.9, `every token keeps ${minKept} or more: the check could not see the flag`);
  // and the flag matters for the logits far beyond the fixture's tolerance
  const moved = maxAbsDiff(raw.logits, ref.prompt_logits);
  assert(moved > 10 * ref.recommended_tolerance.logits_max_abs_diff, `logits moved by ${moved}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Qwen3-MoE with a dense-only layer equals the MoE layer whose experts are all that MLP", async () => {
  // A: layer 1 in mlp_only_layers with a dense SwiGLU = expert 0 of layer 1 (intermediate_size 32).
  // B: all layers MoE, every expert of layer 1 a copy of expert 0: top-3 weights sum to 1, same output.
  const base = readTensors("qwen3-moe-tiny"), p = "model.layers.1.mlp.";
  const dense: Tensors = new Map([...base].filter(([n]) => !n.startsWith(p)));
  for (const m of ["gate_proj", "up_proj", "down_proj"]) {
    dense.set(`${p}${m}.weight`, { ...base.get(`${p}experts.0.${m}.weight`)!, name: `${p}${m}.weight` });
  }
  const a = await writeModel(
    { ...readConfig("qwen3-moe-tiny"), mlp_only_layers: [1], intermediate_size: 32 },
    dense,
  );
  const same = new Map(base);
  for (let e = 1; e < 8; e++) {
    for (const m of ["gate_proj", "up_proj", "down_proj"]) {
      same.set(`${p}experts.${e}.${m}.weight`, {
        ...base.get(`${p}experts.0.${m}.weight`)!,
        name: `${p}experts.${e}.${m}.weight`,
      });
    }
  }
  const b = await writeModel(readConfig("qwen3-moe-tiny"), same);
  const ma = loadModel(a);
  assertEquals((ma.config as Qwen3Config).layerIsMoe, [true, false, true]);
  assertEquals(ma.weights.layers[1].ffn.kind, "dense");
  const toks = readReference("qwen3-moe-tiny").prompt_token_ids;
  const la = await promptLogits(ma, toks), lb = await promptLogits(loadModel(b), toks);
  const d = maxAbsDiff(la, Array.from(lb));
  assert(d < 1e-4, `differs by ${d}`);
  // and a real difference from the fixture, so layer 1 really changed
  assert(maxAbsDiff(la, Array.from(await baseline("qwen3-moe-tiny"))) > 1e-2);
  await Deno.remove(a, { recursive: true });
  await Deno.remove(b, { recursive: true });
});

Deno.test("qwen3.parseConfig() plans sparse layers from decoder_sparse_step and mlp_only_layers", () => {
  const cfg = readConfig("qwen3-moe-tiny");
  const parse = (json: Record<string, unknown>) => qwen3.parseConfig("c.json", json);
  const plan = (extra: Record<string, unknown>) =>
    qwen3.plan(parse({ ...cfg, ...extra })).layers.map((p) => p.mlp.kind === "moe");
  assertEquals(plan({}), [true, true, true]);
  assertEquals(plan({ decoder_sparse_step: 2 }), [false, true, false]);
  assertEquals(plan({ mlp_only_layers: [0, 2] }), [false, true, false]);
  assertEquals(plan({ decoder_sparse_step: 1, mlp_only_layers: [0, 1, 2] }), [false, false, false]);
  assertThrows(
    () => plan({ mlp_only_layers: [3] }),
    FormatError,
    /key 'mlp_only_layers' holds 3, outside 0..2/,
  );
  assertThrows(() => plan({ num_experts_per_tok: 9 }), FormatError, /exceeds num_experts/);
  const dense = parse(readConfig("qwen3-tiny"));
  assertEquals(dense.moe, null);
  assertEquals(dense.layerIsMoe, [false, false, false]);
  assertEquals(dense.headDim, 32);
  const sliding = parse({
    ...readConfig("qwen3-tiny"),
    use_sliding_window: true,
    sliding_window: 8,
    max_window_layers: 1,
  });
  assertEquals(sliding.layerWindows, [0, 8, 8]);
});

Deno.test("a MoE layer without its dense tensors (decoder_sparse_step 2) names the missing tensor", async () => {
  const dir = await writeModel(
    { ...readConfig("qwen3-moe-tiny"), decoder_sparse_step: 2 },
    readTensors("qwen3-moe-tiny"),
  );
  assertThrows(
    () => loadModel(dir),
    MissingError,
    /missing tensor 'model\.layers\.0\.mlp\.gate_proj\.weight'/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadModel() rejects unknown model types, unsupported activations and wrong shapes in one line", async () => {
  const bad = await writeModel({ ...readConfig("gpt2-tiny"), model_type: "mamba" }, readTensors("gpt2-tiny"));
  assertThrows(
    () => loadModel(bad),
    FormatError,
    /model_type "mamba" is not supported \(expected one of 'gpt_oss', 'gpt2', 'qwen3', 'qwen3_moe'.*\)/,
  );
  const gelu = await writeModel(
    { ...readConfig("gpt2-tiny"), activation_function: "gelu" },
    readTensors("gpt2-tiny"),
  );
  assertThrows(() => loadModel(gelu), FormatError, /activation_function "gelu" is not supported/);
  const wide = await writeModel({ ...readConfig("qwen3-tiny"), head_dim: 16 }, readTensors("qwen3-tiny"));
  assertThrows(
    () => loadModel(wide),
    FormatError,
    /'model\.layers\.0\.self_attn\.q_proj\.weight' has shape \[128,64\], expected \[64,64\]/,
  );
  for (const d of [bad, gelu, wide]) await Deno.remove(d, { recursive: true });
});
