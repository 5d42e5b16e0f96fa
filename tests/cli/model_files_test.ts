// Broken tokenizer.json, tokenizer_config.json, generation_config.json and chat templates in a model folder:
// each named defect is one `ossi:` line and exit 1 from `ossi run` (never a stack trace or a hang), and
// random mutations of each file either load and answer or fail with a one-line OssiError.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL, runCli } from "../fixture_util.ts";
import { rng } from "../random.ts";
import { openChatEngine } from "../../src/cli/open_chat_engine.ts";
import { OssiError } from "../../src/errors.ts";

type Json = Record<string, unknown>;
const FILES = ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"];

/** A copy of the demo model folder (weights linked, not copied) with `edit` applied to its files. */
function demoCopy(edit: (dir: string) => void = () => {}): string {
  const dir = Deno.makeTempDirSync({ prefix: "ossi-model-files-" });
  for (const e of Deno.readDirSync(DEMO_MODEL)) {
    if (e.name.endsWith(".safetensors")) Deno.symlinkSync(`${DEMO_MODEL}/${e.name}`, `${dir}/${e.name}`);
    else Deno.copyFileSync(`${DEMO_MODEL}/${e.name}`, `${dir}/${e.name}`);
  }
  edit(dir);
  return dir;
}

function editJson(dir: string, file: string, fn: (j: Json) => void): void {
  const j = JSON.parse(Deno.readTextFileSync(`${dir}/${file}`));
  fn(j);
  Deno.writeTextFileSync(`${dir}/${file}`, JSON.stringify(j));
}

const tokenizer = (fn: (j: Json) => void) => (dir: string) => editJson(dir, "tokenizer.json", fn);
const preTokenizer = (pre: unknown) => tokenizer((j) => (j.pre_tokenizer = pre));
const mkfifo = (path: string) => {
  Deno.removeSync(path);
  assert(new Deno.Command("mkfifo", { args: [path] }).outputSync().success, "mkfifo");
};

const CASES: [string, (dir: string) => void, RegExp][] = [
  [
    "a Split pre-tokenizer without a pattern",
    preTokenizer({ type: "Split", behavior: "Isolated" }),
    /pattern/,
  ],
  [
    "an invalid pre-tokenizer regex",
    preTokenizer({ type: "Split", pattern: { Regex: "(\\p{L}+" }, behavior: "Isolated" }),
    /not a valid regex/,
  ],
  ["numeric added_tokens content", tokenizer((j) => ((j.added_tokens as Json[])[3].content = 7)), /content/],
  [
    "added_tokens that is not a list",
    tokenizer((j) => (j.added_tokens = { a: 1 })),
    /added_tokens must be a list/,
  ],
  ["an empty added token", tokenizer((j) => ((j.added_tokens as Json[])[3].content = "")), /non-empty/],
  [
    "an added token whose id the vocabulary gives to another token",
    tokenizer((j) => ((j.added_tokens as Json[])[3].id = 5)),
    /already/,
  ],
  ["a merge that is not a pair", tokenizer((j) => ((j.model as Json).merges = [42])), /merge 0/],
  [
    "eos_token_id outside the vocabulary",
    (dir) => editJson(dir, "generation_config.json", (j) => (j.eos_token_id = [501, 100000])),
    /eos_token_id 100000 is outside/,
  ],
  [
    "a generation config temperature that is not a number",
    (dir) => editJson(dir, "generation_config.json", (j) => (j.temperature = "hot")),
    /generation_config\.json: temperature must be a number/,
  ],
  [
    "a generation config top_p out of range",
    (dir) => editJson(dir, "generation_config.json", (j) => (j.top_p = 5)),
    /generation_config\.json: top-p/,
  ],
  [
    "tokenizer_config.json's chat_template that is a number",
    (dir) => {
      Deno.removeSync(`${dir}/chat_template.jinja`);
      editJson(dir, "tokenizer_config.json", (j) => (j.chat_template = 42));
    },
    /chat_template must be/,
  ],
  ["a tokenizer.json that is a FIFO", (dir) => mkfifo(`${dir}/tokenizer.json`), /not a regular file/],
  [
    "a chat_template.jinja that is a FIFO",
    (dir) => mkfifo(`${dir}/chat_template.jinja`),
    /not a regular file/,
  ],
  ["a generation_config.json folder", (dir) => {
    Deno.removeSync(`${dir}/generation_config.json`);
    Deno.mkdirSync(`${dir}/generation_config.json`);
  }, /not a regular file/],
  [
    "a chat template with 10^4 x 10^4 loops",
    (dir) =>
      Deno.writeTextFileSync(
        `${dir}/chat_template.jinja`,
        "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
      ),
    /rendering stopped after/,
  ],
  [
    "a chat template that builds a huge range",
    (dir) =>
      Deno.writeTextFileSync(`${dir}/chat_template.jinja`, "{% for i in range(10**12) %}x{% endfor %}"),
    /range\(\)/,
  ],
];

