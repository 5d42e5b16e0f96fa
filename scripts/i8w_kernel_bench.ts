// f32_i8w_matmul alone on an unembedding-sized matrix (201088 x 2880 int8, far past cache), 1, 2, 3, 4 and
// 8 tokens, one thread: this build's kernel against another build's (an older ossi_kernels.wasm), each in
// its probed form and forced to the 7-bit digit form that machines without an exact u8 dot take, rounds
// interleaved, best of each reported, each build's outputs checked equal to the first's. `--rows 256
// --reps 785` runs the same work on a matrix that stays in L2 (the kernel's compute alone). Builds of one
// format share one memory, so they read the same pages. A developer's measurement, not a test.
// Run: deno run --config deno.dev.json -A scripts/i8w_kernel_bench.ts OLD.wasm [rounds] [--rows N --reps R]

import { parseArgs } from "node:util";
import { Arena, instantiateKernels, readKernelsWasm, sharedMemory } from "../src/backends/wasm/kernels.ts";

const COLS = 2880, TOKEN_COUNTS = [1, 2, 3, 4, 8], MAX_TOKENS = 8;

/** The exports this bench calls; builds before the int8 activations' chunks name the quantizer quantize_i16_x. */
interface BenchKernels {
  pack_i8w_bf16(src: number, rows: number, cols: number, dst: number): void;
  quantize_i8w_x?(x: number, xq: number, rows: number, cols: number, qMax: number): void;
  quantize_i16_x?(x: number, xq: number, rows: number, cols: number, qMax: number): void;
  i8w_u8_dot(form: number): number;
  f32_i8w_matmul(...args: number[]): void;
}

/** One memory per weight format: the packed matrix, the activations, their quantized rows, outputs. */
interface Shared {
  memory: WebAssembly.Memory;
  w: number;
  x: number;
  xq: number;
  y: number;
}

/** One build's kernel on its format's memory: runs `tokens` tokens `reps` times, returns the outputs. */
interface Setup {
  label: string;
  run(tokens: number): void;
  out(tokens: number): Float32Array;
}

function sharedFor(k: BenchKernels, memory: WebAssembly.Memory, a: Arena, rows: number): Shared {
  const seedRows = Math.min(1024, rows), gb = Math.ceil((COLS * 4 + (COLS / 32) * 8) / 16) * 16;
  const w = a.alloc(Math.ceil(rows / 4) * gb), src = a.alloc(seedRows * COLS * 2);
  const x = a.alloc(MAX_TOKENS * COLS * 4), xq = a.alloc(MAX_TOKENS * (COLS * 2 + COLS / 4 + 64));
  const y = a.alloc(MAX_TOKENS * rows * 4 + 64);
  // 1024 rows of varied bf16 packed, then copied over the whole matrix (its bytes are what is timed)
  const u16 = new Uint16Array(memory.buffer, src, seedRows * COLS);
  for (let i = 0; i < u16.length; i++) u16[i] = (0x3c00 + ((i * 7919) % 2000)) ^ ((i & 1) << 15);
  k.pack_i8w_bf16(src, seedRows, COLS, w);
  const bytes = new Uint8Array(memory.buffer), block = (seedRows / 4) * gb, total = Math.ceil(rows / 4) * gb;
  for (let at = block; at < total; at += block) bytes.copyWithin(w + at, w, w + Math.min(block, total - at));
  new Float32Array(memory.buffer, x, MAX_TOKENS * COLS).forEach((_, i, f) => (f[i] = Math.sin(i)));
  return { memory, w, x, xq, y };
}

function setUps(builds: [string, Uint8Array, number][], rows: number, reps: number): Setup[] {
  const byFormat = new Map<string, Shared>();
  return builds.map(([label, wasm, form]) => {
    const module = new WebAssembly.Module(wasm as BufferSource);
    const format = WebAssembly.Module.exports(module).some((e) => e.name === "quantize_i8w_x")
      ? "chunks"
      : "rows";
    let s = byFormat.get(format);
    if (!s) {
      const a = new Arena(), pages = Math.ceil((rows * COLS * 1.1 + 64e6) / 65536);
      const memory = sharedMemory(pages);
      s = sharedFor(instantiateKernels(module, memory) as unknown as BenchKernels, memory, a, rows);
      byFormat.set(format, s);
    }
    const { memory, w, x, xq, y } = s;
    const k = instantiateKernels(module, memory) as unknown as BenchKernels;
    const quantize = (k.quantize_i8w_x ?? k.quantize_i16_x)!.bind(k);
    return {
      label,
      run(tokens: number) {
        k.i8w_u8_dot(form);
        quantize(x, xq, tokens, COLS, 127);
        for (let r = 0; r < reps; r++) k.f32_i8w_matmul(w, 0, rows, COLS, xq, tokens, y, rows);
      },
      out: (tokens: number) => new Float32Array(memory.buffer, y, tokens * rows).slice(),
    };
  });
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { rows: { type: "string", default: "201088" }, reps: { type: "string", default: "1" } },
    allowPositionals: true,
  });
  if (!positionals[0]) {
    console.error("usage: i8w_kernel_bench.ts OLD.wasm [rounds] [--rows N --reps R]");
    Deno.exit(2);
  }
  const rounds = Number(positionals[1] ?? 7), rows = Number(values.rows), reps = Number(values.reps);
  const now = readKernelsWasm();
  const old = Deno.readFileSync(positionals[0]);
  const setups = setUps(
    [
      ["old", old, -1],
      ["new", now, -1],
      ["old, digits", old, 0],
      ["new, digits", now, 0],
    ],
    rows,
    reps,
  );
  const best = setups.map(() => TOKEN_COUNTS.map(() => Infinity));
  const outs = setups.map(() => new Array<Float32Array>(TOKEN_COUNTS.length));
  for (let r = 0; r < rounds; r++) {
    TOKEN_COUNTS.forEach((tokens, i) => {
      setups.forEach((s, j) => {
        const t = performance.now();
        s.run(tokens);
        best[j][i] = Math.min(best[j][i], performance.now() - t);
        if (r === 0) outs[j][i] = s.out(tokens);
      });
    });
  }
  TOKEN_COUNTS.forEach((tokens, i) => {
    setups.forEach((s, j) => {
      const differ = outs[j][i].findIndex((v, e) => !Object.is(v, outs[0][i][e]));
      if (differ >= 0) {
        console.log(`${s.label}: ${tokens} tokens, output ${differ} differs from ${setups[0].label}'s`);
      }
    });
  });
  console.log(
    `f32_i8w_matmul ${rows} x ${COLS}${reps > 1 ? ` x ${reps} calls` : ""}, one thread, best of ${rounds}`,
  );
  console.log("interleaved rounds: ms (and the ratio to its own 1-token time)");
  for (const [j, s] of setups.entries()) {
    const cells = TOKEN_COUNTS.map((t, i) =>
      `${t}: ${best[j][i].toFixed(1)} (${(best[j][i] / best[j][0]).toFixed(2)}x)`
    );
    console.log(`${s.label.padEnd(12)} ${cells.join("  ")}`);
  }
}
