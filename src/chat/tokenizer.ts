// Byte-level BPE tokenizer read from a model folder's tokenizer.json (the Hugging Face `tokenizers` format):
// added/special tokens split out first, a regex pre-tokenizer, then BPE merges over GPT-2 byte symbols.

import { joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError } from "../errors.ts";
import { bpeMerge, MAX_MERGES, MergeTable } from "./bpe.ts";

export interface Tokenizer {
  readonly vocabSize: number;
  /** Text to ids; special tokens written as text (e.g. "<|start|>") become their ids. */
  encode(text: string): number[];
  /** encode(), except that added-token text overlapping the given spans stays ordinary text. */
  encodeWithLiterals(text: string, spans: readonly (readonly [number, number])[]): number[];
  /** The strings of the added tokens (special or not): the markup that user text must never produce. */
  addedTokenTexts(): string[];
  /** Ids to text; special tokens are rendered as their text. */
  decode(ids: readonly number[]): string;
  /** Id of a special or normal token string, or undefined. */
  tokenId(token: string): number | undefined;
}

/** The GPT-2 pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex true. */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const MAX_IDS = 1 << 24;

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
function toJsPattern(file: string, pattern: string): RegExp {
  const js = pattern.replaceAll("\\s", "\\p{White_Space}").replaceAll("\\S", "\\P{White_Space}");
  return compilePattern(file, js, "gu");
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
        throw new FormatError(`the vocabulary lacks the byte symbol for 0x${b.toString(16)}`);
      }
      this.byteIds[b] = id;
    }
    // Every token must spell bytes, so that decoding never meets a symbol it cannot read.
    const byteSymbols = new Set(this.byteChars);
    for (const tok of vocab.keys()) {
      for (const ch of tok) {
        if (!byteSymbols.has(ch)) {
          throw new FormatError(`token ${JSON.stringify(tok)} has the non-byte-level symbol '${ch}'`);
        }
      }
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

  addedTokenTexts(): string[] {
    return [...this.addedByText.keys()];
  }

  /** True for added tokens flagged special (e.g. "<|start|>"). */
  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special ?? false;
  }

  encode(text: string): number[] {
    return this.encodeWithLiterals(text, []);
  }

  /**
   * encode(), except that an added token's text overlapping any of the given [start, end) spans (sorted,
   * disjoint) stays ordinary text: user-supplied content cannot forge markup. Elsewhere it equals encode().
   * Ordinary text never yields an added token's id (see tokenizerFromJson's merges and bpe()).
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
      if (whole !== undefined && !this.addedById.has(whole)) return [whole];
    }
    return bpeMerge(Array.from(bytes, (b) => this.byteIds[b]), this.merges);
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

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** `new RegExp` with a bad pattern as a one-line FormatError. */
function compilePattern(file: string, pattern: string, flags: string): RegExp {
  try {
    return new RegExp(pattern, flags);
  } catch (e) {
    throw new FormatError(
      `${file}: pre-tokenizer pattern ${JSON.stringify(pattern.slice(0, 80))} is not a valid regex (${
        (e as Error).message.split("\n")[0]
      })`,
    );
  }
}

