// Model folders: sharded checkpoints through the index, layout detection, config parsing of both layouts.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { loadModel, readModelConfig } from "../../src/model/load.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { encodeSafetensors } from "../../src/io/safetensors_write.ts";
import { RefBackend } from "../../src/backends/ref/ref_backend.ts";
import { FormatError, MissingError } from "../../src/io/errors.ts";
import { FIXTURES, readReference } from "../fixture_util.ts";

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
  const la = await new RefBackend(a.config, a.weights, 32).forward(ref.prompt_token_ids, 0, {
    logits: "all",
  });
  const lb = await new RefBackend(b.config, b.weights, 32).forward(ref.prompt_token_ids, 0, {
    logits: "all",
  });
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
  const hub = readModelConfig(TINY), orig = readModelConfig(`${TINY}/original`);
  const strip = (c: object) => ({ ...c, source: "", eosTokenIds: [], maxContext: 0 });
  assertEquals(strip(orig), strip(hub));
  assertEquals(hub.layerWindows, [8, 0, 8, 0]);
  assertEquals(hub.rope.yarn, {
    factor: 32,
    betaFast: 32,
    betaSlow: 1,
    originalContext: 4096,
    truncate: false,
  });
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
