// Memory read bandwidth of this machine as wasm sees it: `threads` workers stream their own 1 GiB wasm
// memories at the same moment (asm/stream_read.ts); the bench reports kernels as a share of this figure.

const WORKER = `
self.onmessage = (e) => {
  const { wasm, ctl } = e.data;
  const bytes = 1 << 30;
  const memory = new WebAssembly.Memory({ initial: bytes / 65536 + 1, maximum: bytes / 65536 + 1, shared: true });
  const k = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { memory, abort() {} } }).exports;
  new Uint8Array(memory.buffer).fill(1);
  const c = new Int32Array(ctl);
  Atomics.add(c, 0, 1);
  Atomics.notify(c, 0);
  Atomics.wait(c, 1, 0);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    k.stream_read(65536, bytes - 65536);
    best = Math.min(best, performance.now() - t);
  }
  self.postMessage((bytes - 65536) / (best / 1000));
};`;

/** Aggregate GB/s of `threads` simultaneous streaming reads. */
export async function memReadGbS(wasm: Uint8Array, threads: number): Promise<number> {
  const url = `data:application/javascript;base64,${btoa(WORKER)}`;
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const workers = Array.from({ length: threads }, () => new Worker(url, { type: "module" }));
  try {
    const results = workers.map((w) =>
      new Promise<number>((resolve) => (w.onmessage = (e) => resolve(e.data)))
    );
    for (const w of workers) w.postMessage({ wasm, ctl: ctl.buffer });
    while (Atomics.load(ctl, 0) < threads) await new Promise((r) => setTimeout(r, 5));
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    const perThread = await Promise.all(results);
    return perThread.reduce((a, b) => a + b, 0) / 1e9;
  } finally {
    for (const w of workers) w.terminate();
  }
}

if (import.meta.main) {
  const { readKernelsWasm } = await import("../src/backends/wasm/kernels.ts");
  const i = Deno.args.indexOf("--threads");
  const threads = i >= 0 ? Number(Deno.args[i + 1]) : navigator.hardwareConcurrency;
  console.log(JSON.stringify({ threads, memread_gb_s: await memReadGbS(readKernelsWasm(), threads) }));
}
