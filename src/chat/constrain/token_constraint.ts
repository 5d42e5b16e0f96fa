// Constrained decoding at the token level: an output program (special tokens, fixed header texts, free
// text up to a closing token, and JSON documents checked by json_machine.ts) walked one sampled token at a
// time. Before each token `fill` marks the ids that keep the output a valid prefix of the program; with
// a token budget it also keeps only ids after which the shortest completion still fits, so a structured
// answer is complete when max_tokens runs out (and the turn then reports "length").

import {
  accepting,
  freeString,
  type MachineState,
  startState,
  stateCost,
  stepState,
} from "./json_machine.ts";
import type { SchemaNode } from "./json_schema.ts";
import type { VocabIndex } from "./vocab_index.ts";

export type ProgramNode =
  | { kind: "special"; id: number; next: ProgramNode }
  | { kind: "text"; choices: readonly TextChoice[] }
  | { kind: "free"; end: number; next: ProgramNode }
  | { kind: "json"; root: SchemaNode; stop: number }
  | { kind: "end" };

/** A fixed text; the node after it must be a special token. */
export interface TextChoice {
  bytes: Uint8Array;
  next: ProgramNode & { kind: "special" };
}

type State =
  | { node: ProgramNode & { kind: "special" | "free" | "end" } }
  | { node: ProgramNode & { kind: "text" }; cands: readonly TextChoice[]; pos: number }
  | { node: ProgramNode & { kind: "json" }; m: MachineState };

/** Fewest tokens from the start of each node to the end (texts counted as one token per byte). */
function programCosts(start: ProgramNode): Map<ProgramNode, number> {
  const nodes: ProgramNode[] = [];
  const seen = new Set<ProgramNode>();
  const visit = (n: ProgramNode) => {
    if (seen.has(n)) return;
    seen.add(n);
    nodes.push(n);
    if (n.kind === "special" || n.kind === "free") visit(n.next);
    if (n.kind === "text") { for (const c of n.choices) visit(c.next); }
  };
  visit(start);
  const cost = new Map<ProgramNode, number>(nodes.map((n) => [n, Infinity]));
  for (let changed = true; changed;) {
    changed = false;
    for (const n of nodes) {
      const c = n.kind === "end"
        ? 0
        : n.kind === "special" || n.kind === "free"
        ? 1 + cost.get(n.next)!
        : n.kind === "json"
        ? n.root.minLen + 1
        : Math.min(...n.choices.map((ch) => ch.bytes.length + cost.get(ch.next)!));
      if (c < cost.get(n)!) {
        cost.set(n, c);
        changed = true;
      }
    }
  }
  return cost;
}

export class TokenConstraint {
  private state: State;
  private readonly costs: Map<ProgramNode, number>;
  /** Set once the token budget removed an id the program allowed: the answer was closed early. */
  budgetCut = false;

  constructor(private readonly ix: VocabIndex, start: ProgramNode) {
    this.costs = programCosts(start);
    this.state = this.enter(start);
  }

  get done(): boolean {
    return this.state.node.kind === "end";
  }

  private enter(node: ProgramNode): State {
    if (node.kind === "text") return { node, cands: node.choices, pos: 0 };
    if (node.kind === "json") return { node, m: startState(node.root) };
    return { node } as State;
  }

  /** Fewest tokens to finish the program from the current state. */
  remainingCost(): number {
    const s = this.state;
    if (s.node.kind === "text") {
      const st = s as State & { cands: TextChoice[]; pos: number };
      return Math.min(...st.cands.map((c) => c.bytes.length - st.pos + this.costs.get(c.next)!));
    }
    if (s.node.kind === "json") return stateCost((s as { m: MachineState }).m) + 1;
    return this.costs.get(s.node)!;
  }

  /**
   * Sets mask[id] to 1 for the ids allowed next and 0 for the rest. `remaining` counts the tokens the
   * answer may still take, this one included; the budget applies while the program can still finish.
   */
  fill(mask: Uint8Array, remaining: number): void {
    const enforce = this.remainingCost() <= remaining;
    const budget = enforce ? remaining - 1 : Infinity;
    if (this.fillWith(mask, budget) === 0 && enforce) this.fillWith(mask, Infinity);
  }

