// chat, run and serve default to the wasm backend's fast path; --precision exact (or --exact) picks the
// exact one, the old --moe-int8 switch (now the default) asks for fast, and two that disagree are refused.

import { assertEquals, assertThrows } from "../assert.ts";
import { parseCommandArgs } from "../../src/cli/options.ts";
import { precisionFlag } from "../../src/cli/settings.ts";
import { OssiError } from "../../src/errors.ts";
import { runCli } from "../fixture_util.ts";

const parse = (argv: string[]) => parseCommandArgs("run", argv);

Deno.test("precisionFlag() is fast by default and exact with --exact or --precision exact", () => {
  assertEquals(precisionFlag(parse([])), "fast");
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
