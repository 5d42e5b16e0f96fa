// The one option table and its parser: every command reads its options from src/cli/options.ts, so a
// spelling, a check and a help line are declared once. --ctx and --max-context are one option on chat, run
// and serve; unknown options, options of another command, missing and stray values are one line, exit 2;
// each command's help lists every option it takes, and the README names them all.

import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { editDistance, nearest } from "../../src/cli/args.ts";
import { commandOptions, OPTION_COMMANDS, parseCommandArgs } from "../../src/cli/options.ts";
import { OssiError } from "../../src/errors.ts";
import { DEMO_MODEL, ROOT, runCli } from "../fixture_util.ts";
import { spawnServe } from "../serve/spawn_serve.ts";

const ENV = { HF_HUB_CACHE: `/tmp/ossi-no-hf-cache-${Deno.pid}` };

/** The usage error parseCommandArgs throws for argv (exit 2), as its message. */
function usageError(command: string, argv: string[]): string {
  const e = assertThrows(() => parseCommandArgs(command, argv), OssiError);
  assertEquals(e.exitCode, 2, e.message);
  assert(!e.message.includes("\n"), e.message);
  return e.message;
}

Deno.test("parseCommandArgs(): --opt V, --opt=V, -m V, -mV, repeatable lists, last one wins, -- ends options", () => {
  const a = parseCommandArgs("run", [
    "-m",
    "x",
    "--ctx=64",
    "--seed",
    "-3",
    "hi",
    "--",
    "--json",
    "-",
  ]);
  assertEquals(a.flags.get("model"), "x");
  assertEquals(a.numbers.get("ctx"), 64);
  assertEquals(a.numbers.get("seed"), -3);
  assertEquals(a.positionals, ["hi", "--json", "-"]);
  assertEquals(parseCommandArgs("run", ["-mdir", "-f", "-"]).flags.get("model"), "dir");
  assertEquals(parseCommandArgs("run", ["-f", "-"]).flags.get("file"), "-");
  assertEquals(parseCommandArgs("run", ["--seed", "1", "--seed", "2"]).numbers.get("seed"), 2);
  assertEquals(parseCommandArgs("run", ["--system", "-be brief-"]).flags.get("system"), "-be brief-");
  const s = parseCommandArgs("serve", ["--cors-origin", "http://a", "--alias=b", "--cors-origin=*"]);
  assertEquals(s.lists.get("cors-origin"), ["http://a", "*"]);
  assertEquals(s.lists.get("alias"), ["b"]);
});

Deno.test("--ctx and --max-context are one option on chat, run and serve: same value, same checks", () => {
  for (const command of ["chat", "run", "serve"]) {
    for (const value of ["16", "64", "8192"]) {
      const ctx = parseCommandArgs(command, ["--ctx", value]);
      const old = parseCommandArgs(command, [`--max-context=${value}`]);
      assertEquals(ctx.numbers.get("ctx"), Number(value));
      assertEquals(old.numbers, ctx.numbers);
      assertEquals(old.flags, ctx.flags);
    }
    // the last spelling wins, as for any repeated option
    assertEquals(parseCommandArgs(command, ["--max-context", "32", "--ctx", "48"]).numbers.get("ctx"), 48);
    // a bad value names the spelling that was typed
    assertMatch(
      usageError(command, ["--max-context", "8"]),
      /^--max-context must be a whole number >= 16 \(got '8'\)$/,
    );
    assertMatch(usageError(command, ["--ctx=1.5"]), /^--ctx must be a whole number >= 16 \(got '1\.5'\)$/);
  }
});

Deno.test("unknown options: the nearest spelling of this command's options, else where --help is", () => {
  const cases: [string, string[], RegExp][] = [
    ["chat", ["--thread", "2"], /^chat: unknown option '--thread' \(did you mean --threads\?\)$/],
    ["run", ["--temp", "0"], /did you mean --temperature\?/],
    ["run", ["--max-token", "5"], /did you mean --max-tokens\?/],
    ["run", ["--seeed", "5"], /did you mean --seed\?/],
    ["serve", ["--cors-orign", "*"], /did you mean --cors-origin\?/],
    ["serve", ["--max-contxt", "64"], /did you mean --max-context\?/],
    ["serve", ["--paralel", "2"], /did you mean --parallel\?/],
    ["inspect", ["--jsno"], /did you mean --json\?/],
    ["chat", ["--bogus"], /^chat: unknown option '--bogus' \(ossi chat --help lists the options\)$/],
    ["run", ["-x"], /^run: unknown option '-x' \(ossi run --help lists the options\)$/],
  ];
  for (const [command, argv, re] of cases) assertMatch(usageError(command, argv), re, argv.join(" "));
});

