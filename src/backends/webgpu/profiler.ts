// Per-kernel GPU time from timestamp queries (adapters with `timestamp-query`): in profile mode every
// dispatch runs in its own compute pass whose begin/end timestamps are summed per kernel entry point.

const MAX_PASSES = 2048;

export interface KernelTime {
  readonly ns: number;
  readonly count: number;
}

export class GpuProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;
  private labels: string[] = [];
  /** Dispatches that found no free query slot in their submit (not timed). */
  untimed = 0;
  readonly totals = new Map<string, KernelTime>();

  constructor(readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: "timestamp", count: 2 * MAX_PASSES });
    const size = 2 * MAX_PASSES * 8;
    this.resolveBuf = device.createBuffer({
      size,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuf = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** The descriptor of a pass that times one dispatch of `label`, or an untimed one when full. */
  pass(label: string): GPUComputePassDescriptor {
    if (this.labels.length >= MAX_PASSES) {
      this.untimed++;
      return {};
    }
    const i = this.labels.length;
    this.labels.push(label);
    return {
      timestampWrites: {
        querySet: this.querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    };
  }

  /** Records the copy of this submit's timestamps (call before finishing the encoder). */
  resolve(encoder: GPUCommandEncoder): boolean {
    const n = this.labels.length;
    if (n === 0) return false;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 2 * n * 8);
    return true;
  }

  /** After the submit: adds its pass times to `totals` and frees the query slots. */
  async collect(): Promise<void> {
    const n = this.labels.length;
    if (n === 0) return;
    await this.readBuf.mapAsync(GPUMapMode.READ, 0, 2 * n * 8);
    const t = new BigUint64Array(this.readBuf.getMappedRange(0, 2 * n * 8).slice(0));
    this.readBuf.unmap();
    this.labels.forEach((label, i) => {
      const prev = this.totals.get(label) ?? { ns: 0, count: 0 };
      const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
      this.totals.set(label, { ns: prev.ns + ns, count: prev.count + 1 });
    });
    this.labels = [];
  }

  reset(): void {
    this.totals.clear();
    this.untimed = 0;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}
