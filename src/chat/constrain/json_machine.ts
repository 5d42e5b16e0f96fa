// A byte-level pushdown automaton for JSON text that matches a compiled schema (json_schema.ts). A state
// is a list of alternative stacks (anyOf branches and enum prefixes may stay ambiguous for a while); each
// stack frame is immutable, so the token trie walk shares states between tokens with a common prefix.
// Every frame knows the fewest bytes that complete the document from it (`cost`), exactly, which lets the
// decoder keep a structured answer within its token budget.

import {
  type ArrayNode,
  intervalsMeet,
  MAX_WHITESPACE,
  type NumberNode,
  type ObjectNode,
  type SchemaNode,
  type StringNode,
} from "./json_schema.ts";

/** One stack, seen from its top frame. */
export abstract class Frame {
  constructor(
    readonly parent: Frame | null,
    /** Fewest bytes that finish every frame below this one once this one is complete. */
    readonly above: number,
  ) {}
  /** Successor tops after byte b (none: b is not allowed here). */
  abstract step(b: number, out: Frame[]): void;
  /** Fewest bytes that complete this frame. */
  abstract selfCost(): number;
  /** Complete without another byte (a number whose next byte must be a delimiter). */
  canEnd(): boolean {
    return false;
  }
  /** The frame that continues once the child on top of it completes. */
  afterChild(): Frame {
    throw new Error("json_machine: frame has no child");
  }
  cost(): number {
    return this.selfCost() + this.above;
  }
}

export type MachineState = readonly Frame[];

const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;

/** The start state for a schema's document. */
export function startState(root: SchemaNode): MachineState {
  return [new ValueFrame(root, new RootFrame(), 0, 0)];
}

/** The state after byte b, or null when b cannot continue any alternative. */
export function stepState(s: MachineState, b: number): MachineState | null {
  if (s.length === 1) {
    const out: Frame[] = [];
    s[0].step(b, out);
    return out.length ? out : null;
  }
  const out: Frame[] = [];
  for (const f of s) f.step(b, out);
  return out.length ? out : null;
}

export function stepBytes(s: MachineState, bytes: Uint8Array): MachineState | null {
  let cur: MachineState | null = s;
  for (let i = 0; i < bytes.length && cur; i++) cur = stepState(cur, bytes[i]);
  return cur;
}

/** The document is complete (the stop token may follow). */
export function accepting(s: MachineState): boolean {
  return s.some(frameAccepts);
}

function frameAccepts(f: Frame): boolean {
  if (f instanceof DoneFrame) return true;
  return f.canEnd() && frameAccepts(f.parent!.afterChild());
}

/** Fewest bytes that complete the document. */
export function stateCost(s: MachineState): number {
  let best = Infinity;
  for (const f of s) best = Math.min(best, f.cost());
  return best;
}

/**
 * When the state is inside an ordinary string (no escape or multi-byte character in progress), the
 * characters it may still take and the characters minLength still needs; else null. Token masks use it to
 * accept quote-free tokens without walking them.
 */
export function freeString(s: MachineState): { room: number; need: number; cost: number } | null {
  if (s.length !== 1) return null;
  const f = s[0];
  if (!(f instanceof StringFrame) || f.esc || f.hex || f.pend) return null;
  return { room: f.node.maxLength - f.len, need: Math.max(0, f.node.minLength - f.len), cost: f.cost() };
}

class RootFrame extends Frame {
  constructor() {
    super(null, 0);
  }
  step(): void {}
  selfCost(): number {
    return 0;
  }
  override afterChild(): Frame {
    return DONE;
  }
}

class DoneFrame extends Frame {
  step(): void {}
  selfCost(): number {
    return 0;
  }
}
const DONE = new DoneFrame(null, 0);

/** Before a value: whitespace, then the value's first byte. */
class ValueFrame extends Frame {
  constructor(readonly node: SchemaNode, parent: Frame, above: number, readonly ws: number) {
    super(parent, above);
  }
  step(b: number, out: Frame[]): void {
    if (isWs(b)) {
      if (this.ws < MAX_WHITESPACE) {
        out.push(new ValueFrame(this.node, this.parent!, this.above, this.ws + 1));
      }
      return;
    }
    startValue(this.node, b, this.parent!, this.above, out);
  }
  selfCost(): number {
    return this.node.minLen;
  }
}

