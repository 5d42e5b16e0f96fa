// Downloads a Hub model repository into the Hugging Face cache layout (see hub.ts), resuming partial
// files with Range requests and checking each file's size and, for LFS files, its sha256.
// Invariant: a file under blobs/ named by its etag is complete and verified; partial data only ever lives
// in blobs/<etag>.incomplete.

import { createHash } from "node:crypto";
import { isFile, joinPath } from "./checkpoint.ts";
import { OssiError } from "../errors.ts";
import { hubCacheDir, isCommitHash, repoFolderName } from "./hub.ts";

/** Which files of a repository to fetch. */
export type PullLayout = "hub" | "original" | "all";

export interface PullProgress {
  file: string;
  fileBytes: number;
  fileTotal: number;
  doneBytes: number;
  totalBytes: number;
}

export interface PullOptions {
  revision?: string;
  layout?: PullLayout;
  /** Default: $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Default: $HF_TOKEN. */
  token?: string;
  cacheDir?: string;
  /** Extra attempts per file after a broken transfer (each resumes where the last stopped). */
  retries?: number;
  onProgress?: (p: PullProgress) => void;
  onFileDone?: (file: string, status: "downloaded" | "cached") => void;
}

export interface PullResult {
  snapshotDir: string;
  commit: string;
  files: string[];
}

/** Download failures (network, HTTP status, verification) exit with 3. */
export class DownloadError extends OssiError {
  override name = "DownloadError";
  constructor(message: string) {
    super(message, 3);
  }
}

/** Files that belong to `layout`: "hub" = everything outside original/ and metal/; "original" = original/
 * plus the top-level tokenizer and config files that are not weights. */
export function selectFiles(all: readonly string[], layout: PullLayout): string[] {
  const sub = (f: string) => f.startsWith("original/") || f.startsWith("metal/");
  const weights = (f: string) =>
    /\.(safetensors|bin|gguf|pt|pth)$/.test(f) || f.endsWith(".safetensors.index.json");
  switch (layout) {
    case "all":
      return [...all];
    case "hub":
      return all.filter((f) => !sub(f));
    case "original":
      return all.filter((f) => f.startsWith("original/") || (!sub(f) && !weights(f)));
  }
}

interface RemoteFile {
  path: string;
  /** Blob name: sha256 for LFS files, the git object id otherwise. */
  etag: string;
  size: number;
  /** Set when the etag is a sha256 of the content (LFS). */
  sha256?: string;
}

export async function pullModel(id: string, opts: PullOptions = {}): Promise<PullResult> {
  const endpoint = (opts.endpoint ?? (Deno.env.get("HF_ENDPOINT") || "https://huggingface.co")).replace(
    /\/+$/,
    "",
  );
  const token = opts.token ?? (Deno.env.get("HF_TOKEN") || undefined);
  const headers: Record<string, string> = { "user-agent": "ossi/0.1" };
  if (token) headers.authorization = `Bearer ${token}`;
  const revision = opts.revision ?? "main";
  const repo = joinPath(opts.cacheDir ?? hubCacheDir(), repoFolderName(id));

  const info = await getJson(
    `${endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}`,
    headers,
    id,
  );
  const commit = typeof info.sha === "string" && isCommitHash(info.sha) ? info.sha : undefined;
  if (!commit) throw new DownloadError(`${id}: the Hub's answer has no commit sha`);
  const siblings = Array.isArray(info.siblings) ? info.siblings : [];
  const names = siblings.map((s: { rfilename?: unknown }) => s?.rfilename).filter((f): f is string =>
    typeof f === "string" && f !== "" && !f.split("/").includes("..") && !f.startsWith("/")
  );
  const wanted = selectFiles(names, opts.layout ?? "hub");
  if (wanted.length === 0) {
    throw new DownloadError(`${id}: no files to download for layout '${opts.layout ?? "hub"}'`);
  }

  const remote: RemoteFile[] = [];
  for (const path of wanted) remote.push(await headFile(endpoint, id, commit, path, headers));
  const totalBytes = remote.reduce((s, f) => s + f.size, 0);
  let doneBytes = 0;

  Deno.mkdirSync(joinPath(repo, "blobs"), { recursive: true });
  const snapshot = joinPath(repo, "snapshots", commit);
  for (const f of remote) {
    const blob = joinPath(repo, "blobs", f.etag);
    const cached = isFile(blob) && Deno.statSync(blob).size === f.size;
    if (!cached) {
      const url = `${endpoint}/${id}/resolve/${commit}/${encodePath(f.path)}`;
      const base = doneBytes;
      await downloadBlob(
        url,
        blob,
        f,
        headers,
        opts.retries ?? 3,
        (n) =>
          opts.onProgress?.({
            file: f.path,
            fileBytes: n,
            fileTotal: f.size,
            doneBytes: base + n,
            totalBytes,
          }),
      );
    }
    doneBytes += f.size;
    opts.onProgress?.({ file: f.path, fileBytes: f.size, fileTotal: f.size, doneBytes, totalBytes });
    opts.onFileDone?.(f.path, cached ? "cached" : "downloaded");
  }
  // Links only once every blob is verified: a failed pull never leaves a half-filled snapshot.
  for (const f of remote) linkIntoSnapshot(snapshot, f.path, f.etag);
  if (!isCommitHash(revision)) {
    Deno.mkdirSync(joinPath(repo, "refs"), { recursive: true });
    Deno.writeTextFileSync(joinPath(repo, "refs", revision), commit);
  }
  return { snapshotDir: snapshot, commit, files: remote.map((f) => f.path) };
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new DownloadError(
      `${what}: cannot reach ${new URL(url).origin} (${(e as Error).message.split("\n")[0]})`,
    );
  }
}