/** Collects the regex splitters of a pre_tokenizer (Sequence / Split / ByteLevel). */
function preTokenizerSplitters(file: string, pre: unknown, out: RegExp[], depth = 0): void {
  if (pre === undefined || pre === null) return;
  if (!isObject(pre)) throw new FormatError(`${file}: pre_tokenizer must be an object`);
  switch (pre.type) {
    case "Sequence":
      if (!Array.isArray(pre.pretokenizers) || depth > 8) {
        throw new FormatError(`${file}: a Sequence pre-tokenizer needs a 'pretokenizers' list`);
      }
      for (const p of pre.pretokenizers) preTokenizerSplitters(file, p, out, depth + 1);
      return;
    case "Split": {
      if (pre.behavior !== "Isolated" || pre.invert) {
        throw new FormatError(
          `${file}: Split pre-tokenizer with behavior ${JSON.stringify(pre.behavior)}${
            pre.invert ? " (inverted)" : ""
          } is not supported (Isolated only)`,
        );
      }
      const pattern = pre.pattern;
      if (isObject(pattern) && typeof pattern.Regex === "string") {
        out.push(toJsPattern(file, pattern.Regex));
      } else if (isObject(pattern) && typeof pattern.String === "string" && pattern.String !== "") {
        out.push(compilePattern(file, pattern.String.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu"));
      } else {
        throw new FormatError(
          `${file}: Split pre-tokenizer needs a pattern {"Regex": ...} or {"String": ...}`,
        );
      }
      return;
    }
    case "ByteLevel":
      if (pre.add_prefix_space) throw new FormatError(`${file}: ByteLevel add_prefix_space is not supported`);
      if (pre.use_regex) out.push(toJsPattern(file, GPT2_PATTERN));
      return;
    default:
      throw new FormatError(
        `${file}: pre-tokenizer '${String(pre.type)}' is not supported (byte-level BPE only)`,
      );
  }
}

/** The vocabulary: token string to id, each id below MAX_IDS and given to one token only. */
function readVocab(file: string, vocabJson: unknown): Map<string, number> {
  if (!isObject(vocabJson)) throw new FormatError(`${file}: model.vocab must be an object of token -> id`);
  const vocab = new Map<string, number>();
  const owner = new Map<number, string>();
  for (const tok in vocabJson) {
    const id = vocabJson[tok];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= MAX_IDS) {
      throw new FormatError(`${file}: bad id ${JSON.stringify(id)} for '${tok}' (ids are 0-${MAX_IDS - 1})`);
    }
    const other = owner.get(id);
    if (other !== undefined) {
      throw new FormatError(`${file}: id ${id} is given to both '${other}' and '${tok}'`);
    }
    owner.set(id, tok);
    vocab.set(tok, id);
  }
  return vocab;
}

/** added_tokens: a list of {id, content, special}; no empty content, no id or content used twice. */
function readAddedTokens(file: string, list: unknown, vocab: Map<string, number>): AddedToken[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new FormatError(`${file}: added_tokens must be a list`);
  const byId = new Map<number, string>();
  const byContent = new Map<string, number>();
  for (const [tok, id] of vocab) byId.set(id, tok);
  return list.map((t, i) => {
    const at = `${file}: added_tokens[${i}]`;
    if (!isObject(t)) throw new FormatError(`${at} must be an object {id, content, special}`);
    const { id, content } = t;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= MAX_IDS) {
      throw new FormatError(`${at}: bad id ${JSON.stringify(id)}`);
    }
    if (typeof content !== "string" || content === "") {
      throw new FormatError(`${at}: content must be a non-empty string (got ${JSON.stringify(content)})`);
    }
    const owner = byId.get(id);
    if (owner !== undefined && owner !== content) {
      throw new FormatError(`${at}: id ${id} is already '${owner}', not ${JSON.stringify(content)}`);
    }
    const prior = byContent.get(content);
    if (prior !== undefined && prior !== id) {
      throw new FormatError(`${at}: ${JSON.stringify(content)} has two ids, ${prior} and ${id}`);
    }
    byId.set(id, content);
    byContent.set(content, id);
    return { id, content, special: t.special === true };
  });
}

/**
 * The merge table. A merge whose result is an added token's id is left out: ordinary text must never
 * become an added token (harmony or ChatML markup) by merging.
 */