/** The frames a value of `node` starts with when its first byte is b. */
function startValue(node: SchemaNode, b: number, parent: Frame, above: number, out: Frame[]): void {
  switch (node.kind) {
    case "ref":
      return startValue(node.target!, b, parent, above, out);
    case "union":
      for (const o of node.options) startValue(o, b, parent, above, out);
      return;
    case "object":
      if (b === 0x7b) out.push(new ObjectFrame(node, parent, above, "open", 0, -1, 0));
      return;
    case "array":
      if (b === 0x5b) out.push(new ArrayFrame(node, parent, above, "open", 0, 0));
      return;
    case "string":
      if (b === 0x22) out.push(new StringFrame(node, parent, above, 0, false, 0, 0));
      return;
    case "number": {
      const text = String.fromCharCode(b);
      if ((b === 0x2d || (b >= 0x30 && b <= 0x39)) && numberExtra(text, node) < Infinity) {
        out.push(new NumberFrame(node, parent, above, text));
      }
      return;
    }
    case "literal":
      literalStep(
        node.values,
        0,
        b,
        parent,
        above,
        out,
        (vals, pos) => new LiteralFrame(vals, pos, parent, above),
      );
      return;
  }
}

/** Advances a set of byte strings at `pos` by b: complete ones hand over to the parent, others continue. */
function literalStep(
  values: readonly Uint8Array[],
  pos: number,
  b: number,
  parent: Frame,
  _above: number,
  out: Frame[],
  make: (vals: Uint8Array[], pos: number) => Frame,
): void {
  let longer: Uint8Array[] | null = null;
  let complete = false;
  for (const v of values) {
    if (v[pos] !== b) continue;
    if (v.length === pos + 1) complete = true;
    else (longer ??= []).push(v);
  }
  if (complete) out.push(parent.afterChild());
  if (longer) out.push(make(longer, pos + 1));
}

class LiteralFrame extends Frame {
  constructor(readonly values: Uint8Array[], readonly pos: number, parent: Frame, above: number) {
    super(parent, above);
  }
  step(b: number, out: Frame[]): void {
    literalStep(
      this.values,
      this.pos,
      b,
      this.parent!,
      this.above,
      out,
      (vals, pos) => new LiteralFrame(vals, pos, this.parent!, this.above),
    );
  }
  selfCost(): number {
    let best = Infinity;
    for (const v of this.values) best = Math.min(best, v.length - this.pos);
    return best;
  }
}

type ObjectPhase = "open" | "key" | "colon" | "value" | "after" | "comma";

/**
 * An object: keys in schema order (`next` is the first property that may still come; a required one cannot
 * be skipped), or free keys when the node has no properties.
 */
class ObjectFrame extends Frame {
  constructor(
    readonly node: ObjectNode,
    parent: Frame,
    above: number,
    readonly phase: ObjectPhase,
    readonly next: number,
    /** The property being written (key, colon, value phases); -1 for a free key. */
    readonly prop: number,
    readonly ws: number,
  ) {
    super(parent, above);
  }

  private with(phase: ObjectPhase, next: number, prop: number, ws = 0): ObjectFrame {
    return new ObjectFrame(this.node, this.parent!, this.above, phase, next, prop, ws);
  }

  /** Property indices that may be written next. */
  private candidates(): number[] {
    const out: number[] = [];
    const props = this.node.props;
    for (let j = this.next; j < props.length; j++) {
      out.push(j);
      if (props[j].required) break;
    }
    return out;
  }

  /** Whether every required property is written (properties from `next` on are all optional). */
  private closable(): boolean {
    const props = this.node.props;
    for (let j = this.next; j < props.length; j++) if (props[j].required) return false;
    return true;
  }

