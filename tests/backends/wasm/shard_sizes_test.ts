// The host's mirrors of the kernels' byte counts (src/backends/wasm/shard_layout.ts) against the kernels'
// own: a mirror that undercounts makes a kernel write past its buffer into the next one.

import { assertEquals } from "../../assert.ts";
import {
  i8wGroupBytes,
  i8wXqRowBytes,
  mxfp4Q8ScratchBytes,
  mxfp4Rows4Bytes,
  mxfp4XqRowBytes,
} from "../../../src/backends/wasm/shard_layout.ts";
import { Harness } from "./kernel_harness.ts";

Deno.test("shard layout byte counts equal the kernels' own", () => {
  const k = new Harness().k;
  for (const cols of [32, 64, 96, 2880, 4096]) {
    assertEquals(i8wXqRowBytes(cols), k.i8w_xq_row_bytes(cols), `i8w_xq_row_bytes(${cols})`);
    assertEquals(i8wGroupBytes(cols), k.i8w_group_bytes(cols), `i8w_group_bytes(${cols})`);
    assertEquals(mxfp4XqRowBytes(cols), k.mxfp4_xq_row_bytes(cols), `mxfp4_xq_row_bytes(${cols})`);
    for (const n of [1, 5, 1024]) {
      assertEquals(
        mxfp4Rows4Bytes(n, cols),
        k.mxfp4_rows4_bytes(n, cols),
        `mxfp4_rows4_bytes(${n}, ${cols})`,
      );
      const scratch = mxfp4Q8ScratchBytes(n, cols);
      assertEquals(scratch, k.mxfp4_q8_scratch_bytes(n, cols), `mxfp4_q8_scratch_bytes(${n}, ${cols})`);
    }
  }
});
