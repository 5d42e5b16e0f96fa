// `ossi serve` as a process: binds an ephemeral loopback port, answers, refuses bad flags, stops on SIGTERM.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, runCli } from "../fixture_util.ts";
import { spawnServe } from "./spawn_serve.ts";

Deno.test("ossi serve binds 127.0.0.1 on --port 0, answers, and exits 0 on SIGTERM", async () => {
  const { child, url, reader } = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "ref"]);
  try {
    assertMatch(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const models = await (await fetch(`${url}/v1/models`)).json();
    assertEquals(models.data[0].id, "tiny-oss-math");
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny-oss-math",
        messages: [{ role: "user", content: "What is 40+2?" }],
      }),
    });
    assertEquals((await res.json()).choices[0].message.content, "42");
  } finally {
    child.kill("SIGTERM");
    await reader.cancel().catch(() => {});
  }
  const status = await child.status;
  assertEquals(status.code, 0);
  await child.stdout.cancel().catch(() => {});
});

Deno.test("ossi serve refuses bad flags (exit 2) and a missing model (exit 1) with a one-line error", async () => {
  const r = await runCli(["serve", "--port", "http"]);
  assertEquals(r.code, 2);
  assertMatch(r.stderr, /--port must be a whole number/);
  assert(!r.stderr.includes("    at "), "no stack trace");
  const missing = await runCli(["serve", "--model", "/no/such/model"]);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /^ossi: .*\/no\/such\/model/);
  assertEquals(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  const h = await runCli(["serve", "--help"]);
  assertEquals(h.code, 0);
  assertMatch(h.stdout, /--api-key/);
});
