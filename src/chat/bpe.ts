// Byte-pair merging over one pre-tokenized piece: the merge table (token pair -> rank and merged id) and
// the merge loop, a min-heap of candidate pairs keyed by (rank, position), so a piece of n symbols costs
// O(n log n) whatever its length (a pass-per-rank loop is quadratic: 100 KB of letters took 23 s).

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

/** Heap keys are rank * 2^28 + position: exact in a double while ranks < 2^24 and pieces < 2^28 symbols. */
const POS_BITS = 2 ** 28;
export const MAX_MERGES = 1 << 24;

/**
 * Applies merges to `ids` (byte-symbol ids of one piece), lowest rank first and leftmost first among
 * equal ranks, as Hugging Face tokenizers do; returns the merged ids.
 */
export function bpeMerge(ids: number[], table: MergeTable): number[] {
  const n = ids.length;
  if (n < 2) return ids;
  if (n >= POS_BITS) throw new RangeError(`a pre-tokenized piece of ${n} bytes is too long`);
  const sym = Int32Array.from(ids); // -1 once merged into its left neighbour
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new MinHeap(3 * n);
  const push = (pos: number) => {
    if (pos < 0 || next[pos] < 0) return;
    const right = next[pos];
    const slot = table.find(sym[pos], sym[right]);
    if (slot >= 0) heap.push(table.rank[slot] * POS_BITS + pos);
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  while (heap.size > 0) {
    const key = heap.pop();
    const rank = Math.floor(key / POS_BITS);
    const pos = key - rank * POS_BITS;
    const right = next[pos];
    // Stale entries: the symbol was merged away, or the pair at pos changed since it was pushed.
    if (sym[pos] < 0 || right < 0) continue;
    const slot = table.find(sym[pos], sym[right]);
    if (slot < 0 || table.rank[slot] !== rank) continue;
    sym[pos] = table.merged[slot];
    sym[right] = -1;
    next[pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = pos;
    push(prev[pos]);
    push(pos);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}

/** A binary min-heap of numbers with a fixed capacity. */
class MinHeap {
  private readonly keys: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.keys = new Float64Array(capacity);
  }

  push(key: number): void {
    const k = this.keys;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (k[parent] <= key) break;
      k[i] = k[parent];
      i = parent;
    }
    k[i] = key;
  }

  pop(): number {
    const k = this.keys;
    const top = k[0];
    const last = k[--this.size];
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && k[child + 1] < k[child]) child++;
      if (k[child] >= last) break;
      k[i] = k[child];
      i = child;
    }
    k[i] = last;
    return top;
  }
}
