// StopMatcher: stop strings are cut out even when split across chunks; no text is lost otherwise.

import { assertEquals } from "../assert.ts";
import { StopMatcher } from "../../src/serve/stop_matcher.ts";

function run(stops: string[], chunks: string[]): { text: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  let text = "";
  for (const c of chunks) {
    const r = m.push(c);
    text += r.text;
    if (r.stopped) return { text, stopped: true };
  }
  return { text: text + m.flush(), stopped: false };
}

Deno.test("StopMatcher() cuts at a stop string split across chunks", () => {
  assertEquals(run(["END"], ["abc E", "N", "Dxyz"]), { text: "abc ", stopped: true });
  assertEquals(run(["\n\n"], ["line\n", "\nmore"]), { text: "line", stopped: true });
});

Deno.test("StopMatcher() picks the earliest of several stops and releases near-misses", () => {
  assertEquals(run(["at", "cat"], ["a cat"]), { text: "a ", stopped: true });
  assertEquals(run(["END"], ["EN", "d", " E"]), { text: "ENd E", stopped: false });
  assertEquals(run([], ["a", "b"]), { text: "ab", stopped: false });
});

Deno.test("StopMatcher() matches random texts like a plain search", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let trial = 0; trial < 200; trial++) {
    const text = Array.from({ length: 30 }, () => "ab"[rand(2)]).join("");
    const stop = Array.from({ length: 1 + rand(4) }, () => "ab"[rand(2)]).join("");
    const chunks: string[] = [];
    for (let i = 0; i < text.length;) {
      const n = 1 + rand(4);
      chunks.push(text.slice(i, i + n));
      i += n;
    }
    const at = text.indexOf(stop);
    const expected = at >= 0 ? { text: text.slice(0, at), stopped: true } : { text, stopped: false };
    assertEquals(run([stop], chunks), expected, `text ${text} stop ${stop}`);
  }
});
