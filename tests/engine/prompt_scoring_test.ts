// Session's prompt scoring (GenerateRequest.scorePrompt) on every backend, on the demo model: each prompt
// token's log-probability, rank and top ids equal a plain f64 log-softmax of the backend's own logits for
// the whole prompt at once (forward with every row, on another slot), the scores span several prefill
// chunks, a cached prefix is computed again, and the backends agree with the reference.

import { assert, assertEquals } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import type { Backend, Precision } from "../../src/backends/backend.ts";
import { argmax } from "../../src/chat/sampler.ts";
import { loadTokenizer } from "../../src/chat/tokenizer.ts";
import { type BackendName, createBackend } from "../../src/engine/create_backend.ts";
import { Session } from "../../src/engine/session.ts";
import type { TokenScore } from "../../src/engine/token_scores.ts";
import { loadModel } from "../../src/model/load.ts";

const model = loadModel(DEMO_MODEL);
const tok = await loadTokenizer(DEMO_MODEL);
const V = model.config.vocabSize;
/** About 90 tokens: three 32-token prefill chunks and a partial one. */
const PROMPT = tok.encode(
  "Once upon a time, 12 plus 30 was 42 and 7 times 6 was 42 too; the smallest sum of two primes that " +
    "is odd is 5, and the largest digit is 9. Carry the one when the column overflows.",
);

/** Row i's log-softmax in f64, the obvious way. */
function logSoftmax(rows: Float32Array, i: number): Float64Array {
  const row = rows.subarray(i * V, (i + 1) * V);
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return Float64Array.from(row, (v) => v - m - Math.log(s));
}

/** The backend's logits for the whole prompt in one forward, on slot 1. */
async function allRows(b: Backend): Promise<Float32Array> {
  const [rows] = await b.forward([{ slot: 1, tokens: PROMPT, pos: 0, logits: "all" }]);
  return rows;
}

/** Scores of PROMPT through a Session on slot 0 that first caches a prefix of it. */
async function sessionScores(b: Backend, top: number): Promise<{ scores: TokenScore[]; session: Session }> {
  const session = new Session(b, { slot: 0 });
  const run = async (prompt: number[], maxTokens: number, scores?: TokenScore[]) => {
    const out: number[] = [];
    const scorePrompt = scores ? { top, onScores: (s: TokenScore[]) => scores.push(...s) } : undefined;
    for await (
      const id of session.generate({
        prompt,
        sample: argmax,
        stopTokens: new Set(),
        maxTokens,
        ...(scorePrompt ? { scorePrompt } : {}),
      })
    ) out.push(id);
    return out;
  };
  await run(PROMPT.slice(0, 40), 1);
  const scores: TokenScore[] = [];
  assertEquals(await run(PROMPT, 0, scores), [], "max_tokens 0 generates nothing");
  return { scores, session };
}

/** Largest |score - log-softmax| over every scored token and its alternatives; checks ranks and top ids. */
function checkAgainst(scores: TokenScore[], rows: Float32Array, top: number, tol: number): number {
  assertEquals(scores.length, PROMPT.length - 1);
  let worst = 0;
  scores.forEach((s, i) => {
    const lp = logSoftmax(rows, i);
    assertEquals(s.id, PROMPT[i + 1], `score ${i} is of prompt token ${i + 1}`);
    worst = Math.max(worst, Math.abs(s.logprob - lp[s.id]));
    const above = lp.filter((v) => v > lp[s.id] + tol).length;
    const atLeast = lp.filter((v) => v >= lp[s.id] - tol).length;
    assert(s.rank >= above + 1 && s.rank <= atLeast, `rank ${s.rank} of token ${i + 1}`);
    // greedy exactly when the token is the row's argmax (up to near-ties)
    if (Math.abs(lp[argmax(Float32Array.from(lp))] - lp[s.id]) > tol) {
      assertEquals(s.rank === 1, argmax(Float32Array.from(lp)) === s.id, `greedy-ness of token ${i + 1}`);
    }
    assertEquals(s.top.length, top);
    const sorted = [...lp].sort((a, b) => b - a);
    s.top.forEach((t, k) => {
      worst = Math.max(worst, Math.abs(t.logprob - lp[t.id]));
      assert(Math.abs(t.logprob - sorted[k]) <= tol, `top ${k} of token ${i + 1} is the ${k + 1}th largest:`);
    });
  });
  assert(worst <= tol, `max |diff| ${worst} > ${tol}`);
  return worst;
}

/** How far the scored tokens' logprobs are from `rows`' (mean and max |diff|), and greedy-ness agreement. */
function measure(scores: TokenScore[], rows: Float32Array) {
  let sum = 0, max = 0, sameGreedy = 0;
  scores.forEach((s, i) => {
    const lp = logSoftmax(rows, i);
    const d = Math.abs(s.logprob - lp[s.id]);
    sum += d;
    max = Math.max(max, d);
    if ((s.rank === 1) === (argmax(Float32Array.from(lp)) === s.id)) sameGreedy++;
  });
  return { mean: sum / scores.length, max, sameGreedy };
}

const CASES: [BackendName, Precision][] = [["ref", "exact"], ["wasm", "exact"], ["wasm", "fast"], [
  "webgpu",
  "exact",
]];

Deno.test("Session scores a prompt as the log-softmax of the backend's logits, on every backend", async () => {
  const ref = await createBackend(model, "ref", { slots: 2, maxContext: 256 });
  const refRows = await allRows(ref);
  ref.dispose();
  const agreement: string[] = [];
  for (const [name, precision] of CASES) {
    const b = await createBackend(model, name, { slots: 2, maxContext: 256, precision, threads: 2 });
    try {
      const { scores, session } = await sessionScores(b, 5);
      // a cached prefix has no logits: the whole prompt was computed again
      assertEquals([session.lastStats!.cachedTokens, session.lastStats!.prefillTokens], [0, PROMPT.length]);
      const own = checkAgainst(scores, await allRows(b), 5, 1e-6);
      // against the reference backend: exact passes within f32 rounding; the fast path's int8 weights move
      // logprobs more (on this tiny model most in the unlikely tail), see the README
      if (precision === "exact") checkAgainst(scores, refRows, 5, 1e-3);
      const m = measure(scores, refRows);
      if (precision === "fast") assert(m.mean < 0.5, `fast path: mean |diff| ${m.mean}`);
      agreement.push(
        `${name}/${precision}: own rows max ${own.toExponential(1)}; vs ref mean ${
          m.mean.toExponential(1)
        } ` +
          `max ${m.max.toExponential(1)}, greedy-ness agrees ${m.sameGreedy}/${scores.length}`,
      );
      // the cache it left is reused by the next turn
      for await (
        const _ of session.generate({ prompt: PROMPT, sample: argmax, stopTokens: new Set(), maxTokens: 1 })
      ) {
        // one token
      }
      assertEquals(session.lastStats!.cachedTokens, PROMPT.length - 1);
    } finally {
      b.dispose();
    }
  }
  console.log(`prompt logprobs, max |diff| (${PROMPT.length} tokens, top 5): ${agreement.join("; ")}`);
});
