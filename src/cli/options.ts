// The commands' options, declared once: what each takes, its checks, its help line, and which commands take
// it. Every command parses its argv here (parseCommandArgs) and prints its help from here (commandHelp).

import { PRECISIONS } from "../backends/backend.ts";
import { EFFORTS } from "../chat/messages.ts";
import type { PullLayout } from "../io/hub_download.ts";
import { BACKEND_NAMES } from "../engine/create_backend.ts";
import { MIN_CONTEXT, type OptionDef, type ParsedArgs, parseOptions, THREAD_RANGE } from "./args.ts";

/** A share of the probability mass: above 0, at most 1. */
const MASS_RANGE = { min: 0, minExclusive: true, max: 1 };

/** Every option of every command, by long name; a command's entry below may reword the help line. */
const OPTIONS = {
  help: { short: "h", value: { type: "switch" }, help: "this text" },
  // the model and the engine (chat, run, serve; logits takes some)
  model: {
    short: "m",
    value: { type: "text", meta: "DIR|ORG/NAME" },
    help: "model folder or Hub id in the HF cache (default: a cached openai/gpt-oss-20b or -120b, " +
      "else the demo model models/tiny-oss-math)",
  },
  backend: {
    value: { type: "choice", meta: "NAME", choices: BACKEND_NAMES },
    help: "auto, ref, wasm or webgpu (default auto: WebGPU on a hardware adapter, else wasm where it runs " +
      "the model, else ref)",
  },
  threads: {
    value: { type: "whole", meta: "N", range: THREAD_RANGE },
    help: "CPU threads of the wasm backend (default: all cores)",
  },
  ctx: {
    aliases: ["max-context"],
    value: { type: "whole", meta: "N", range: { min: MIN_CONTEXT } },
    help: "context size in tokens, the KV cache's capacity (default: the model's, at most 8192); " +
      "--max-context N is the same option",
  },
  precision: {
    value: { type: "choice", meta: "fast|exact", choices: PRECISIONS },
    help: "fast (the default for gpt-oss's MXFP4 experts): the wasm backend's int8 attention and " +
      "unembedding weights and int8 expert activations, within llama.cpp's Q8_0 loss; exact (the default " +
      "for float checkpoints): the reference's f32 arithmetic (slower). " +
      "Other backends run exact either way (README: CPU backend, accuracy)",
  },
  exact: { value: { type: "switch" }, help: "same as --precision exact" },
  "moe-int8": { value: { type: "switch" }, help: "old spelling of --precision fast" },
  parallel: {
    value: { type: "whole", meta: "N", range: { min: 1, max: 256 } },
    help: "KV slots of --ctx tokens each: N requests generate at once, their decode steps batched " +
      "(default: as many as a share of the memory holds, up to 4)",
  },
  // sampling (chat, run; serve's are the defaults of requests that leave them out)
  temperature: {
    value: { type: "decimal", meta: "T", range: { min: 0 } },
    help: "0 is greedy (default from generation_config.json, else 1)",
  },
  "top-k": {
    value: { type: "whole", meta: "K", range: { min: 0 } },
    help: "sample from the K likeliest tokens (0: all)",
  },
  "top-p": {
    value: { type: "decimal", meta: "P", range: MASS_RANGE },
    help: "sample from the likeliest tokens that hold P of the probability (1: all)",
  },
  "min-p": {
    value: { type: "decimal", meta: "P", range: { min: 0, max: 1 } },
    help: "drop tokens less likely than P times the likeliest (0: none)",
  },
  seed: { value: { type: "whole", meta: "N", range: {} }, help: "random seed: same seed, same text" },
  "max-tokens": {
    value: { type: "whole", meta: "N", range: { min: 1 } },
    help: "most tokens in one answer (default: until the context is full)",
  },
  // the prompt (chat, run)
  effort: {
    value: { type: "choice", meta: "LEVEL", choices: EFFORTS },
    help: "reasoning effort: low, medium or high (default medium; low for the demo model)",
  },
  system: {
    value: { type: "text", meta: "TEXT" },
    help: "replaces the model-identity line of the system message (a system message for template models)",
  },
  // output and pacing
  "no-reasoning": {
    value: { type: "switch" },
    help: "start with the reasoning hidden (toggle with /reasoning)",
  },
  "show-reasoning": { value: { type: "switch" }, help: "write the model's reasoning to stderr" },
  json: { value: { type: "switch" }, help: "print one JSON object" },
  "delay-ms": {
    value: { type: "whole", meta: "N", range: { min: 0, max: 60_000 } },
    help: "wait N ms after each token (to watch streaming; used by tests)",
  },
  file: {
    short: "f",
    value: { type: "text", meta: "FILE" },
    help: "read the prompt from FILE (a pipe works too)",
  },
  // serve
  host: { value: { type: "text", meta: "ADDR" }, help: "address to listen on (default 127.0.0.1)" },
  port: {
    value: { type: "whole", meta: "N", range: { min: 0, max: 65535 } },
    help: "port (default 8000; 0 picks a free one)",
  },
  "api-key": {
    value: { type: "text", meta: "KEY" },
    help: "every /v1 request needs 'Authorization: Bearer KEY' (default: $OSSI_API_KEY)",
  },
  queue: {
    value: { type: "whole", meta: "N", range: { min: 0, max: 1_000_000 } },
    help: "requests that may wait for a slot; past them the server answers 429 (default 32)",
  },
  alias: {
    value: { type: "text", meta: "NAME", repeatable: true },
    help: "another model name requests may use, listed by /v1/models (repeatable)",
  },
  "cors-origin": {
    value: { type: "text", meta: "ORIGIN", repeatable: true },
    help: "a web origin allowed to call the API, e.g. http://localhost:3000; '*' allows any (repeatable)",
  },
  // logits
  tokens: { value: { type: "text", meta: "1,2,3" }, help: "the prompt's token ids (required)" },
  generate: {
    value: { type: "whole", meta: "N", range: { min: 0 } },
    help: "greedy tokens after the prompt (default 0)",
  },
  dump: {
    value: { type: "text", meta: "FILE" },
    help: "write per-layer intermediates as JSON lines to FILE",
  },
  // pull
  layout: {
    value: { type: "choice", meta: "LAYOUT", choices: ["hub", "original", "all"] satisfies PullLayout[] },
    help: "hub (default): the transformers files; original: original/ and the tokenizer and config; all",
  },
  revision: { value: { type: "text", meta: "REV" }, help: "branch, tag or commit (default main)" },
} as const satisfies Record<string, Omit<OptionDef, "name">>;

