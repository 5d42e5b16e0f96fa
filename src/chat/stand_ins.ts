// User text through a Jinja chat template without losing track of it. Before rendering, every character
// that can begin or end a special token (the first and last character of each added token) is replaced,
// in every string the template gets from the user, by a private-use stand-in that occurs nowhere else;
// after rendering the stand-ins are put back, and their positions are the literal spans. A special token
// found in the result therefore begins and ends on template text: user text can never spell one, whatever
// the template does with it (strip, split, tojson, ...). The template sees the stand-ins, so a template
// that searches user text for markup (`'<|channel|>' in content`) finds none: user text is data.

import { FormatError } from "../errors.ts";
import type { RenderedPrompt, Span } from "./rendered_prompt.ts";

/** Strings nested deeper than this in arguments or tool schemas are refused (renderers recurse on them). */
export const MAX_NESTING = 64;

/** The characters that begin or end the given token strings (code points, so astral ones stay whole). */
export function boundaryChars(tokens: Iterable<string>): ReadonlySet<string> {
  const out = new Set<string>();
  for (const t of tokens) {
    const cps = [...t];
    if (cps.length === 0) continue;
    out.add(cps[0]);
    out.add(cps[cps.length - 1]);
  }
  return out;
}

const PUA_FIRST = 0xe000;
const PUA_LAST = 0xf8ff;

/** Calls `fn` on every string in a JSON-like value, object keys included. */
function forEachString(v: unknown, fn: (s: string) => void, depth = 0): void {
  if (typeof v === "string") return fn(v);
  if (v === null || typeof v !== "object") return;
  if (depth > MAX_NESTING) throw new FormatError(`chat input is nested more than ${MAX_NESTING} levels deep`);
  if (Array.isArray(v)) {
    for (const x of v) forEachString(x, fn, depth + 1);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    fn(k);
    forEachString(x, fn, depth + 1);
  }
}

function mapStrings(v: unknown, fn: (s: string) => string): unknown {
  if (typeof v === "string") return fn(v);
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, fn));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[fn(k)] = mapStrings(x, fn);
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\-]/g, "\\$&");
}

/** Stand-ins for one rendering: which guard characters the user's strings hold, and what replaces them. */
export class StandIns {
  private readonly original = new Map<string, string>();
  private readonly hideRe: RegExp | null;
  private readonly restoreRe: RegExp | null;

  /**
   * `user`: everything the template will get from the user; `avoid`: template text (its source, the
   * special-token variables) whose characters must not be taken as stand-ins.
   */
  constructor(guard: ReadonlySet<string>, user: unknown, avoid: readonly string[]) {
    const needed = new Set<string>();
    const taken = new Set<number>();
    const note = (s: string) => {
      for (const ch of s) {
        if (guard.has(ch)) needed.add(ch);
        const cp = ch.codePointAt(0)!;
        if (cp >= PUA_FIRST && cp <= PUA_LAST) taken.add(cp);
      }
      // A template's tojson(ensure_ascii=True) writes a stand-in as \uXXXX: such text must stay unambiguous.
      for (const m of s.matchAll(/\\u([0-9a-fA-F]{4})/g)) taken.add(parseInt(m[1], 16));
    };
    forEachString(user, note);
    for (const s of avoid) note(s);
    let next = PUA_FIRST;
    for (const ch of needed) {
      while (taken.has(next)) next++;
      if (next > PUA_LAST) throw new FormatError("chat input uses every private-use character");
      const standIn = String.fromCharCode(next++);
      this.original.set(standIn, ch);
    }
    const toStandIn = new Map([...this.original].map(([s, o]) => [o, s]));
    this.hide = (s) => (this.hideRe ? s.replace(this.hideRe, (ch) => toStandIn.get(ch)!) : s);
    this.hideRe = needed.size ? new RegExp([...needed].map(escapeRegex).join("|"), "gu") : null;
    this.restoreRe = needed.size ? new RegExp(`[${[...this.original.keys()].join("")}]`, "g") : null;
  }

  /** The string with its guard characters replaced by stand-ins. */
  readonly hide: (s: string) => string;

  /** A JSON-like value with every string (and key) hidden. */
  hideDeep<T>(v: T): T {
    return this.restoreRe ? mapStrings(v, this.hide) as T : v;
  }

  /** The rendered text with the originals back, and where they are (the literal spans). */
  restore(rendered: string): RenderedPrompt {
    if (!this.restoreRe) return { text: rendered, literal: [] };
    for (const standIn of this.original.keys()) {
      const hex = standIn.charCodeAt(0).toString(16);
      if (rendered.toLowerCase().includes(`\\u${hex}`)) {
        throw new FormatError(
          "chat template escapes non-ASCII user text (tojson ensure_ascii): cannot render",
        );
      }
    }
    const literal: [number, number][] = [];
    let shift = 0; // restored length minus rendered length so far (an astral original is two code units)
    const text = rendered.replace(this.restoreRe, (standIn, at: number) => {
      const ch = this.original.get(standIn)!;
      const start = at + shift;
      const last = literal.at(-1);
      if (last && last[1] === start) last[1] += ch.length;
      else literal.push([start, start + ch.length]);
      shift += ch.length - 1;
      return ch;
    });
    return { text, literal: literal as Span[] };
  }
}
