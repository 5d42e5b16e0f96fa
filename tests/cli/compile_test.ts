// The standalone executable (scripts/compile.ts): built offline, then run from an empty folder with a
// minimal environment (no Deno on PATH, a fresh HOME), it answers piped and argument questions.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ROOT } from "../fixture_util.ts";

async function sh(
  cmd: string,
  cwd: string,
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", cmd],
    cwd,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", HOME: `${cwd}/home` },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Reads the server's stderr until it names its URL; keeps draining it afterwards. */
async function serverUrl(stderr: ReadableStream<Uint8Array<ArrayBuffer>>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
    const m = /serving \S+ at (http:\/\/[\d.]+:\d+)/.exec(text);
    if (m) {
      (async () => {
        while (!(await reader.read()).done);
      })();
      return m[1];
    }
  }
  throw new Error(`the server did not start:\n${text}`);
}

Deno.test("deno task compile's offline executable runs chat and run with no Deno and an empty HOME", async () => {
  const work = Deno.makeTempDirSync({ prefix: "ossi-compile-test-" });
  try {
    const exe = `${work}/bin/ossi`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/scripts/compile.ts`, "--output", exe],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(built.success, new TextDecoder().decode(built.stderr));
    const head = new TextDecoder().decode(Deno.readFileSync(exe).subarray(0, 10));
    assertEquals(head, "#!/bin/sh\n");

    const empty = `${work}/empty`;
    Deno.mkdirSync(`${empty}/home`, { recursive: true });
    const chat = await sh(`${exe} chat`, empty, "What is 23+45?\n");
    assertEquals(chat.code, 0, chat.stderr);
    assertEquals(chat.stdout, "68\n");
    assertMatch(chat.stderr, /demo model tiny-oss-math/);

    // Second run: the extracted payload is reused (one folder per payload hash).
    const run = await sh(`${exe} run --backend ref "Sort 5 3 9 1"`, empty);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.stdout, "1 3 5 9\n");
    const extracted = [...Deno.readDirSync(`${empty}/home/.cache/ossi/standalone`)].map((e) => e.name);
    assertEquals(extracted.length, 1, extracted.join(","));
    assertMatch(extracted[0], /^[0-9a-f]{16}$/);

    // serve: the chat page and the OpenAI API from the same file.
    const server = new Deno.Command(exe, {
      args: ["serve", "--port", "0", "--backend", "ref"],
      cwd: empty,
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin", HOME: `${empty}/home` },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const url = await serverUrl(server.stderr);
      const models = await (await fetch(`${url}/v1/models`)).json();
      assertEquals(models.data.map((m: { id: string }) => m.id), ["tiny-oss-math"]);
      const page = await (await fetch(`${url}/`)).text();
      assertMatch(page, /<html/);
    } finally {
      server.kill("SIGTERM");
      await server.status;
    }

    const usage = await sh(`${exe} run --effort extreme hi`, empty);
    assertEquals(usage.code, 2);
    assertEquals(
      [...Deno.readDirSync(empty)].map((e) => e.name),
      ["home"],
      "nothing written to the working folder",
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
