// How a batch of sequences runs as GPU steps: the sequences' tokens stacked as rows, cut into steps of at
// most `maxRows` rows (a long prompt runs in chunks; short sequences share a step), and which rows of each
// step must come back as logits or picks.

import type { Sequence } from "../backend.ts";

/** Tokens [t0, t0 + n) of batch sequence `seq`, in one step. */
export interface Piece {
  readonly seq: number;
  readonly slot: number;
  readonly t0: number;
  readonly n: number;
  /** Position of the piece's first token. */
  readonly pos: number;
}

export interface Step {
  /** In batch order; a sequence's pieces follow each other from step to step (its cache grows in order). */
  readonly pieces: readonly Piece[];
  readonly rows: number;
}

/** The batch's tokens, in sequence order, cut into steps of at most maxRows rows. */
export function batchSteps(
  batch: readonly Pick<Sequence, "slot" | "tokens" | "pos">[],
  maxRows: number,
): Step[] {
  const steps: Step[] = [];
  let pieces: Piece[] = [], rows = 0;
  batch.forEach((s, seq) => {
    for (let t0 = 0; t0 < s.tokens.length;) {
      const n = Math.min(maxRows - rows, s.tokens.length - t0);
      pieces.push({ seq, slot: s.slot, t0, n, pos: s.pos + t0 });
      rows += n;
      t0 += n;
      if (rows === maxRows) (steps.push({ pieces, rows }), pieces = [], rows = 0);
    }
  });
  if (rows > 0) steps.push({ pieces, rows });
  return steps;
}

/** A step row whose logits come back: row `row` of the step is row `out` of sequence `seq`'s logits. */
export interface WantedRow {
  readonly row: number;
  readonly seq: number;
  readonly out: number;
}

/**
 * The rows of `step` whose logits each sequence asked for: all its rows, or its last token's, or none
 * (greedy()/topk() ask for "last").
 */
export function wantedRows(
  step: Step,
  batch: readonly { readonly tokens: ArrayLike<number>; readonly logits: Sequence["logits"] }[],
): WantedRow[] {
  const out: WantedRow[] = [];
  let row = 0;
  for (const p of step.pieces) {
    const s = batch[p.seq], last = s.tokens.length - 1;
    for (let i = 0; i < p.n; i++) {
      const t = p.t0 + i;
      if (s.logits === "all") out.push({ row: row + i, seq: p.seq, out: t });
      else if (s.logits === "last" && t === last) out.push({ row: row + i, seq: p.seq, out: 0 });
    }
    row += p.n;
  }
  return out;
}
