// Every numeric flag of every command goes through one strict parser: hex, exponents, fractions, blanks,
// negative and out-of-range values are one line and exit 2 (usage). Values that pass the flag but not the
// model or the file system (a --generate past the context, an unwritable --dump, `run -f /dev/zero`) are
// one line and exit 1. /load refuses a 100 MB file at once and reads a file with a byte-order mark.

import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { DEMO_MODEL, FIXTURES, runCli } from "../fixture_util.ts";
import { parseDecimal, parseWhole } from "../../src/cli/args.ts";
import { saveConversation } from "../../src/cli/conversation_file.ts";
import { OssiError } from "../../src/errors.ts";

const ENV = { HF_HUB_CACHE: `/tmp/ossi-no-hf-cache-${Deno.pid}` };

Deno.test("parseWhole() and parseDecimal() take plain decimal numbers in range, nothing else", () => {
  assertEquals(parseWhole("42", "--n"), 42);
  assertEquals(parseWhole("-3", "--n"), -3);
  assertEquals(parseWhole("+7", "--n", { min: 1 }), 7);
  assertEquals(parseDecimal("0.25", "--t"), 0.25);
  assertEquals(parseDecimal("1e-3", "--t"), 0.001);
  assertEquals(parseDecimal(".5", "--t"), 0.5);
  for (
    const bad of ["0x10", "1e2", "1.5", "1.0", "", " 7", "7 ", "Infinity", "NaN", "1_000", "9007199254740993"]
  ) {
    const e = assertThrows(() => parseWhole(bad, "--n"), OssiError, /--n must be a whole number/);
    assertEquals(e.exitCode, 2);
  }
  for (const bad of ["0x1", "", " 1", "Infinity", "-Infinity", "NaN", "1,5", "1e", "e1", "1e999"]) {
    assertThrows(() => parseDecimal(bad, "--t"), OssiError, /--t must be a number/);
  }
  assertThrows(() => parseWhole("0", "--n", { min: 1 }), OssiError, />= 1 \(got '0'\)/);
  assertThrows(() => parseWhole("70000", "--port", { min: 0, max: 65535 }), OssiError, /<= 65535/);
  assertThrows(() => parseDecimal("0", "--top-p", { min: 0, minExclusive: true }), OssiError, /> 0/);
});

/** [command args before the flag, flag, bad values] for every numeric flag. */
const FLAGS: [string[], string, string[]][] = [
  ...["run", "chat"].flatMap((cmd): [string[], string, string[]][] => [
    [[cmd], "--threads", ["0x10", "0"]],
    [[cmd], "--temperature", ["abc", "-5"]],
    [[cmd], "--top-k", ["1.5", "-5"]],
    [[cmd], "--top-p", ["0x1", "0"]],
    [[cmd], "--min-p", ["Infinity", "-5"]],
    [[cmd], "--seed", ["1e2", "1.5"]],
    [[cmd], "--max-tokens", ["0", "-5"]],
    [[cmd], "--ctx", ["1.5", "8"]],
    [[cmd], "--max-context", ["0x40", "-5"]],
    [[cmd], "--delay-ms", ["", "-5"]],
  ]),
  [["serve"], "--port", ["0x10", "65536"]],
  [["serve"], "--threads", ["1e2", "-5"]],
  [["serve"], "--max-context", ["0", "1.5"]],
  [["serve"], "--ctx", ["8", "1e3"]],
  [["serve"], "--parallel", ["0", "2.5"]],
  [["serve"], "--temperature", ["-1", "hot"]],
  [["serve"], "--top-k", ["1.5", "-1"]],
  [["serve"], "--queue", ["-5", "2.5"]],
  [["logits", "--model", DEMO_MODEL, "--tokens", "1"], "--generate", ["1e2", "-5"]],
  [["logits", "--model", DEMO_MODEL, "--tokens", "1"], "--threads", ["0", "x"]],
  [["logits", "--model", DEMO_MODEL], "--tokens", ["0x10", "1e2", "-1", "1,,2", "1.5"]],
];

Deno.test("every numeric flag: a bad value is one line and exit 2, as --flag V and as --flag=V", async () => {
  for (const [before, flag, values] of FLAGS) {
    for (const [i, value] of values.entries()) {
      const args = i % 2 === 0 ? [...before, flag, value] : [...before, `${flag}=${value}`];
      const r = await runCli([...args, ...(before[0] === "run" ? ["hi"] : [])], { env: ENV });
      const what = args.join(" ");
      assertEquals(r.code, 2, `${what}: ${r.stderr}`);
      assertMatch(r.stderr, /^ossi: [^\n]+\n$/, what);
      assert(r.stderr.includes(flag.slice(2)), `${what}: ${r.stderr}`);
    }
  }
});

Deno.test("flags that pass parsing but not the model or the file system: one line, exit 1 or 2", async () => {
  const tiny = `${FIXTURES}/gpt-oss-tiny`;
  const cases: [string[], number, RegExp][] = [
    [
      ["logits", "--model", tiny, "--tokens", "1", "--generate", "1000000000"],
      1,
      /exceed the model's context/,
    ],
    [
      ["logits", "--model", tiny, "--tokens", "1", "--dump", "/proc/no/such/dir/x.jsonl"],
      1,
      /cannot write --dump/,
    ],
    [["logits", "--model", tiny, "--tokens", "1", "--dump", "/"], 1, /cannot write --dump/],
    [["serve", "--host", "999.1.1.1"], 2, /--host must be an IP address/],
    [["serve", "--host", "bad host!"], 2, /--host/],
    [["serve", "--cors-origin", "evil.example"], 2, /--cors-origin must be/],
    [["serve", "--max-context=-5"], 2, /--max-context must be a whole number >= 16 \(got '-5'\)/],
    [["run", "-f", "/dev/zero"], 1, /the prompt from \/dev\/zero is over 64 MiB/],
    [["run", "-f", "/tmp"], 1, /cannot read \/tmp/],
  ];
  for (const [args, code, re] of cases) {
    const started = Date.now();
    const r = await runCli(args, { env: ENV });
    assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, /^ossi: [^\n]+\n$/, args.join(" "));
    assertMatch(r.stderr, re);
    assert(Date.now() - started < 30_000, `${args.join(" ")} took ${Date.now() - started} ms`);
  }
});

Deno.test("/load: a 100 MB file is refused at once; a file with a byte-order mark loads", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const big = `${dir}/big.json`;
    Deno.writeTextFileSync(big, '{"format":"ossi-chat-1",');
    Deno.truncateSync(big, 100 << 20);
    saveConversation(`${dir}/c.json`, {
      model: "m",
      effort: "low",
      messages: [{ role: "user", content: "hi" }],
    });
    Deno.writeTextFileSync(`${dir}/bom.json`, "\uFEFF" + Deno.readTextFileSync(`${dir}/c.json`));
    const r = await runCli(["chat", "--backend", "ref"], {
      stdin: `/load ${big}\n/load ${dir}/bom.json\n/load ${dir}\n`,
      env: ENV,
    });
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, /big\.json: \d+ bytes is over the limit of \d+/);
    assertMatch(r.stderr, /loaded 1 messages from .*bom\.json/);
    assertMatch(r.stderr, /not a regular file/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
