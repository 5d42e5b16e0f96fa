// Scores a token against one row of logits: its log-probability under the row's softmax (temperature 1, no
// penalties, no bias: the model's own distribution), its rank and the most likely ids. How a prompt is scored
// (echo with logprobs, prompt_logprobs), one row at a time as the prefill computes them.

/** One id's log-probability (natural log). */
export interface IdLogprob {
  readonly id: number;
  readonly logprob: number;
}

export interface TokenScore extends IdLogprob {
  /** 1 + how many ids have a strictly larger logit: 1 exactly when the token is an argmax (greedy). */
  readonly rank: number;
  /** The `top` most likely ids, logprob descending, ties by lower id. */
  readonly top: IdLogprob[];
}

/** Most alternatives a score lists (vLLM's default max_logprobs). */
export const MAX_SCORE_TOP = 20;

/**
 * Scores `id` against `row` (one row of logits, [vocab]). The log-softmax runs in f64 (JS numbers) from the
 * f32 logits: max, then the sum of exp(x - max); every logprob is x - max - log(sum), so the chosen id's and
 * its alternatives' are computed alike and compare exactly. Two passes over the row; nothing allocated per
 * id. The row must be finite (the backends guarantee it).
 */
export function scoreToken(row: Float32Array, id: number, top: number): TokenScore {
  if (!(Number.isInteger(top) && top >= 0 && top <= MAX_SCORE_TOP)) {
    throw new RangeError(`top ${top} out of range [0, ${MAX_SCORE_TOP}]`);
  }
  if (!(Number.isInteger(id) && id >= 0 && id < row.length)) {
    throw new RangeError(`token id ${id} out of range`);
  }
  const target = row[id];
  let max = -Infinity;
  let above = 0;
  // the best `top` ids so far, sorted by value desc, id asc (a row is scanned in id order, so an id
  // arriving later than an equal value ranks below it)
  const ids: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const x = row[i];
    if (x > max) max = x;
    if (x > target) above++;
    if (top === 0 || (ids.length === top && x <= vals[top - 1])) continue;
    let j = ids.length < top ? ids.length : top - 1;
    while (j > 0 && vals[j - 1] < x) {
      ids[j] = ids[j - 1];
      vals[j] = vals[j - 1];
      j--;
    }
    ids[j] = i;
    vals[j] = x;
  }
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  return {
    id,
    logprob: target - lse,
    rank: above + 1,
    top: ids.map((t, k) => ({ id: t, logprob: vals[k] - lse })),
  };
}
