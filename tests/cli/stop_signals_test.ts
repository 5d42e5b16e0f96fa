// A stop signal that arrives before a command listens (while its modules load) reaches the command's
// handler once it is in, even where SIGINT was inherited as ignored; one the command does not take ends the
// process as the signal's default action would.

import { assertEquals } from "../assert.ts";
import { ROOT } from "../fixture_util.ts";

/** The child, started with SIGINT ignored (as a shell script's background job is). */
async function child(sent: string, taken: string) {
  const script = `${ROOT}/tests/cli/stop_signals_child.ts`;
  const out = await new Deno.Command("bash", {
    args: ["-c", 'trap "" INT; exec "$@"', "bash", Deno.execPath(), "run", "-A", script, sent, taken],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return { code: out.code, json: text ? JSON.parse(text) : null };
}

Deno.test("stop signals held from start are handed to the command that takes them over, in order", async () => {
  assertEquals(await child("SIGINT", "SIGINT,SIGTERM"), { code: 0, json: { handed: ["SIGINT"] } });
  assertEquals(await child("SIGTERM", "SIGINT,SIGTERM"), { code: 0, json: { handed: ["SIGTERM"] } });
  assertEquals(await child("none", "SIGINT"), { code: 0, json: { handed: [] } });
});

Deno.test("a held signal the command does not take ends the process as its default action would", async () => {
  // chat takes SIGINT only: a SIGTERM while it loaded ends it with 143
  assertEquals(await child("SIGTERM", "SIGINT"), { code: 143, json: null });
  // a command that takes none (inspect, logits...): main ends the hold and exits as the signal says
  assertEquals(await child("SIGINT", "none"), { code: 0, json: { kept: ["SIGINT"] } });
});
