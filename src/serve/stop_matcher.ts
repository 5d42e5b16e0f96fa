// Finds OpenAI `stop` strings in streamed answer text. Text is released only once it can no longer be the
// start of a stop string, so a stop string never reaches the client, even split across tokens.

export interface StopResult {
  /** Text safe to send now. */
  text: string;
  /** A stop string was found; `text` ends just before it and the rest of the answer is dropped. */
  stopped: boolean;
}

export class StopMatcher {
  private pending = "";
  private done = false;

  constructor(private readonly stops: readonly string[]) {}

  push(chunk: string): StopResult {
    if (this.done) return { text: "", stopped: true };
    if (this.stops.length === 0) return { text: chunk, stopped: false };
    const buf = this.pending + chunk;
    let cut = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.done = true;
      this.pending = "";
      return { text: buf.slice(0, cut), stopped: true };
    }
    // Hold back the longest suffix of buf that is a proper prefix of some stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > hold; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    this.pending = buf.slice(buf.length - hold);
    return { text: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** The held-back text at the end of the answer (it matched no stop string). */
  flush(): string {
    const t = this.pending;
    this.pending = "";
    return this.done ? "" : t;
  }
}
