// chat, run and serve default to the wasm backend's fast path; --exact picks the exact one, and the old
// --moe-int8 switch (now the default) contradicts it.

import { assertEquals, assertThrows } from "../assert.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { CHAT_SWITCH_FLAGS, precisionFlag } from "../../src/cli/chat_flags.ts";
import { OssiError } from "../../src/errors.ts";
import { runCli } from "../fixture_util.ts";

const parse = (argv: string[]) => parseArgs(argv, { switches: [...CHAT_SWITCH_FLAGS] });

Deno.test("precisionFlag() is fast by default and exact with --exact", () => {
  assertEquals(precisionFlag(parse([])), "fast");
  assertEquals(precisionFlag(parse(["--moe-int8"])), "fast");
  assertEquals(precisionFlag(parse(["--exact"])), "exact");
});

Deno.test("precisionFlag() refuses --exact with --moe-int8 as a usage error", () => {
  const e = assertThrows(() => precisionFlag(parse(["--exact", "--moe-int8"])), OssiError, /contradict/);
  assertEquals(e.exitCode, 2);
});

Deno.test("ossi run --exact --backend wasm answers the demo model's arithmetic", async () => {
  const r = await runCli(["run", "--backend", "wasm", "--exact", "--temperature", "0"], {
    stdin: "What is 23+45?\n",
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trim(), "68");
});
