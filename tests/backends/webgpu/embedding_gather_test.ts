// shaders/embedding_gather.wgsl (ops.ts embeddingGather()) against loadRow(): bf16, f16 and f32 tables,
// whole and split into parts, rows copied by the host and widened in one dispatch; `add` adds.

import { assertEquals } from "../../assert.ts";
import { rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { randomMat } from "./random_model.ts";
import { loadRow } from "../../../src/model/dtypes.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { embeddingGather } from "../../../src/backends/webgpu/ops.ts";

Deno.test(
  "embedding_gather matches loadRow() for bf16, f16 and f32 tables, whole and split, in one dispatch; add adds",
  withHarness(async (h) => {
    const r = rng(3);
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      for (const maxBinding of [1 << 20, 40 * 4 * 3]) {
        const m = randomMat(r, 23, 40, dtype);
        const ids = [0, 22, 7, 7, 13];
        const want = new Float32Array(ids.length * 40);
        ids.forEach((id, t) =>
          loadRow(m, id, want.subarray(t * 40), new Uint32Array(want.buffer, t * 160, 40))
        );
        const up = new WeightUploader(h.gpu.device, maxBinding);
        const w = up.mat(m, "embed"), y = h.put(want.length * 4), rows = h.put(want.length * 4);
        const before = h.rec.dispatches;
        embeddingGather(h.rec, ids, w, rows, y);
        assertEquals(h.rec.dispatches - before, 1, `${dtype}: dispatches`);
        const what = `${dtype} split ${maxBinding} (${w.parts.length} parts)`;
        assertEquals(Array.from(await h.f32(y, want.length)), Array.from(want), what);
        // add: y += the rows of other ids (learned positions)
        const more = [3, 3, 21, 0, 1], sum = want.slice(), row = new Float32Array(40);
        more.forEach((id, t) => {
          loadRow(m, id, row);
          for (let i = 0; i < 40; i++) sum[t * 40 + i] += row[i];
        });
        embeddingGather(h.rec, more, w, rows, y, true);
        assertEquals(Array.from(await h.f32(y, want.length)), Array.from(sum), `${what}: add`);
        up.destroy();
      }
    }
  }),
);
