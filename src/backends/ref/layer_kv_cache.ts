// Per-layer float32 key/value caches for the reference forward passes of GPT-2 and Qwen3, grown on demand.

/** Layer l's keys and values are [capacity, width] rows, row p holding position p. */
export class LayerKvCache {
  readonly k: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  capacity = 0;

  constructor(readonly layers: number, readonly width: number, readonly maxContext: number) {}

  /** Makes room for positions [0, tokens), keeping what is cached; tokens must be <= maxContext. */
  ensure(tokens: number): void {
    if (tokens > this.maxContext) throw new RangeError(`context overflow: ${tokens} > ${this.maxContext}`);
    if (tokens <= this.capacity) return;
    const cap = Math.min(this.maxContext, Math.max(tokens, this.capacity * 2, 64));
    for (let l = 0; l < this.layers; l++) {
      const k = new Float32Array(cap * this.width), v = new Float32Array(cap * this.width);
      if (this.k[l]) (k.set(this.k[l]), v.set(this.v[l]));
      this.k[l] = k;
      this.v[l] = v;
    }
    this.capacity = cap;
  }
}
