// A plain streaming read of `bytes` bytes from p (four v128 loads per 64 bytes): the memory-bandwidth
// yardstick the bench compares the matmuls against. bytes % 64 == 0.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

export function stream_read(p: usize, bytes: usize): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  const end = p + bytes;
  for (; p < end; p += 64) {
    a = f32x4.add(a, v128.load(p));
    b = f32x4.add(b, v128.load(p, 16));
    c = f32x4.add(c, v128.load(p, 32));
    d = f32x4.add(d, v128.load(p, 48));
  }
  return f32x4.extract_lane(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)), 0);
}
