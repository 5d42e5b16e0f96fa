// `ossi run` end to end on the demo model: held-out eval questions give exactly the answer on stdout,
// prompt sources (argument, stdin, -f), --json, --show-reasoning, usage errors and closed pipes.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ROOT, runCli } from "../fixture_util.ts";
import { DEMO_EVAL, type EvalItem } from "../demo_eval.ts";
import { signalWhen, spawnOssi } from "./signal_util.ts";

/** The first correct single-turn item of each task at low effort, and the first at medium and high. */
function sampleItems(): EvalItem[] {
  const single = DEMO_EVAL.filter((e) => e.messages.length === 1 && e.reference_correct);
  const picked: EvalItem[] = [];
  for (const task of ["add", "mul", "sort", "rev"]) {
    picked.push(single.find((e) => e.task === task && e.reasoning_effort === "low")!);
  }
  for (const effort of ["medium", "high"]) picked.push(single.find((e) => e.reasoning_effort === effort)!);
  return picked;
}

/** An empty Hugging Face cache, so that no cached gpt-oss is picked over the demo model. */
/** A cache folder that does not exist: an empty cache, nothing to clean up. */
const EMPTY_CACHE = `/tmp/ossi-no-hf-cache-${Deno.pid}`;
const ENV = { HF_HUB_CACHE: EMPTY_CACHE };
const DEMO_NOTICE = /^ossi: no --model given .*demo model tiny-oss-math.*\n$/;

/** The analysis text of a reference completion. */
function referenceAnalysis(completion: string): string {
  return /<\|channel\|>analysis<\|message\|>(.*?)<\|end\|>/s.exec(completion)![1];
}

Deno.test("ossi run answers held-out eval questions with exactly the answer on stdout", async () => {
  for (const item of sampleItems()) {
    const r = await runCli([
      "run",
      "--backend",
      "ref",
      "--effort",
      item.reasoning_effort,
      item.messages[0].content,
    ], { env: ENV });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `${item.expected}\n`, item.messages[0].content);
    assertMatch(r.stderr, DEMO_NOTICE);
  }
});

Deno.test("ossi run with the default backend answers too", async () => {
  const item = sampleItems()[0];
  const r = await runCli(["run", item.messages[0].content], { env: ENV });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, `${item.expected}\n`);
});

Deno.test("ossi run reads the prompt from stdin and from -f FILE", async () => {
  const fromStdin = await runCli(["run", "--backend", "ref"], { stdin: "What is 47+38?\n", env: ENV });
  assertEquals(fromStdin.code, 0, fromStdin.stderr);
  assertEquals(fromStdin.stdout, "85\n");
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/q.txt`, "Sort 5 3 9 1\n");
  const fromFile = await runCli(["run", "--backend", "ref", "-f", `${dir}/q.txt`], { env: ENV });
  assertEquals(fromFile.code, 0, fromFile.stderr);
  assertEquals(fromFile.stdout, "1 3 5 9\n");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ossi run --json prints one object whose prompt matches the eval's token count", async () => {
  const item = sampleItems()[1];
  const r = await runCli(["run", "--backend", "ref", "--json", item.messages[0].content], { env: ENV });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trim().split("\n").length, 1);
  const out = JSON.parse(r.stdout);
  assertEquals(out.answer, item.expected);
  assertEquals(out.reasoning, referenceAnalysis(item.reference_completion));
  assertEquals(out.finish_reason, "stop");
  assertEquals(out.model, "tiny-oss-math");
  assertEquals(out.usage.prompt_tokens, item.prompt_ids.length);
  assertEquals(out.usage.cached_tokens, 0);
  assert(out.usage.completion_tokens > 0);
  assert(out.timings.prefill_ms > 0 && out.timings.decode_tokens_per_s > 0, JSON.stringify(out.timings));
});

Deno.test("ossi run --show-reasoning sends the analysis to stderr and keeps stdout the answer", async () => {
  const item = sampleItems()[2];
  const r = await runCli(["run", "--backend", "ref", "--show-reasoning", item.messages[0].content], {
    env: ENV,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, `${item.expected}\n`);
  assert(r.stderr.includes(referenceAnalysis(item.reference_completion)), r.stderr);
  assert(!r.stderr.includes("\x1b["), "no colour when stderr is not a terminal");
});

Deno.test("ossi run --max-tokens cuts the answer and says so on stderr", async () => {
  const r = await runCli(["run", "--backend", "ref", "--max-tokens", "3", "What is 23+45?"], { env: ENV });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "\n");
  assertMatch(r.stderr, /cut at --max-tokens/);
});

Deno.test("ossi run usage errors exit 2 and bad models exit 1, each with one line", async () => {
  const cases: [string[], number, RegExp][] = [
    [["run"], 2, /no prompt/],
    [["run", "--effort", "huge", "hi"], 2, /effort must be one of low, medium, high/],
    [["run", "--temperature", "warm", "hi"], 2, /--temperature must be a number/],
    [["run", "--top-p", "2", "hi"], 2, /top-p must be a number > 0 and <= 1/],
    [["run", "--bogus", "hi"], 2, /bogus/],
    [["run", "--backend", "tpu", "hi"], 2, /--backend must be one of auto, ref, wasm, webgpu \(got 'tpu'\)/],
    [["run", "--model", "/no/such/dir", "hi"], 1, /no such folder/],
    [
      ["run", "--model", "openai/gpt-oss-20b", "hi"],
      1,
      /not in the Hugging Face cache.*ossi pull openai\/gpt-oss-20b/,
    ],
    [["run", "-f", "/no/such/file.txt"], 1, /cannot read \/no\/such\/file.txt/],
  ];
  for (const [args, code, re] of cases) {
    const r = await runCli(args, { env: ENV });
    assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assertEquals(r.stdout, "");
    const lines = r.stderr.trim().split("\n").filter((l) => !l.includes("demo model"));
    assertEquals(lines.length, 1, r.stderr);
    assertMatch(lines[0], re);
  }
});

Deno.test("Ctrl-C (SIGINT) stops ossi run: exit 130, partial output, one line on stderr", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/src/main.ts`,
      "run",
      "--backend",
      "ref",
      "--delay-ms",
      "100",
      "--show-reasoning",
      "What is 23+45?",
    ],
    env: { NO_COLOR: "1", ...ENV },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  // Interrupt once the reasoning streams (the answer comes seconds later at 100 ms a token).
  while (!stderr.includes("+")) stderr += (await reader.read()).value ?? "";
  child.kill("SIGINT");
  for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
  const stdout = await new Response(child.stdout).text();
  const status = await child.status;
  assertEquals(status.code, 130, stderr);
  assertMatch(stderr, /ossi: interrupted\n$/);
  assert(!stdout.includes("68"), "the answer was not finished");
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} mid-prefill stops ossi run at once: exit 130, nothing on stdout`, async () => {
    const file = Deno.makeTempFileSync({ suffix: ".txt" });
    // about 6,000 tokens: a minute of prefill on the reference backend
    Deno.writeTextFileSync(file, "What is 1+1? ".repeat(850));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/src/main.ts`, "run", "--backend", "ref", "-f", file],
      env: { NO_COLOR: "1", ...ENV },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      while (!stderr.includes("demo model")) stderr += (await reader.read()).value ?? "";
      // the engine opens in well under a second; the prefill then runs for a minute
      await new Promise((r) => setTimeout(r, 2000));
      const t0 = Date.now();
      child.kill(signal);
      for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
      const stdout = await new Response(child.stdout).text();
      const status = await child.status;
      const ms = Date.now() - t0;
      assertEquals(status.code, 130, stderr);
      assertMatch(stderr, /ossi: interrupted\n$/, "the turn was stopped, not the process killed");
      assertEquals(stdout, "");
      assert(ms < 15_000, `it stopped mid-prefill (${ms} ms after the signal)`);
    } finally {
      Deno.removeSync(file);
    }
  });
}

