// The Hugging Face Hub cache (the layout huggingface_hub, transformers and llama.cpp share) and model
// resolution: `--model` as a folder, a Hub id found in the cache, or the embedded demo model.
// Layout: <cache>/models--ORG--NAME/{blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag>, refs/main}.

import { isDir, isFile, joinPath, listWeightFiles } from "./checkpoint.ts";
import { OssiError } from "../errors.ts";

/** The demo model shipped in the repository (models/tiny-oss-math); `OSSI_DEMO_MODEL` overrides it. */
export function demoModelDir(): string {
  return Deno.env.get("OSSI_DEMO_MODEL") || new URL("../../models/tiny-oss-math", import.meta.url).pathname;
}

/** Ids tried, in order, when no --model is given. */
export const DEFAULT_MODEL_IDS = ["openai/gpt-oss-20b", "openai/gpt-oss-120b"];

/** `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(): string {
  const direct = Deno.env.get("HF_HUB_CACHE");
  if (direct) return direct;
  const home = Deno.env.get("HF_HOME");
  if (home) return joinPath(home, "hub");
  const user = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!user) throw new OssiError("cannot locate the Hugging Face cache: set HF_HUB_CACHE, HF_HOME or HOME");
  return joinPath(user, ".cache", "huggingface", "hub");
}

/** "openai/gpt-oss-20b" -> "models--openai--gpt-oss-20b". */
export function repoFolderName(id: string): string {
  return `models--${id.split("/").join("--")}`;
}

/** A Hub model id: "org/name" made of letters, digits, '-', '_' and '.' (no '..'). */
export function isHubId(spec: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(spec) && !spec.includes("..");
}

/** A commit hash as the Hub writes it (40 hex digits). */
export function isCommitHash(rev: string): boolean {
  return /^[0-9a-f]{40}$/.test(rev);
}

/** The snapshot folder of `id` at `revision` (a branch name in refs/ or a commit), if it is cached. */
export function findCachedSnapshot(
  id: string,
  revision = "main",
  cacheDir = hubCacheDir(),
): string | undefined {
  const repo = joinPath(cacheDir, repoFolderName(id));
  let commit: string | undefined;
  if (isCommitHash(revision)) commit = revision;
  else {
    try {
      commit = Deno.readTextFileSync(joinPath(repo, "refs", revision)).trim();
    } catch {
      commit = undefined;
    }
  }
  if (commit && isDir(joinPath(repo, "snapshots", commit))) return joinPath(repo, "snapshots", commit);
  if (revision !== "main") return undefined;
  // No ref (e.g. copied by hand): the most recently written snapshot.
  const snaps = listDir(joinPath(repo, "snapshots")).filter((e) => e.isDirectory);
  let best: { path: string; mtime: number } | undefined;
  for (const s of snaps) {
    const path = joinPath(repo, "snapshots", s.name);
    const mtime = Deno.statSync(path).mtime?.getTime() ?? 0;
    if (!best || mtime > best.mtime) best = { path, mtime };
  }
  return best?.path;
}

/** A snapshot holds a model when it has config.json at the top or in original/. */
export function hasModelConfig(dir: string): boolean {
  return isFile(joinPath(dir, "config.json")) || isFile(joinPath(dir, "original", "config.json"));
}

/** config.json and safetensors weights side by side, at the top or in original/ (a complete download). */
export function hasModelWeights(dir: string): boolean {
  return [dir, joinPath(dir, "original")].some((d) =>
    isFile(joinPath(d, "config.json")) && listWeightFiles(d).length > 0
  );
}

export interface ResolvedModel {
  dir: string;
  /** How it was found: a folder path, the Hub cache, or the embedded demo model. */
  source: "path" | "cache" | "demo";
  /** Hub id (cache) or folder basename. */
  name: string;
}

/**
 * A folder path, a Hub id looked up in the cache, or (no spec) the first cached gpt-oss model, else the
 * demo model. A spec that is neither an existing folder nor a cached Hub id is a one-line error.
 */
export function resolveModel(spec?: string): ResolvedModel {
  if (spec === undefined || spec === "") {
    for (const id of DEFAULT_MODEL_IDS) {
      const dir = findCachedSnapshot(id);
      if (dir && hasModelWeights(dir)) return { dir, source: "cache", name: id };
    }
    const dir = demoModelDir();
    return { dir, source: "demo", name: "tiny-oss-math" };
  }
  if (isDir(spec)) {
    return { dir: spec, source: "path", name: spec.replace(/\/+$/, "").split("/").pop() || spec };
  }
  const [id, revision] = spec.split("@", 2);
  if (isHubId(id)) {
    const dir = findCachedSnapshot(id, revision || "main");
    if (dir && hasModelConfig(dir)) return { dir, source: "cache", name: id };
    throw new OssiError(
      `model '${spec}' is not in the Hugging Face cache (${hubCacheDir()}); run: ossi pull ${spec}`,
    );
  }
  throw new OssiError(`--model '${spec}': no such folder, and not a Hub id like openai/gpt-oss-20b`);
}

export interface CachedModel {
  id: string;
  /** Commit of the snapshot refs/main points to (or the newest snapshot). */
  revision: string;
  path: string;
  /** Bytes of the blobs the snapshot links to (each blob counted once). */
  sizeBytes: number;
  /** Files in the snapshot. */
  files: number;
}

/** Every cached model repository with a snapshot, sorted by id. */
export function listCachedModels(cacheDir = hubCacheDir()): CachedModel[] {
  const out: CachedModel[] = [];
  for (const e of listDir(cacheDir)) {
    if (!e.isDirectory || !e.name.startsWith("models--")) continue;
    const id = e.name.slice("models--".length).split("--").join("/");
    const snap = findCachedSnapshot(id, "main", cacheDir);
    if (!snap) continue;
    const seen = new Set<string>();
    let sizeBytes = 0;
    let files = 0;
    walkFiles(snap, (path) => {
      files++;
      let real = path;
      try {
        real = Deno.realPathSync(path);
      } catch {
        return; // dangling link: blob deleted by hand
      }
      if (seen.has(real)) return;
      seen.add(real);
      sizeBytes += Deno.statSync(real).size;
    });
    out.push({ id, revision: snap.split("/").pop()!, path: snap, sizeBytes, files });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function listDir(path: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(path)];
  } catch {
    return [];
  }
}

function walkFiles(dir: string, visit: (path: string) => void): void {
  for (const e of listDir(dir)) {
    const path = joinPath(dir, e.name);
    if (e.isDirectory) walkFiles(path, visit);
    else visit(path);
  }
}

/** "1.5 MB", "13.8 GB": decimal units as the Hub shows sizes. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let u = 0;
  let v = n;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
