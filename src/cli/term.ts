// Terminal helpers for the commands: writing to stdout/stderr (a closed pipe ends output quietly), a wait
// that a signal cuts short, colour only on a terminal without NO_COLOR, and a one-line progress bar on stderr.

const encoder = new TextEncoder();

/** Thrown by writeOut once stdout's reader has gone (`| head -1`); commands end quietly with exit 0. */
export class StdoutClosed extends Error {
  override name = "StdoutClosed";
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

export async function writeOut(text: string): Promise<void> {
  if (text === "") return;
  try {
    await writeAll(Deno.stdout, text);
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe || (e as Error)?.message?.includes("Broken pipe")) {
      throw new StdoutClosed();
    }
    throw e;
  }
}

/** Synchronous underneath, so a line written just before the process exits is never lost. */
export function writeErr(text: string): Promise<void> {
  if (text === "") return Promise.resolve();
  try {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // stderr gone too: nothing left to tell.
  }
  return Promise.resolve();
}

/**
 * `p`, or its rejection with `signal`'s reason once the signal aborts first (a read of stdin that may never
 * end, left pending: the command is about to exit).
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org). */
export function useColor(stream: { isTerminal(): boolean }): boolean {
  return stream.isTerminal() && !Deno.env.get("NO_COLOR");
}

export interface Styles {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
}

export function styles(enabled: boolean): Styles {
  const wrap = (open: string, close: string) => (s: string) =>
    enabled && s ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return { dim: wrap("2", "22"), bold: wrap("1", "22"), red: wrap("31", "39") };
}

/**
 * `head` then as much of `label` as fits in `width` characters, never cutting a word: leading folders go
 * first ("…/file.safetensors"), then whole words from the end, marked with "…".
 */
export function fitLine(head: string, label: string, width: number): string {
  const room = width - head.length;
  if (label.length <= room) return head + label;
  const base = label.slice(label.lastIndexOf("/") + 1);
  if (base !== label && base.length + 2 <= room) return `${head}…/${base}`;
  // Whole words (split after separators) as long as they fit.
  const words = base.split(/(?<=[\s._-])/);
  let kept = "";
  for (const w of words) {
    if (kept.length + w.length + 1 > room) break;
    kept += w;
  }
  if (kept === "") return head.slice(0, width).trimEnd();
  return `${head}${kept}…`;
}

/** "[#####.....]  45% 1.2 GB/2.7 GB file.safetensors", redrawn in place on a terminal, at most 10 times/s. */
export class ProgressBar {
  private last = 0;
  private drawn = false;
  constructor(private readonly tty = Deno.stderr.isTerminal()) {}

  update(done: number, total: number, label: string, format: (n: number) => string, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    if (!this.tty) return; // a log file gets only the per-file lines
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    const bar = `[${"#".repeat(fill)}${".".repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%`;
    let cols = 100;
    try {
      cols = Deno.consoleSize().columns;
    } catch { /* no terminal size */ }
    void writeErr(`\r\x1b[2K${fitLine(`${bar} ${format(done)}/${format(total)} `, label, cols - 1)}`);
    this.drawn = true;
  }

  /** Clears the bar line so the next message starts on a clean line. */
  clear(): void {
    if (this.drawn) void writeErr("\r\x1b[2K");
    this.drawn = false;
  }
}
