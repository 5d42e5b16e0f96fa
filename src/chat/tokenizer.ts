// Byte-level BPE tokenizer read from a model folder's tokenizer.json (the Hugging Face `tokenizers` format):
// added/special tokens split out first, a regex pre-tokenizer, then BPE merges over GPT-2 byte symbols.

import { joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError } from "../errors.ts";

export interface Tokenizer {
  readonly vocabSize: number;
  /** Text to ids; special tokens written as text (e.g. "<|start|>") become their ids. */
  encode(text: string): number[];
  /** Ids to text; special tokens are rendered as their text. */
  decode(ids: readonly number[]): string;
  /** Id of a special or normal token string, or undefined. */
  tokenId(token: string): number | undefined;
}

/** The GPT-2 pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex true. */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const MAX_IDS = 1 << 24;

/** Open-addressing hash table from a token pair (a, b) to its merge (rank, merged id); typed arrays only. */
export class MergeTable {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  readonly rank: Int32Array;
  readonly merged: Int32Array;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < capacityHint * 2) cap *= 2;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.merged = new Int32Array(cap);
  }

  private slot(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
    h = (h ^ (h >>> 15)) & this.mask;
    while (this.left[h] !== -1 && (this.left[h] !== a || this.right[h] !== b)) h = (h + 1) & this.mask;
    return h;
  }

  /** Keeps the first (best-ranked) merge of a pair. */
  add(a: number, b: number, rank: number, merged: number): void {
    const h = this.slot(a, b);
    if (this.left[h] !== -1) return;
    this.left[h] = a;
    this.right[h] = b;
    this.rank[h] = rank;
    this.merged[h] = merged;
  }

  /** Slot of the pair, or -1 when the pair never merges. */
  find(a: number, b: number): number {
    const h = this.slot(a, b);
    return this.left[h] === -1 ? -1 : h;
  }
}
/** Pieces remembered by the encode cache before it is cleared. */
const CACHE_LIMIT = 200_000;

/** GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 and up. */
function byteLevelAlphabet(): string[] {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars[b] = String.fromCodePoint(printable ? b : next++);
  }
  return chars;
}

