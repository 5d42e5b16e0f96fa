// Flag parsing for the commands, on node:util's parseArgs; usage errors become OssiError (exit 2).

import { parseArgs as nodeParseArgs } from "node:util";
import { OssiError } from "../io/errors.ts";

export interface FlagSpec {
  /** Flags that take a value. */
  readonly values?: readonly string[];
  /** Flags that are switches. */
  readonly switches?: readonly string[];
  /** Short aliases, e.g. { f: "file" }. */
  readonly aliases?: Readonly<Record<string, string>>;
}

export interface ParsedArgs {
  readonly flags: Map<string, string | true>;
  readonly positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const v of spec.values ?? []) options[v] = { type: "string" };
  for (const s of spec.switches ?? []) options[s] = { type: "boolean" };
  for (const [short, long] of Object.entries(spec.aliases ?? {})) options[long].short = short;
  let parsed;
  try {
    parsed = nodeParseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new OssiError((e as Error).message.split("\n")[0], 2);
  }
  const flags = new Map<string, string | true>();
  for (const [k, v] of Object.entries(parsed.values)) {
    if (v !== undefined && v !== false) flags.set(k, v as string | true);
  }
  return { flags, positionals: parsed.positionals };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

export function numberFlag(args: ParsedArgs, name: string, fallback: number): number;
export function numberFlag(args: ParsedArgs, name: string): number | undefined;
export function numberFlag(args: ParsedArgs, name: string, fallback?: number): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new OssiError(`--${name} must be a number, got '${v}'`, 2);
  }
  return n;
}
