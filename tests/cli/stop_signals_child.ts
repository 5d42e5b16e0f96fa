// Child of stop_signals_test.ts: holds the stop signals, signals itself with Deno.args[0] (a comma list),
// then takes over Deno.args[1] (a comma list, or "none": ends the hold) and prints what it was handed.

import { endHold, holdStopSignals, onStopSignals, type StopSignal } from "../../src/cli/stop_signals.ts";

const [sent, taken] = Deno.args.map((a) => a.split(",").filter((s) => s !== "none") as StopSignal[]);
holdStopSignals();
// a signal reaches its listeners from the event loop: a listener of our own says when it has
let arrived = 0;
const mark = () => arrived++;
for (const s of sent) Deno.addSignalListener(s, mark);
for (const s of sent) Deno.kill(Deno.pid, s);
while (arrived < sent.length) await new Promise((r) => setTimeout(r, 10));
for (const s of sent) Deno.removeSignalListener(s, mark);
if (taken.length === 0) {
  console.log(JSON.stringify({ kept: endHold() }));
} else {
  const handed: StopSignal[] = [];
  const stop = onStopSignals(taken, (s) => handed.push(s));
  console.log(JSON.stringify({ handed }));
  stop();
}
