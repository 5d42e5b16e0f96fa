// `ossi logits --backend webgpu` end to end: same JSON greedy tokens as the reference backend, logits within
// the fixture tolerance, and a bad token id is a one-line error with exit code 1.

import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { FIXTURES, runCli } from "../../fixture_util.ts";

const args = ["logits", "--model", `${FIXTURES}/gpt-oss-tiny`, "--tokens", "1,2,3,40", "--generate", "3"];

Deno.test("ossi logits --backend webgpu agrees with --backend ref", async () => {
  const [gpu, ref] = await Promise.all([
    runCli([...args, "--backend", "webgpu"]),
    runCli([...args, "--backend", "ref"]),
  ]);
  assertEquals(gpu.code, 0, gpu.stderr);
  assertEquals(ref.code, 0, ref.stderr);
  const g = JSON.parse(gpu.stdout), r = JSON.parse(ref.stdout);
  const flat = (x: unknown) => (x as number[][]).flat();
  const diff = Math.max(...flat(g.logits).map((v, i) => Math.abs(v - flat(r.logits)[i])));
  assert(diff < 2e-3, `logits differ by ${diff}`);
  const { logits: _a, ...gRest } = g, { logits: _b, ...rRest } = r;
  assertEquals(JSON.stringify(gRest).replaceAll("webgpu", "ref"), JSON.stringify(rRest));
});

Deno.test("ossi logits --backend webgpu rejects an out-of-vocabulary token in one line, exit 1", async () => {
  const out = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt-oss-tiny`,
    "--tokens",
    "1,99999",
    "--backend",
    "webgpu",
  ]);
  assertEquals(out.code, 1);
  assertMatch(out.stderr.trim(), /^ossi: .*99999.*$/);
});
