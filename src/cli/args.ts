// The one command-line parser: options are declared once (OptionDef; the commands' table is options.ts) and
// every value is checked as it is read. A usage error (exit 2) is one line naming the option and the value:
// an unknown option (with the nearest spelling), an option of another command, a missing or stray value.

import { OssiError } from "../errors.ts";

export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** The value must be greater than `min`, not equal to it. */
  readonly minExclusive?: boolean;
}

/** What an option takes: nothing (a switch), text, a checked number, or one of a few words. */
export type OptionValue =
  | { readonly type: "switch" }
  | { readonly type: "text"; readonly meta: string; readonly repeatable?: boolean }
  | { readonly type: "whole"; readonly meta: string; readonly range: NumberRange }
  | { readonly type: "decimal"; readonly meta: string; readonly range: NumberRange }
  | { readonly type: "choice"; readonly meta: string; readonly choices: readonly string[] };

export interface OptionDef {
  /** The long name, without "--". */
  readonly name: string;
  readonly value: OptionValue;
  /** A one-letter spelling, without "-". */
  readonly short?: string;
  /** Other long spellings of the same option (old names kept for scripts). */
  readonly aliases?: readonly string[];
  readonly help: string;
}

export interface ParsedArgs {
  /** Text of each option given (last one wins), by its long name; switches are `true`. */
  readonly flags: Map<string, string | true>;
  /** Checked values of the numeric options given. */
  readonly numbers: Map<string, number>;
  /** Every value of a repeatable option, in order. */
  readonly lists: Map<string, string[]>;
  readonly positionals: string[];
}

export interface ParseContext {
  /** Named at the head of every usage error ("chat: unknown option ..."). */
  readonly command?: string;
  /** The other commands that take a long option this command does not (for "an option of serve"). */
  readonly elsewhere?: (name: string) => readonly string[];
}

