// Flag parsing for the commands, on node:util's parseArgs, and the one strict reader of numeric flag
// values every command uses: usage errors (exit 2) are one line naming the flag and the value.

import { parseArgs as nodeParseArgs } from "node:util";
import { OssiError } from "../errors.ts";

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

export interface ParsedArgs {
  readonly flags: Map<string, string | true>;
  readonly lists: Map<string, string[]>;
  readonly positionals: string[];
}

/**
 * `--flag -5` is read as the value "-5" (node:util would take it for a short option): a value that
 * looks like a negative number is joined to its flag, so that the flag's own check can refuse it.
 */
function joinNegativeValues(argv: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a.startsWith("--") && valued.has(a.slice(2)) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
    if (a === "--") {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const v of spec.values ?? []) options[v] = { type: "string" };
  for (const v of spec.lists ?? []) options[v] = { type: "string", multiple: true };
  for (const s of spec.switches ?? []) options[s] = { type: "boolean" };
  for (const [short, long] of Object.entries(spec.aliases ?? {})) options[long].short = short;
  const valued = new Set([...(spec.values ?? []), ...(spec.lists ?? [])]);
  let parsed;
  try {
    parsed = nodeParseArgs({
      args: joinNegativeValues(argv, valued),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new OssiError((e as Error).message.split("\n")[0], 2);
  }
  const flags = new Map<string, string | true>();
  const lists = new Map<string, string[]>();
  for (const [k, v] of Object.entries(parsed.values)) {
    if (Array.isArray(v)) lists.set(k, v as string[]);
    else if (v !== undefined && v !== false) flags.set(k, v as string | true);
  }
  return { flags, lists, positionals: parsed.positionals };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** Every value of a repeatable flag, in order (none: empty). */
export function listFlag(args: ParsedArgs, name: string): string[] {
  return args.lists.get(name) ?? [];
}

export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** The value must be greater than `min`, not equal to it. */
  readonly minExclusive?: boolean;
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

/** Reads a numeric flag: its value parsed and range-checked, or `fallback` when the flag is absent. */
export interface NumberFlagReader {
  (args: ParsedArgs, name: string, range: NumberRange, fallback: number): number;
  (args: ParsedArgs, name: string, range: NumberRange): number | undefined;
}

function flagReader(parse: (text: string, what: string, range: NumberRange) => number): NumberFlagReader {
  return ((args: ParsedArgs, name: string, range: NumberRange, fallback?: number) => {
    const v = stringFlag(args, name);
    return v === undefined ? fallback : parse(v, `--${name}`, range);
  }) as NumberFlagReader;
}

/** A whole-number flag (parseWhole). */
export const wholeFlag = flagReader(parseWhole);
/** A decimal-number flag (parseDecimal). */
export const decimalFlag = flagReader(parseDecimal);

/** Context sizes (--ctx, --max-context): at least this many tokens; the model's own limit caps them. */
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