Deno.test("an option of another command says whose it is; missing and stray values are named", () => {
  assertMatch(usageError("run", ["--port", "80"]), /^run: --port is an option of serve, not of run$/);
  assertMatch(
    usageError("chat", ["--json"]),
    /^chat: --json is an option of run, inspect and list, not of chat$/,
  );
  assertMatch(
    usageError("logits", ["--ctx", "64"]),
    /^logits: --ctx is an option of chat, run and serve, not of logits$/,
  );
  assertMatch(
    usageError("logits", ["--max-context", "64"]),
    /--max-context is an option of chat, run and serve/,
  );
  assertMatch(
    usageError("serve", ["--effort", "low"]),
    /^serve: --effort is an option of chat and run, not of serve$/,
  );
  assertMatch(usageError("chat", ["--threads"]), /^chat: --threads needs a value \(N\)$/);
  assertMatch(
    usageError("chat", ["--model", "--ctx", "64"]),
    /^chat: --model needs a value \(DIR\|ORG\/NAME\)$/,
  );
  assertMatch(usageError("run", ["-f"]), /^run: -f needs a value \(FILE\)$/);
  assertMatch(usageError("run", ["--json=yes"]), /^run: --json takes no value \(got '--json=yes'\)$/);
  assertMatch(
    usageError("run", ["--backend", "tpu"]),
    /^--backend must be one of auto, ref, wasm, webgpu \(got 'tpu'\)$/,
  );
  assertMatch(usageError("run", ["--precision", "fastest"]), /^--precision must be one of fast, exact/);
  assertMatch(usageError("serve", ["--parallel", "0"]), /^--parallel must be a whole number >= 1 and <= 256/);
  assertMatch(usageError("serve", ["--top-p", "0"]), /^--top-p must be a number > 0 and <= 1/);
  assertMatch(usageError("pull", ["--layout", "gguf"]), /^--layout must be one of hub, original, all/);
});

Deno.test("nearest() and editDistance(): prefixes, typos and swaps; nothing for far words", () => {
  assertEquals(editDistance("thread", "threads"), 1);
  assertEquals(editDistance("tpo-k", "top-k"), 1);
  assertEquals(editDistance("", "abc"), 3);
  assertEquals(nearest("tpo-k", ["top-k", "top-p"]), "top-k");
  assertEquals(nearest("temp", ["temperature", "top-k"]), "temperature");
  assertEquals(nearest("to", ["top-k", "top-p"]), undefined);
  assertEquals(nearest("banana", ["model", "backend"]), undefined);
  assertEquals(nearest("chta", ["chat", "run", "serve"]), "chat");
});

Deno.test("the CLI: unknown options and commands are one line in ossi's voice, exit 2, before any model loads", async () => {
  const cases: [string[], RegExp][] = [
    [["chat", "--thread", "2"], /^ossi: chat: unknown option '--thread' \(did you mean --threads\?\)\n$/],
    [["run", "--port", "1", "hi"], /^ossi: run: --port is an option of serve, not of run\n$/],
    [
      ["serve", "--bogus"],
      /^ossi: serve: unknown option '--bogus' \(ossi serve --help lists the options\)\n$/,
    ],
    [["serve", "--port"], /^ossi: serve: --port needs a value \(N\)\n$/],
    [["logits", "--max-context", "64"], /^ossi: logits: --max-context is an option of chat, run and serve/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, { env: ENV });
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, re);
    assert(!r.stderr.includes("parseArgs") && !r.stderr.includes("positional"), r.stderr);
  }
  const command = await runCli(["chta"], { env: ENV });
  assertEquals(command.code, 2);
  assertMatch(command.stderr, /^ossi: unknown command 'chta' \(did you mean chat\?\)\n/);
});

Deno.test("every command's --help (and ossi help COMMAND) lists every option it takes, aliases included", async () => {
  for (const command of OPTION_COMMANDS) {
    const r = await runCli([command, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    for (const d of commandOptions(command)) {
      assert(r.stdout.includes(`--${d.name}`), `ossi ${command} --help lacks --${d.name}`);
      if (d.short) assert(r.stdout.includes(`-${d.short}, --${d.name}`), `${command}: -${d.short}`);
      for (const alias of d.aliases ?? []) assert(r.stdout.includes(`--${alias}`), `${command}: --${alias}`);
    }
    const viaHelp = await runCli(["help", command]);
    assertEquals(viaHelp.stdout, r.stdout, `ossi help ${command}`);
  }
});

Deno.test("README's CLI reference names every option of every command", () => {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  for (const command of OPTION_COMMANDS) {
    for (const d of commandOptions(command)) {
      for (const name of [d.name, ...(d.aliases ?? [])]) {
        assert(readme.includes(`--${name}`), `README does not name --${name} (ossi ${command})`);
      }
    }
  }
});

Deno.test("ossi run and chat: --max-context N and --ctx N give the same context", async () => {
  for (const spelling of ["--ctx", "--max-context"]) {
    const run = await runCli(["run", "--backend", "ref", spelling, "96", "--json", "What is 2+2?"], {
      env: ENV,
    });
    assertEquals(run.code, 0, run.stderr);
    assertEquals(JSON.parse(run.stdout).usage.context_size, 96, spelling);
    const chat = await runCli(["chat", "--backend", "ref", spelling, "96"], {
      stdin: "What is 2+2?\n/stats\n",
      env: ENV,
    });
    assertEquals(chat.code, 0, chat.stderr);
    assertMatch(chat.stderr, /context: \d+ of 96 tokens used/, spelling);
  }
});

Deno.test("ossi serve: --ctx N and --max-context N give the same slots; --temperature is the requests' default", async () => {
  for (const spelling of ["--ctx", "--max-context"]) {
    const { child, url, stderr, reader } = await spawnServe([
      "--model",
      DEMO_MODEL,
      "--port",
      "0",
      "--backend",
      "ref",
      spelling,
      "96",
      "--temperature",
      "0.25",
    ]);
    try {
      assertMatch(stderr(), /slots? of 96 tokens/, spelling);
      const res = await fetch(`${url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny-oss-math", input: "What is 2+2?", max_output_tokens: 4 }),
      });
      assertEquals((await res.json()).temperature, 0.25);
    } finally {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  }
});
