// The WASM backend against the gpt-oss-tiny fixture's float64 reference (both layouts), against the ref
// backend on several shard/thread splits, and its KV-cache semantics (chunked prefill, rollback).

import {
  checkAgainstReference,
  forward1,
  GPT_OSS_DEBUG,
  GPT_OSS_EXACT,
  refBackend,
} from "../fixture_check.ts";
import { openWasm } from "./open_wasm.ts";
import { assert, assertEquals } from "../../assert.ts";
import { loadModel } from "../../../src/model/load.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");

for (const layout of ["", "/original"]) {
  Deno.test(`WasmBackend matches gpt-oss-tiny${layout || " (Hub layout)"} prompt logits, debug values and greedy tokens`, async () => {
    const model = loadModel(FIXTURES + "/gpt-oss-tiny" + layout);
    await checkAgainstReference(
      "gpt-oss-tiny",
      () => openWasm(model, { maxContext: 64, threads: 2 }),
      GPT_OSS_DEBUG,
      GPT_OSS_EXACT,
    );
  });
}

// the fast path's packings pad the row groups that shard splits cut: its bits must not move either
for (const [path, precision] of [["exact", {}], ["fast", { int8Weights: true, moeInt8: true }]] as const) {
  Deno.test(`WasmBackend (${path} path) is bit for bit alike across 1-3 threads, shard counts and prefill chunks${path === "exact" ? ", and agrees with RefBackend" : ""}`, async () => {
    const model = loadModel(FIXTURES + "/gpt-oss-tiny");
    const toks = ref.prompt_token_ids;
    const want = await forward1(refBackend(model, 64), toks, 0, "all");
    let first: Float32Array | undefined;
    for (const [threads, shards, maxTokens] of [[1, 1, 64], [2, 4, 5], [3, 3, 1], [1, 5, 7]]) {
      const b = await WasmBackend.create(model.config, model.plan, model.weights, {
        maxContext: 64,
        threads,
        shards,
        maxTokens,
        ...precision,
      });
      try {
        const got = await b.forward(toks, 0, { logits: "all" });
        const d = maxAbsDiff(got, Array.from(want));
        if (path === "exact") {
          assert(d < 1e-4, `threads ${threads} shards ${shards} maxTokens ${maxTokens}: differs by ${d}`);
        }
        // row splits and prefill chunks change no bit of the result
        first ??= got;
        assertEquals(
          Array.from(got),
          Array.from(first),
          `threads ${threads} shards ${shards} maxTokens ${maxTokens}`,
        );
      } finally {
        b.dispose();
      }
    }
  });
}

Deno.test("WasmBackend chunked prefill equals one call, and rolling back overwrites the cache", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  // files: the mapped pages are dropped after loading; the mapping must still read back intact
  const b = await WasmBackend.create(model.config, model.plan, model.weights, {
    maxContext: 64,
    threads: 2,
    files: model.store.files,
  });
  try {
    const toks = ref.prompt_token_ids;
    const whole = await b.forward(toks, 0, { logits: "last" });
    await b.forward(toks.slice(0, 10), 0, { logits: "none" });
    // a different continuation at position 10, then roll back and redo the real one
    await b.forward([1, 2, 3, 4], 10, { logits: "none" });
    await b.forward(toks.slice(10, 17), 10, { logits: "none" });
    const last = await b.forward(toks.slice(17), 17, { logits: "last" });
    // every kernel sums each token in one fixed order, so chunking changes no bit
    assertEquals(Array.from(last), Array.from(whole));
    assertEquals((await b.forward([1], 0, { logits: "none" })).length, 0);
    const again = await forward1(refBackend(model, 64), toks, 0, "last");
    assert(maxAbsDiff(again, Array.from(whole)) < 1e-4, "mapped weights changed after releasing their pages");
  } finally {
    b.dispose();
  }
});

Deno.test("WasmBackend rejects out-of-range token ids and context overflow", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const b = await WasmBackend.create(model.config, model.plan, model.weights, {
    maxContext: 8,
    threads: 1,
  });
  try {
    let msg = "";
    await b.forward([model.config.vocabSize], 0, { logits: "last" }).catch((e) => (msg = e.message));
    assert(msg.includes("out of range"), msg);
    msg = "";
    await b.forward([1, 2, 3], 6, { logits: "last" }).catch((e) => (msg = e.message));
    assert(msg.includes("context overflow"), msg);
  } finally {
    b.dispose();
  }
});

Deno.test("WasmBackend gives all 150 logit rows of a long prefill the same bits in one step or in chunks", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const toks = Array.from({ length: 150 }, (_, i) => (i * 37 + 3) % model.config.vocabSize);
  const run = async (maxTokens: number) => {
    const b = await WasmBackend.create(model.config, model.plan, model.weights, {
      maxContext: 160,
      threads: 2,
      maxTokens,
    });
    try {
      return await b.forward(toks, 0, { logits: "all" });
    } finally {
      b.dispose();
    }
  };
  // one 150-token step unembeds in three passes of at most 64 rows
  const whole = await run(256), chunked = await run(9);
  assertEquals(whole.length, 150 * model.config.vocabSize);
  assertEquals(Array.from(whole), Array.from(chunked));
});
