// The quality gate's statistics (mean KL, top-1 agreement, max |dlogit|) on hand-computed cases, and its
// verdict rule.

import { assert, assertEquals } from "../assert.ts";
import { gateHolds, type GateRow, klStats } from "../../scripts/quality_gate.ts";

Deno.test("klStats() is 0 for equal logits and KL(P||Q) in nats otherwise", () => {
  const e = Float32Array.of(0, 0, 1, 2, 3, 0);
  const same = klStats(e, e, 3);
  assertEquals([same.positions, same.mean_kl, same.top1_agreement, same.max_abs_dlogit], [2, 0, 1, 0]);
  // P = (1/2, 1/2), Q = (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2
  const s = klStats(Float32Array.of(0, 0), Float32Array.of(Math.log(3), 0), 2);
  assert(Math.abs(s.mean_kl - (0.5 * Math.log(2 / 3) + 0.5 * Math.log(2))) < 1e-7, String(s.mean_kl));
  assertEquals(s.top1_agreement, 1); // a tie's argmax is the first index in both
  assert(Math.abs(s.max_abs_dlogit - Math.log(3)) < 1e-6);
  // the argmax moves at one position of two
  const t = klStats(Float32Array.of(1, 0, 0, 1), Float32Array.of(1, 0, 1, 0), 2);
  assertEquals(t.top1_agreement, 0.5);
  assertEquals(t.max_kl, t.p99_kl);
});

Deno.test("gateHolds() needs unchanged answers and a mean KL within 1.25x the Q8_0 recipe's", () => {
  const row = (model: string, mode: string, mean_kl: number, answers_changed?: number): GateRow => ({
    model,
    mode,
    positions: 1,
    mean_kl,
    p99_kl: 0,
    max_kl: 0,
    top1_agreement: 1,
    max_abs_dlogit: 0,
    answers_changed,
  });
  const yard = [row("a", "q8_0-recipe", 1e-3, 0), row("b", "q8_0-recipe", 2e-3)];
  assert(gateHolds([...yard, row("a", "fast", 1.2e-3, 0), row("b", "fast", 1e-3)], "fast").holds);
  const worse = gateHolds([...yard, row("a", "fast", 1.3e-3, 0), row("b", "fast", 1e-3)], "fast");
  assert(!worse.holds && worse.reasons[0].includes("1.25"), worse.reasons.join());
  assert(!gateHolds([...yard, row("a", "fast", 1e-4, 1)], "fast").holds);
});
