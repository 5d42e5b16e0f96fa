// `ossi serve` as a child process for tests: started with the given flags, resolved once it says where it
// serves, with its stderr so far.

import { ROOT } from "../fixture_util.ts";

/** Starts `ossi serve ARGS` and resolves with its URL once it says it is serving. */
export async function spawnServe(args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/src/main.ts`, "serve", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    err += value;
    const m = /serving \S+ at (http:\/\/\S+) /.exec(err);
    if (m) return { child, url: m[1], stderr: () => err, reader };
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error(`ossi serve did not start:\n${err}`);
}
