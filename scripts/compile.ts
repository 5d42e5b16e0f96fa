// `deno task compile`: one self-contained executable of ossi that needs no Deno installed, built offline.
// It is a POSIX sh launcher followed by a tar.gz payload (the `deno bundle` output, the running Deno
// binary, the demo model, build/*.wasm and the chat page files). On first run the payload is extracted
// to ~/.cache/ossi/standalone/<hash>/ (keyed by its sha256, so a new build never reuses an old copy),
// then every run execs `deno run` on the bundle with the permissions the commands need.
//
// Payload layout (mirrors the repository so the bundle's import.meta.url-relative paths resolve):
//   deno                         the Deno binary
//   build/*.wasm                 ../../../build from the bundle
//   app/src/cli/ossi.js          the bundle of src/main.ts
//   app/src/cli/engine_worker.ts the bundle of the engine's worker (loaded as ./engine_worker.ts)
//   app/src/cli/shard_worker.ts  the bundle of the wasm backend's worker (loaded as ./shard_worker.ts)
//   app/src/cli/prompt_worker.ts the bundle of the prompt worker (loaded as ./prompt_worker.ts)
//   (the engine worker starts the other two: every bundle sits in one folder, so each finds the next)
//   app/src/cli/ui/              the chat page (served as ./ui/ by ossi serve)
//   app/models/tiny-oss-math/    the demo model (../../models from the bundle)
//
// usage: deno run -A scripts/compile.ts [--output dist/ossi] [--native]
//   --native uses `deno compile` instead (needs to download a Deno runtime: not possible offline).

import { parseArgs } from "node:util";
import { createHash } from "node:crypto";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-net",
  "--allow-sys",
  "--allow-run",
];

async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd: opts.cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${err}`);
  }
}

function copyDir(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    if (e.isDirectory) copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) Deno.copyFileSync(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The launcher; OFFSET is the payload's first byte (1-based, as `tail -c +N` counts). */
function launcher(hash: string, offset: number): string {
  const perms = PERMISSIONS.join(" ");
  return `#!/bin/sh
# ossi standalone executable: a sh launcher and a tar.gz payload (Deno, the ossi bundle, the demo model).
# Built by scripts/compile.ts. The payload is extracted once per build into the cache folder below.
set -e
OSSI_PAYLOAD_HASH=${hash}
OSSI_PAYLOAD_OFFSET=${String(offset).padStart(10, "0")}
base="\${OSSI_STANDALONE_DIR:-\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/ossi/standalone}"
dir="$base/$OSSI_PAYLOAD_HASH"
if [ ! -f "$dir/.complete" ]; then
  mkdir -p "$base"
  tmp=$(mktemp -d "$base/.extract.XXXXXX")
  tail -c +$OSSI_PAYLOAD_OFFSET "$0" | tar -xzf - -C "$tmp"
  : > "$tmp/.complete"
  # Another run may have extracted the same payload meanwhile: keep its copy.
  mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  [ -f "$dir/.complete" ] || { echo "ossi: cannot extract into $dir" >&2; exit 1; }
fi
export DENO_DIR="$dir/deno_dir" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
export OSSI_DEMO_MODEL="\${OSSI_DEMO_MODEL:-$dir/app/models/tiny-oss-math}"
exec "$dir/deno" run --quiet --no-config --no-lock ${perms} "$dir/app/src/cli/ossi.js" "$@"
`;
}

async function buildPayload(stage: string): Promise<void> {
  const cli = `${stage}/app/src/cli`;
  Deno.mkdirSync(cli, { recursive: true });
  const bundle = (entry: string, out: string) =>
    run(Deno.execPath(), ["bundle", "--quiet", "--platform", "deno", "-o", out, `${ROOT}/${entry}`], {
      cwd: ROOT,
    });
  await bundle("src/main.ts", `${cli}/ossi.js`);
  await bundle("src/service/engine_worker.ts", `${cli}/engine_worker.ts`);
  if (exists(`${ROOT}/src/backends/wasm/shard_worker.ts`)) {
    await bundle("src/backends/wasm/shard_worker.ts", `${cli}/shard_worker.ts`);
  }
  await bundle("src/chat/prompt_worker.ts", `${cli}/prompt_worker.ts`);
  if (exists(`${ROOT}/src/serve/ui`)) copyDir(`${ROOT}/src/serve/ui`, `${cli}/ui`);
  copyDir(`${ROOT}/models/tiny-oss-math`, `${stage}/app/models/tiny-oss-math`);
  if (exists(`${ROOT}/build`)) {
    Deno.mkdirSync(`${stage}/build`, { recursive: true });
    for (const e of Deno.readDirSync(`${ROOT}/build`)) {
      if (e.isFile && e.name.endsWith(".wasm")) {
        Deno.copyFileSync(`${ROOT}/build/${e.name}`, `${stage}/build/${e.name}`);
      }
    }
  }
  Deno.copyFileSync(Deno.execPath(), `${stage}/deno`);
  Deno.chmodSync(`${stage}/deno`, 0o755);
}

async function compileSelfExtracting(output: string): Promise<void> {
  const stage = Deno.makeTempDirSync({ prefix: "ossi-compile-" });
  try {
    await buildPayload(`${stage}/root`);
    await run("tar", ["-czf", `${stage}/payload.tar.gz`, "-C", `${stage}/root`, "."]);
    const payload = Deno.readFileSync(`${stage}/payload.tar.gz`);
    const hash = createHash("sha256").update(payload).digest("hex").slice(0, 16);
    // The header's length does not depend on the offset (fixed width), so measure it once.
    const headerLength = new TextEncoder().encode(launcher(hash, 0)).length;
    const header = new TextEncoder().encode(launcher(hash, headerLength + 1));
    const outDir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) : ".";
    Deno.mkdirSync(outDir, { recursive: true });
    const file = Deno.openSync(output, { write: true, create: true, truncate: true, mode: 0o755 });
    try {
      for (const part of [header, payload]) {
        for (let off = 0; off < part.length;) off += file.writeSync(part.subarray(off));
      }
    } finally {
      file.close();
    }
    Deno.chmodSync(output, 0o755);
    console.error(
      `compile: wrote ${output} (${(Deno.statSync(output).size / 1e6).toFixed(1)} MB, payload ${hash})`,
    );
  } finally {
    Deno.removeSync(stage, { recursive: true });
  }
}

/** `deno compile` with the data files included; needs the network to fetch the runtime. */
async function compileNative(output: string): Promise<void> {
  await run(Deno.execPath(), [
    "compile",
    ...PERMISSIONS,
    "--include",
    "models/tiny-oss-math",
    "--include",
    "build",
    "--include",
    "src/serve/ui",
    "--include",
    "src/backends/wasm/shard_worker.ts",
    "--include",
    "src/service/engine_worker.ts",
    "--include",
    "src/chat/prompt_worker.ts",
    "-o",
    output,
    "src/main.ts",
  ], { cwd: ROOT });
  console.error(`compile: wrote ${output}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string", short: "o" }, native: { type: "boolean" } },
  });
  const output = values.output ?? `${ROOT}/dist/ossi`;
  try {
    await (values.native ? compileNative(output) : compileSelfExtracting(output));
  } catch (e) {
    console.error(`compile: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
