// EngineQueue: one owner at a time, FIFO hand-over, a bounded wait list (429), aborted waiters leave.

import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { ApiError } from "../../src/serve/api_error.ts";
import { EngineQueue } from "../../src/serve/engine_queue.ts";

Deno.test("EngineQueue hands the engine over in arrival order, one owner at a time", async () => {
  const q = new EngineQueue(10);
  const order: number[] = [];
  let owners = 0;
  let maxOwners = 0;
  const job = async (i: number) => {
    const release = await q.acquire();
    owners++;
    maxOwners = Math.max(maxOwners, owners);
    order.push(i);
    await new Promise((r) => setTimeout(r, 2));
    owners--;
    release();
  };
  await Promise.all([0, 1, 2, 3, 4].map(job));
  assertEquals(order, [0, 1, 2, 3, 4]);
  assertEquals(maxOwners, 1);
  assert(!q.busy && q.waiting === 0, "queue is empty at the end");
});

Deno.test("EngineQueue refuses with 429 once maxWaiting requests wait", async () => {
  const q = new EngineQueue(2);
  const r0 = await q.acquire();
  const w1 = q.acquire();
  const w2 = q.acquire();
  const e = assertThrows(() => q.acquire(), ApiError);
  assertEquals((e as ApiError).status, 429);
  r0();
  (await w1)();
  (await w2)();
  assert(!q.busy);
});

Deno.test("EngineQueue drops a waiter whose signal aborts, and a double release is harmless", async () => {
  const q = new EngineQueue(4);
  const r0 = await q.acquire();
  const ac = new AbortController();
  const gone = q.acquire(ac.signal);
  const next = q.acquire();
  assertEquals(q.waiting, 2);
  ac.abort(new Error("client left"));
  await assertRejects(() => gone, Error, /client left/);
  assertEquals(q.waiting, 1);
  r0();
  r0(); // must not release the next owner
  const r1 = await next;
  assert(q.busy, "the next waiter owns the engine");
  r1();
  assert(!q.busy);
});
