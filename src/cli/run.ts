// `ossi run [PROMPT]`: one question, one answer, for shell pipelines. Only the final answer goes to stdout
// (streamed, no markup); --show-reasoning sends the analysis to stderr; --json prints one JSON object.

import type { ChatUsage } from "../chat/chat_engine.ts";
import type { ChatMessage } from "../chat/messages.ts";
import { OssiError } from "../errors.ts";
import { numberOption, type ParsedArgs, stringFlag } from "./args.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { answerBudget, modelNotice, openEngine, readChatSettings } from "./settings.ts";
import { onStopSignals } from "./stop_signals.ts";
import { raceAbort, StdoutClosed, styles, useColor, writeErr, writeOut } from "./term.ts";

const HELP = commandHelp(
  "run",
  `usage: ossi run [PROMPT] [-f FILE] [--json] [--show-reasoning] [options]

Answers one prompt and exits. The prompt is stdin (when piped), then FILE's text (-f), then PROMPT,
joined by blank lines (cat notes.txt | ossi run "Summarise this"). Only the final answer
goes to stdout; --show-reasoning writes the model's analysis to stderr; --json prints one JSON object
{answer, reasoning, finish_reason, model, usage, timings} instead. A model without a chat format
(GPT-2) continues the prompt text: stdout is the continuation.
exit codes: 0 answered, 1 error (model, input), 2 usage error, 130 interrupted (Ctrl-C, SIGTERM).`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("run", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  // SIGINT and SIGTERM stop ossi run at any moment, from loading its modules to the last token: exit 130.
  // They are taken over before anything is awaited (stop_signals.ts).
  const interrupt = new AbortController();
  const stopListening = onStopSignals(["SIGINT", "SIGTERM"], () => interrupt.abort());
  let finish: string;
  try {
    finish = await answer(args, interrupt.signal);
  } catch (e) {
    if (e instanceof StdoutClosed) return 0;
    // stopped while the prompt was read or the model loaded (or failing meanwhile): the user asked to stop
    if (!interrupt.signal.aborted) throw e;
    finish = "aborted";
  } finally {
    stopListening();
  }
  if (finish === "aborted" || interrupt.signal.aborted) {
    await writeErr("ossi: interrupted\n");
    return 130;
  }
  if (finish === "length") await writeErr("ossi: the answer was cut at --max-tokens or the context size\n");
  return 0;
}

/** Reads the prompt, opens the engine and streams the answer; returns the turn's finish reason. */
async function answer(args: ParsedArgs, signal: AbortSignal): Promise<string> {
  const settings = readChatSettings(args);
  const prompt = await readPrompt(args.positionals, stringFlag(args, "file"), signal);
  const json = args.flags.has("json");
  const showReasoning = args.flags.has("show-reasoning");
  const delayMs = numberOption(args, "delay-ms", 0);

  const notice = modelNotice(settings);
  if (notice) await writeErr(notice + "\n");
  const engine = await openEngine(settings, signal);
  // Models without a chat format (GPT-2) continue the prompt text as it is.
  const completion = engine.info.format === "completion";

  const dim = styles(useColor(Deno.stderr)).dim;
  const messages: ChatMessage[] = [{ role: "user", content: prompt }];
  let answer = "";
  let reasoning = "";
  let finish = "stop";
  let usage: ChatUsage | undefined;
  let reasoningOpen = false;
  // the engine polls the stop between shard steps (and within the long ones), mid-prefill too
  const events = engine.chat({
    messages,
    prompt: settings.prompt,
    sampler: settings.sampler,
    maxTokens: answerBudget(settings, engine),
    signal,
  });
  while (true) {
    const r = await events.next();
    if (r.done) {
      usage = r.value;
      break;
    }
    const ev = r.value;
    if (ev.type === "reasoning") {
      reasoning += ev.text;
      if (showReasoning && !json) {
        reasoningOpen = true;
        await writeErr(dim(ev.text));
      }
    } else if (ev.type === "content") {
      if (reasoningOpen) {
        await writeErr("\n");
        reasoningOpen = false;
      }
      // Leading whitespace of an answer is layout, not content; a completion's is part of the text.
      const text = answer === "" && !completion ? ev.text.trimStart() : ev.text;
      answer += text;
      if (!json) await writeOut(text);
    } else if (ev.type === "done") finish = ev.reason;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  }
  if (reasoningOpen) await writeErr("\n");
  if (json) {
    await writeOut(JSON.stringify(jsonResult(settings.model.name, answer, reasoning, finish, usage)) + "\n");
  } else if (answer !== "" || finish !== "aborted") await writeOut(answer.endsWith("\n") ? "" : "\n");
  return finish;
}

/** Prompts larger than this (stdin or -f) are refused as they are read: no context holds that much. */
const MAX_PROMPT_BYTES = 64 << 20;

/** stdin (when it is not a terminal), -f FILE, then the PROMPT words, joined by blank lines. */
async function readPrompt(
  positionals: string[],
  file: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  const parts: string[] = [];
  if (!Deno.stdin.isTerminal()) {
    const text = await readLimited(Deno.stdin.readable, "stdin", signal);
    if (text.trim()) parts.push(text.trim());
  }
  if (file !== undefined) {
    let f: Deno.FsFile;
    try {
      // A pipe is fine (-f <(command)); a folder is not.
      if (Deno.statSync(file).isDirectory) throw new Error("a folder");
      f = await Deno.open(file, { read: true });
    } catch (e) {
      throw new OssiError(
        `run: cannot read ${file} (${
          e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message.split("\n")[0]
        })`,
      );
    }
    parts.push((await readLimited(f.readable, file, signal)).trim());
  }
  if (positionals.length > 0) parts.push(positionals.join(" "));
  const prompt = parts.filter((p) => p !== "").join("\n\n");
  if (!prompt) throw new OssiError("run: no prompt (give PROMPT, -f FILE, or text on stdin)", 2);
  return prompt;
}

/**
 * A stream's text, refused (one line) past MAX_PROMPT_BYTES or when it is not UTF-8; `signal` stops the
 * wait for more (a pipe whose writer never closes it) with its reason.
 */
async function readLimited(
  stream: ReadableStream<Uint8Array>,
  what: string,
  signal: AbortSignal,
): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  const next = () => raceAbort(reader.read(), signal);
  try {
    for (let r = await next(); !r.done; r = await next()) {
      size += r.value.length;
      if (size > MAX_PROMPT_BYTES) {
        throw new OssiError(`run: the prompt from ${what} is over ${MAX_PROMPT_BYTES >> 20} MiB`);
      }
      parts.push(r.value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OssiError(`run: the prompt from ${what} is not UTF-8 text`);
  }
}

function jsonResult(
  model: string,
  answer: string,
  reasoning: string,
  finish: string,
  u: ChatUsage | undefined,
) {
  const rate = (tokens: number, ms: number) => (ms > 0 ? Math.round((tokens / ms) * 1000 * 100) / 100 : null);
  const prefilled = u ? u.promptTokens - u.cachedTokens : 0;
  return {
    answer,
    reasoning,
    finish_reason: finish,
    model,
    usage: u
      ? {
        prompt_tokens: u.promptTokens,
        cached_tokens: u.cachedTokens,
        completion_tokens: u.completionTokens,
        context_used: u.contextUsed,
        context_size: u.contextSize,
      }
      : null,
    timings: u
      ? {
        prefill_ms: round2(u.prefillMs),
        decode_ms: round2(u.decodeMs),
        prefill_tokens_per_s: rate(prefilled, u.prefillMs),
        decode_tokens_per_s: rate(u.completionTokens, u.decodeMs),
      }
      : null,
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
