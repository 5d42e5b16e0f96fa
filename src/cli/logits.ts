// `ossi logits`: logits for every prompt position and N greedy tokens, as one JSON object on stdout.
// The way any backend is checked against a reference.

import { OssiError } from "../errors.ts";
import { resolveModel } from "../io/hub.ts";
import { loadModel } from "../model/load.ts";
import { type BackendName, createBackend } from "../engine/create_backend.ts";
import { NonFiniteError } from "../backends/backend.ts";
import { rowTopkArgmax } from "../backends/ref/kernels.ts";
import { numberOption, parseWhole, stringFlag } from "./args.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { precisionFlag } from "./settings.ts";

const HELP = commandHelp(
  "logits",
  `usage: ossi logits --model DIR --tokens 1,2,3 [--generate N] [--backend auto|ref|wasm|webgpu]
                   [--threads N] [--precision exact|fast] [--dump FILE]

Prints {"logits": [[...], ...], "generated": [...]}: logits at every prompt position, then N greedy
tokens (argmax, no stop on end-of-text). --dump writes per-layer intermediates as JSON lines to FILE.`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("logits", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  const modelPath = stringFlag(args, "model");
  const tokenText = stringFlag(args, "tokens");
  if (!modelPath) throw new OssiError("logits: --model DIR is required", 2);
  if (!tokenText) throw new OssiError("logits: --tokens 1,2,3 is required", 2);
  const tokens = tokenText.split(",").map((t) =>
    parseWhole(t.trim(), "logits: each --tokens id", { min: 0 })
  );
  const generate = numberOption(args, "generate", 0);
  const threads = numberOption(args, "threads");
  const backendName = (stringFlag(args, "backend") ?? "auto") as BackendName;
  const precision = precisionFlag(args, "exact");
  const dumpPath = stringFlag(args, "dump");
  // Opened before any work, so that an unwritable path is refused at once.
  const dumpFile = dumpPath === undefined ? undefined : openForWriting(dumpPath);

  const model = loadModel(resolveModel(modelPath).dir);
  const vocab = model.config.vocabSize;
  for (const t of tokens) {
    if (t >= vocab) throw new OssiError(`logits: token id ${t} is outside the vocabulary (${vocab})`);
  }
  const maxContext = tokens.length + generate;
  if (maxContext > model.config.maxContext) {
    throw new OssiError(
      `logits: ${maxContext} tokens exceed the model's context of ${model.config.maxContext}`,
    );
  }
  const backend = await createBackend(model, backendName, { maxContext, threads, precision });
  const dumps: { name: string; layer: number; rows: number; values: number[] }[] = [];
  const debug = dumpPath
    ? (name: string, layer: number, rows: number, values: Float32Array) =>
      dumps.push({ name, layer, rows, values: Array.from(values) })
    : undefined;
  const writeDump = () => {
    if (dumpFile) {
      writeAll(
        dumpFile,
        dumpPath!,
        new TextEncoder().encode(dumps.map((d) => JSON.stringify(d)).join("\n") + "\n"),
      );
    }
  };
  try {
    const [prompt] = await backend.forward([{ slot: 0, tokens, pos: 0, logits: "all" }], { debug });
    const rows: number[][] = [];
    for (let t = 0; t < tokens.length; t++) {
      rows.push(Array.from(prompt.subarray(t * vocab, (t + 1) * vocab)));
    }
    const generated: number[] = [];
    let next = rowTopkArgmax(prompt, tokens.length - 1, vocab);
    for (let i = 0; i < generate; i++) {
      generated.push(next);
      if (i + 1 === generate) break;
      const [step] = await backend.forward([{
        slot: 0,
        tokens: [next],
        pos: tokens.length + i,
        logits: "last",
      }]);
      next = rowTopkArgmax(step);
    }
    writeDump();
    await writeStdout(JSON.stringify({ logits: rows, generated }) + "\n");
  } catch (e) {
    if (!(e instanceof NonFiniteError) || !dumpPath) throw e;
    // name the first intermediate where the values stop being finite
    writeDump();
    const bad = dumps.find((d) => d.values.some((v) => !Number.isFinite(v)));
    const where = bad
      ? `the first non-finite intermediate is ${bad.name}${bad.layer >= 0 ? ` of layer ${bad.layer}` : ""}`
      : "every dumped intermediate is finite";
    throw new OssiError(`${e.message}; ${where} (dump in ${dumpPath})`);
  } finally {
    backend.dispose();
    dumpFile?.close();
  }
  return 0;
}

function openForWriting(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (e) {
    throw new OssiError(`logits: cannot write --dump ${path} (${(e as Error).message.split("\n")[0]})`);
  }
}

function writeAll(file: Deno.FsFile, path: string, bytes: Uint8Array): void {
  try {
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
  } catch (e) {
    throw new OssiError(`logits: cannot write --dump ${path} (${(e as Error).message.split("\n")[0]})`);
  }
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}
