// Weight files that change on disk while ossi runs: the reference backend reads the mapping in place, and
// reading past the end of a truncated file would kill the process (SIGBUS, exit 135). The files' size and
// modification time are checked before each request: the server answers 503 with a JSON error and keeps
// running, the REPL says so in one line. A header one byte short is refused at load, never read shifted.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, FIXTURES, ROOT, runCli } from "../fixture_util.ts";
import { type Json, postJson } from "./serve_util.ts";
import { spawnServe } from "./spawn_serve.ts";

/** A full copy of a model folder (the weights too: they are what gets truncated). */
function copyModel(from: string): string {
  const dir = Deno.makeTempDirSync({ prefix: "ossi-weights-" });
  for (const e of Deno.readDirSync(from)) {
    if (e.isFile) Deno.copyFileSync(`${from}/${e.name}`, `${dir}/${e.name}`);
  }
  return dir;
}

const question = { model: "m", messages: [{ role: "user", content: "What is 2+2?" }], max_tokens: 4 };

Deno.test("ossi serve --backend ref: a truncated weights file is a 503, not a SIGBUS", async () => {
  const dir = copyModel(DEMO_MODEL);
  const { child, url, reader } = await spawnServe(["--model", dir, "--port", "0", "--backend", "ref"]);
  try {
    const chat = `${url}/v1/chat/completions`;
    const body = { ...question, model: dir.split("/").pop() };
    assertEquals((await postJson(chat, body)).status, 200);
    const file = `${dir}/model.safetensors`;
    Deno.truncateSync(file, Math.floor(Deno.statSync(file).size / 2));
    for (const stream of [false, true]) {
      const res = await postJson(chat, { ...body, stream });
      const err: Json = await res.json();
      assertEquals(res.status, 503, JSON.stringify(err));
      assertEquals(err.error.code, "model_changed");
      assertMatch(err.error.message, /model\.safetensors was truncated to \d+ bytes .*restart ossi/);
    }
    assertEquals((await fetch(`${url}/health`)).status, 200);
  } finally {
    child.kill("SIGTERM");
    await reader.cancel().catch(() => {});
    const status = await child.status;
    assertEquals(status.code, 0, "the server ran to its normal end (no SIGBUS)");
    await child.stdout.cancel().catch(() => {});
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ossi chat --backend ref: a weights file truncated between turns is one line, not a SIGBUS", async () => {
  const dir = copyModel(DEMO_MODEL);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/src/main.ts`, "chat", "--model", dir, "--backend", "ref"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const writer = child.stdin.getWriter();
    const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await writer.write(new TextEncoder().encode("What is 23+45?\n"));
    let answer = "";
    while (!answer.endsWith("\n")) answer += (await out.read()).value ?? "\n";
    assertEquals(answer, "68\n");
    Deno.truncateSync(`${dir}/model.safetensors`, 1000);
    await writer.write(new TextEncoder().encode("What is 1+1?\n"));
    await writer.close();
    while (!(await out.read()).done);
    const status = await child.status;
    const err = await stderr;
    assert(status.signal === null && status.code !== 135, `exit ${status.code}, signal ${status.signal}`);
    assertMatch(err, /model\.safetensors was truncated to 1000 bytes/);
    assert(!err.includes("    at "), err);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ossi logits: a safetensors header one byte short is one line and exit 1", async () => {
  const dir = copyModel(`${FIXTURES}/gpt-oss-tiny`);
  try {
    const file = `${dir}/model.safetensors`;
    const bytes = Deno.readFileSync(file);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, view.getBigUint64(0, true) - 1n, true);
    Deno.writeFileSync(file, bytes);
    const r = await runCli(["logits", "--model", dir, "--tokens", "1,2", "--backend", "ref"]);
    assertEquals(r.code, 1, r.stderr);
    assertEquals(r.stdout, "");
    assertMatch(
      r.stderr,
      /^ossi: .*model\.safetensors: the last 1 bytes of the data section belong to no tensor.*\n$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