function readMerges(
  file: string,
  list: unknown,
  vocabJson: Record<string, unknown>,
  addedIds: ReadonlySet<number>,
): MergeTable {
  if (list === undefined || list === null) return new MergeTable(0);
  if (!Array.isArray(list) || list.length > MAX_MERGES) {
    throw new FormatError(`${file}: model.merges must be a list of at most ${MAX_MERGES} merges`);
  }
  const merges = new MergeTable(list.length);
  for (let rank = 0; rank < list.length; rank++) {
    const m = list[rank];
    const pair = typeof m === "string" ? splitMergeString(m) : m;
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string"
    ) {
      throw new FormatError(`${file}: merge ${rank} must be "a b" or ["a", "b"] (got ${JSON.stringify(m)})`);
    }
    const [a, b] = pair;
    // Property reads on the parsed object are several times faster than Map lookups of fresh strings;
    // inherited names (e.g. "constructor") are not numbers and so count as missing.
    const ia = vocabJson[a], ib = vocabJson[b], merged = vocabJson[a + b];
    if (typeof ia !== "number" || typeof ib !== "number" || typeof merged !== "number") {
      throw new FormatError(`${file}: merge ${rank} ('${a}' '${b}') uses tokens not in the vocabulary`);
    }
    if (!addedIds.has(merged)) merges.add(ia, ib, rank, merged);
  }
  return merges;
}

/** Builds a tokenizer from the parsed tokenizer.json; `file` names it in errors (one line each). */
export function tokenizerFromJson(file: string, json: Json): BpeTokenizer {
  const model = json.model;
  if (!isObject(model) || model.type !== "BPE") throw new FormatError(`${file}: model.type must be 'BPE'`);
  const normalize = normalizerOf(file, json.normalizer);
  const vocab = readVocab(file, model.vocab);
  const added = readAddedTokens(file, json.added_tokens, vocab);
  const merges = readMerges(file, model.merges, model.vocab as Json, new Set(added.map((t) => t.id)));
  const splitters: RegExp[] = [];
  preTokenizerSplitters(file, json.pre_tokenizer, splitters);
  try {
    return new BpeTokenizer(vocab, merges, added, splitters, model.ignore_merges === true, normalize);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${file}: ${e.message}`);
    throw e;
  }
}

/** The supported normalizers: none, NFC (Qwen3), or a Sequence of those. Returns null for none. */
function normalizerOf(file: string, n: unknown, depth = 0): ((text: string) => string) | null {
  if (n === undefined || n === null) return null;
  if (!isObject(n)) throw new FormatError(`${file}: normalizer must be an object`);
  if (n.type === "NFC") return (text) => text.normalize("NFC");
  if (n.type === "Sequence") {
    if (!Array.isArray(n.normalizers) || depth > 8) {
      throw new FormatError(`${file}: a Sequence normalizer needs a 'normalizers' list`);
    }
    const parts = n.normalizers.map((x) => normalizerOf(file, x, depth + 1)).filter((f) => f !== null);
    return parts.length === 0 ? null : (text) => parts.reduce((t, f) => f(t), text);
  }
  throw new FormatError(`${file}: normalizer '${String(n.type)}' is not supported (NFC only)`);
}

/** "a b" as its two tokens (a token may begin with a space only as its first character); null if none. */
function splitMergeString(m: string): [string, string] | null {
  const i = m.indexOf(" ", 1);
  return i < 0 ? null : [m.slice(0, i), m.slice(i + 1)];
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
interface ByteTokenizer extends DecodingTokenizer {
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
}

/** What decoding needs of a tokenizer. */
type DecodingTokenizer = Pick<Tokenizer, "decode">;

function hasBytes(tok: DecodingTokenizer): tok is ByteTokenizer {
  return typeof (tok as Partial<ByteTokenizer>).tokenBytes === "function";
}

/** Decodes a token stream incrementally, holding back incomplete UTF-8 sequences. */
export class StreamDecoder {
  private decoder = new TextDecoder("utf-8", { fatal: false });
  /** Fallback path for tokenizers without byte access: ids not yet emitted. */
  private pending: number[] = [];

  constructor(private readonly tok: DecodingTokenizer) {}

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