/** Parses argv against `defs`; throws OssiError (exit 2) at the first usage error. */
export function parseOptions(
  argv: readonly string[],
  defs: readonly OptionDef[],
  ctx: ParseContext = {},
): ParsedArgs {
  const byLong = new Map<string, OptionDef>();
  const byShort = new Map<string, OptionDef>();
  for (const d of defs) {
    for (const n of [d.name, ...(d.aliases ?? [])]) byLong.set(n, d);
    if (d.short) byShort.set(d.short, d);
  }
  const fail = (text: string): never => {
    throw new OssiError(ctx.command ? `${ctx.command}: ${text}` : text, 2);
  };
  const out: ParsedArgs = { flags: new Map(), numbers: new Map(), lists: new Map(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    // "-" (stdin) and negative numbers are arguments, not options.
    if (!arg.startsWith("-") || arg === "-" || /^-[\d.]/.test(arg)) {
      out.positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = arg.indexOf("=");
    const name = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1, 2);
    let inline = long ? (eq < 0 ? undefined : arg.slice(eq + 1)) : arg.length > 2 ? arg.slice(2) : undefined;
    if (!long && inline?.startsWith("=")) inline = inline.slice(1);
    const spelled = long ? `--${name}` : `-${name}`;
    const def = long ? byLong.get(name) : byShort.get(name);
    if (!def) fail(unknownOption(spelled, name, long, byLong, ctx));
    const d = def!;
    if (d.value.type === "switch") {
      if (inline !== undefined) fail(`${spelled} takes no value (got '${arg}')`);
      out.flags.set(d.name, true);
      continue;
    }
    let text = inline;
    if (text === undefined) {
      const next = argv[i + 1];
      // A value may start with "-" ("-5", "-" for stdin), never with "--": that is the next option.
      if (next === undefined || next.startsWith("--")) fail(`${spelled} needs a value (${d.value.meta})`);
      text = next;
      i++;
    }
    storeValue(out, d, spelled, text!);
  }
  return out;
}

/** Checks one value and keeps it under the option's long name. */
function storeValue(out: ParsedArgs, d: OptionDef, spelled: string, text: string): void {
  const v = d.value;
  if (v.type === "whole") out.numbers.set(d.name, parseWhole(text, spelled, v.range));
  else if (v.type === "decimal") out.numbers.set(d.name, parseDecimal(text, spelled, v.range));
  else if (v.type === "choice" && !v.choices.includes(text)) {
    throw new OssiError(`${spelled} must be one of ${v.choices.join(", ")} (got '${text}')`, 2);
  }
  if (v.type === "text" && v.repeatable) {
    out.lists.set(d.name, [...(out.lists.get(d.name) ?? []), text]);
  } else out.flags.set(d.name, text);
}

/** "unknown option '--thread' (did you mean --threads?)", or where the option belongs. */
function unknownOption(
  spelled: string,
  name: string,
  long: boolean,
  byLong: ReadonlyMap<string, OptionDef>,
  ctx: ParseContext,
): string {
  const owners = long ? ctx.elsewhere?.(name) ?? [] : [];
  if (owners.length > 0) {
    const them = owners.length === 1 ? owners[0] : `${owners.slice(0, -1).join(", ")} and ${owners.at(-1)}`;
    return `${spelled} is an option of ${them}, not of ${ctx.command}`;
  }
  const near = long ? nearest(name, [...byLong.keys()]) : undefined;
  const hint = near
    ? `did you mean --${near}?`
    : ctx.command
    ? `ossi ${ctx.command} --help lists the options`
    : "";
  return `unknown option '${spelled}'${hint ? ` (${hint})` : ""}`;
}

/**
 * The candidate a mistyped word most likely meant: the only one it begins (3 letters at least), else the
 * closest within 2 edits (1 for words of 4 letters or fewer); undefined when none is that close.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length >= 3) {
    const prefixed = candidates.filter((c) => c.startsWith(word));
    if (prefixed.length === 1) return prefixed[0];
  }
  const limit = word.length <= 4 ? 1 : 2;
  let best: string | undefined, bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) (best = c), (bestDistance = d);
  }
  return best;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2][j - 2] + 1);
      }
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/** The shape scripts declare their flags in: names only, every value text. */
export interface FlagSpec {
  /** Flags that take a value. */
  readonly values?: readonly string[];
  /** Flags that take a value and may be given more than once (all values kept, in order). */
  readonly lists?: readonly string[];
  /** Flags that are switches. */
  readonly switches?: readonly string[];
  /** Short aliases, e.g. { f: "file" }. */
  readonly aliases?: Readonly<Record<string, string>>;
}

/** parseOptions() for a FlagSpec (scripts): values stay text, read with numberFlag() and the like. */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const shortOf = new Map(Object.entries(spec.aliases ?? {}).map(([s, l]) => [l, s]));
  const def = (name: string, value: OptionValue): OptionDef => ({
    name,
    value,
    short: shortOf.get(name),
    help: "",
  });
  return parseOptions(argv, [
    ...(spec.values ?? []).map((n) => def(n, { type: "text", meta: "VALUE" })),
    ...(spec.lists ?? []).map((n) => def(n, { type: "text", meta: "VALUE", repeatable: true })),
    ...(spec.switches ?? []).map((n) => def(n, { type: "switch" })),
  ]);
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** Every value of a repeatable flag, in order (none: empty). */
export function listFlag(args: ParsedArgs, name: string): string[] {
  return args.lists.get(name) ?? [];
}

/** The checked value of a numeric option (declared whole or decimal), or `fallback` when absent. */
export function numberOption(args: ParsedArgs, name: string, fallback: number): number;
export function numberOption(args: ParsedArgs, name: string): number | undefined;
export function numberOption(args: ParsedArgs, name: string, fallback?: number): number | undefined {
  return args.numbers.get(name) ?? fallback;
}

/** "--name must be a whole number >= 1" and the like, for a range. */
function rangeText(kind: string, r: NumberRange): string {
  const lo = r.min === undefined ? "" : `${r.minExclusive ? ">" : ">="} ${r.min}`;
  const hi = r.max === undefined ? "" : `<= ${r.max}`;
  const both = lo && hi ? `${lo} and ${hi}` : lo || hi;
  return both ? `${kind} ${both}` : kind;
}

function inRange(n: number, r: NumberRange): boolean {
  if (r.min !== undefined && (r.minExclusive ? !(n > r.min) : !(n >= r.min))) return false;
  return r.max === undefined || n <= r.max;
}

/**
 * A whole number written in decimal digits ("12", "-3"): not "0x10", "1e2", "1.0", "" or " 7".
 * `what` names it in the usage error (exit 2).
 */
export function parseWhole(text: string, what: string, range: NumberRange = {}): number {
  const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || !inRange(n, range)) {
    throw new OssiError(`${what} must be ${rangeText("a whole number", range)} (got '${text}')`, 2);
  }
  return n;
}

/** A decimal number ("0.7", "1", "2.5e-3"): not hex, not "Infinity", not "" or " 1". */
export function parseDecimal(text: string, what: string, range: NumberRange = {}): number {
  const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || !inRange(n, range)) {
    throw new OssiError(`${what} must be ${rangeText("a number", range)} (got '${text}')`, 2);
  }
  return n;
}

/** A script's whole-number flag given as text (parseWhole), or `fallback` when absent. */
export function wholeFlag(args: ParsedArgs, name: string, range: NumberRange, fallback: number): number;
export function wholeFlag(args: ParsedArgs, name: string, range: NumberRange): number | undefined;
export function wholeFlag(args: ParsedArgs, name: string, range: NumberRange, fallback?: number) {
  const v = stringFlag(args, name);
  return v === undefined ? fallback : parseWhole(v, `--${name}`, range);
}

/** Context sizes (--ctx): at least this many tokens; the model's own limit caps them. */
export const MIN_CONTEXT = 16;
/** Worker threads (--threads). */
export const THREAD_RANGE: NumberRange = { min: 1, max: 256 };

/** A count for scripts (--layers, --prefill, ...): a whole number >= 0. */
export function numberFlag(args: ParsedArgs, name: string, fallback: number): number;
export function numberFlag(args: ParsedArgs, name: string): number | undefined;
export function numberFlag(args: ParsedArgs, name: string, fallback?: number): number | undefined {
  return fallback === undefined
    ? wholeFlag(args, name, { min: 0 })
    : wholeFlag(args, name, { min: 0 }, fallback);
}
