// Drops this process's resident pages of memory-mapped weight files once their bytes sit in wasm memory,
// so loading does not hold two resident copies (the pages stay in the page cache and fault back in on
// a later read). Needs --allow-ffi; without it, or for files read into the heap, it does nothing.

interface MaybeMapped {
  readonly bytes: Uint8Array;
  readonly mapped: boolean;
}

const MADV_DONTNEED = 4;

type Libc = Deno.DynamicLibrary<{ madvise: { parameters: ["pointer", "usize", "i32"]; result: "i32" } }>;
let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    if (Deno.build.os !== "linux" || Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return (libc = null);
    }
    libc = Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
    }) as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * madvise(DONTNEED) over whole mappings. Only for `mapped` files: on a private *file* mapping this just
 * unmaps pages (contents come back from the file); on heap memory it would zero them, so never there.
 */
export function releaseMappedPages(files: readonly MaybeMapped[]): void {
  const lib = openLibc();
  if (!lib) return;
  for (const f of files) {
    if (!f.mapped || f.bytes.byteLength === 0) continue;
    const ptr = Deno.UnsafePointer.of(f.bytes as Uint8Array<ArrayBuffer>);
    if (ptr) lib.symbols.madvise(ptr, BigInt(f.bytes.byteLength), MADV_DONTNEED);
  }
}
