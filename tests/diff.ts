// Error measures for comparing a kernel's output with its scalar reference, shared by the wasm and webgpu
// kernel tests.

/** Largest |a - b| relative to max(1, |b|) over two equal-length arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** Largest |a - b| relative to the largest |b|: for kernels whose error scales with the whole output. */
export function maxScaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0, top = 0;
  for (let i = 0; i < a.length; i++) {
    (m = Math.max(m, Math.abs(a[i] - b[i]))), (top = Math.max(top, Math.abs(b[i])));
  }
  return m / Math.max(top, 1e-30);
}