export type OptionName = keyof typeof OPTIONS;

/** An option a command takes, with its own help line where the shared one does not fit. */
type CommandOption = OptionName | readonly [OptionName, string];

/** The engine options chat, run and serve share. */
const ENGINE: readonly OptionName[] = [
  "model",
  "backend",
  "threads",
  "ctx",
  "precision",
  "exact",
  "moe-int8",
];
const SAMPLING: readonly OptionName[] = ["temperature", "top-k", "top-p", "min-p"];
/** What chat and run share: the engine, sampling, the answer's budget and the prompt. */
const CHAT_AND_RUN: readonly OptionName[] = [
  ...ENGINE,
  ...SAMPLING,
  "seed",
  "max-tokens",
  "effort",
  "system",
];

/** Which options each command takes, in the order its help lists them. */
const COMMAND_OPTIONS: Record<string, readonly CommandOption[]> = {
  chat: [
    ...CHAT_AND_RUN,
    "no-reasoning",
    "delay-ms",
    "help",
  ],
  run: [
    ...CHAT_AND_RUN,
    "file",
    ["json", "print one JSON object {answer, reasoning, finish_reason, model, usage, timings}"],
    "show-reasoning",
    "delay-ms",
    "help",
  ],
  serve: [
    ...ENGINE.map((o): CommandOption =>
      o === "ctx"
        ? [
          "ctx",
          "context size of each slot in tokens (default: the model's, at most 8192); " +
          "--max-context N is the same option",
        ]
        : o
    ),
    "parallel",
    ...SAMPLING.map((o): CommandOption => [o, `${OPTIONS[o].help}; the default of requests without it`]),
    "host",
    "port",
    "api-key",
    "queue",
    "alias",
    "cors-origin",
    "help",
  ],
  logits: [
    ["model", "model folder or Hub id in the HF cache (required)"],
    "tokens",
    "generate",
    "backend",
    "threads",
    ["precision", "exact (default here: the reference's arithmetic) or fast (the wasm backend's int8 path)"],
    "exact",
    "dump",
    "help",
  ],
  inspect: [["json", "print the summaries as a JSON array"], "help"],
  list: [["json", "print one JSON array"], "help"],
  pull: ["layout", "revision", "help"],
};

function definitions(command: string): OptionDef[] {
  const list = COMMAND_OPTIONS[command];
  if (!list) throw new Error(`no options declared for command ${command}`);
  return list.map((o) => {
    const [name, help] = typeof o === "string" ? [o, undefined] : o;
    const def: Omit<OptionDef, "name"> = OPTIONS[name as OptionName];
    return { ...def, name, help: help ?? def.help };
  });
}

/** The commands that take `--name` (any of its spellings) besides `command`. */
function commandsTaking(name: string, command: string): string[] {
  return Object.keys(COMMAND_OPTIONS).filter((c) =>
    c !== command && definitions(c).some((d) => d.name === name || d.aliases?.includes(name))
  );
}

/** Parses a command's argv against its declared options; usage errors are one line, exit 2. */
export function parseCommandArgs(command: string, argv: readonly string[]): ParsedArgs {
  return parseOptions(argv, definitions(command), {
    command,
    elsewhere: (name) => commandsTaking(name, command),
  });
}

/** The commands that parse their argv here. */
export const OPTION_COMMANDS: readonly string[] = Object.keys(COMMAND_OPTIONS);

/** The options a command takes (for tests and help). */
export function commandOptions(command: string): readonly OptionDef[] {
  return definitions(command);
}

const HELP_WIDTH = 104, LEFT_WIDTH = 24;

/** "-m, --model DIR|ORG/NAME": an option as its help line names it. */
function optionLabel(d: OptionDef): string {
  const meta = d.value.type === "switch" ? "" : ` ${d.value.meta}`;
  return `${d.short ? `-${d.short}, ` : ""}--${d.name}${meta}`;
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The option list of a command's help, one entry per option, from the table. */
export function optionsHelp(command: string): string {
  const indent = " ".repeat(2 + LEFT_WIDTH + 2);
  return definitions(command).map((d) => {
    const label = optionLabel(d);
    const body = wrap(d.help, HELP_WIDTH - indent.length);
    const head = label.length <= LEFT_WIDTH
      ? `  ${label.padEnd(LEFT_WIDTH)}  ${body[0]}`
      : `  ${label}\n${indent}${body[0]}`;
    return [head, ...body.slice(1).map((l) => indent + l)].join("\n");
  }).join("\n");
}

/** A command's whole help: its usage and description, then "options:" and the table's lines. */
export function commandHelp(command: string, usageAndDescription: string): string {
  return `${usageAndDescription}\n\noptions:\n${optionsHelp(command)}`;
}
