// Hub cache resolution and downloads, against a local server imitating the Hub's endpoints.

import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { OssiError } from "../../src/errors.ts";
import {
  findCachedSnapshot,
  hubCacheDir,
  isHubId,
  listCachedModels,
  repoFolderName,
  resolveModel,
} from "../../src/io/hub.ts";
import { DownloadError, pullModel, selectFiles, sha256File } from "../../src/io/hub_download.ts";
import { sha256Hex, startFakeHub } from "./fake_hub.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const ID = "test-org/tiny-model";

function randomBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function files(): Record<string, Uint8Array<ArrayBuffer>> {
  const enc = (s: string) => new TextEncoder().encode(s);
  return {
    "config.json": enc('{"model_type":"gpt_oss"}'),
    "tokenizer.json": enc('{"model":{}}'),
    "model.safetensors": randomBytes(300_000, 1),
    "original/config.json": enc('{"num_experts":8}'),
    "original/model.safetensors": randomBytes(50_000, 2),
  };
}

/** Runs `fn` with HF_* variables pointing at a fresh temporary cache; restores them afterwards. */
async function withCache(fn: (cache: string) => Promise<void> | void): Promise<void> {
  const cache = Deno.makeTempDirSync({ prefix: "ossi-hub-" });
  const saved = ["HF_HUB_CACHE", "HF_HOME", "HF_TOKEN", "HF_ENDPOINT"].map((k) =>
    [k, Deno.env.get(k)] as const
  );
  Deno.env.set("HF_HUB_CACHE", cache);
  Deno.env.delete("HF_TOKEN");
  try {
    await fn(cache);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    Deno.removeSync(cache, { recursive: true });
  }
}

