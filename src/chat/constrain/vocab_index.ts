// What the constrained decoder precomputes once per tokenizer: a trie of every ordinary token's bytes
// (so a mask walks shared prefixes once), and for each token whether it can sit inside a JSON string as it
// is (no quote, backslash or control byte; UTF-8 that starts a character), with its character count.

import type { Tokenizer } from "../tokenizer.ts";

/** A tokenizer that can say which bytes a token stands for (BpeTokenizer can). */
export interface ByteTokenizer extends Tokenizer {
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
}

export function hasTokenBytes(tok: Tokenizer): tok is ByteTokenizer {
  const t = tok as Partial<ByteTokenizer>;
  return typeof t.tokenBytes === "function" && typeof t.isSpecial === "function";
}

export class VocabIndex {
  readonly size: number;
  /** Trie nodes (0 is the root): first child, next sibling, the byte leading to the node. */
  readonly firstChild: Int32Array;
  readonly nextSibling: Int32Array;
  readonly byte: Uint8Array;
  /** First token id whose bytes end at the node (-1: none); further ids with the same bytes chain on. */
  readonly tokenAt: Int32Array;
  readonly sameBytes: Int32Array;
  /** Ids of special tokens (never in the trie). */
  readonly specials: number[];
  readonly specialSet: ReadonlySet<number>;
  /** 1 for every ordinary (non-special, non-empty) id: the mask of free text. */
  readonly ordinaryMask: Uint8Array;
  /** Per id: characters when the token fits inside a JSON string from a character boundary, else -1. */
  readonly stringChars: Int16Array;
  /** Per id: continuation bytes its last character still needs (for string-safe tokens). */
  readonly stringPend: Uint8Array;
  /** Ordinary ids that are not string-safe (checked one by one inside strings). */
  readonly stringUnsafe: Int32Array;
  readonly bytes: Uint8Array[];

  constructor(readonly tok: ByteTokenizer) {
    const n = tok.vocabSize;
    this.size = n;
    this.bytes = new Array(n);
    const ordinary: number[] = [];
    this.specials = [];
    this.ordinaryMask = new Uint8Array(n);
    let total = 1;
    for (let id = 0; id < n; id++) {
      const b = tok.tokenBytes(id);
      this.bytes[id] = b;
      if (tok.isSpecial(id)) this.specials.push(id);
      else if (b.length > 0) {
        ordinary.push(id);
        this.ordinaryMask[id] = 1;
        total += b.length;
      }
    }
    this.specialSet = new Set(this.specials);
    // Sorting by the bytes as latin1 strings orders the ids lexicographically by bytes.
    const keys = ordinary.map((id) => latin1(this.bytes[id]));
    const order = ordinary.map((_, i) => i).sort((
      a,
      b,
    ) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    this.firstChild = new Int32Array(total).fill(-1);
    this.nextSibling = new Int32Array(total).fill(-1);
    this.byte = new Uint8Array(total);
    this.tokenAt = new Int32Array(total).fill(-1);
    this.sameBytes = new Int32Array(n).fill(-1);
    const lastChild = new Int32Array(total).fill(-1);
    const path: number[] = [0];
    let prev: Uint8Array = new Uint8Array(0);
    let nodes = 1;
    for (const i of order) {
      const id = ordinary[i];
      const b = this.bytes[id];
      let common = 0;
      while (common < b.length && common < prev.length && b[common] === prev[common]) common++;
      path.length = common + 1;
      for (let k = common; k < b.length; k++) {
        const parent = path[k];
        const node = nodes++;
        this.byte[node] = b[k];
        if (lastChild[parent] < 0) this.firstChild[parent] = node;
        else this.nextSibling[lastChild[parent]] = node;
        lastChild[parent] = node;
        path.push(node);
      }
      const end = path[b.length];
      this.sameBytes[id] = this.tokenAt[end];
      this.tokenAt[end] = id;
      prev = b;
    }
    this.stringChars = new Int16Array(n).fill(-1);
    this.stringPend = new Uint8Array(n);
    const unsafe: number[] = [];
    for (const id of ordinary) {
      const r = stringSafe(this.bytes[id]);
      if (r) {
        this.stringChars[id] = r.chars;
        this.stringPend[id] = r.pend;
      } else unsafe.push(id);
    }
    this.stringUnsafe = Int32Array.from(unsafe);
  }
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Chars and trailing pending bytes of a token that fits inside a JSON string from a character start. */
function stringSafe(b: Uint8Array): { chars: number; pend: number } | null {
  let chars = 0, pend = 0;
  for (const x of b) {
    if (pend) {
      if (x < 0x80 || x > 0xbf) return null;
      pend--;
      continue;
    }
    if (x === 0x22 || x === 0x5c || x < 0x20) return null;
    chars++;
    if (x < 0x80) continue;
    if (x >= 0xc2 && x <= 0xdf) pend = 1;
    else if (x >= 0xe0 && x <= 0xef) pend = 2;
    else if (x >= 0xf0 && x <= 0xf4) pend = 3;
    else return null;
  }
  return chars > 0x7fff ? null : { chars, pend };
}

const indexes = new WeakMap<Tokenizer, VocabIndex>();

/** The index of a tokenizer, built on first use (about a second for a 200k vocabulary). */
export function vocabIndex(tok: ByteTokenizer): VocabIndex {
  let ix = indexes.get(tok);
  if (!ix) {
    ix = new VocabIndex(tok);
    indexes.set(tok, ix);
  }
  return ix;
}
