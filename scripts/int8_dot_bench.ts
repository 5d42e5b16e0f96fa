// Microbenchmark of the wasm integer dot instructions on this CPU, data in L1 (compute-bound): how many
// multiply-adds per nanosecond each dot form gives, so the int8 kernels' tile design rests on figures.
// Run: deno run --config deno.dev.json -A scripts/int8_dot_bench.ts [seconds-per-form]

import asc from "assemblyscript/asc";

/**
 * Each form: `n` v128 of weights at w (4 KiB: L1), `reps` passes; eight tokens' activations splat from x
 * (a 4-byte load each), eight independent i32 chains; returns a checksum so nothing is dropped. MACs per
 * pass: n * 16 * 8 (a widens each int8 v128 into two i16 halves). (d) is the relaxed dot alone: operands in
 * registers, twelve chains (enough to cover its latency on two ports), n * 16 * 12 MACs per pass. Where (d)
 * runs twice as fast as (b), what bounds (b) is the load and its bounds check per dot, not the dot.
 */
const SOURCE = `
@inline function sum(d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128, d6: v128, d7: v128): i32 {
  const s = i32x4.add(i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3)), i32x4.add(i32x4.add(d4, d5), i32x4.add(d6, d7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/** (a) the i16 form of f32_i8w_matmul: widen int8 weights, i32x4.dot_i16x8_s (pmaddwd) + i32x4.add. */
export function dot_i16(w: usize, x: usize, n: i32, reps: i32): i32 {
  let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i++) {
      const v = v128.load(w + (<usize>i << 4));
      const lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
      const o = <usize>(i & 7) << 3;
      d0 = i32x4.add(i32x4.add(d0, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 4)));
      d1 = i32x4.add(i32x4.add(d1, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 64))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 68)));
      d2 = i32x4.add(i32x4.add(d2, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 128))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 132)));
      d3 = i32x4.add(i32x4.add(d3, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 192))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 196)));
      d4 = i32x4.add(i32x4.add(d4, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 256))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 260)));
      d5 = i32x4.add(i32x4.add(d5, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 320))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 324)));
      d6 = i32x4.add(i32x4.add(d6, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 384))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 388)));
      d7 = i32x4.add(i32x4.add(d7, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o, 448))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 452)));
    }
  }
  return sum(d0, d1, d2, d3, d4, d5, d6, d7);
}

/** (b) one i32x4.relaxed_dot_i8x16_i7x16_add_s per 16 products (vpdpbusd where the engine emits it). */
export function dot_i7_add(w: usize, x: usize, n: i32, reps: i32): i32 {
  let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i++) {
      const v = v128.load(w + (<usize>i << 4));
      const o = <usize>(i & 7) << 3;
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o), d0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 64), d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 128), d2);
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 192), d3);
      d4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 256), d4);
      d5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 320), d5);
      d6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 384), d6);
      d7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x + o, 448), d7);
    }
  }
  return sum(d0, d1, d2, d3, d4, d5, d6, d7);
}

/** (d) the relaxed dot alone: twelve chains on two operands held in registers (read once from w and x). */
export function dot_i7_add_regs(w: usize, x: usize, n: i32, reps: i32): i32 {
  const a = v128.load(w), b = v128.load(x);
  let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0, d8 = d0, d9 = d0, d10 = d0, d11 = d0;
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i++) {
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d0); d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d2); d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d3);
      d4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d4); d5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d5);
      d6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d6); d7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d7);
      d8 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d8); d9 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d9);
      d10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, d10); d11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(b, a, d11);
    }
  }
  return sum(d0, d1, d2, d3, d4, d5, d6, i32x4.add(i32x4.add(d7, d8), i32x4.add(i32x4.add(d9, d10), d11)));
}

/** (c) i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw) + i32x4.extadd_pairwise_i16x8_s + i32x4.add. */
export function dot_i7_i16(w: usize, x: usize, n: i32, reps: i32): i32 {
  let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i++) {
      const v = v128.load(w + (<usize>i << 4));
      const o = <usize>(i & 7) << 3;
      d0 = i32x4.add(d0, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o))));
      d1 = i32x4.add(d1, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 64))));
      d2 = i32x4.add(d2, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 128))));
      d3 = i32x4.add(d3, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 192))));
      d4 = i32x4.add(d4, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 256))));
      d5 = i32x4.add(d5, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 320))));
      d6 = i32x4.add(d6, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 384))));
      d7 = i32x4.add(d7, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.load32_splat(x + o, 448))));
    }
  }
  return sum(d0, d1, d2, d3, d4, d5, d6, d7);
}

/** The relaxed dot of splats a, b (lane 0); b outside [0, 127] tells the engine's lowering apart. */
export function probe_u8(a: i32, b: i32): i32 {
  return i32x4.extract_lane(i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(<i8>a), i8x16.splat(<i8>b), i32x4.splat(0)), 0);
}

`;

async function compile(): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/dots.ts`, SOURCE);
    let errors = "";
    const { error } = await asc.main(
      [
        `${dir}/dots.ts`,
        "--outFile",
        `${dir}/dots.wasm`,
        "-O3",
        "--runtime",
        "stub",
        "--enable",
        "simd,relaxed-simd",
      ],
      { stderr: { write: (s: string | Uint8Array) => (errors += String(s)) } as never },
    );
    if (error) throw new Error(`asc: ${error.message}\n${errors}`);
    return await Deno.readFile(`${dir}/dots.wasm`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

type DotForm = (w: number, x: number, n: number, reps: number) => number;

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? 0.3);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(await compile() as BufferSource), {
    env: { abort() {} },
  });
  const k = instance.exports as Record<string, unknown>;
  const memory = k.memory as WebAssembly.Memory;
  const base = memory.grow(1) * 65536, n = 256, x = base + n * 16;
  const bytes = new Uint8Array(memory.buffer);
  for (let i = 0; i < n * 16; i++) bytes[base + i] = (i * 37) % 255 - 127;
  for (let i = 0; i < 512; i++) bytes[x + i] = (i * 11) % 128;
  const probe = k.probe_u8 as (a: number, b: number) => number;
  // vpdpbusd reads b as u8 and sums four products in i32; pmaddubsw + pmaddwd saturates pairs at i16
  console.log(`probe: relaxed dot 3 x 200 -> ${probe(3, 200)} (2400: b read as u8)`);
  console.log(`probe: relaxed dot 127 x 200 -> ${probe(127, 200)} (101600: vpdpbusd, 65534: pmaddubsw)`);
  const forms = ["dot_i16", "dot_i7_add", "dot_i7_i16", "dot_i7_add_regs"];
  const macsPerPass = (f: string) => n * 16 * (f === "dot_i7_add_regs" ? 12 : 8);
  const best = new Map<string, number>(forms.map((f) => [f, 0]));
  // interleaved rounds: each form once per round, the best rate of each kept
  for (let round = 0; round < 5; round++) {
    for (const f of forms) {
      const fn = k[f] as DotForm;
      let reps = 64;
      for (;;) {
        const t = performance.now();
        fn(base, x, n, reps);
        const ms = performance.now() - t;
        if (ms > seconds * 1000 / 5) {
          best.set(f, Math.max(best.get(f)!, macsPerPass(f) * reps / (ms * 1e6)));
          break;
        }
        reps *= 2;
      }
    }
  }
  for (const f of forms) console.log(`${f.padEnd(16)} ${best.get(f)!.toFixed(1)} G MAC/s`);
}