for (const ignored of [false, true]) {
  Deno.test(`SIGINT while the model loads stops ossi run: exit 130, one line${ignored ? " (SIGINT inherited as ignored)" : ""}`, async () => {
    // the notice comes just before the engine opens: the signal lands while the model loads (or later)
    const { status, stdout, stderr } = await signalWhen(
      spawnOssi(["run", "--backend", "ref", "What is 23+45?"], { ignoreSigint: ignored }),
      /demo model/,
    );
    assertEquals([status.code, status.signal], [130, null], stderr);
    assertMatch(stderr, /ossi: interrupted\n$/, "the signal was handled, not the process killed by it");
    assertEquals(stdout, "");
  });
}

Deno.test("SIGINT while ossi run waits for its prompt (-f FIFO never closed) stops it: exit 130", async () => {
  const dir = Deno.makeTempDirSync(), fifo = `${dir}/prompt`;
  try {
    assertEquals((await new Deno.Command("mkfifo", { args: [fifo] }).output()).code, 0);
    const child = spawnOssi(["run", "--backend", "ref", "-f", fifo]);
    // opening the FIFO's write end waits until ossi has opened its read end: it now waits for the prompt
    const writer = await Deno.open(fifo, { write: true });
    try {
      const { status, stdout, stderr } = await signalWhen(child, /^/);
      assertEquals([status.code, status.signal], [130, null], stderr);
      assertMatch(stderr, /^ossi: interrupted\n$/);
      assertEquals(stdout, "");
    } finally {
      writer.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a closed stdout pipe (| head -1) ends ossi chat quietly with exit 0", async () => {
  const questions = Array.from({ length: 12 }, (_, i) => `What is ${10 + i}+${20 + i}?`).join("\n");
  const script =
    `printf '%s\\n' "$Q" | "${Deno.execPath()}" run -A "${ROOT}/src/main.ts" chat --backend ref 2>"$ERR" | head -1; ` +
    `echo "status=\${PIPESTATUS[1]}"`;
  const err = Deno.makeTempFileSync();
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    env: { Q: questions, ERR: err, NO_COLOR: "1", ...ENV },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(text, "30\nstatus=0\n");
  const stderr = Deno.readTextFileSync(err);
  Deno.removeSync(err);
  assert(!/error|panic|uncaught/i.test(stderr), stderr);
});
