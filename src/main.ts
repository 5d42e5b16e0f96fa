// ossi: run gpt-oss models from a terminal. Entry point: picks the subcommand and reports errors.

import { OssiError } from "./errors.ts";
import { nearest } from "./cli/args.ts";
import { setNoticeHandler } from "./io/mmap.ts";
import { DEFAULT_EXIT, endHold, holdStopSignals, type StopSignal } from "./cli/stop_signals.ts";

/** Each command lives in src/cli/<name>.ts and exports `main(args): Promise<number>` (the exit code). */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ main(args: string[]): Promise<number> }> }
> = {
  logits: {
    summary: "print logits and greedy tokens for given token ids (JSON)",
    load: () => import("./cli/logits.ts"),
  },
  inspect: {
    summary: "compare models side by side from config.json and safetensors headers",
    load: () => import("./cli/inspect.ts"),
  },
  serve: {
    summary: "OpenAI-compatible HTTP server and chat page (/v1/chat/completions, /v1/responses)",
    load: () => import("./cli/serve.ts"),
  },
  chat: {
    summary: "interactive chat (reads questions from stdin when it is not a terminal)",
    load: () => import("./cli/chat.ts"),
  },
  run: {
    summary: "answer one prompt (argument, -f FILE or stdin); only the answer on stdout",
    load: () => import("./cli/run.ts"),
  },
  pull: {
    summary: "download a model from the Hugging Face Hub into the HF cache",
    load: () => import("./cli/pull.ts"),
  },
  list: { summary: "list the models in the Hugging Face cache", load: () => import("./cli/list.ts") },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: ossi <command> [options]\n\ncommands:\n${
    lines.join("\n")
  }\n\nossi help <command> (or ossi <command> --help) for a command's options`;
}

export async function main(argv: string[]): Promise<number> {
  setNoticeHandler((line) => console.error(line));
  let [name, ...rest] = argv;
  if (name === "help" && rest.length > 0) [name, rest] = [rest[0], ["--help"]];
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    console.log("ossi 0.1.0");
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const near = nearest(name, Object.keys(COMMANDS));
    const hint = near
      ? ` (did you mean ${near}?)`
      : name.startsWith("-")
      ? " (options follow a command)"
      : "";
    console.error(`ossi: unknown command '${name}'${hint}\n\n${usage()}`);
    return 2;
  }
  try {
    // a stop signal while the command's modules load waits for the command (stop_signals.ts)
    holdStopSignals();
    let running: Promise<number>, kept: StopSignal[];
    try {
      running = (await command.load()).main(rest);
    } finally {
      // a command that stops on signals took them over before its first await; the others get the defaults
      kept = endHold();
    }
    if (kept.length > 0) {
      running.catch(() => {}); // the process ends on the signal, whatever the command does meanwhile
      return DEFAULT_EXIT[kept[0]];
    }
    return await running;
  } catch (e) {
    if (e instanceof OssiError) {
      console.error(`ossi: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof RangeError) {
      console.error(`ossi: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
