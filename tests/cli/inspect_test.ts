// `ossi inspect`: counts from headers agree with counts from config.json alone, the published sizes of
// gpt-oss-20b/120b, GPT-2 and Qwen3 come out of their Hub configs, and the command prints table or JSON.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { impliedTensors, inspectModel } from "../../src/model/inspect.ts";
import { readHeaders } from "../../src/io/checkpoint.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { encodeSafetensors } from "../../src/io/safetensors_write.ts";
import { FIXTURES, runCli } from "../fixture_util.ts";

const CONFIGS = `${FIXTURES}/configs`;
const TINY = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "gpt-oss-tiny", "llama-tiny"];

const near = (x: number, want: number, tol: number, what: string) =>
  assert(Math.abs(x - want) <= tol, `${what}: ${x} is not within ${tol} of ${want}`);

for (const fixture of TINY) {
  Deno.test(`impliedTensors() of ${fixture}'s config lists exactly the tensors of its checkpoint`, () => {
    const fromHeaders = readHeaders(`${FIXTURES}/${fixture}`)
      .flatMap((h) => [...h.header.tensors.values()])
      .map((t) => `${t.name} ${t.dtype} [${t.shape}]`).sort();
    const implied = impliedTensors(`${FIXTURES}/${fixture}`).map((t) => `${t.name} ${t.dtype} [${t.shape}]`)
      .sort();
    assertEquals(implied, fromHeaders);
  });

  Deno.test(`inspectModel() of ${fixture} with only config.json counts what its headers count`, async () => {
    const dir = await Deno.makeTempDir();
    await Deno.copyFile(`${FIXTURES}/${fixture}/config.json`, `${dir}/config.json`);
    const a = inspectModel(`${FIXTURES}/${fixture}`), b = inspectModel(dir);
    assertEquals([a.countedFrom, b.countedFrom], ["safetensors headers", "config.json"]);
    assertEquals(b.params, a.params);
    assertEquals(b.weights, a.weights);
    assertEquals(b.disk.byDtype, a.disk.byDtype);
    assert(a.disk.totalBytes > b.disk.totalBytes, "file sizes include the headers");
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("inspectModel() reads every shard listed by model.safetensors.index.json", async () => {
  const dir = await Deno.makeTempDir();
  const src = SafetensorsFile.open(`${FIXTURES}/qwen3-moe-tiny/model.safetensors`);
  const names = [...src.header.tensors.keys()], weightMap: Record<string, string> = {};
  for (let s = 0; s < 2; s++) {
    const file = `model-0000${s + 1}-of-00002.safetensors`, mine = names.filter((_, i) => i % 2 === s);
    for (const n of mine) weightMap[n] = file;
    await Deno.writeFile(`${dir}/${file}`, encodeSafetensors(mine.map((n) => src.tensor(n))));
  }
  await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify({ weight_map: weightMap }));
  await Deno.copyFile(`${FIXTURES}/qwen3-moe-tiny/config.json`, `${dir}/config.json`);
  const whole = inspectModel(`${FIXTURES}/qwen3-moe-tiny`), sharded = inspectModel(dir);
  assertEquals(sharded.params, whole.params);
  assertEquals(sharded.disk.byDtype, whole.disk.byDtype);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("inspectModel() gives gpt-oss-20b about 21B total / 3.6B active and gpt-oss-120b 117B / 5.1B", () => {
  const s20 = inspectModel(`${CONFIGS}/gpt-oss-20b`), s120 = inspectModel(`${CONFIGS}/gpt-oss-120b`);
  // OpenAI's model card: 20.91B / 3.61B and 116.83B / 5.13B (active without the embedding lookup)
  near(s20.params.total, 20.91e9, 0.01e9, "20b total");
  near(s20.params.active, 3.61e9, 0.01e9, "20b active");
  near(s120.params.total, 116.83e9, 0.01e9, "120b total");
  near(s120.params.active, 5.13e9, 0.01e9, "120b active");
  // MXFP4 experts at 4.25 bits per parameter; the rest BF16
  for (const s of [s20, s120]) {
    const mx = s.weights.find((w) => w.format === "MXFP4")!;
    assertEquals(mx.bytes * 8 / mx.params, 4.25);
    assertEquals(
      s.weights.find((w) => w.format === "BF16")!.bytes,
      2 * s.weights.find((w) => w.format === "BF16")!.params,
    );
  }
  near(s20.disk.totalBytes, 13.76e9, 0.01e9, "20b bytes");
  assertEquals([s20.attention.slidingLayers, s20.attention.slidingWindow, s20.attention.sinks], [
    12,
    128,
    true,
  ]);
  // K and V, 24 layers x 8 KV heads x 64 at 2 bytes; past the window only the 12 full layers grow
  assertEquals(s20.kvCache, {
    bytesPerToken: 2 * 24 * 8 * 64 * 2,
    bytesPerTokenPastWindow: 2 * 12 * 8 * 64 * 2,
  });
  assertEquals(s20.position, { kind: "RoPE + YaRN", theta: 150000, factor: 32 });
});

Deno.test("inspectModel() gives GPT-2 124M, Qwen3-0.6B 0.6B and Qwen3-30B-A3B 30.5B / 3.3B", () => {
  const gpt2 = inspectModel(`${CONFIGS}/gpt2`);
  assertEquals(gpt2.params.total, 124_439_808);
  assertEquals(gpt2.params.active, 124_439_808 - 1024 * 768); // wpe is a lookup
  assertEquals([gpt2.attention.kind, gpt2.norm.kind, gpt2.position.kind, gpt2.tiedEmbeddings], [
    "MHA",
    "LayerNorm",
    "learned absolute",
    true,
  ]);
  // the F32 bytes include the 12 causal-mask buffers [1, 1, 1024, 1024] the Hub file carries
  assertEquals(gpt2.weights, [{
    format: "F32",
    params: 124_439_808,
    bytes: 4 * 124_439_808 + 12 * 4 * 1024 * 1024,
  }]);

  const q06 = inspectModel(`${CONFIGS}/Qwen3-0.6B`);
  near(q06.params.total, 0.596e9, 0.001e9, "0.6B total");
  assertEquals(q06.params.active, q06.params.total); // tied: the embedding is the head
  assertEquals([q06.attention.kind, q06.attention.qkNorm, q06.attention.headDim, q06.width], [
    "GQA",
    true,
    128,
    1024,
  ]);

  const q30 = inspectModel(`${CONFIGS}/Qwen3-30B-A3B`);
  near(q30.params.total, 30.53e9, 0.01e9, "30B total");
  near(q30.params.activeWithEmbeddings, 3.35e9, 0.01e9, "A3B (Qwen counts the embeddings)");
  assertEquals([q30.ffn.experts, q30.ffn.topK, q30.ffn.width, q30.ffn.sparseLayers], [128, 8, 768, 48]);
  assertMatch(q30.ffn.router!, /softmax, then top-k \(renormalised\)/);
  assertEquals(q30.kvCache.bytesPerToken, 2 * 48 * 4 * 128 * 2);
});

Deno.test("ossi inspect prints the models side by side, and --json the same summaries", async () => {
  const models = [`${CONFIGS}/gpt-oss-20b`, `${FIXTURES}/qwen3-moe-tiny`, `${FIXTURES}/gpt2-tiny`];
  const r = await runCli(["inspect", ...models]);
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assertMatch(lines[0], /^\s+gpt-oss-20b\s+qwen3-moe-tiny\s+gpt2-tiny$/);
  assertMatch(r.stdout, /\nparameters\s+20\.91B\s+251\.9K\s+179\.1K\n/);
  assertMatch(r.stdout, /\nactive per token\s+3\.61B\s/);
  assertMatch(r.stdout, /\nlayers x width\s+24 x 2880\s+3 x 64\s+3 x 64\n/);
  assertMatch(
    r.stdout,
    /\nattention layers\s+12 sliding \(128\) \+ 12 full\s+full attention\s+full attention\n/,
  );
  assertMatch(
    r.stdout,
    /\npositions\s+RoPE \+ YaRN \(theta 150000, x32\)\s+RoPE \(theta 1000000\)\s+learned absolute\n/,
  );
  const j = await runCli(["inspect", "--json", ...models]);
  assertEquals(j.code, 0, j.stderr);
  assertEquals(JSON.parse(j.stdout), JSON.parse(JSON.stringify(models.map((m) => inspectModel(m)))));
});

Deno.test("inspectModel() gives Llama-3.2-1B 1.24B (tied, head_dim 64 given) and Llama-3.1-8B 8.03B (untied, derived)", () => {
  const small = inspectModel(`${CONFIGS}/Llama-3.2-1B`), big = inspectModel(`${CONFIGS}/Llama-3.1-8B`);
  assertEquals(small.params.total, 1_235_814_400);
  assertEquals(big.params.total, 8_030_261_248);
  assertEquals([small.tiedEmbeddings, big.tiedEmbeddings], [true, false]);
  assertEquals([small.attention.kind, small.attention.kvHeads, small.attention.headDim], ["GQA", 8, 64]);
  assertEquals(big.attention.headDim, 128);
  assertEquals(small.position, { kind: "RoPE + llama3", theta: 500000, factor: 32 });
  assertEquals([big.ffn.kind, big.ffn.width, big.norm.kind], ["SwiGLU", 14336, "RMSNorm"]);
  // K and V of 16 layers x 8 KV heads x 64 at 2 bytes
  assertEquals(small.kvCache.bytesPerToken, 2 * 16 * 8 * 64 * 2);
});

Deno.test("ossi inspect fails in one line on a folder without config.json, and asks for a model", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runCli(["inspect", dir]);
  assertEquals(r.code, 1);
  assertEquals(r.stderr, `ossi: ${dir}: no config.json (not a model folder)\n`);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ model_type: "mamba" }));
  const u = await runCli(["inspect", dir]);
  assertEquals(u.code, 1);
  assertMatch(
    u.stderr,
    /^ossi: .*config\.json: model_type "mamba" is not supported \(expected one of .*\)\n$/,
  );
  const none = await runCli(["inspect"]);
  assertEquals(none.code, 2);
  assertMatch(none.stderr, /give at least one model folder/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ossi inspect ORG/NAME finds the model in the Hugging Face cache (as chat, run and serve do)", async () => {
  const cache = await Deno.makeTempDir();
  const snap = `${cache}/models--openai--gpt-oss-20b/snapshots/0123456789abcdef0123456789abcdef01234567`;
  await Deno.mkdir(snap, { recursive: true });
  await Deno.mkdir(`${cache}/models--openai--gpt-oss-20b/refs`);
  await Deno.writeTextFile(`${cache}/models--openai--gpt-oss-20b/refs/main`, snap.split("/").pop()!);
  await Deno.copyFile(`${CONFIGS}/gpt-oss-20b/config.json`, `${snap}/config.json`);
  const r = await runCli(["inspect", "openai/gpt-oss-20b", "--json"], { env: { HF_HUB_CACHE: cache } });
  assertEquals(r.code, 0, r.stderr);
  const [s] = JSON.parse(r.stdout);
  assertEquals(s.name, "openai/gpt-oss-20b");
  assertEquals(s.params.total, inspectModel(`${CONFIGS}/gpt-oss-20b`).params.total);
  const missing = await runCli(["inspect", "openai/gpt-oss-120b"], { env: { HF_HUB_CACHE: cache } });
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /not in the Hugging Face cache.*ossi pull openai\/gpt-oss-120b/);
  await Deno.remove(cache, { recursive: true });
});
