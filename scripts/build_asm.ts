// Compiles asm/ (AssemblyScript kernels) into build/ossi_kernels.wasm with SIMD, relaxed SIMD and threads,
// importing a shared memory. Skips the work when the output is newer than every source. `--force` rebuilds.
// Prints nothing unless it built.

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const KERNELS_WASM = `${ROOT}/build/ossi_kernels.wasm`;

/** Largest wasm32 memory: 65536 pages of 64 KiB (4 GiB); each host memory declares its own size. */
const MAX_PAGES = 65536;

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

function sources(): string[] {
  const files = [...Deno.readDirSync(`${ROOT}/asm`)].filter((e) => e.isFile && e.name.endsWith(".ts"));
  return [...files.map((e) => `${ROOT}/asm/${e.name}`), new URL(import.meta.url).pathname];
}

export function upToDate(): boolean {
  const out = mtime(KERNELS_WASM);
  return out > 0 && sources().every((s) => mtime(s) <= out);
}

export async function buildAsm(force = false): Promise<boolean> {
  if (!force && upToDate()) return false;
  const { default: asc } = await import("assemblyscript/asc");
  Deno.mkdirSync(`${ROOT}/build`, { recursive: true });
  const args = [
    `${ROOT}/asm/index.ts`,
    "--outFile",
    KERNELS_WASM,
    "-O3",
    "--noAssert",
    "--runtime",
    "stub",
    "--enable",
    "simd,relaxed-simd,threads",
    "--importMemory",
    "--sharedMemory",
    "--initialMemory",
    "1",
    "--maximumMemory",
    String(MAX_PAGES),
  ];
  let errors = "";
  const { error } = await asc.main(args, {
    stderr: { write: (s: string | Uint8Array) => (errors += String(s)) } as never,
  });
  if (error) throw new Error(`asc failed: ${error.message}\n${errors}`);
  return true;
}

if (import.meta.main) {
  const built = await buildAsm(Deno.args.includes("--force"));
  // stdout stays clean: tasks such as `ossi logits` print JSON after this step
  if (built) console.error(`built ${KERNELS_WASM}`);
}
