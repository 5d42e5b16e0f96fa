// Input for `ossi chat`: line editing and history on a terminal (node:readline, history kept in
// ~/.cache/ossi/history), and the multi-line rules shared with piped input (trailing "\" or a """ block).

import * as readline from "node:readline";
import process from "node:process";
import { PassThrough } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { joinPath } from "../io/checkpoint.ts";

const HISTORY_LINES = 1000;

/** Joins physical lines into one input: a line ending in "\" continues; """ opens and closes a block. */
export class InputAssembler {
  private parts: string[] = [];
  private inBlock = false;

  /** True while an input is incomplete (the REPL shows the continuation prompt). */
  get pending(): boolean {
    return this.inBlock || this.parts.length > 0;
  }

  /** Characters held for the incomplete input. */
  get pendingLength(): number {
    return this.parts.reduce((n, p) => n + p.length + 1, 0);
  }

  reset(): void {
    this.parts = [];
    this.inBlock = false;
  }

  /** Feeds one line; returns the whole input when it is complete, else null. */
  push(line: string): string | null {
    if (this.inBlock) {
      const t = line.trimEnd();
      if (t.endsWith('"""')) {
        this.parts.push(t.slice(0, -3));
        return this.finish();
      }
      this.parts.push(line);
      return null;
    }
    const t = line.trimStart();
    if (t.startsWith('"""')) {
      const rest = t.slice(3);
      if (rest.trimEnd().endsWith('"""') && rest.trimEnd().length >= 3) {
        this.parts.push(rest.trimEnd().slice(0, -3));
        return this.finish();
      }
      this.inBlock = true;
      if (rest.trim() !== "") this.parts.push(rest);
      return null;
    }
    if (line.endsWith("\\")) {
      this.parts.push(line.slice(0, -1));
      return null;
    }
    this.parts.push(line);
    return this.finish();
  }

  /** At end of input: whatever is pending, as one input (null when nothing is). */
  end(): string | null {
    return this.pending ? this.finish() : null;
  }

  private finish(): string {
    const text = this.parts.join("\n");
    this.reset();
    return text;
  }
}

/** ~/.cache/ossi/history ($XDG_CACHE_HOME/ossi/history when set), or undefined without a home. */
export function historyFile(): string | undefined {
  const cache = Deno.env.get("XDG_CACHE_HOME") ||
    (Deno.env.get("HOME") ? joinPath(Deno.env.get("HOME")!, ".cache") : undefined);
  return cache ? joinPath(cache, "ossi", "history") : undefined;
}

/** Text with no control characters: typed or pasted characters that only insert themselves. */
// deno-lint-ignore no-control-regex
const PLAIN_TEXT = /^[^\x00-\x1f\x7f]+$/;

/**
 * A terminal line editor: arrow keys, history, Ctrl-C reported to `onInterrupt` (raw mode eats SIGINT).
 * readline redraws the line once per key, which makes a long paste quadratic (25 s for 7,000 characters),
 * so a chunk of plain text from the terminal is inserted as one string; everything else (keys, escape
 * sequences, Enter) goes through readline's key handling as before.
 */
export class TerminalInput {
  private readonly rl: readline.Interface;
  private queue: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private closed = false;
  private readonly keys = new PassThrough();
  private readonly decoder = new StringDecoder("utf8");
  private readonly onData = (chunk: Uint8Array | string) => {
    const text = typeof chunk === "string" ? chunk : this.decoder.write(chunk as never);
    if (text.length > 1 && PLAIN_TEXT.test(text)) this.rl.write(text);
    else if (text) this.keys.write(text);
  };
  private readonly onEnd = () => this.keys.end();

  constructor(private readonly historyPath: string | undefined, onInterrupt: () => void) {
    const history = this.loadHistory();
    const keys = this.keys as PassThrough & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
    keys.isTTY = true;
    keys.setRawMode = (on: boolean) => {
      (process.stdin as { setRawMode?: (on: boolean) => unknown }).setRawMode?.(on);
      return keys;
    };
    process.stdin.on("data", this.onData);
    process.stdin.on("end", this.onEnd);
    this.rl = readline.createInterface({
      input: keys,
      output: process.stdout,
      terminal: true,
      // readline wants the newest entry first.
      history: history.reverse(),
      historySize: HISTORY_LINES,
      removeHistoryDuplicates: true,
    } as readline.ReadLineOptions);
    this.rl.on("line", (line: string) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(line);
      } else this.queue.push(line);
    });
    this.rl.on("close", () => {
      this.closed = true;
      this.waiter?.(null);
      this.waiter = null;
    });
    this.rl.on("SIGINT", onInterrupt);
    this.rl.on("history", (h: string[]) => this.saveHistory(h));
  }

  /** The next line typed (null after Ctrl-D or close). */
  readLine(prompt: string): Promise<string | null> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    if (this.closed) return Promise.resolve(null);
    this.rl.setPrompt(prompt);
    this.rl.prompt();
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Drops the text being typed and shows the prompt again on a fresh line. */
  abandonLine(prompt: string): void {
    this.rl.write(null, { ctrl: true, name: "e" });
    this.rl.write(null, { ctrl: true, name: "u" });
    process.stdout.write("\n");
    this.rl.setPrompt(prompt);
    this.rl.prompt();
  }

  /** True when the line being typed is empty. */
  get lineEmpty(): boolean {
    return (this.rl as unknown as { line: string }).line === "";
  }

  close(): void {
    if (!this.closed) this.rl.close();
    this.closed = true;
    process.stdin.off("data", this.onData);
    process.stdin.off("end", this.onEnd);
    process.stdin.pause();
  }

  private loadHistory(): string[] {
    if (!this.historyPath) return [];
    try {
      return Deno.readTextFileSync(this.historyPath).split("\n").filter((l) => l !== "").slice(
        -HISTORY_LINES,
      );
    } catch {
      return [];
    }
  }

  private saveHistory(newestFirst: string[]): void {
    if (!this.historyPath) return;
    try {
      Deno.mkdirSync(this.historyPath.slice(0, this.historyPath.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(this.historyPath, [...newestFirst].reverse().join("\n") + "\n");
    } catch {
      // History is a convenience: a read-only home must not break the chat.
    }
  }
}
