// Signals to an ossi process at a known moment: spawn it (optionally with SIGINT ignored, as a shell
// script's background job starts), read its stderr until a line shows, signal it, collect how it ended.

import { ROOT } from "../fixture_util.ts";

/** How long a signalled process may take to end before it counts as having ignored the signal. */
const IGNORED_AFTER_MS = 60_000;

/** No cached gpt-oss is picked over the demo model: a cache folder that does not exist. */
export const NO_HF_CACHE = { HF_HUB_CACHE: `/tmp/ossi-no-hf-cache-${Deno.pid}` };

/** `ossi ARGS` in a child; with `ignoreSigint` it starts with SIGINT ignored. */
export function spawnOssi(
  args: string[],
  opts: { ignoreSigint?: boolean; stdin?: "null" | "piped" } = {},
): Deno.ChildProcess {
  const cli = [Deno.execPath(), "run", "-A", `${ROOT}/src/main.ts`, ...args];
  // an ignored signal stays ignored across exec: the shell becomes ossi with SIGINT ignored
  const [cmd, ...rest] = opts.ignoreSigint ? ["bash", "-c", 'trap "" INT; exec "$@"', "bash", ...cli] : cli;
  return new Deno.Command(cmd, {
    args: rest,
    env: { NO_COLOR: "1", ...NO_HF_CACHE },
    stdin: opts.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Reads `child`'s stderr (or its stdout) until `until` matches it, sends `signal`, then returns its status,
 * stdout and stderr.
 */
export async function signalWhen(
  child: Deno.ChildProcess,
  until: RegExp,
  opts: { signal?: Deno.Signal; watch?: "stdout" | "stderr" } = {},
) {
  const watched = opts.watch ?? "stderr";
  const other = new Response(watched === "stderr" ? child.stdout : child.stderr).text();
  const reader = child[watched].pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!until.test(text)) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  try {
    child.kill(opts.signal ?? "SIGINT");
  } catch { /* it had ended: the status says how */ }
  // one that ignored the signal is killed after a generous while: the test fails instead of hanging
  const timer = setTimeout(() => child.kill("SIGKILL"), IGNORED_AFTER_MS);
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  const status = await child.status;
  clearTimeout(timer);
  return watched === "stderr"
    ? { status, stdout: await other, stderr: text }
    : { status, stdout: text, stderr: await other };
}
