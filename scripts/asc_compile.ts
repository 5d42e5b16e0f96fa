// Compiles asm/ (AssemblyScript kernels) into build/ossi_kernels.wasm with SIMD, relaxed SIMD and threads,
// importing a shared memory. Run by scripts/build_asm.ts under deno.dev.json, the configuration that brings
// the build and test tooling (the runtime's deno.json names no compiler).

import asc from "assemblyscript/asc";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const OUT = `${ROOT}/build/ossi_kernels.wasm`;

/** Largest wasm32 memory: 65536 pages of 64 KiB (4 GiB); each host memory declares its own size. */
const MAX_PAGES = 65536;

Deno.mkdirSync(`${ROOT}/build`, { recursive: true });
const args = [
  `${ROOT}/asm/index.ts`,
  "--outFile",
  OUT,
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
if (error) {
  console.error(`asc failed: ${error.message}\n${errors}`);
  Deno.exit(1);
}
