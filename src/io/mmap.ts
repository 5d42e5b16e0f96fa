// Read-only memory maps of whole files through libc (Deno FFI), with a plain read as the fallback.
// Invariant: the bytes handed out are never written: writing to a PROT_READ mapping is a SIGSEGV.

import { FormatError, MissingError } from "../errors.ts";

export interface MappedFile {
  readonly path: string;
  /** The file's bytes: a view over the mapping, or a heap copy when mapping is not possible. */
  readonly bytes: Uint8Array;
  readonly mapped: boolean;
  /** The file as it was when mapped (see fileChange()). */
  readonly stamp: FileStamp;
}

/** What a file looked like: a change of size or modification time means someone rewrote it. */
export interface FileStamp {
  readonly size: number;
  readonly mtimeMs: number | null;
}

/** Why `path` no longer matches `stamp` ("truncated to N bytes", ...), or null when it still does. */
export function fileChange(path: string, stamp: FileStamp): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return "removed";
  }
  if (info.size !== stamp.size) {
    return `${info.size < stamp.size ? "truncated" : "grown"} to ${info.size} bytes (was ${stamp.size})`;
  }
  if ((info.mtime?.getTime() ?? null) !== stamp.mtimeMs) return "rewritten (its modification time changed)";
  return null;
}

const PROT_READ = 1;
const MAP_PRIVATE = 2;
const MADV_WILLNEED = 3;
const MADV_DONTNEED = 4;
const O_RDONLY = 0;

type Libc = Deno.DynamicLibrary<{
  open: { parameters: ["buffer", "i32"]; result: "i32" };
  close: { parameters: ["i32"]; result: "i32" };
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"]; result: "pointer" };
  madvise: { parameters: ["pointer", "usize", "i32"]; result: "i32" };
}>;

let libc: Libc | null | undefined;
let fallbackNoticeShown = false;

/** Notices (for example "mapping unavailable") go here; the CLI points it at stderr. */
export let onNotice: (line: string) => void = () => {};
export function setNoticeHandler(fn: (line: string) => void): void {
  onNotice = fn;
}

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return (libc = null);
    const names = Deno.build.os === "darwin" ? ["libc.dylib", "/usr/lib/libSystem.B.dylib"] : ["libc.so.6"];
    for (const name of names) {
      try {
        libc = Deno.dlopen(name, {
          open: { parameters: ["buffer", "i32"], result: "i32" },
          close: { parameters: ["i32"], result: "i32" },
          mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
          madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
        }) as Libc;
        return libc;
      } catch { /* try the next name */ }
    }
  } catch { /* FFI unavailable */ }
  return (libc = null);
}

/** Maps `path` read-only; falls back to reading it into memory (with a one-line notice). */
export function mapFile(path: string): MappedFile {
  let size: number;
  let stamp: FileStamp;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) throw new FormatError(`${path}: not a regular file`);
    size = info.size;
    stamp = { size, mtimeMs: info.mtime?.getTime() ?? null };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new MissingError(`${path}: file not found`);
    if (e instanceof FormatError) throw e;
    throw new FormatError(`${path}: cannot read (${(e as Error).message})`);
  }
  const lib = size > 0 ? openLibc() : null;
  if (lib) {
    const cpath = new TextEncoder().encode(path + "\0");
    const fd = lib.symbols.open(cpath, O_RDONLY);
    if (fd >= 0) {
      const ptr = lib.symbols.mmap(null, BigInt(size), PROT_READ, MAP_PRIVATE, fd, 0n);
      lib.symbols.close(fd);
      // MAP_FAILED is (void*)-1.
      if (ptr !== null && Deno.UnsafePointer.value(ptr) !== 0xffffffffffffffffn) {
        lib.symbols.madvise(ptr, BigInt(size), MADV_WILLNEED);
        const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, size);
        return { path, bytes: new Uint8Array(buffer), mapped: true, stamp };
      }
    }
  }
  if (size > 0 && !fallbackNoticeShown) {
    fallbackNoticeShown = true;
    onNotice("ossi: memory mapping unavailable (run with --allow-ffi); reading model files into memory");
  }
  const bytes = Deno.readFileSync(path);
  // Read, not mapped: a file that changed meanwhile is read whole, so its stamp must say what was read.
  return { path, bytes, mapped: false, stamp: { ...stamp, size: bytes.length } };
}

/**
 * Drops this process's resident pages of memory-mapped files once their bytes were copied elsewhere
 * (wasm memory, GPU buffers), so loading does not hold two resident copies; the pages stay in the page
 * cache and fault back in on a later read. Only `mapped` files: on a private *file* mapping
 * madvise(DONTNEED) just unmaps pages, on heap memory it would zero them. No-op without FFI.
 */
export function releaseMappedPages(files: readonly Pick<MappedFile, "bytes" | "mapped">[]): void {
  const lib = Deno.build.os === "linux" ? openLibc() : null;
  if (!lib) return;
  for (const f of files) {
    if (!f.mapped || f.bytes.byteLength === 0) continue;
    const ptr = Deno.UnsafePointer.of(f.bytes as Uint8Array<ArrayBuffer>);
    if (ptr) lib.symbols.madvise(ptr, BigInt(f.bytes.byteLength), MADV_DONTNEED);
  }
}