Deno.test("hubCacheDir() follows HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub", () => {
  const saved = ["HF_HUB_CACHE", "HF_HOME", "HOME"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    Deno.env.set("HF_HUB_CACHE", "/x/cache");
    Deno.env.set("HF_HOME", "/y");
    assertEquals(hubCacheDir(), "/x/cache");
    Deno.env.delete("HF_HUB_CACHE");
    assertEquals(hubCacheDir(), "/y/hub");
    Deno.env.delete("HF_HOME");
    Deno.env.set("HOME", "/home/u");
    assertEquals(hubCacheDir(), "/home/u/.cache/huggingface/hub");
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("repoFolderName() and isHubId() follow the Hub's naming", () => {
  assertEquals(repoFolderName("openai/gpt-oss-20b"), "models--openai--gpt-oss-20b");
  assert(isHubId("openai/gpt-oss-20b"));
  assert(isHubId("some_user/model.v2"));
  assert(!isHubId("../etc"));
  assert(!isHubId("a/b/c"));
  assert(!isHubId("./models/x"));
  assert(!isHubId("a/.."));
});

Deno.test("resolveModel() takes a folder, a cached Hub id, or falls back to the demo model", async () => {
  await withCache((cache) => {
    assertEquals(resolveModel(DEMO_MODEL).source, "path");
    const none = resolveModel();
    assertEquals(none.source, "demo");
    assertEquals(Deno.realPathSync(none.dir), Deno.realPathSync(DEMO_MODEL));
    const err = assertThrows(() => resolveModel("openai/gpt-oss-20b"), OssiError);
    assert(err.message.includes("ossi pull openai/gpt-oss-20b"), err.message);
    assertThrows(() => resolveModel("no/such/folder/here"), OssiError, /no such folder/);

    // A cached gpt-oss (refs/main -> snapshot with config.json) wins over the demo model.
    const repo = `${cache}/models--openai--gpt-oss-20b`;
    Deno.mkdirSync(`${repo}/snapshots/${COMMIT}`, { recursive: true });
    Deno.mkdirSync(`${repo}/refs`);
    Deno.writeTextFileSync(`${repo}/refs/main`, COMMIT);
    Deno.writeTextFileSync(`${repo}/snapshots/${COMMIT}/config.json`, "{}");
    assertEquals(resolveModel().source, "demo", "a snapshot without weights is not picked by default");
    Deno.writeTextFileSync(`${repo}/snapshots/${COMMIT}/model.safetensors`, "");
    const found = resolveModel();
    assertEquals(found.source, "cache");
    assertEquals(found.dir, `${repo}/snapshots/${COMMIT}`);
    assertEquals(resolveModel("openai/gpt-oss-20b").dir, found.dir);
    assertEquals(findCachedSnapshot("openai/gpt-oss-20b", COMMIT), found.dir);
    assertEquals(findCachedSnapshot("openai/gpt-oss-20b", "dev"), undefined);
  });
});

Deno.test("selectFiles() picks the Hub layout, the original/ layout, or everything", () => {
  const all = [
    "config.json",
    "model-00001.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "original/config.json",
    "original/model.safetensors",
    "metal/model.bin",
  ];
  assertEquals(selectFiles(all, "hub"), [
    "config.json",
    "model-00001.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
  ]);
  assertEquals(selectFiles(all, "original"), [
    "config.json",
    "tokenizer.json",
    "original/config.json",
    "original/model.safetensors",
  ]);
  assertEquals(selectFiles(all, "all"), all);
});

Deno.test("pullModel() writes blobs, snapshot symlinks and refs/main, and skips what is cached", async () => {
  await withCache(async (cache) => {
    const f = files();
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: f });
    try {
      let lastDone = 0;
      const r = await pullModel(ID, { endpoint: hub.url, onProgress: (p) => (lastDone = p.doneBytes) });
      const repo = `${cache}/${repoFolderName(ID)}`;
      assertEquals(r.snapshotDir, `${repo}/snapshots/${COMMIT}`);
      assertEquals(r.files.sort(), ["config.json", "model.safetensors", "tokenizer.json"]);
      assertEquals(
        lastDone,
        f["config.json"].length + f["tokenizer.json"].length + f["model.safetensors"].length,
      );
      assertEquals(Deno.readTextFileSync(`${repo}/refs/main`), COMMIT);
      const link = `${r.snapshotDir}/model.safetensors`;
      assertEquals(Deno.readLinkSync(link), `../../blobs/${sha256Hex(f["model.safetensors"])}`);
      assertEquals(Deno.readFileSync(link), f["model.safetensors"]);
      assertEquals(Deno.readTextFileSync(`${r.snapshotDir}/config.json`), '{"model_type":"gpt_oss"}');
      assertEquals(
        [...Deno.readDirSync(`${repo}/blobs`)].filter((e) => e.name.endsWith(".incomplete")).length,
        0,
      );

      const gets = hub.log.filter((l) =>
        l.startsWith("GET /cdn") || l.startsWith(`GET /${ID}/resolve`)
      ).length;
      const statuses: string[] = [];
      await pullModel(ID, { endpoint: hub.url, onFileDone: (_f, s) => statuses.push(s) });
      assertEquals(statuses, ["cached", "cached", "cached"]);
      assertEquals(
        hub.log.filter((l) => l.startsWith("GET /cdn") || l.startsWith(`GET /${ID}/resolve`)).length,
        gets,
      );

      const listed = listCachedModels();
      assertEquals(listed.map((m) => m.id), [ID]);
      assertEquals(listed[0].sizeBytes, lastDone);
      assertEquals(resolveModel(ID).dir, r.snapshotDir);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() with layout 'original' fetches original/ with a deeper symlink", async () => {
  await withCache(async () => {
    const f = files();
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: f });
    try {
      const r = await pullModel(ID, { endpoint: hub.url, layout: "original" });
      assertEquals(r.files.sort(), [
        "config.json",
        "original/config.json",
        "original/model.safetensors",
        "tokenizer.json",
      ]);
      const link = `${r.snapshotDir}/original/model.safetensors`;
      assertEquals(Deno.readLinkSync(link), `../../../blobs/${sha256Hex(f["original/model.safetensors"])}`);
      assertEquals(Deno.readFileSync(link), f["original/model.safetensors"]);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() resumes an interrupted download with a Range request", async () => {
  await withCache(async (cache) => {
    const f = files();
    const cut = 123_457;
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: f, breakAfter: { "model.safetensors": cut } });
    try {
      // No retries: the first run fails and leaves the partial file.
      const e = await assertRejects(() => pullModel(ID, { endpoint: hub.url, retries: 0 }), DownloadError);
      assert(e.message.includes("interrupted"), e.message);
      const blob = `${cache}/${repoFolderName(ID)}/blobs/${sha256Hex(f["model.safetensors"])}`;
      assertEquals(Deno.statSync(`${blob}.incomplete`).size, cut);
      const r = await pullModel(ID, { endpoint: hub.url, retries: 0 });
      assert(hub.log.includes(`GET /cdn/${ID}/model.safetensors bytes=${cut}-`), hub.log.join("\n"));
      assertEquals(await sha256File(`${r.snapshotDir}/model.safetensors`), sha256Hex(f["model.safetensors"]));
      assertThrows(() => Deno.statSync(`${blob}.incomplete`), Deno.errors.NotFound);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() retries a broken transfer by itself, resuming where it stopped", async () => {
  await withCache(async () => {
    const f = files();
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: f, breakAfter: { "model.safetensors": 1000 } });
    try {
      const r = await pullModel(ID, { endpoint: hub.url });
      assert(hub.log.includes(`GET /cdn/${ID}/model.safetensors bytes=1000-`), hub.log.join("\n"));
      assertEquals(Deno.readFileSync(`${r.snapshotDir}/model.safetensors`), f["model.safetensors"]);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() rejects a file whose sha256 does not match and keeps no blob of it", async () => {
  await withCache(async (cache) => {
    const f = files();
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: f, corrupt: ["model.safetensors"] });
    try {
      const e = await assertRejects(() => pullModel(ID, { endpoint: hub.url }), DownloadError);
      assert(e.message.includes("sha256 mismatch"), e.message);
      assertEquals(e.exitCode, 3);
      const blobs = [...Deno.readDirSync(`${cache}/${repoFolderName(ID)}/blobs`)].map((x) => x.name);
      assert(!blobs.some((b) => b.startsWith(sha256Hex(f["model.safetensors"]))), blobs.join(","));
      assertThrows(() => resolveModel(ID), OssiError);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() sends HF_TOKEN as a bearer token and explains a 401", async () => {
  await withCache(async () => {
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: files(), token: "hf_secret" });
    try {
      const e = await assertRejects(() => pullModel(ID, { endpoint: hub.url }), DownloadError);
      assert(e.message.includes("HTTP 401") && e.message.includes("HF_TOKEN"), e.message);
      Deno.env.set("HF_TOKEN", "hf_secret");
      const r = await pullModel(ID, { endpoint: hub.url });
      assertEquals(r.commit, COMMIT);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("pullModel() names a missing repository and an unreachable endpoint in one line", async () => {
  await withCache(async () => {
    const hub = startFakeHub({ id: ID, commit: COMMIT, files: files() });
    try {
      const e = await assertRejects(() => pullModel("nobody/nothing", { endpoint: hub.url }), DownloadError);
      assert(e.message.includes("HTTP 404"), e.message);
    } finally {
      await hub.close();
    }
    const e2 = await assertRejects(() => pullModel(ID, { endpoint: hub.url }), DownloadError);
    assert(e2.message.includes("cannot reach") && !e2.message.includes("\n"), e2.message);
  });
});
