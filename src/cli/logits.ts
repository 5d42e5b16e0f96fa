// `ossi logits`: logits for every prompt position and N greedy tokens, as one JSON object on stdout.
// The way any backend is checked against a reference.

import { OssiError } from "../io/errors.ts";
import { loadAnyModel } from "../model/load_any.ts";
import { createAnyBackend, parseBackendName } from "../engine/create_backend.ts";
import { argmax } from "../backends/ref/kernels.ts";
import { numberFlag, parseArgs, stringFlag } from "./args.ts";

const HELP = `usage: ossi logits --model DIR --tokens 1,2,3 [--generate N] [--backend auto|ref|wasm|webgpu]
                   [--threads N] [--dump FILE]

Prints {"logits": [[...], ...], "generated": [...]}: logits at every prompt position, then N greedy
tokens (argmax, no stop on end-of-text). --dump writes per-layer intermediates as JSON lines to FILE.`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    values: ["model", "tokens", "generate", "backend", "threads", "dump"],
    switches: ["help"],
  });
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  const modelPath = stringFlag(args, "model");
  const tokenText = stringFlag(args, "tokens");
  if (!modelPath) throw new OssiError("logits: --model DIR is required", 2);
  if (!tokenText) throw new OssiError("logits: --tokens 1,2,3 is required", 2);
  const tokens = tokenText.split(",").map((s) => {
    const n = Number(s.trim());
    if (s.trim() === "" || !Number.isSafeInteger(n) || n < 0) {
      throw new OssiError(`logits: bad token id '${s}'`, 2);
    }
    return n;
  });
  const generate = numberFlag(args, "generate", 0);
  if (!Number.isSafeInteger(generate) || generate < 0) {
    throw new OssiError("logits: --generate must be >= 0", 2);
  }

  const any = loadAnyModel(modelPath);
  const vocab = any.arch === "gpt_oss" ? any.model.config.vocabSize : any.config.vocabSize;
  for (const t of tokens) {
    if (t >= vocab) throw new OssiError(`logits: token id ${t} is outside the vocabulary (${vocab})`);
  }
  const backendName = parseBackendName(stringFlag(args, "backend") ?? "auto");
  const maxContext = tokens.length + generate;
  if (any.arch !== "gpt_oss" && maxContext > any.config.maxContext) {
    throw new OssiError(
      `logits: ${maxContext} tokens exceed the model's context of ${any.config.maxContext}`,
    );
  }
  const backend = await createAnyBackend(any, backendName, {
    maxContext,
    threads: numberFlag(args, "threads"),
  });
  const dumpPath = stringFlag(args, "dump");
  const dumpLines: string[] = [];
  const debug = dumpPath
    ? (name: string, layer: number, rows: number, values: Float32Array) =>
      dumpLines.push(JSON.stringify({ name, layer, rows, values: Array.from(values) }))
    : undefined;
  try {
    const prompt = await backend.forward(tokens, 0, { logits: "all", debug });
    const rows: number[][] = [];
    for (let t = 0; t < tokens.length; t++) {
      rows.push(Array.from(prompt.subarray(t * vocab, (t + 1) * vocab)));
    }
    const generated: number[] = [];
    let next = argmax(prompt, tokens.length - 1, vocab);
    for (let i = 0; i < generate; i++) {
      generated.push(next);
      if (i + 1 === generate) break;
      const step = await backend.forward([next], tokens.length + i, { logits: "last" });
      next = argmax(step);
    }
    if (dumpPath) await Deno.writeTextFile(dumpPath, dumpLines.join("\n") + "\n");
    await writeStdout(JSON.stringify({ logits: rows, generated }) + "\n");
  } finally {
    backend.dispose();
  }
  return 0;
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}