/** Rust-regex `\s` is Unicode White_Space (with U+0085, without U+FEFF); JS `\s` differs, so spell it out. */
function toJsPattern(pattern: string): RegExp {
  const js = pattern.replaceAll("\\s", "\\p{White_Space}").replaceAll("\\S", "\\P{White_Space}");
  return new RegExp(js, "gu");
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  private readonly byteIds = new Int32Array(256);
  private readonly byteChars = byteLevelAlphabet();
  private readonly cache = new Map<string, number[]>();
  private readonly idToToken: (string | undefined)[];
  private readonly idBytes: (Uint8Array | undefined)[];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByText = new Map<string, AddedToken>();
  private readonly addedSplitter: RegExp | null;
  private readonly utf8 = new TextEncoder();
  private readonly utf8Decoder = new TextDecoder();

  constructor(
    private readonly vocab: Map<string, number>,
    private readonly merges: MergeTable,
    added: AddedToken[],
    private readonly splitters: RegExp[],
    /** Emit a whole piece as one id when it is in the vocabulary, before any merge (o200k-style). */
    private readonly ignoreMerges: boolean,
    /** Applied to ordinary text (never to added tokens) before pre-tokenization; null: none. */
    private readonly normalize: ((text: string) => string) | null = null,
  ) {
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    for (const t of added) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;
    this.idToToken = new Array(this.vocabSize);
    for (const [tok, id] of vocab) this.idToToken[id] = tok;
    this.idBytes = new Array(this.vocabSize);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(this.byteChars[b]);
      if (id === undefined) {
        throw new FormatError(`tokenizer vocabulary lacks the byte symbol for 0x${b.toString(16)}`);
      }
      this.byteIds[b] = id;
    }
    for (const t of added) {
      this.addedById.set(t.id, t);
      this.addedByText.set(t.content, t);
    }
    // Longest first, so a token that is a prefix of another never wins.
    const texts = [...this.addedByText.keys()].sort((a, b) => b.length - a.length);
    this.addedSplitter = texts.length
      ? new RegExp(texts.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g")
      : null;
  }

  tokenId(token: string): number | undefined {
    return this.addedByText.get(token)?.id ?? this.vocab.get(token);
  }

  /** True for added tokens flagged special (e.g. "<|start|>"). */
  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special ?? false;
  }

  encode(text: string): number[] {
    return this.encodeWithLiterals(text, []);
  }

  /**
   * encode(), except that special-token text inside the given [start, end) spans (sorted, disjoint) stays
   * ordinary text: user-supplied content cannot forge harmony markup. Outside the spans it equals encode().
   */
  encodeWithLiterals(text: string, spans: readonly (readonly [number, number])[]): number[] {
    const out: number[] = [];
    if (!this.addedSplitter) {
      this.encodeOrdinary(text, out);
      return out;
    }
    let last = 0;
    let s = 0;
    for (const m of text.matchAll(this.addedSplitter)) {
      while (s < spans.length && spans[s][1] <= m.index) s++;
      if (s < spans.length && spans[s][0] < m.index + m[0].length) continue; // inside a literal span
      if (m.index > last) this.encodeOrdinary(text.slice(last, m.index), out);
      out.push(this.addedByText.get(m[0])!.id);
      last = m.index + m[0].length;
    }
    if (last < text.length) this.encodeOrdinary(text.slice(last), out);
    return out;
  }

  decode(ids: readonly number[]): string {
    let text = "";
    let bytes: number[] = [];
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added) {
        if (bytes.length) text += this.utf8Decoder.decode(new Uint8Array(bytes));
        bytes = [];
        text += added.content;
      } else {
        for (const b of this.tokenBytes(id)) bytes.push(b);
      }
    }
    if (bytes.length) text += this.utf8Decoder.decode(new Uint8Array(bytes));
    return text;
  }

  /** The UTF-8 bytes of a normal token; an added token's content; empty for an unknown id. */
  tokenBytes(id: number): Uint8Array {
    const added = this.addedById.get(id);
    if (added) return this.utf8.encode(added.content);
    let bytes = this.idBytes[id];
    if (bytes) return bytes;
    const tok = this.idToToken[id];
    if (tok === undefined) return new Uint8Array(0);
    bytes = new Uint8Array([...tok].map((ch) => this.byteOfChar(ch)));
    this.idBytes[id] = bytes;
    return bytes;
  }

  private byteOfChar(ch: string): number {
    const cp = ch.codePointAt(0)!;
    if (cp < 256 && this.byteChars[cp] === ch) return cp;
    const b = this.byteChars.indexOf(ch);
    if (b < 0) throw new FormatError(`tokenizer token symbol '${ch}' is not a byte-level character`);
    return b;
  }

  private encodeOrdinary(text: string, out: number[]): void {
    let pieces = [this.normalize ? this.normalize(text) : text];
    for (const re of this.splitters) pieces = pieces.flatMap((p) => splitIsolated(p, re));
    for (const piece of pieces) {
      let ids = this.cache.get(piece);
      if (!ids) {
        ids = this.bpe(piece);
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** BPE over one pre-tokenized piece. */
  private bpe(piece: string): number[] {
    const bytes = this.utf8.encode(piece);
    if (this.ignoreMerges) {
      let sym = "";
      for (const b of bytes) sym += this.byteChars[b];
      const whole = this.vocab.get(sym);
      if (whole !== undefined) return [whole];
    }
    let ids: number[] = Array.from(bytes, (b) => this.byteIds[b]);
    // Each pass applies the best-ranked pair everywhere it occurs, left to right. A merge never recreates
    // the pair it merged, so this equals applying the lowest (rank, position) merge one at a time.
    const table = this.merges;
    while (ids.length > 1) {
      let bestRank = Infinity;
      let bestSlot = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const slot = table.find(ids[i], ids[i + 1]);
        if (slot >= 0 && table.rank[slot] < bestRank) {
          bestRank = table.rank[slot];
          bestSlot = slot;
        }
      }
      if (bestSlot < 0) break;
      const merged = table.merged[bestSlot];
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && table.find(ids[i], ids[i + 1]) === bestSlot) {
          next.push(merged);
          i++;
        } else {
          next.push(ids[i]);
        }
      }
      ids = next;
    }
    return ids;
  }
}

