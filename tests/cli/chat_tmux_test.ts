// The `ossi chat` REPL on a real terminal (tmux): two turns, /help, Ctrl-C mid-answer with the session
// kept, /stats showing the KV cache reuse of a later turn, history on disk, /quit and double Ctrl-C.

import { assert, assertEquals } from "../assert.ts";
import { ROOT } from "../fixture_util.ts";

const HAS_TMUX = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

async function tmux(...args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", { args, stdout: "piped", stderr: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

class Pane {
  constructor(readonly name: string) {}

  static async start(name: string, command: string, env: Record<string, string>): Promise<Pane> {
    const exports = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(" ");
    await tmux(
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      "120",
      "-y",
      "50",
      `env ${exports} ${command}; echo EXIT=$?; sleep 60`,
    );
    return new Pane(name);
  }

  text(): Promise<string> {
    return tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", this.name);
  }

  keys(...keys: string[]): Promise<string> {
    return tmux("send-keys", "-t", this.name, ...keys);
  }

  /** Text typed then Enter (-l sends it literally, so "/help" is not a key name). */
  async line(text: string): Promise<void> {
    await tmux("send-keys", "-t", this.name, "-l", text);
    await this.keys("Enter");
  }

  /** Waits until `test` holds for the pane text; fails with the pane shown. */
  async waitFor(what: string, test: (text: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (true) {
      const t = await this.text();
      if (test(t)) return t;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; pane:\n${t}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(): Promise<string> {
    return tmux("kill-session", "-t", this.name);
  }
}

/** The pane ends with `answer` and a fresh prompt (the turn is over). */
function answered(answer: string): (text: string) => boolean {
  return (t) => t.trimEnd().endsWith(`\n${answer}\n>>>`);
}

function count(text: string, re: RegExp): number {
  return [...text.matchAll(new RegExp(re.source, "gm"))].length;
}

function denoDir(): string {
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .outputSync();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

function setup(): { env: Record<string, string>; cache: string; command: string } {
  const cache = Deno.makeTempDirSync({ prefix: "ossi-tmux-" });
  const env: Record<string, string> = {
    HF_HUB_CACHE: `${cache}/hf`,
    XDG_CACHE_HOME: cache,
    // XDG_CACHE_HOME also moves Deno's own cache: keep the one this test runs with (no downloads).
    DENO_DIR: denoDir(),
    TERM: "xterm-256color",
    NO_COLOR: "1",
  };
  // --delay-ms keeps an answer on screen long enough to interrupt it.
  const command = `${Deno.execPath()} run -A ${ROOT}/src/main.ts chat --backend ref --delay-ms 60`;
  return { env, cache, command };
}

Deno.test({
  name: "ossi chat REPL: two turns, /help, Ctrl-C mid-answer keeps the session, /stats reuse, /quit",
  ignore: !HAS_TMUX,
  async fn() {
    const { env, cache, command } = setup();
    const pane = await Pane.start(`ossi-test-${Deno.pid}-a`, command, env);
    try {
      await pane.waitFor("the banner", (t) => t.includes("/help lists the commands"));
      await pane.line("What is 23+45?");
      await pane.waitFor("the first answer", (t) => /^68$/m.test(t));
      assert((await pane.text()).includes("thinking: "), "the reasoning is shown before the answer");
      await pane.line("/stats");
      const first = await pane.waitFor("stats of turn 1", (t) => /prompt: \d+ tokens, 0 reused/.test(t));
      const firstPrompt = Number(/prompt: (\d+) tokens, 0 reused/.exec(first)![1]);

      await pane.line("/help");
      const help = await pane.waitFor("the command list", (t) => t.includes("leave (also /exit or Ctrl-D)"));
      for (
        const c of [
          "/help",
          "/effort",
          "/system",
          "/reasoning",
          "/reset",
          "/stats",
          "/save",
          "/load",
          "/quit",
        ]
      ) {
        assert(help.includes(`  ${c}`), `/help lists ${c}`);
      }

      // Interrupt an answer while it streams; the session stays and answers the next question.
      await pane.line("Sort 5 3 9 1");
      await pane.waitFor("the second answer to start", (t) => count(t, /thinking: /) >= 2);
      await pane.keys("C-c");
      const stopped = await pane.waitFor("the stop mark", (t) => t.includes("[stopped]"));
      assert(!/^1 3 5 9$/m.test(stopped), "the interrupted answer did not finish");
      await pane.line("What is 12+10?");
      await pane.waitFor("the answer after Ctrl-C", (t) => /^22$/m.test(t));

      await pane.line("/stats");
      const last = await pane.waitFor("stats of the last turn", (t) => count(t, /^prompt: /) >= 2);
      const m = [...last.matchAll(/prompt: (\d+) tokens, (\d+) reused from the KV cache, (\d+) prefilled/g)]
        .pop()!;
      const [prompt, reused, prefilled] = [Number(m[1]), Number(m[2]), Number(m[3])];
      assert(
        reused >= firstPrompt,
        `the whole first prompt (${firstPrompt}) came from the cache (reused ${reused})`,
      );
      assertEquals(prefilled, prompt - reused);
      assert(prefilled < prompt - firstPrompt, `only new tokens were prefilled (${prefilled} of ${prompt})`);

      await pane.line("/quit");
      await pane.waitFor("a clean exit", (t) => t.includes("EXIT=0"));
      const history = Deno.readTextFileSync(`${cache}/ossi/history`);
      assert(history.includes("What is 23+45?") && history.includes("/stats"), history);
    } finally {
      await pane.kill();
      Deno.removeSync(cache, { recursive: true });
    }
  },
});

Deno.test({
  name: "ossi chat REPL: Ctrl-C during a long prefill returns to the prompt at once and keeps the session",
  ignore: !HAS_TMUX,
  async fn() {
    const { env, cache } = setup();
    const command = `${Deno.execPath()} run -A ${ROOT}/src/main.ts chat --backend ref`;
    const pane = await Pane.start(`ossi-test-${Deno.pid}-p`, command, env);
    try {
      await pane.waitFor("the banner", (t) => t.includes("/help lists the commands"));
      // a saved conversation of about 2,500 tokens: many seconds of prefill on the reference backend
      const saved = `${cache}/long.json`;
      const long = "What is 1+1? ".repeat(350).trim();
      Deno.writeTextFileSync(
        saved,
        JSON.stringify({
          format: "ossi-chat-1",
          model: "tiny-oss-math",
          effort: "low",
          messages: [{ role: "user", content: long }, { role: "assistant", content: "2" }],
        }),
      );
      await pane.line(`/load ${saved}`);
      await pane.waitFor("the conversation loaded", (t) => t.includes("loaded 2 messages"));
      await pane.line("What is 23+45?");
      const reading = await pane.waitFor(
        "the prefill's progress",
        (t) => /reading the prompt: \d+ of \d+ tokens/.test(t),
      );
      const [, done, total] = /reading the prompt: (\d+) of (\d+) tokens/.exec(reading)!.map(Number);
      assert(done < total, "the prefill is under way");
      await pane.keys("C-c");
      const stopped = await pane.waitFor(
        "the prompt back",
        (t) => t.trimEnd().endsWith("[stopped]\n>>>"),
        10_000,
      );
      assert(!stopped.includes("thinking: "), "no answer was started");
      // the session goes on: the same conversation, its prefill resumed from the chunks already computed
      await pane.line("What is 12+10?");
      // (the demo model is no good at answering after 2,500 tokens of 1+1: any answer will do)
      await pane.waitFor("the answer after Ctrl-C", (t) => {
        const after = t.split("What is 12+10?")[1] ?? "";
        return after.includes("thinking: ") && after.trimEnd().endsWith("\n>>>");
      }, 120_000);
      await pane.line("/stats");
      const stats = await pane.waitFor("stats of the last turn", (t) => /reused from the KV cache/.test(t));
      const [prompt, reused] = /prompt: (\d+) tokens, (\d+) reused/.exec(stats)!.slice(1).map(Number);
      assert(prompt > 2000, `the loaded conversation is still there (${prompt} prompt tokens)`);
      assert(reused >= done, `the chunks read before Ctrl-C were kept (reused ${reused}, read ${done})`);
      await pane.line("/quit");
      await pane.waitFor("a clean exit", (t) => t.includes("EXIT=0"));
    } finally {
      await pane.kill();
      Deno.removeSync(cache, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ossi chat REPL: Ctrl-C clears a half-typed line; twice at an empty prompt exits; history is recalled",
  ignore: !HAS_TMUX,
  async fn() {
    const { env, cache, command } = setup();
    Deno.mkdirSync(`${cache}/ossi`);
    Deno.writeTextFileSync(`${cache}/ossi/history`, "What is 47+38?\n");
    const pane = await Pane.start(`ossi-test-${Deno.pid}-b`, command, env);
    try {
      await pane.waitFor("the banner", (t) => t.includes("/help lists the commands"));
      await pane.keys("Up", "Enter");
      await pane.waitFor("the recalled question's answer", answered("85"));
      await pane.keys("-l", "half typed");
      await pane.keys("C-c");
      await pane.line("What is 10+10?");
      const t = await pane.waitFor("an answer", answered("20"));
      assert(!t.includes("half typedWhat"), "the half-typed text was dropped");
      await pane.keys("C-c");
      await pane.waitFor("the exit hint", (t) => t.includes("Ctrl-C again"));
      await pane.keys("C-c");
      await pane.waitFor("a clean exit", (t) => t.includes("EXIT=0"));
    } finally {
      await pane.kill();
      Deno.removeSync(cache, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ossi chat REPL: the banner names the backend auto chose; a pasted 7,000-character line echoes at once",
  ignore: !HAS_TMUX,
  async fn() {
    const { env, cache } = setup();
    const command = `${Deno.execPath()} run -A ${ROOT}/src/main.ts chat --backend auto --threads 1`;
    const pane = await Pane.start(`ossi-test-${Deno.pid}-c`, command, env);
    try {
      const banner = await pane.waitFor("the banner", (t) => t.includes("/help lists the commands"));
      assert(/\(auto: (wasm|webgpu) backend, (fast|exact) precision, /.test(banner), banner);
      // One long line, as a terminal delivers a paste: in chunks of many characters at once.
      const pasted = "a".repeat(6990) + " END-MARK-Z";
      const t0 = Date.now();
      await pane.keys("-l", pasted);
      // The line editor redraws per chunk, not per character (it took 25 s when it redrew per key).
      await pane.waitFor(
        "the pasted line's end",
        (t) => t.replaceAll("\n", "").includes("END-MARK-Z"),
        15_000,
      );
      const echoMs = Date.now() - t0;
      await pane.keys("C-c");
      await pane.line("What is 2+3?");
      await pane.waitFor("an answer after the paste", answered("5"));
      console.log(`pasted 7000 characters echoed in ${echoMs} ms`);
    } finally {
      await pane.kill();
      Deno.removeSync(cache, { recursive: true });
    }
  },
});
