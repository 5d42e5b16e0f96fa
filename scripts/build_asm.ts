// Keeps build/ossi_kernels.wasm in step with asm/: the wasm is committed beside a stamp holding the sha256
// of its inputs (asm/*.ts, the compile script, the compiler version), so a checkout runs without the
// AssemblyScript compiler. When the inputs changed (or with --force) it compiles through
// scripts/asc_compile.ts under deno.dev.json. Prints nothing unless it built.

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const KERNELS_WASM = `${ROOT}/build/ossi_kernels.wasm`;
export const KERNELS_STAMP = `${ROOT}/build/ossi_kernels.inputs`;

/** The sha256 (hex) of everything the wasm is compiled from. */
export async function inputsHash(): Promise<string> {
  const files = [...Deno.readDirSync(`${ROOT}/asm`)]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .map((e) => `asm/${e.name}`)
    .sort();
  files.push("scripts/asc_compile.ts");
  const dev = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.dev.json`));
  let text = `assemblyscript ${dev.imports?.assemblyscript}\n`;
  for (const f of files) text += `${f}\n${Deno.readTextFileSync(`${ROOT}/${f}`)}\n`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function upToDate(): Promise<boolean> {
  try {
    Deno.statSync(KERNELS_WASM);
    return Deno.readTextFileSync(KERNELS_STAMP).trim() === await inputsHash();
  } catch {
    return false;
  }
}

export async function buildAsm(force = false): Promise<boolean> {
  if (!force && await upToDate()) return false;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", `${ROOT}/deno.dev.json`, "-A", `${ROOT}/scripts/asc_compile.ts`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error("asc_compile.ts failed");
  Deno.writeTextFileSync(KERNELS_STAMP, (await inputsHash()) + "\n");
  return true;
}

if (import.meta.main) {
  const built = await buildAsm(Deno.args.includes("--force"));
  // stdout stays clean: tasks such as `ossi logits` print JSON after this step
  if (built) console.error(`built ${KERNELS_WASM}`);
}