function statusError(res: Response, what: string): DownloadError {
  const hint = res.status === 401 || res.status === 403
    ? " (gated or private: set HF_TOKEN to a token with access)"
    : res.status === 404
    ? " (no such repository, revision or file)"
    : "";
  return new DownloadError(`${what}: HTTP ${res.status}${hint}`);
}

async function getJson(
  url: string,
  headers: Record<string, string>,
  what: string,
): Promise<Record<string, unknown>> {
  const res = await request(url, { headers }, what);
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(res, what);
  }
  try {
    return await res.json();
  } catch {
    throw new DownloadError(`${what}: the Hub's answer is not JSON`);
  }
}

/** Size and etag of one file: HEAD without following the redirect, where X-Linked-* describe LFS files. */
async function headFile(
  endpoint: string,
  id: string,
  commit: string,
  path: string,
  headers: Record<string, string>,
): Promise<RemoteFile> {
  const url = `${endpoint}/${id}/resolve/${commit}/${encodePath(path)}`;
  const res = await request(url, { method: "HEAD", headers, redirect: "manual" }, `${id}/${path}`);
  await res.body?.cancel();
  if (!(res.ok || (res.status >= 300 && res.status < 400))) throw statusError(res, `${id}/${path}`);
  const linkedEtag = cleanEtag(res.headers.get("x-linked-etag"));
  const etag = linkedEtag ?? cleanEtag(res.headers.get("etag"));
  const sizeText = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
  const size = Number(sizeText);
  if (!etag || !/^[\w-]+$/.test(etag)) throw new DownloadError(`${id}/${path}: the Hub sent no usable ETag`);
  if (sizeText === null || !Number.isSafeInteger(size) || size < 0) {
    throw new DownloadError(`${id}/${path}: the Hub sent no file size`);
  }
  const sha256 = linkedEtag && /^[0-9a-f]{64}$/.test(linkedEtag) ? linkedEtag : undefined;
  return { path, etag, size, sha256 };
}

function cleanEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, "").replace(/^"|"$/g, "") || undefined;
}

/** Downloads into blob + ".incomplete", resuming from its current length, then verifies and renames. */
async function downloadBlob(
  url: string,
  blob: string,
  f: RemoteFile,
  headers: Record<string, string>,
  retries: number,
  progress: (bytes: number) => void,
): Promise<void> {
  const part = `${blob}.incomplete`;
  for (let attempt = 0;; attempt++) {
    try {
      await transfer(url, part, f, headers, progress);
      break;
    } catch (e) {
      if (!(e instanceof TransferBroken) || attempt >= retries) {
        if (e instanceof TransferBroken) {
          throw new DownloadError(
            `${f.path}: download interrupted (${e.message}); run the same command to resume`,
          );
        }
        throw e;
      }
    }
  }
  const size = Deno.statSync(part).size;
  if (size !== f.size) {
    Deno.removeSync(part);
    throw new DownloadError(`${f.path}: got ${size} bytes, expected ${f.size}; the partial file was removed`);
  }
  if (f.sha256) {
    const got = await sha256File(part);
    if (got !== f.sha256) {
      Deno.removeSync(part);
      throw new DownloadError(
        `${f.path}: sha256 mismatch (expected ${f.sha256}, got ${got}); the file was removed`,
      );
    }
  }
  Deno.renameSync(part, blob);
}

class TransferBroken extends Error {}

async function transfer(
  url: string,
  part: string,
  f: RemoteFile,
  headers: Record<string, string>,
  progress: (bytes: number) => void,
): Promise<void> {
  let have = isFile(part) ? Deno.statSync(part).size : 0;
  if (have > f.size) {
    Deno.removeSync(part);
    have = 0;
  }
  if (have === f.size) return;
  const h = { ...headers };
  if (have > 0) h.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(url, { headers: h });
  } catch (e) {
    throw new TransferBroken((e as Error).message.split("\n")[0]);
  }
  if (res.status === 416 && have > 0) {
    // The range starts at or past the end: the part is complete or stale; start over.
    await res.body?.cancel();
    Deno.removeSync(part);
    return transfer(url, part, f, headers, progress);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw statusError(res, f.path);
  }
  const append = res.status === 206 && have > 0;
  if (!append) have = 0; // the server ignored the range: rewrite from the start
  const file = await Deno.open(part, { write: true, create: true, append, truncate: !append });
  try {
    const reader = res.body.getReader();
    progress(have);
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new TransferBroken((e as Error).message.split("\n")[0]);
      }
      if (chunk.done) break;
      for (let off = 0; off < chunk.value.length;) off += await file.write(chunk.value.subarray(off));
      have += chunk.value.length;
      progress(have);
    }
  } finally {
    file.close();
  }
  if (have < f.size) throw new TransferBroken(`connection closed after ${have} of ${f.size} bytes`);
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(1 << 20);
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

/** snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder level in path). */
function linkIntoSnapshot(snapshot: string, path: string, etag: string): void {
  const link = joinPath(snapshot, path);
  const depth = path.split("/").length - 1;
  Deno.mkdirSync(link.slice(0, link.lastIndexOf("/")), { recursive: true });
  const target = `${"../".repeat(depth + 2)}blobs/${etag}`;
  try {
    Deno.removeSync(link);
  } catch { /* not there yet */ }
  try {
    Deno.symlinkSync(target, link);
  } catch {
    // No symlinks (some filesystems): a copy keeps the snapshot usable.
    Deno.copyFileSync(joinPath(snapshot, "..", "..", "blobs", etag), link);
  }
}
