// The k largest values of one f32 row with their indices, best first (value desc, index asc): each weight
// shard runs it on its slice of the logits so greedy and top-k decoding copy k candidates, not the row.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** Whether (va, ia) ranks below (vb, ib): a smaller value, or the same value at a higher index. */
@inline function below(va: f32, ia: i32, vb: f32, ib: i32): bool {
  return va < vb || (va == vb && ia > ib);
}

/** Puts (v, i) into the heap [0, size) of ids/vals whose slot `j` is free, sifting it down from there. */
@inline function siftDown(ids: usize, vals: usize, size: i32, j: i32, v: f32, i: i32): void {
  for (;;) {
    const l = 2 * j + 1;
    if (l >= size) break;
    let c = l;
    const r = l + 1;
    if (r < size && below(load<f32>(vals + (<usize>r << 2)), load<i32>(ids + (<usize>r << 2)),
      load<f32>(vals + (<usize>l << 2)), load<i32>(ids + (<usize>l << 2)))) c = r;
    const cv = load<f32>(vals + (<usize>c << 2)), ci = load<i32>(ids + (<usize>c << 2));
    if (!below(cv, ci, v, i)) break;
    store<f32>(vals + (<usize>j << 2), cv);
    store<i32>(ids + (<usize>j << 2), ci);
    j = c;
  }
  store<f32>(vals + (<usize>j << 2), v);
  store<i32>(ids + (<usize>j << 2), i);
}

/** Replaces the heap's root (the lowest ranked) by (v, i) and returns the new root's value. */
@inline function replaceRoot(ids: usize, vals: usize, size: i32, v: f32, i: i32): f32 {
  siftDown(ids, vals, size, 0, v, i);
  return load<f32>(vals);
}

/**
 * x [n] f32 -> ids [k] i32, vals [k] f32, best first; returns the count written, min(k, non-NaN values).
 * NaN is never chosen; -Infinity is an ordinary value. Slots [count, k) get id -1 and value NaN.
 * A min-heap holds the best seen (root: the lowest ranked). Once full, an element enters only if its value
 * beats the root's (a later index never wins a tie); four at a time are checked with one SIMD compare.
 * A heap sort then leaves the kept ones best first. O(n + m log k) for m elements that enter.
 */
export function row_topk(x: usize, n: i32, k: i32, ids: usize, vals: usize): i32 {
  let size = 0, i = 0;
  // fill the heap with the first k non-NaN values (sift up)
  for (; i < n && size < k; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v != v) continue;
    let j = size++;
    while (j > 0) {
      const p = (j - 1) >> 1;
      const pv = load<f32>(vals + (<usize>p << 2)), pi = load<i32>(ids + (<usize>p << 2));
      if (!below(v, i, pv, pi)) break;
      store<f32>(vals + (<usize>j << 2), pv);
      store<i32>(ids + (<usize>j << 2), pi);
      j = p;
    }
    store<f32>(vals + (<usize>j << 2), v);
    store<i32>(ids + (<usize>j << 2), i);
  }
  if (size > 0) {
    // the rest: only values above the root's enter (NaN compares false)
    let root = load<f32>(vals);
    for (; i + 4 <= n; i += 4) {
      const v4 = v128.load(x + (<usize>i << 2));
      if (!v128.any_true(f32x4.gt(v4, f32x4.splat(root)))) continue;
      for (let j = i; j < i + 4; j++) {
        const v = load<f32>(x + (<usize>j << 2));
        if (v > root) root = replaceRoot(ids, vals, size, v, j);
      }
    }
    for (; i < n; i++) {
      const v = load<f32>(x + (<usize>i << 2));
      if (v > root) root = replaceRoot(ids, vals, size, v, i);
    }
  }
  // heap sort: move the lowest ranked to the end, best first remains
  for (let end = size - 1; end > 0; end--) {
    const v = load<f32>(vals + (<usize>end << 2)), id = load<i32>(ids + (<usize>end << 2));
    store<f32>(vals + (<usize>end << 2), load<f32>(vals));
    store<i32>(ids + (<usize>end << 2), load<i32>(ids));
    siftDown(ids, vals, end, 0, v, id);
  }
  for (let j = size; j < k; j++) {
    store<f32>(vals + (<usize>j << 2), NaN);
    store<i32>(ids + (<usize>j << 2), -1);
  }
  return size;
}
