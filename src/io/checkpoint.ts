// A model folder as the Hugging Face Hub ships it: config.json plus one safetensors file or shards
// listed by model.safetensors.index.json. Also opens the `original/` sub-layout.

import { FormatError, MissingError, ModelChangedError, OssiError } from "../errors.ts";
import { SafetensorsFile, type SafetensorsHeader, type Tensor, type TensorInfo } from "./safetensors.ts";

export const INDEX_FILE = "model.safetensors.index.json";

/** Joins path parts with '/', without a dependency on a path library. */
export function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

export function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** True when something (a file, folder, FIFO, ...) is at `path`, following symlinks. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Text files (configs, tokenizers, templates) larger than this are refused: 27 MB is gpt-oss's tokenizer. */
export const MAX_TEXT_FILE_BYTES = 256 << 20;

/**
 * Reads a regular file as UTF-8 text (a leading byte-order mark dropped). A FIFO, device or folder is
 * refused before it is opened (opening a FIFO would wait for a writer), and so is a file over `maxBytes`.
 */
export function readTextFile(path: string, maxBytes = MAX_TEXT_FILE_BYTES): string {
  let bytes: Uint8Array;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) throw new FormatError(`${path}: not a regular file`);
    if (info.size > maxBytes) {
      throw new FormatError(`${path}: ${info.size} bytes is over the limit of ${maxBytes} for this file`);
    }
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof OssiError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new MissingError(`${path}: file not found`);
    throw new OssiError(`${path}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  // It may have grown between the stat and the read.
  if (bytes.length > maxBytes) {
    throw new FormatError(`${path}: over the limit of ${maxBytes} bytes for this file`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes); // drops a leading byte-order mark
  } catch {
    throw new FormatError(`${path}: not UTF-8 text`);
  }
}

/** Reads and parses a JSON file (a regular file, see readTextFile); errors name the file. */
export function readJson(path: string): Record<string, unknown> {
  const text = readTextFile(path);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FormatError(`${path}: not valid JSON`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) {
    throw new FormatError(`${path}: expected a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** The safetensors files of a folder: the index's shards, or every *.safetensors file. */
export function listWeightFiles(dir: string): string[] {
  const index = joinPath(dir, INDEX_FILE);
  if (isFile(index)) {
    const map = readJson(index).weight_map;
    if (!map || typeof map !== "object") throw new FormatError(`${index}: missing 'weight_map'`);
    const files = [...new Set(Object.values(map as Record<string, unknown>))];
    if (!files.every((f) => typeof f === "string" && !f.includes(".."))) {
      throw new FormatError(`${index}: 'weight_map' values must be file names`);
    }
    return (files as string[]).sort().map((f) => joinPath(dir, f));
  }
  const names: string[] = [];
  try {
    // Hub cache snapshots hold symlinks to blobs: follow them.
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.endsWith(".safetensors") && (e.isFile || (e.isSymlink && isFile(joinPath(dir, e.name))))) {
        names.push(e.name);
      }
    }
  } catch {
    return [];
  }
  return names.sort().map((f) => joinPath(dir, f));
}

/** All tensors of a checkpoint folder by name, across shards. Views are zero-copy over the mappings. */
export class TensorStore {
  private readonly where = new Map<string, SafetensorsFile>();
  readonly files: SafetensorsFile[];

  constructor(readonly dir: string, files: string[]) {
    if (files.length === 0) throw new MissingError(`${dir}: no *.safetensors files`);
    this.files = files.map((f) => SafetensorsFile.open(f));
    for (const f of this.files) {
      for (const name of f.header.tensors.keys()) {
        const prev = this.where.get(name);
        if (prev) throw new FormatError(`${f.path}: tensor '${name}' is also in ${prev.path}`);
        this.where.set(name, f);
      }
    }
  }

  static open(dir: string): TensorStore {
    return new TensorStore(dir, listWeightFiles(dir));
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  info(name: string): TensorInfo & { file: string } {
    const f = this.where.get(name);
    if (!f) throw new MissingError(`${this.dir}: missing tensor '${name}'`);
    return { ...f.header.tensors.get(name)!, file: f.path };
  }

  tensor(name: string): Tensor {
    const f = this.where.get(name);
    if (!f) throw new MissingError(`${this.dir}: missing tensor '${name}'`);
    return f.tensor(name);
  }

  get mapped(): boolean {
    return this.files.every((f) => f.mapped);
  }

  /**
   * Throws ModelChangedError when a weight file's size or modification time differs from when it was
   * opened. Reading a mapping after its file shrank kills the process (SIGBUS), so callers check before
   * each use; a file rewritten between this check and the read is the window that remains.
   */
  checkUnchanged(): void {
    for (const f of this.files) {
      const change = f.change();
      if (change !== null) {
        throw new ModelChangedError(
          `${f.path} was ${change} since it was loaded: restart ossi to load it again`,
        );
      }
    }
  }
}

/** Headers only, for `inspect`: no data is mapped or read. */
export function readHeaders(dir: string): { file: string; header: SafetensorsHeader }[] {
  return listWeightFiles(dir).map((file) => ({ file, header: SafetensorsFile.readHeader(file) }));
}
