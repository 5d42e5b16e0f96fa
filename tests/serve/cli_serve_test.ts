// `ossi serve` as a process: binds an ephemeral loopback port, answers, refuses bad flags, stops on SIGTERM
// (while the model loads too).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, ROOT, runCli } from "../fixture_util.ts";
import { spawnServe } from "./spawn_serve.ts";
import { signalWhen, spawnOssi } from "../cli/signal_util.ts";

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

for (const [signal, ignored] of [["SIGTERM", false], ["SIGINT", true]] as const) {
  Deno.test(`ossi serve stops on ${signal} while the model loads: exit 0${ignored ? " (SIGINT inherited as ignored)" : ""}`, async () => {
    // the demo notice comes just before the engine opens
    const { status, stderr } = await signalWhen(
      spawnOssi(["serve", "--port", "0", "--backend", "ref"], { ignoreSigint: ignored }),
      /serving the demo model/,
      { signal },
    );
    assertEquals([status.code, status.signal], [0, null], stderr);
    assertMatch(stderr, /ossi: shutting down\n$/);
  });
}

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

Deno.test("README: the server section's curl example works as written against the default `ossi serve`", async () => {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const section = readme.slice(readme.indexOf("\n## Server"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  const curl = /curl (\S+) -H '([^']+)' \\\n\s*-d '([^']+)'/.exec(block);
  assert(curl, `no curl command in the Server section:\n${block}`);
  assert(/^deno task serve\s*(#|$)/m.test(block), "the example starts the default server");
  // The default server, as on a machine with no model downloaded: the demo model.
  const cache = Deno.makeTempDirSync();
  const { child, url, reader } = await spawnServe(["--port", "0", "--backend", "ref"], {
    HF_HUB_CACHE: cache,
  });
  try {
    const [, target, header, body] = curl;
    const path = new URL(target).pathname;
    const [name, value] = header.split(/:\s*/);
    const res = await fetch(`${url}${path}`, { method: "POST", headers: { [name]: value }, body });
    const json = await res.json();
    assertEquals(res.status, 200, JSON.stringify(json));
    assertEquals(json.choices[0].message.content, "68");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
    Deno.removeSync(cache, { recursive: true });
  }
});
