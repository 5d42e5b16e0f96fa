// The process signals that stop a command: SIGINT and SIGTERM. main() holds them from before a command's
// modules load, and the command takes them over with onStopSignals. So a signal in the first moments is not
// lost (a Deno listener catches SIGINT even where the process inherited it as ignored, as a shell script's
// background job does) and does not kill the process before the command can end cleanly: it reaches the
// command's handler as soon as the handler is in.

export type StopSignal = "SIGINT" | "SIGTERM";

const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM"];

/** What the process does on `s` with no listener: ends with status 128 + the signal's number. */
export const DEFAULT_EXIT: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** The signals received while held, in order; null when nothing is held. */
let held: StopSignal[] | null = null;
const keep: Record<StopSignal, () => void> = {
  SIGINT: () => held?.push("SIGINT"),
  SIGTERM: () => held?.push("SIGTERM"),
};

/** From now until a command takes the signals over (or endHold): stop signals are kept, not acted on. */
export function holdStopSignals(): void {
  if (held !== null) return;
  held = [];
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, keep[s]);
}

/**
 * Ends the hold; returns the signals it kept. Removing the last listener gives a signal back its default
 * action, so a caller that takes none over acts on what was kept as that action would (DEFAULT_EXIT).
 */
export function endHold(): StopSignal[] {
  if (held === null) return [];
  for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, keep[s]);
  const kept = held;
  held = null;
  return kept;
}

/**
 * Calls onSignal on each of `signals` until the returned function removes the listeners. Signals kept by
 * the hold are delivered at once, in order (the listeners are in first, so none falls between); one kept
 * that is not in `signals` ends the process as its default action would.
 */
export function onStopSignals(
  signals: readonly StopSignal[],
  onSignal: (s: StopSignal) => void,
): () => void {
  const listeners = signals.map((s) => [s, () => onSignal(s)] as const);
  for (const [s, l] of listeners) Deno.addSignalListener(s, l);
  for (const s of endHold()) {
    if (!signals.includes(s)) Deno.exit(DEFAULT_EXIT[s]);
    onSignal(s);
  }
  return () => {
    for (const [s, l] of listeners) Deno.removeSignalListener(s, l);
  };
}
