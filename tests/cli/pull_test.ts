// `ossi pull` and `ossi list` end to end against a local imitation of the Hub serving the demo model's
// files; the pulled model then answers through `ossi run --model ORG/NAME` from the cache.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, runCli } from "../fixture_util.ts";
import { startFakeHub } from "../io/fake_hub.ts";

const COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
const ID = "test-org/tiny-oss-math";

function demoFiles(): Record<string, Uint8Array<ArrayBuffer>> {
  const files: Record<string, Uint8Array<ArrayBuffer>> = {};
  for (const e of Deno.readDirSync(DEMO_MODEL)) {
    if (e.isFile) files[e.name] = Deno.readFileSync(`${DEMO_MODEL}/${e.name}`);
  }
  return files;
}

Deno.test("ossi pull downloads into the HF cache, ossi list shows it, ossi run --model ID uses it", async () => {
  const cache = Deno.makeTempDirSync({ prefix: "ossi-pull-" });
  const hub = startFakeHub({ id: ID, commit: COMMIT, files: demoFiles(), token: "hf_test" });
  const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, HF_TOKEN: "hf_test" };
  try {
    const pulled = await runCli(["pull", ID], { env });
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout, `${cache}/models--test-org--tiny-oss-math/snapshots/${COMMIT}\n`);
    assertMatch(pulled.stderr, /downloaded model\.safetensors/);

    const again = await runCli(["pull", ID], { env });
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stderr, /cached +model\.safetensors/);

    const listed = await runCli(["list"], { env });
    assertEquals(listed.code, 0, listed.stderr);
    assertMatch(listed.stdout, /^ID +SIZE +PATH\n/);
    assertMatch(
      listed.stdout,
      new RegExp(`${ID} +[0-9.]+ MB +${cache}/models--test-org--tiny-oss-math/snapshots/${COMMIT}`),
    );
    const json = JSON.parse((await runCli(["list", "--json"], { env })).stdout);
    assertEquals(json.map((m: { id: string }) => m.id), [ID]);

    const answered = await runCli(["run", "--backend", "ref", "--model", ID, "What is 23+45?"], { env });
    assertEquals(answered.code, 0, answered.stderr);
    assertEquals(answered.stdout, "68\n");
    assert(!answered.stderr.includes("demo model"), "a named model gives no demo notice");
  } finally {
    await hub.close();
    Deno.removeSync(cache, { recursive: true });
  }
});

Deno.test("ossi pull reports bad ids (exit 2) and Hub failures (exit 3) in one line", async () => {
  const cache = Deno.makeTempDirSync({ prefix: "ossi-pull-" });
  const hub = startFakeHub({ id: ID, commit: COMMIT, files: demoFiles(), token: "hf_test" });
  try {
    const bad = await runCli(["pull", "../etc/passwd"], { env: { HF_HUB_CACHE: cache } });
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /not a Hub id/);
    const layout = await runCli(["pull", ID, "--layout", "gguf"], { env: { HF_HUB_CACHE: cache } });
    assertEquals(layout.code, 2);
    const denied = await runCli(["pull", ID], {
      env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, HF_TOKEN: "" },
    });
    assertEquals(denied.code, 3);
    assertMatch(denied.stderr, /HTTP 401 \(gated or private: set HF_TOKEN/);
    assertEquals(
      denied.stderr.trim().split("\n").filter((l) => !l.startsWith("ossi: pulling")).length,
      1,
      denied.stderr,
    );
    const empty = await runCli(["list"], { env: { HF_HUB_CACHE: cache } });
    assertEquals(empty.code, 0);
    assertMatch(empty.stdout, /^no models in /);
  } finally {
    await hub.close();
    Deno.removeSync(cache, { recursive: true });
  }
});