for (const [name, edit, message] of CASES) {
  Deno.test(`ossi run: ${name} is one line and exit 1`, async () => {
    const dir = demoCopy(edit);
    try {
      const r = await runCli([
        "run",
        "--model",
        dir,
        "--backend",
        "ref",
        "--max-tokens",
        "2",
        "What is 1+1?",
      ]);
      assertEquals(r.code, 1, r.stderr);
      assertEquals(r.stdout, "");
      assertMatch(r.stderr, /^ossi: [^\n]+\n$/);
      assertMatch(r.stderr, message);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

/** One random change to a JSON value: a key dropped, a value of another type, a list emptied. */
function mutateJson(v: unknown, r: () => number, depth = 0): unknown {
  const odd = [null, 0, -1, 1e300, 2 ** 31, "", "x", "<|start|>", true, [], {}, [1, "a"], { a: 1 }];
  if (v === null || typeof v !== "object" || depth > 6 || r() < 0.08) {
    return odd[Math.floor(r() * odd.length)];
  }
  const entries: [string | number, unknown][] = Array.isArray(v)
    ? v.map((x, i) => [i, x])
    : Object.entries(v);
  if (entries.length === 0) return odd[Math.floor(r() * odd.length)];
  const [key, child] = entries[Math.floor(r() * entries.length)];
  if (Array.isArray(v)) return v.map((x, i) => (i === key ? mutateJson(child, r, depth + 1) : x));
  const copy: Json = { ...(v as Json) };
  if (r() < 0.15) delete copy[key];
  else copy[key] = mutateJson(child, r, depth + 1);
  return copy;
}

/** Text damage: cut short, a byte changed, a span doubled. */
function mutateText(text: string, r: () => number): string {
  const at = Math.floor(r() * text.length);
  switch (Math.floor(r() * 3)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + String.fromCharCode(32 + Math.floor(r() * 95)) + text.slice(at + 1);
    default:
      return text.slice(0, at) + text.slice(Math.floor(at / 2), at) + text.slice(at);
  }
}

Deno.test("random damage to the tokenizer, config and template files: an answer or one OssiError line", async () => {
  const r = rng(12);
  let refused = 0, answered = 0;
  for (let trial = 0; trial < 48; trial++) {
    const file = FILES[trial % FILES.length];
    const dir = demoCopy((d) => {
      const text = Deno.readTextFileSync(`${d}/${file}`);
      const damaged = file.endsWith(".json") && r() < 0.7
        ? JSON.stringify(mutateJson(JSON.parse(text), r))
        : mutateText(text, r);
      Deno.writeTextFileSync(`${d}/${file}`, damaged);
    });
    try {
      const engine = await openChatEngine(dir, { backend: "ref", maxContext: 256 });
      try {
        const events = engine.chat({
          messages: [{ role: "user", content: "What is 1+1?" }],
          prompt: { effort: "low" },
          sampler: { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0 },
          maxTokens: 4,
        });
        for await (const _ of events);
        answered++;
      } finally {
        engine.dispose();
      }
    } catch (e) {
      assert(e instanceof OssiError, `${file} trial ${trial}: ${(e as Error).stack}`);
      assert(!e.message.includes("\n"), `${file} trial ${trial}: ${e.message}`);
      refused++;
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
  assert(refused > 10 && answered > 5, `refused ${refused}, answered ${answered}`);
});