  step(b: number, out: Frame[]): void {
    const ph = this.phase;
    if (isWs(b)) {
      if ((ph === "open" || ph === "colon" || ph === "after" || ph === "comma") && this.ws < MAX_WHITESPACE) {
        out.push(this.with(ph, this.next, this.prop, this.ws + 1));
      }
      return;
    }
    if ((ph === "open" || ph === "after") && b === 0x7d) {
      if (this.closable()) out.push(this.parent!.afterChild());
      return;
    }
    if (ph === "after" && b === 0x2c) {
      if (this.node.free || this.candidates().length) out.push(this.with("comma", this.next, -1));
      return;
    }
    if ((ph === "open" || ph === "comma") && b === 0x22) {
      if (this.node.free) {
        const wait = this.with("key", this.next, -1);
        const valueCost = 1 + this.node.free.minLen + 1;
        out.push(new StringFrame(FREE_KEY, wait, this.above + valueCost, 0, false, 0, 0));
        return;
      }
      const cands = this.candidates();
      if (cands.length) out.push(new KeyFrame(this, cands, 1));
      return;
    }
    if (ph === "colon" && b === 0x3a) {
      const node = this.prop < 0 ? this.node.free! : this.node.props[this.prop].node;
      const wait = this.with("value", this.prop < 0 ? this.next : this.prop + 1, this.prop);
      out.push(new ValueFrame(node, wait, this.above + wait.restAfterValue(), 0));
    }
  }

  /** Bytes after the current property's value: remaining required properties and the closing brace. */
  restAfterValue(): number {
    return this.requiredFrom(this.next) + 1;
  }

  /** Cost of writing each required property from j on, each with its leading comma. */
  requiredFrom(j: number): number {
    let c = 0;
    const props = this.node.props;
    for (; j < props.length; j++) {
      if (props[j].required) c += 1 + props[j].key.length + 1 + props[j].node.minLen;
    }
    return c;
  }

  /** Cost from the start of property j's key (quote included) to the closing brace. */
  costFromKey(j: number): number {
    const p = this.node.props[j];
    return p.key.length + 1 + p.node.minLen + this.requiredFrom(j + 1) + 1;
  }

  override afterChild(): Frame {
    if (this.phase === "key") return this.with("colon", this.next, this.prop);
    return this.with("after", this.next, -1);
  }

  /** The key of property `prop` is complete. */
  keyDone(prop: number): ObjectFrame {
    return this.with("colon", this.next, prop);
  }

  selfCost(): number {
    const free = this.node.free;
    switch (this.phase) {
      case "open":
        return free ? 1 : this.requiredFrom(this.next) + (this.closable() ? 1 : 0);
      case "after":
        return this.restAfterValue();
      case "comma": {
        if (free) return 2 + 1 + free.minLen + 1;
        if (!this.closable()) return this.requiredFrom(this.next);
        let best = Infinity;
        for (const j of this.candidates()) best = Math.min(best, this.costFromKey(j));
        return best;
      }
      case "colon":
        return this.prop < 0
          ? 1 + free!.minLen + 1
          : this.costFromKey(this.prop) - this.node.props[this.prop].key.length;
      default:
        // "key" and "value" wait for a child, which carries the cost.
        return 0;
    }
  }
}

/** Free keys of a map: strings of any length. */
const FREE_KEY: StringNode = { kind: "string", minLength: 0, maxLength: Infinity, minLen: 2 };

/** A property key being written (after its opening quote): one of the candidate properties' keys. */
class KeyFrame extends Frame {
  constructor(readonly obj: ObjectFrame, readonly cands: number[], readonly pos: number) {
    super(obj, obj.above);
  }
  step(b: number, out: Frame[]): void {
    const props = this.obj.node.props;
    let longer: number[] | null = null;
    for (const j of this.cands) {
      const key = props[j].key;
      if (key[this.pos] !== b) continue;
      if (key.length === this.pos + 1) out.push(this.obj.keyDone(j));
      else (longer ??= []).push(j);
    }
    if (longer) out.push(new KeyFrame(this.obj, longer, this.pos + 1));
  }
  selfCost(): number {
    let best = Infinity;
    for (const j of this.cands) best = Math.min(best, this.obj.costFromKey(j) - this.pos);
    return best;
  }
}

