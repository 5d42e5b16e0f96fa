// `ossi logits` end to end, and its handling of bad model folders: one clear line, exit 1, no trace.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { encodeSafetensors } from "../../src/io/safetensors_write.ts";
import { FIXTURES, maxAbsDiff, readReference, runCli } from "../fixture_util.ts";
import { checkLogitsCli } from "../logits_cli.ts";

const ref = readReference("gpt-oss-tiny");

Deno.test("ossi logits prints reference logits and greedy tokens as one JSON object", () =>
  checkLogitsCli("gpt-oss-tiny", "--backend", "ref"));

Deno.test("ossi logits --dump writes named per-layer intermediates", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt-oss-tiny`,
    "--tokens",
    "1,2,3",
    "--backend",
    "ref",
    "--dump",
    `${dir}/d.jsonl`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  const names = new Set(
    Deno.readTextFileSync(`${dir}/d.jsonl`).trim().split("\n").map((l) => JSON.parse(l).name),
  );
  for (const n of ["attn_norm", "attn_out", "router_topk", "moe_out"]) assert(names.has(n), n);
  await Deno.remove(dir, { recursive: true });
});

/** Copies the tiny fixture into a temp folder and lets `mutate` break it. */
async function brokenCopy(mutate: (dir: string) => void | Promise<void>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const f of ["config.json", "model.safetensors"]) {
    await Deno.copyFile(`${FIXTURES}/gpt-oss-tiny/${f}`, `${dir}/${f}`);
  }
  await mutate(dir);
  return dir;
}

function rewriteTensor(
  dir: string,
  name: string,
  change: (t: { dtype: string; shape: number[] }) => void,
): void {
  const bytes = Deno.readFileSync(`${dir}/model.safetensors`);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  change(header[name]);
  const tensors = Object.entries(header).filter(([k]) => k !== "__metadata__").map(([k, v]) => {
    const t = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    return {
      name: k,
      dtype: t.dtype as "BF16",
      shape: t.shape,
      bytes: bytes.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]),
    };
  });
  Deno.writeFileSync(`${dir}/model.safetensors`, encodeSafetensors(tensors));
}

const cases: [string, (dir: string) => void, RegExp][] = [
  [
    "a truncated file",
    (d) => Deno.truncateSync(`${d}/model.safetensors`, 1000),
    /model\.safetensors.*past the end/,
  ],
  ["a header length past the file", (d) => {
    const b = Deno.readFileSync(`${d}/model.safetensors`);
    new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
    Deno.writeFileSync(`${d}/model.safetensors`, b);
  }, /model\.safetensors: header length .* past the end/],
  ["a header that is not JSON", (d) => {
    const b = Deno.readFileSync(`${d}/model.safetensors`);
    b[8] = 0x7a;
    Deno.writeFileSync(`${d}/model.safetensors`, b);
  }, /model\.safetensors: header is not valid/],
  ["a tensor of the wrong dtype", (d) =>
    rewriteTensor(d, "model.layers.1.self_attn.sinks", (t) => {
      t.dtype = "U8";
      t.shape = [8];
    }), /model\.safetensors: tensor 'model\.layers\.1\.self_attn\.sinks' has dtype U8/],
  ["a tensor of the wrong shape", (d) =>
    rewriteTensor(d, "model.layers.0.self_attn.q_proj.weight", (t) => {
      t.shape = [32, 128];
    }), /tensor 'model\.layers\.0\.self_attn\.q_proj\.weight' has shape \[32,128\], expected \[64,64\]/],
  ["a missing tensor", (d) => rewriteTensor(d, "lm_head.weight", () => {}), /* replaced below */ /./],
  ["a missing config key", (d) => {
    const c = JSON.parse(Deno.readTextFileSync(`${d}/config.json`));
    delete c.num_hidden_layers;
    Deno.writeTextFileSync(`${d}/config.json`, JSON.stringify(c));
  }, /config\.json: missing key 'num_hidden_layers'/],
  ["contradictory config keys", (d) => {
    const c = JSON.parse(Deno.readTextFileSync(`${d}/config.json`));
    c.experts_per_token = 3;
    Deno.writeTextFileSync(`${d}/config.json`, JSON.stringify(c));
  }, /config\.json: keys 'num_experts_per_tok' \(2\) and 'experts_per_token' \(3\) contradict/],
  ["a folder with no model", (d) => {
    Deno.removeSync(`${d}/model.safetensors`);
    Deno.removeSync(`${d}/config.json`);
  }, /no config\.json/],
];
// The missing-tensor case renames lm_head so the file stays valid but the name table cannot find it.
cases[5] = ["a missing tensor", (d) => {
  const bytes = Deno.readFileSync(`${d}/model.safetensors`);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n)).replace(
    '"lm_head.weight"',
    '"lm_head.weighz"',
  );
  bytes.set(new TextEncoder().encode(header), 8);
  Deno.writeFileSync(`${d}/model.safetensors`, bytes);
}, /missing tensor 'lm_head\.weight'/];

for (const [what, mutate, re] of cases) {
  Deno.test(`ossi logits reports ${what} in one line with exit code 1`, async () => {
    const dir = await brokenCopy(mutate);
    const r = await runCli(["logits", "--model", dir, "--tokens", "1,2,3", "--backend", "ref"]);
    assertEquals(r.code, 1, r.stderr);
    assertEquals(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertMatch(lines[0], /^ossi: /);
    assertMatch(lines[0], re);
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("ossi logits rejects token ids outside the vocabulary and bad usage", async () => {
  const r = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt-oss-tiny`,
    "--tokens",
    "1,99999",
    "--backend",
    "ref",
  ]);
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /token id 99999 is outside the vocabulary \(512\)/);
  const u = await runCli(["logits", "--tokens", "1"]);
  assertEquals(u.code, 2);
  assertMatch(u.stderr, /--model DIR is required/);
});

Deno.test("without --allow-ffi the model is read into memory, with a one-line notice", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      new URL("../../src/main.ts", import.meta.url).pathname,
      "logits",
      "--model",
      `${FIXTURES}/gpt-oss-tiny`,
      "--tokens",
      ref.prompt_token_ids.join(","),
      "--backend",
      "ref",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  assertEquals(stderr.trim().split("\n").length, 1, stderr);
  assertMatch(stderr, /memory mapping unavailable/);
  const logits = JSON.parse(new TextDecoder().decode(out.stdout)).logits;
  assert(maxAbsDiff(logits.flat(), ref.prompt_logits) <= ref.recommended_tolerance.logits_max_abs_diff);
});
