// Shared helpers for tests: fixture paths, reference loading, and comparisons.

export const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const FIXTURES = `${ROOT}/tests/fixtures`;
export const DEMO_MODEL = `${ROOT}/models/tiny-oss-math`;

export interface Reference {
  prompt_token_ids: number[];
  prompt_logits: number[][];
  prompt_argmax: number[];
  greedy: { token_ids: number[]; step_logits: number[][] };
  recommended_tolerance: { logits_max_abs_diff: number; debug_values_max_abs_diff: number };
  debug: {
    rope_inv_freq?: number[];
    rope_concentration?: number;
    embedding_rows: number[][];
    layers: Record<string, unknown>[];
  };
}

export function readReference(fixture: string): Reference {
  return JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${fixture}/reference.json`));
}

/** Largest |a[i] - b[i]| over a flat Float32Array and nested reference rows. */
export function maxAbsDiff(
  actual: ArrayLike<number>,
  expected: readonly (readonly number[])[] | readonly number[],
): number {
  const flat = (expected as unknown[]).flat(Infinity as 1) as number[];
  if (flat.length !== actual.length) throw new Error(`length ${actual.length} != expected ${flat.length}`);
  let m = 0;
  for (let i = 0; i < flat.length; i++) m = Math.max(m, Math.abs(actual[i] - flat[i]));
  return m;
}

/** Runs the CLI in a subprocess; returns exit code, stdout and stderr as text. */
export async function runCli(
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/src/main.ts`, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
  });
  const child = cmd.spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