type ArrayPhase = "open" | "value" | "after" | "comma";

class ArrayFrame extends Frame {
  constructor(
    readonly node: ArrayNode,
    parent: Frame,
    above: number,
    readonly phase: ArrayPhase,
    readonly count: number,
    readonly ws: number,
  ) {
    super(parent, above);
  }

  private with(phase: ArrayPhase, count: number, ws = 0): ArrayFrame {
    return new ArrayFrame(this.node, this.parent!, this.above, phase, count, ws);
  }

  /** Bytes to close the array once it holds `count` items. */
  private closeCost(count: number): number {
    return Math.max(0, this.node.minItems - count) * (1 + this.node.items.minLen) + 1;
  }

  step(b: number, out: Frame[]): void {
    const ph = this.phase;
    if (isWs(b)) {
      if (ph !== "value" && this.ws < MAX_WHITESPACE) out.push(this.with(ph, this.count, this.ws + 1));
      return;
    }
    if ((ph === "open" || ph === "after") && b === 0x5d) {
      if (this.count >= this.node.minItems) out.push(this.parent!.afterChild());
      return;
    }
    if (ph === "after" && b === 0x2c) {
      if (this.count < this.node.maxItems) out.push(this.with("comma", this.count));
      return;
    }
    if ((ph === "open" || ph === "comma") && this.count < this.node.maxItems) {
      const wait = this.with("value", this.count + 1);
      startValue(this.node.items, b, wait, this.above + this.closeCost(this.count + 1), out);
    }
  }

  override afterChild(): Frame {
    return this.with("after", this.count);
  }

  selfCost(): number {
    const item = this.node.items.minLen;
    switch (this.phase) {
      case "open":
        return this.node.minItems === 0 ? 1 : item + this.closeCost(1);
      case "after":
        return this.closeCost(this.count);
      case "comma":
        return item + this.closeCost(this.count + 1);
      default:
        return 0;
    }
  }
}

/** The characters after a backslash that complete an escape: " \\ / b f n r t. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** Inside a string (after the opening quote): UTF-8 checked, escapes, lengths in characters. */
class StringFrame extends Frame {
  constructor(
    readonly node: StringNode,
    parent: Frame,
    above: number,
    readonly len: number,
    /** After a backslash. */
    readonly esc: boolean,
    /** Hex digits of a \u escape still to come. */
    readonly hex: number,
    /** UTF-8 continuation bytes still to come. */
    readonly pend: number,
  ) {
    super(parent, above);
  }

  private with(len: number, esc: boolean, hex: number, pend: number): StringFrame {
    return new StringFrame(this.node, this.parent!, this.above, len, esc, hex, pend);
  }

  step(b: number, out: Frame[]): void {
    if (this.pend) {
      if (b >= 0x80 && b <= 0xbf) out.push(this.with(this.len, false, 0, this.pend - 1));
      return;
    }
    if (this.hex) {
      const isHex = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
      if (isHex) out.push(this.with(this.len, false, this.hex - 1, 0));
      return;
    }
    if (this.esc) {
      if (b === 0x75) out.push(this.with(this.len, false, 4, 0));
      else if (SIMPLE_ESCAPES.has(b)) out.push(this.with(this.len, false, 0, 0));
      return;
    }
    if (b === 0x22) {
      if (this.len >= this.node.minLength) out.push(this.parent!.afterChild());
      return;
    }
    if (this.len >= this.node.maxLength || b < 0x20) return;
    if (b === 0x5c) out.push(this.with(this.len + 1, true, 0, 0));
    else if (b < 0x80) out.push(this.with(this.len + 1, false, 0, 0));
    else if (b >= 0xc2 && b <= 0xdf) out.push(this.with(this.len + 1, false, 0, 1));
    else if (b >= 0xe0 && b <= 0xef) out.push(this.with(this.len + 1, false, 0, 2));
    else if (b >= 0xf0 && b <= 0xf4) out.push(this.with(this.len + 1, false, 0, 3));
  }

