// f32_i8w_matmul alone on an unembedding-sized matrix (201088 x 2880 int8, far past cache), 1/2/4/8
// tokens, one thread: this build's kernel (in its probed form, and forced to the 7-bit digit form that
// machines without an exact u8 dot take) against another build's (an older ossi_kernels.wasm), rounds
// interleaved, best of each reported. A developer's measurement, not a test.
// Run: deno run --config deno.dev.json -A scripts/i8w_kernel_bench.ts OLD.wasm [rounds]

import {
  Arena,
  instantiateKernels,
  type Kernels,
  readKernelsWasm,
  sharedMemory,
} from "../src/backends/wasm/kernels.ts";

const ROWS = 201088, COLS = 2880, MAX_TOKENS = 8, TOKEN_COUNTS = [1, 2, 4, 8];

/** One build's kernel with its own memory: the packed matrix, quantized activations, outputs. */
interface Setup {
  k: Kernels;
  w: number;
  xq: number;
  y: number;
}

function setUp(wasm: Uint8Array, qMax: number, form?: number): Setup {
  const a = new Arena(), seedRows = 1024;
  const gb = Math.ceil((COLS * 4 + (COLS / 32) * 8) / 16) * 16;
  const w = a.alloc(Math.ceil(ROWS / 4) * gb), src = a.alloc(seedRows * COLS * 2);
  const x = a.alloc(MAX_TOKENS * COLS * 4), xq = a.alloc(MAX_TOKENS * (COLS * 2 + COLS / 8 + 64));
  const y = a.alloc(MAX_TOKENS * ROWS * 4);
  const memory = sharedMemory(a.pages);
  const k = instantiateKernels(new WebAssembly.Module(wasm as BufferSource), memory);
  if (form !== undefined) k.i8w_u8_dot(form);
  // 1024 rows of varied bf16 packed, then copied over the whole matrix (its bytes are what is timed)
  const u16 = new Uint16Array(memory.buffer, src, seedRows * COLS);
  for (let i = 0; i < u16.length; i++) u16[i] = (0x3c00 + ((i * 7919) % 2000)) ^ ((i & 1) << 15);
  k.pack_i8w_bf16(src, seedRows, COLS, w);
  const bytes = new Uint8Array(memory.buffer), block = (seedRows / 4) * gb;
  for (let at = block; at < Math.ceil(ROWS / 4) * gb; at += block) {
    bytes.copyWithin(w + at, w, w + Math.min(block, Math.ceil(ROWS / 4) * gb - at));
  }
  new Float32Array(memory.buffer, x, MAX_TOKENS * COLS).forEach((_, i, f) => (f[i] = Math.sin(i)));
  k.quantize_i16_x(x, xq, MAX_TOKENS, COLS, qMax);
  return { k, w, xq, y };
}

function timeMs(s: Setup, tokens: number): number {
  const t = performance.now();
  s.k.f32_i8w_matmul(s.w, 0, ROWS, COLS, s.xq, tokens, s.y, ROWS);
  return performance.now() - t;
}

if (import.meta.main) {
  if (!Deno.args[0]) {
    console.error("usage: i8w_kernel_bench.ts OLD.wasm [rounds]");
    Deno.exit(2);
  }
  const rounds = Number(Deno.args[1] ?? 5);
  // the older builds took 16-bit activations (qMax 32767); this one takes at most 127
  const old = setUp(Deno.readFileSync(Deno.args[0]), 32767);
  const now = setUp(readKernelsWasm(), 127, -1), digits = setUp(readKernelsWasm(), 127, 0);
  const best = () => TOKEN_COUNTS.map(() => Infinity);
  const oldMs = best(), newMs = best(), digitMs = best();
  for (let r = 0; r < rounds; r++) {
    TOKEN_COUNTS.forEach((tokens, i) => {
      oldMs[i] = Math.min(oldMs[i], timeMs(old, tokens));
      newMs[i] = Math.min(newMs[i], timeMs(now, tokens));
      digitMs[i] = Math.min(digitMs[i], timeMs(digits, tokens));
    });
  }
  const form = now.k.i8w_u8_dot(-1) ? "u8" : "digits";
  console.log(`f32_i8w_matmul ${ROWS} x ${COLS}, one thread, best of ${rounds} interleaved rounds (ms)`);
  console.log(`tokens  old      new(${form}) old/new  digits   old/digits`);
  TOKEN_COUNTS.forEach((tokens, i) => {
    const cells = [oldMs[i], newMs[i], oldMs[i] / newMs[i], digitMs[i], oldMs[i] / digitMs[i]];
    console.log(
      `${String(tokens).padEnd(7)} ${cells.map((c) => c.toFixed(c < 10 ? 2 : 1).padEnd(8)).join(" ")}`,
    );
  });
}
