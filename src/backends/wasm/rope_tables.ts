// cos/sin tables for the rope kernel: [positions, dim/2] f32, the same values the reference computes per
// call (fround(cos(pos * invFreq)) times YaRN's concentration).

import type { RopeTables } from "../../model/rope.ts";

export function ropeCosSin(
  tables: RopeTables,
  dim: number,
  positions: number,
): { cos: Float32Array; sin: Float32Array } {
  const half = dim / 2;
  const cos = new Float32Array(positions * half), sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * tables.invFreq[i];
      cos[p * half + i] = Math.fround(Math.cos(angle)) * tables.concentration;
      sin[p * half + i] = Math.fround(Math.sin(angle)) * tables.concentration;
    }
  }
  return { cos, sin };
}