  selfCost(): number {
    return this.pend + (this.esc ? 1 : this.hex) + Math.max(0, this.node.minLength - this.len) + 1;
  }
}

/** Most digits on either side of the point (a number cannot grow forever). */
const MAX_DIGITS = 20;

/** A number (no exponent) being written; it ends at the first byte that cannot continue it. */
class NumberFrame extends Frame {
  constructor(readonly node: NumberNode, parent: Frame, above: number, readonly text: string) {
    super(parent, above);
  }
  step(b: number, out: Frame[]): void {
    const c = String.fromCharCode(b);
    if ((b >= 0x30 && b <= 0x39) || (b === 0x2e && !this.node.integer)) {
      const text = this.text + c;
      if (wellFormedPrefix(text) && numberExtra(text, this.node) < Infinity) {
        out.push(new NumberFrame(this.node, this.parent!, this.above, text));
      }
      return;
    }
    if (this.canEnd()) this.parent!.afterChild().step(b, out);
  }
  override canEnd(): boolean {
    return numberExtra(this.text, this.node) === 0;
  }
  selfCost(): number {
    return numberExtra(this.text, this.node);
  }
}

/** -?(0|[1-9]d*)(.d*)? with at most MAX_DIGITS digits each side. */
function wellFormedPrefix(t: string): boolean {
  const m = /^-?(\d*)(\.(\d*))?$/.exec(t);
  if (!m) return false;
  const [, int, dot, frac] = m;
  if (int.length > MAX_DIGITS || (frac?.length ?? 0) > MAX_DIGITS) return false;
  if (int.length > 1 && int[0] === "0") return false;
  if (dot !== undefined && int.length === 0) return false;
  return true;
}

/**
 * Fewest characters that turn number prefix `t` into a complete number within the node's bounds
 * (0: complete now), or Infinity when no completion exists.
 */
export function numberExtra(t: string, n: NumberNode): number {
  if (!wellFormedPrefix(t)) return Infinity;
  const neg = t.startsWith("-");
  const body = neg ? t.slice(1) : t;
  if (body === "") {
    let best = Infinity;
    for (let d = 0; d <= 9; d++) best = Math.min(best, 1 + numberExtra(t + d, n));
    return best;
  }
  const dot = body.indexOf(".");
  const int = dot < 0 ? body : body.slice(0, dot);
  const frac = dot < 0 ? null : body.slice(dot + 1);
  const meets = (a: number, b: number, bOpen: boolean) =>
    neg ? intervalsMeet(-b, -a, bOpen, false, n) : intervalsMeet(a, b, false, bOpen, n);
  const meetsInt = (a: number, b: number) => {
    // Integers within [a, b] (magnitudes), signed.
    const lo = neg ? -b : a, hi = neg ? -a : b;
    const loI = Math.max(lo, n.loOpen ? Math.floor(n.lo) + 1 : Math.ceil(n.lo));
    const hiI = Math.min(hi, n.hiOpen ? Math.ceil(n.hi) - 1 : Math.floor(n.hi));
    return loI <= hiI;
  };
  let best = Infinity;
  if (frac === null) {
    const p = Number(int);
    // k more integer digits (none after a leading zero).
    const maxK = int === "0" ? 0 : MAX_DIGITS - int.length;
    for (let k = 0; k <= maxK && k < best; k++) {
      const a = p * 10 ** k, b = a + 10 ** k - 1;
      if (n.integer ? meetsInt(a, b) : meets(a, b, false)) best = Math.min(best, k);
    }
    // "." and j fraction digits.
    if (!n.integer) {
      for (let j = 1; j <= MAX_DIGITS && j + 1 < best; j++) {
        if (meets(p, p + 1 - 10 ** -j, false)) best = Math.min(best, j + 1);
      }
    }
    return best;
  }
  const v = Number(`${int}.${frac || "0"}`);
  const f = frac.length;
  for (let j = frac === "" ? 1 : 0; f + j <= MAX_DIGITS && j < best; j++) {
    if (meets(v, v + 10 ** -f - 10 ** -(f + j), false)) best = Math.min(best, j);
  }
  return best;
}