/** Splits `text` into the regex's matches and the unmatched gaps between them ("Isolated"). */
function splitIsolated(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

type Json = Record<string, unknown>;

/** Collects the regex splitters of a pre_tokenizer (Sequence / Split / ByteLevel). */
function preTokenizerSplitters(file: string, pre: Json | null | undefined, out: RegExp[]): void {
  if (!pre) return;
  switch (pre.type) {
    case "Sequence":
      for (const p of (pre.pretokenizers as Json[]) ?? []) preTokenizerSplitters(file, p, out);
      return;
    case "Split": {
      const pattern = pre.pattern as { Regex?: string; String?: string };
      if (pre.behavior !== "Isolated" || pre.invert) {
        throw new FormatError(`${file}: Split pre-tokenizer with behavior ${pre.behavior} is not supported`);
      }
      if (pattern.Regex !== undefined) out.push(toJsPattern(pattern.Regex));
      else if (pattern.String !== undefined) {
        out.push(new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu"));
      }
      return;
    }
    case "ByteLevel":
      if (pre.add_prefix_space) throw new FormatError(`${file}: ByteLevel add_prefix_space is not supported`);
      if (pre.use_regex) out.push(toJsPattern(GPT2_PATTERN));
      return;
    default:
      throw new FormatError(`${file}: pre-tokenizer '${pre.type}' is not supported (byte-level BPE only)`);
  }
}

/** Builds a tokenizer from the parsed tokenizer.json; `file` names it in errors. */
export function tokenizerFromJson(file: string, json: Json): BpeTokenizer {
  const model = json.model as Json | undefined;
  if (!model || model.type !== "BPE") throw new FormatError(`${file}: model.type must be 'BPE'`);
  const normalize = normalizerOf(file, json.normalizer as Json | null | undefined);
  const vocabJson = model.vocab as Record<string, number> | undefined;
  if (!vocabJson || typeof vocabJson !== "object") throw new FormatError(`${file}: model.vocab missing`);
  const vocab = new Map<string, number>();
  for (const tok in vocabJson) {
    const id = vocabJson[tok];
    if (!Number.isInteger(id) || id < 0 || id >= MAX_IDS) {
      throw new FormatError(`${file}: bad id for '${tok}'`);
    }
    vocab.set(tok, id);
  }
  const mergeList = (model.merges as (string | [string, string])[] | undefined) ?? [];
  const merges = new MergeTable(mergeList.length);
  for (let rank = 0; rank < mergeList.length; rank++) {
    const m = mergeList[rank];
    const [a, b] = typeof m === "string" ? splitMergeString(m) : m;
    // Property reads on the parsed object are several times faster than Map lookups of fresh strings;
    // inherited names (e.g. "constructor") are not numbers and so count as missing.
    const ia = vocabJson[a], ib = vocabJson[b], merged = vocabJson[a + b];
    if (typeof ia !== "number" || typeof ib !== "number" || typeof merged !== "number") {
      throw new FormatError(`${file}: merge ${rank} ('${a}' '${b}') uses tokens not in the vocabulary`);
    }
    merges.add(ia, ib, rank, merged);
  }
  const added: AddedToken[] = ((json.added_tokens as Json[] | undefined) ?? []).map((t) => ({
    id: t.id as number,
    content: t.content as string,
    special: t.special === true,
  }));
  const splitters: RegExp[] = [];
  preTokenizerSplitters(file, json.pre_tokenizer as Json | null, splitters);
  return new BpeTokenizer(vocab, merges, added, splitters, model.ignore_merges === true, normalize);
}

/** The supported normalizers: none, NFC (Qwen3), or a Sequence of those. Returns null for none. */
function normalizerOf(file: string, n: Json | null | undefined): ((text: string) => string) | null {
  if (!n) return null;
  if (n.type === "NFC") return (text) => text.normalize("NFC");
  if (n.type === "Sequence") {
    const parts = ((n.normalizers as Json[]) ?? []).map((x) => normalizerOf(file, x)).filter((f) =>
      f !== null
    );
    return parts.length === 0 ? null : (text) => parts.reduce((t, f) => f(t), text);
  }
  throw new FormatError(`${file}: normalizer '${n.type}' is not supported (NFC only)`);
}

function splitMergeString(m: string): [string, string] {
  const i = m.indexOf(" ", 1);
  return [m.slice(0, i), m.slice(i + 1)];
}

/** Loads `tokenizer.json` from a model folder. */
export function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  return Promise.resolve(loadTokenizerSync(modelDir));
}

export function loadTokenizerSync(modelDir: string): BpeTokenizer {
  const file = joinPath(modelDir, "tokenizer.json");
  return tokenizerFromJson(file, readJson(file));
}

/** A tokenizer that can say which bytes a token stands for (BpeTokenizer does). */
interface ByteTokenizer extends Tokenizer {
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
}

function hasBytes(tok: Tokenizer): tok is ByteTokenizer {
  return typeof (tok as Partial<ByteTokenizer>).tokenBytes === "function";
}

/** Decodes a token stream incrementally, holding back incomplete UTF-8 sequences. */
export class StreamDecoder {
  private decoder = new TextDecoder("utf-8", { fatal: false });
  /** Fallback path for tokenizers without byte access: ids not yet emitted. */
  private pending: number[] = [];

  constructor(private readonly tok: Tokenizer) {}

  push(id: number): string {
    const tok = this.tok;
    if (hasBytes(tok)) {
      if (tok.isSpecial(id)) return this.flush() + tok.decode([id]);
      return this.decoder.decode(tok.tokenBytes(id), { stream: true });
    }
    this.pending.push(id);
    const text = tok.decode(this.pending);
    // A trailing U+FFFD may be a sequence cut in half; wait for up to 3 more tokens.
    if (text.endsWith("\uFFFD") && this.pending.length < 4) return "";
    this.pending = [];
    return text;
  }

  /** Emits whatever is held back (an incomplete sequence becomes U+FFFD). */
  flush(): string {
    if (this.pending.length) {
      const text = this.tok.decode(this.pending);
      this.pending = [];
      return text;
    }
    return this.decoder.decode();
  }
}
