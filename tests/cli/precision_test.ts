// chat, run and serve default to the wasm backend's fast path for gpt-oss (MXFP4 experts) and to the exact
// one for float checkpoints; --precision exact (or --exact) picks the exact one, the old --moe-int8 switch
// asks for fast, and two that disagree are refused.

import { assertEquals, assertThrows } from "../assert.ts";
import { parseCommandArgs } from "../../src/cli/options.ts";
import { precisionFlag } from "../../src/cli/settings.ts";
import { OssiError } from "../../src/errors.ts";
import { defaultPrecision } from "../../src/backends/wasm/create.ts";
import { loadModel } from "../../src/model/load.ts";
import { FIXTURES, runCli } from "../fixture_util.ts";

const parse = (argv: string[]) => parseCommandArgs("run", argv);

Deno.test("precisionFlag() leaves the default to the model and is exact with --exact or --precision exact", () => {
  assertEquals(precisionFlag(parse([])), undefined);
  assertEquals(precisionFlag(parse([]), "exact"), "exact");
  assertEquals(precisionFlag(parse(["--moe-int8"])), "fast");
  assertEquals(precisionFlag(parse(["--exact"])), "exact");
  assertEquals(precisionFlag(parse(["--precision", "exact"])), "exact");
  assertEquals(precisionFlag(parse(["--precision=fast"]), "exact"), "fast");
  assertEquals(precisionFlag(parse(["--precision", "exact", "--exact"])), "exact");
});

Deno.test("precisionFlag() refuses spellings that disagree as a usage error", () => {
  for (
    const argv of [["--exact", "--moe-int8"], ["--precision", "fast", "--exact"], [
      "--moe-int8",
      "--precision=exact",
    ]]
  ) {
    const e = assertThrows(() => precisionFlag(parse(argv)), OssiError, /contradict/);
    assertEquals(e.exitCode, 2);
  }
});

Deno.test("ossi run --exact --backend wasm answers the demo model's arithmetic", async () => {
  const r = await runCli(["run", "--backend", "wasm", "--exact", "--temperature", "0"], {
    stdin: "What is 23+45?\n",
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trim(), "68");
});

Deno.test("defaultPrecision(): fast for MXFP4 experts (gpt-oss), exact for float checkpoints", () => {
  const expected: Record<string, string> = {
    "gpt-oss-tiny": "fast",
    "gpt2-tiny": "exact",
    "qwen3-tiny": "exact",
    "qwen3-moe-tiny": "exact",
    "llama-tiny": "exact",
  };
  for (const [fixture, precision] of Object.entries(expected)) {
    assertEquals(defaultPrecision(loadModel(`${FIXTURES}/${fixture}`).plan), precision, fixture);
  }
});
