// Model folders: sharded checkpoints through the index, layout detection, config parsing of both layouts,
// the architecture of every fixture from its config.json, and `ossi logits` on each.

import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { loadModel, readModelConfig } from "../../src/model/load.ts";
import type { GptOssConfig } from "../../src/model/gpt_oss.ts";
import type { Qwen3Config } from "../../src/model/qwen3.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { encodeSafetensors } from "../../src/io/safetensors_write.ts";
import { FormatError, MissingError } from "../../src/errors.ts";
import { FIXTURES, readReference, runCli } from "../fixture_util.ts";
import { forward1, refBackend } from "../backends/fixture_check.ts";
import { checkLogitsCli } from "../logits_cli.ts";
import { gptOssRope } from "../rope_configs.ts";

const TINY = `${FIXTURES}/gpt-oss-tiny`;

/** Writes the fixture's tensors into `n` shards plus model.safetensors.index.json. */
async function shard(n: number): Promise<string> {
  const dir = await Deno.makeTempDir();
  const src = SafetensorsFile.open(`${TINY}/model.safetensors`);
  const names = [...src.header.tensors.keys()];
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < n; s++) {
    const file = `model-${String(s).padStart(5, "0")}-of-${String(n - 1).padStart(5, "0")}.safetensors`;
    const mine = names.filter((_, i) => i % n === s);
    for (const name of mine) weightMap[name] = file;
    await Deno.writeFile(`${dir}/${file}`, encodeSafetensors(mine.map((name) => src.tensor(name))));
  }
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  await Deno.copyFile(`${TINY}/config.json`, `${dir}/config.json`);
  return dir;
}

Deno.test("loadModel() reads a sharded checkpoint through its index and computes the same logits", async () => {
  const dir = await shard(3);
  const ref = readReference("gpt-oss-tiny");
  const a = loadModel(TINY), b = loadModel(dir);
  assertEquals(b.store.files.length, 3);
  const la = await forward1(refBackend(a, 32), ref.prompt_token_ids, 0, "all");
  const lb = await forward1(refBackend(b, 32), ref.prompt_token_ids, 0, "all");
  assertEquals(Array.from(lb), Array.from(la));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadModel() rejects a tensor present in two shards", async () => {
  const dir = await shard(2);
  const src = SafetensorsFile.open(`${TINY}/model.safetensors`);
  await Deno.writeFile(`${dir}/extra.safetensors`, encodeSafetensors([src.tensor("lm_head.weight")]));
  const index = JSON.parse(await Deno.readTextFile(`${dir}/model.safetensors.index.json`));
  index.weight_map["dup"] = "extra.safetensors";
  await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify(index));
  assertThrows(() => loadModel(dir), FormatError, /'lm_head\.weight' is also in/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readModelConfig() gives the same ModelConfig for the Hub and original/ configs", () => {
  const hub = readModelConfig(TINY).config as GptOssConfig;
  const orig = readModelConfig(`${TINY}/original`).config as GptOssConfig;
  const strip = (c: object) => ({ ...c, source: "", eosTokenIds: [], maxContext: 0 });
  assertEquals(strip(orig), strip(hub));
  assertEquals(hub.layerWindows, [8, 0, 8, 0]);
  assertEquals(hub.rope, gptOssRope(16));
});

Deno.test("loadModel() finds original/ when the folder root has no weights, and names missing folders", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/original`);
  for (const f of ["config.json", "model.safetensors"]) {
    await Deno.copyFile(`${TINY}/original/${f}`, `${dir}/original/${f}`);
  }
  await Deno.copyFile(`${TINY}/config.json`, `${dir}/config.json`);
  const m = loadModel(dir);
  assertEquals(m.layout, "original");
  assert(m.dir.endsWith("/original"));
  assertThrows(() => loadModel(`${dir}/nope`), MissingError, /no such model folder/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadModel() picks each fixture's architecture from config.json and plans its layers", () => {
  const oss = loadModel(`${FIXTURES}/gpt-oss-tiny`);
  assertEquals([oss.arch.family, oss.layout, oss.plan.layers[0].mlp.kind], ["gpt-oss", "hub", "moe"]);
  const gpt2 = loadModel(`${FIXTURES}/gpt2-tiny`);
  assertEquals(gpt2.arch.family, "GPT-2");
  assertEquals([
    gpt2.config.numLayers,
    gpt2.config.headDim,
    gpt2.plan.layers[0].mlp.width,
    gpt2.config.maxContext,
  ], [
    3,
    16,
    256,
    64,
  ]);
  const moe = loadModel(`${FIXTURES}/qwen3-moe-tiny`);
  assertEquals([moe.arch.family, moe.config.arch], ["Qwen3", "qwen3_moe"]);
  assertEquals((moe.config as Qwen3Config).moe, {
    numExperts: 8,
    expertsPerToken: 3,
    expertSize: 32,
    normTopkProb: true,
  });
});

for (const fixture of ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"]) {
  Deno.test(`ossi logits on ${fixture} matches the reference logits and greedy tokens`, () =>
    checkLogitsCli(fixture));
}

Deno.test("ossi logits refuses tokens past the vocabulary and past the context in one line", async () => {
  const big = await runCli(["logits", "--model", `${FIXTURES}/gpt2-tiny`, "--tokens", "389"]);
  assertEquals(big.code, 1);
  assertMatch(big.stderr, /^ossi: logits: token id 389 is outside the vocabulary \(389\)\n$/);
  const long = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt2-tiny`,
    "--tokens",
    "1,2",
    "--generate",
    "63",
  ]);
  assertEquals(long.code, 1);
  assertMatch(long.stderr, /^ossi: logits: 65 tokens exceed the model's context of 64\n$/);
});
