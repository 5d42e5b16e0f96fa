// Weights that make the model compute NaN or infinity are an error on every backend and every path
// (forward logits, the greedy and top-k fast paths): one line, exit 1, never `null` logits or an empty
// answer; `ossi logits --dump` names the first intermediate that stops being finite.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, FIXTURES, runCli } from "../fixture_util.ts";

/** A copy of `src` (config.json, model.safetensors and the tokenizer files it has) with `tensor` filled. */
async function poisoned(src: string, tensor: string, bf16Bits: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ossi-nonfinite-" });
  for (const e of Deno.readDirSync(src)) {
    if (e.isFile) await Deno.copyFile(`${src}/${e.name}`, `${dir}/${e.name}`);
  }
  const file = `${dir}/model.safetensors`, bytes = Deno.readFileSync(file);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const t = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[tensor];
  assertEquals(t.dtype, "BF16", tensor);
  const [a, b] = t.data_offsets as [number, number];
  new Uint16Array(bytes.buffer, 8 + n + a, (b - a) / 2).fill(bf16Bits);
  Deno.writeFileSync(file, bytes);
  return dir;
}

const NAN = 0x7fc0, HUGE = 0x7f7f; // bf16 NaN; bf16 3.39e38: the final norm overflows, and inf - inf is NaN

/** Asserts one `ossi:` line on stderr, exit 1, nothing on stdout, and returns the line. */
function oneLineError(r: { code: number; stdout: string; stderr: string }): string {
  assertEquals(r.code, 1, r.stderr);
  assertEquals(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assertMatch(lines[0], /^ossi: /);
  return lines[0];
}

Deno.test("NaN weights: ossi logits exits 1 in one line on ref, wasm and webgpu; --dump names attn_out of layer 1", async () => {
  const dir = await poisoned(`${FIXTURES}/gpt-oss-tiny`, "model.layers.1.self_attn.o_proj.weight", NAN);
  try {
    for (const backend of ["ref", "wasm", "webgpu"]) {
      const r = await runCli(["logits", "--model", dir, "--tokens", "1,2,3", "--backend", backend]);
      assertMatch(oneLineError(r), /non-finite logit \(NaN\) at position 0: its weights or config/, backend);
      const dump = `${dir}/${backend}.jsonl`;
      const d = await runCli([
        "logits",
        "--model",
        dir,
        "--tokens",
        "1,2,3",
        "--backend",
        backend,
        "--dump",
        dump,
      ]);
      assertMatch(
        oneLineError(d),
        /the first non-finite intermediate is attn_out of layer 1 \(dump in /,
        backend,
      );
      assert(Deno.statSync(dump).size > 0, "the dump is written");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an overflowing final norm is an error; --dump names final_norm, after every layer stayed finite", async () => {
  const dir = await poisoned(`${FIXTURES}/gpt-oss-tiny`, "model.norm.weight", HUGE);
  try {
    const r = await runCli(["logits", "--model", dir, "--tokens", "1,2,3", "--backend", "ref"]);
    assertMatch(oneLineError(r), /non-finite logit \(NaN\) at position 0/);
    const d = await runCli([
      "logits",
      "--model",
      dir,
      "--tokens",
      "5",
      "--backend",
      "ref",
      "--dump",
      `${dir}/d.jsonl`,
    ]);
    assertMatch(oneLineError(d), /the first non-finite intermediate is final_norm \(dump in /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NaN weights: ossi run answers nothing and exits 1 in one line, greedy and sampled, on every backend", async () => {
  const dir = await poisoned(DEMO_MODEL, "model.layers.2.mlp.router.weight", NAN);
  try {
    for (const backend of ["ref", "wasm", "webgpu"]) {
      // temperature 0 takes the backends' greedy() fast path; 0.7 with top-k their topk() (or logits)
      for (
        const sampling of [["--temperature", "0"], ["--temperature", "0.7", "--top-k", "5", "--seed", "1"]]
      ) {
        const r = await runCli(["run", "--model", dir, "--backend", backend, ...sampling, "What is 2+2?"]);
        assertMatch(oneLineError(r), /non-finite logit/, `${backend} ${sampling.join(" ")}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