  /** Fills the mask keeping ids whose completion costs at most `budget` tokens after them; returns the count. */
  private fillWith(mask: Uint8Array, budget: number): number {
    mask.fill(0);
    const s = this.state;
    const ix = this.ix;
    let count = 0;
    let cut = false;
    const allow = (id: number, costAfter: number) => {
      if (costAfter > budget) {
        cut = true;
        return;
      }
      if (!mask[id]) count++;
      mask[id] = 1;
    };
    switch (s.node.kind) {
      case "end":
        return 0;
      case "special":
        allow(s.node.id, this.costs.get(s.node.next)!);
        break;
      case "free": {
        const stay = this.costs.get(s.node)!;
        const next = this.costs.get(s.node.next)!;
        if (stay <= budget) {
          mask.set(ix.ordinaryMask);
          count = ix.size; // an upper bound; only "some" matters
        } else cut = true;
        allow(s.node.end, next);
        break;
      }
      case "text": {
        const st = s as State & { cands: readonly TextChoice[]; pos: number };
        for (const c of st.cands) {
          if (c.bytes.length === st.pos) allow(c.next.id, this.costs.get(c.next.next)!);
        }
        walkTrie(
          ix,
          { cands: st.cands, pos: st.pos },
          literalStep,
          (id, t) => allow(id, this.literalCost(t)),
        );
        break;
      }
      case "json": {
        const m = (s as { m: MachineState }).m;
        if (accepting(m)) allow(s.node.stop, 0);
        this.fillJson(m, allow);
        break;
      }
    }
    if (cut && count > 0) this.budgetCut = true;
    return count;
  }

  private literalCost(t: LiteralState): number {
    let best = Infinity;
    for (const c of t.cands) best = Math.min(best, c.bytes.length - t.pos + this.costs.get(c.next)!);
    return best;
  }

  private fillJson(m: MachineState, allow: (id: number, costAfter: number) => void): void {
    const ix = this.ix;
    const fs = freeString(m);
    if (!fs) {
      walkTrie(ix, m, stepState, (id, after) => allow(id, stateCost(after) + 1));
      return;
    }
    // Inside a plain string: quote-free tokens need no walk; the others are checked one by one.
    const chars = ix.stringChars, pend = ix.stringPend;
    for (let id = 0; id < ix.size; id++) {
      const n = chars[id];
      if (n < 0 || n > fs.room) continue;
      allow(id, fs.cost - Math.min(n, fs.need) + pend[id] + 1);
    }
    for (const id of ix.stringUnsafe) {
      const bytes = ix.bytes[id];
      let cur: MachineState | null = m;
      for (let i = 0; i < bytes.length && cur; i++) cur = stepState(cur, bytes[i]);
      if (cur) allow(id, stateCost(cur) + 1);
    }
  }

  /** Advances past a sampled id; throws when the id was not allowed (a bug in the caller's mask). */
  accept(id: number): void {
    const s = this.state;
    const bad = () => new Error(`constrained decoding: token ${id} is not allowed here`);
    switch (s.node.kind) {
      case "end":
        throw bad();
      case "special":
        if (id !== s.node.id) throw bad();
        this.state = this.enter(s.node.next);
        return;
      case "free":
        if (id === s.node.end) this.state = this.enter(s.node.next);
        else if (this.ix.specialSet.has(id)) throw bad();
        return;
      case "text": {
        const st = s as State & { cands: readonly TextChoice[]; pos: number };
        const done = st.cands.find((c) => c.bytes.length === st.pos && c.next.id === id);
        if (done) {
          this.state = this.enter(done.next.next);
          return;
        }
        let t: LiteralState | null = { cands: st.cands, pos: st.pos };
        for (const b of this.ix.bytes[id] ?? []) t = t && literalStep(t, b);
        if (!t) throw bad();
        this.state = { node: st.node as ProgramNode & { kind: "text" }, cands: t.cands, pos: t.pos };
        return;
      }
      case "json": {
        const js = s as { node: ProgramNode & { kind: "json" }; m: MachineState };
        if (id === js.node.stop && accepting(js.m)) {
          this.state = { node: { kind: "end" } };
          return;
        }
        let m: MachineState | null = js.m;
        for (const b of this.ix.bytes[id] ?? []) m = m && stepState(m, b);
        if (!m || this.ix.specialSet.has(id)) throw bad();
        this.state = { node: js.node, m };
        return;
      }
    }
  }
}

interface LiteralState {
  cands: readonly TextChoice[];
  pos: number;
}

function literalStep(t: LiteralState, b: number): LiteralState | null {
  const cands = t.cands.filter((c) => c.bytes[t.pos] === b);
  return cands.length ? { cands, pos: t.pos + 1 } : null;
}

/** Visits every ordinary token whose bytes the step function accepts from `s0`, with the state after it. */
export function walkTrie<S>(
  ix: VocabIndex,
  s0: S,
  step: (s: S, b: number) => S | null,
  visit: (id: number, after: S) => void,
): void {
  const nodes: number[] = [];
  const states: S[] = [];
  const push = (parentNode: number, s: S) => {
    for (let c = ix.firstChild[parentNode]; c >= 0; c = ix.nextSibling[c]) {
      const next = step(s, ix.byte[c]);
      if (next !== null) {
        nodes.push(c);
        states.push(next);
      }
    }
  };
  push(0, s0);
  while (nodes.length) {
    const node = nodes.pop()!;
    const s = states.pop()!;
    for (let id = ix.tokenAt[node]; id >= 0; id = ix.sameBytes[id]) visit(id, s);
    push(node, s);
  }
}
