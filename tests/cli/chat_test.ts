// `ossi chat` with stdin not a terminal (the quick start's path), its multi-line rules, saved
// conversations, the /stats text, and SIGINT while it loads or waits for input.

import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { ROOT, runCli } from "../fixture_util.ts";
import { formatStats } from "../../src/cli/chat.ts";
import { InputAssembler } from "../../src/cli/line_input.ts";
import { loadConversation, saveConversation } from "../../src/cli/conversation_file.ts";
import { OssiError } from "../../src/errors.ts";
import { signalWhen, spawnOssi } from "./signal_util.ts";

/** A cache folder that does not exist: no cached gpt-oss is picked over the demo model. */
const ENV = { HF_HUB_CACHE: `/tmp/ossi-no-hf-cache-${Deno.pid}` };

Deno.test("ossi chat answers piped questions one per line, in one conversation, and exits", async () => {
  const r = await runCli(["chat", "--backend", "ref"], {
    stdin: "What is 23+45?\n\nSort 5 3 9 1\nReverse the word apple\n",
    env: ENV,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "68\n1 3 5 9\nelppa\n");
  assertMatch(r.stderr, /^ossi: no --model given .*demo model tiny-oss-math.*\n$/);
});

Deno.test("deno task chat answers a piped question (the quick start's first command)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "chat"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...ENV },
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode("What is 23+45?\n"));
  await w.close();
  const r = await out.output();
  const stderr = new TextDecoder().decode(r.stderr);
  assertEquals(r.code, 0, stderr);
  assertEquals(new TextDecoder().decode(r.stdout), "68\n");
});

Deno.test("ossi chat answers held-out multi-turn eval conversations turn by turn", async () => {
  const items = Deno.readTextFileSync(`${ROOT}/models/tiny-oss-math/eval.jsonl`).trim().split("\n")
    .map((l) =>
      JSON.parse(l) as {
        messages: { role: string; content: string }[];
        expected: string;
        reference_correct: boolean;
      }
    )
    .filter((e) => e.messages.length > 1 && e.reference_correct).slice(-3);
  for (const item of items) {
    const questions = item.messages.filter((m) => m.role === "user").map((m) => m.content);
    const answers = [
      ...item.messages.filter((m) => m.role === "assistant").map((m) => m.content),
      item.expected,
    ];
    const r = await runCli(["chat", "--backend", "ref"], { stdin: questions.join("\n") + "\n", env: ENV });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, answers.map((a) => `${a}\n`).join(""), questions.join(" | "));
  }
});

Deno.test("ossi chat in pipe mode runs slash commands (reported on stderr) and /save, /load", async () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/conv.json`;
  const first = await runCli(["chat", "--backend", "ref"], {
    stdin: `What is 23+45?\n/effort extreme\n/save ${file}\n/quit\nWhat is 1+1?\n`,
    env: ENV,
  });
  assertEquals(first.code, 0, first.stderr);
  assertEquals(first.stdout, "68\n", "nothing after /quit is answered");
  assertMatch(first.stderr, /effort must be one of low, medium, high/);
  const saved = loadConversation(file);
  assertEquals(saved.messages.map((m) => [m.role, m.content]), [["user", "What is 23+45?"], [
    "assistant",
    "68",
  ]]);
  assertEquals(saved.effort, "low");

  const second = await runCli(["chat", "--backend", "ref"], {
    stdin: `/load ${file}\n/stats\nWhat is 12+10?\n/stats\n`,
    env: ENV,
  });
  assertEquals(second.code, 0, second.stderr);
  assertEquals(second.stdout, "22\n");
  assertMatch(second.stderr, /loaded 2 messages/);
  assertMatch(second.stderr, /no answer yet/);
  assertMatch(second.stderr, /prompt: \d+ tokens, 0 reused from the KV cache/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("piped ossi chat stops on SIGINT while the model loads and while it waits for the next question", async () => {
  // while it loads (the notice comes just before), and once it has answered a question with stdin still open
  const cases: [string, string, RegExp, "stdout" | "stderr"][] = [
    ["loading", "", /demo model/, "stderr"],
    ["waiting", "What is 23+45?\n", /68\n/, "stdout"],
  ];
  for (const [what, input, until, watch] of cases) {
    const child = spawnOssi(["chat", "--backend", "ref"], { stdin: "piped" });
    const stdin = child.stdin.getWriter();
    await stdin.write(new TextEncoder().encode(input));
    const { status, stdout, stderr } = await signalWhen(child, until, { watch });
    await stdin.close().catch(() => {});
    assertEquals([status.code, status.signal], [130, null], `${what}: ${stderr}`);
    assertMatch(stderr, /ossi: interrupted\n$/, what);
    assertEquals(stdout, input ? "68\n" : "", what);
  }
});

Deno.test("ossi chat rejects a positional argument as a usage error", async () => {
  const r = await runCli(["chat", "hello"], { env: ENV });
  assertEquals(r.code, 2);
  assertMatch(r.stderr, /unexpected argument 'hello'/);
});

Deno.test('InputAssembler joins trailing-backslash lines and """ blocks', () => {
  const a = new InputAssembler();
  assertEquals(a.push("one line"), "one line");
  assertEquals(a.push("first \\"), null);
  assert(a.pending);
  assertEquals(a.push("second"), "first \nsecond");
  assertEquals(a.push('"""'), null);
  assertEquals(a.push("a"), null);
  assertEquals(a.push(""), null);
  assertEquals(a.push('b"""'), "a\n\nb");
  assertEquals(a.push('"""inline"""'), "inline");
  assertEquals(a.push('"""start'), null);
  assertEquals(a.end(), "start");
  assertEquals(a.end(), null);
  assertEquals(a.push("x \\"), null);
  a.reset();
  assert(!a.pending);
});

Deno.test("loadConversation() validates the file with one-line errors", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/c.json`;
  saveConversation(path, {
    model: "m",
    effort: "high",
    system: "Be brief.",
    messages: [{ role: "user", content: "hi" }],
  });
  assertEquals(loadConversation(path), {
    model: "m",
    effort: "high",
    system: "Be brief.",
    messages: [{ role: "user", content: "hi" }],
  });
  const bad: [string, RegExp][] = [
    ["{", /not valid JSON/],
    ["[]", /expected a JSON object/],
    ['{"format":"x"}', /not a saved ossi chat/],
    [
      '{"format":"ossi-chat-1","effort":"low","messages":[{"role":"robot","content":"x"}]}',
      /messages\[0\] needs a role/,
    ],
    ['{"format":"ossi-chat-1","effort":"max","messages":[]}', /effort must be one of/],
  ];
  for (const [text, re] of bad) {
    Deno.writeTextFileSync(path, text);
    assertThrows(() => loadConversation(path), OssiError, re);
  }
  assertThrows(() => loadConversation(`${dir}/none.json`), OssiError, /file not found/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("formatStats() reports reuse, prefill and decode speed and context use", () => {
  assertEquals(formatStats(null), "no answer yet");
  const s = formatStats({
    promptTokens: 74,
    cachedTokens: 55,
    completionTokens: 29,
    reasoningTokens: 20,
    prefillMs: 19,
    decodeMs: 56,
    contextUsed: 102,
    contextSize: 8192,
  });
  assertMatch(s, /prompt: 74 tokens, 55 reused from the KV cache, 19 prefilled/);
  assertMatch(s, /prefill: 19 tokens in 19\.0 ms \(1000\.0 tokens\/s\)/);
  assertMatch(s, /decode: 29 tokens in 56\.0 ms \(500\.0 tokens\/s\)/);
  assertMatch(s, /context: 102 of 8192 tokens used/);
});
