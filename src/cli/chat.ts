// `ossi chat`: the interactive chat. On a terminal: streamed answers with the reasoning dimmed above them,
// slash commands, history, Ctrl-C to stop an answer. With stdin not a terminal: answers each question
// read from stdin (one per line, or multi-line inputs) on stdout, and exits.

import type { ChatUsage } from "../chat/chat_engine.ts";
import { type ChatMessage, type Effort, EFFORTS } from "../chat/messages.ts";
import { OssiError } from "../errors.ts";
import type { ChatService } from "../service/chat_service.ts";
import { numberOption } from "./args.ts";
import { loadConversation, saveConversation } from "./conversation_file.ts";
import { historyFile, InputAssembler, TerminalInput } from "./line_input.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { answerBudget, type ChatSettings, modelNotice, openEngine, readChatSettings } from "./settings.ts";
import { onStopSignals } from "./stop_signals.ts";
import { raceAbort, StdoutClosed, type Styles, styles, useColor, writeErr, writeOut } from "./term.ts";

const HELP = commandHelp(
  "chat",
  `usage: ossi chat [options]

Chats with a model. On a terminal: type a question and press Enter; end a line with \\ or open a """
block to write several lines; Ctrl-C stops an answer (twice at an empty prompt exits); /help lists the
commands. With stdin not a terminal it answers each question read from stdin (one per line) and exits:
  echo "What is 23+45?" | ossi chat
A model without a chat format (GPT-2) says so on stderr and continues each input as plain text.`,
);

export const COMMAND_HELP = `commands:
  /help                     this list
  /effort low|medium|high   reasoning effort for the next answers
  /system [TEXT]            set the system (identity) line; without TEXT, back to the model's default
  /reasoning                show or hide the reasoning
  /reset                    start a new conversation (same settings)
  /stats                    speed of the last answer, prompt tokens reused from the KV cache, context used
  /save FILE                save the conversation as JSON
  /load FILE                load a conversation saved with /save
  /quit                     leave (also /exit or Ctrl-D)`;

/** One conversation and its settings, shared by the REPL and pipe mode. */
class ChatState {
  messages: ChatMessage[] = [];
  effort: Effort;
  system: string | undefined;
  showReasoning = true;
  lastUsage: ChatUsage | null = null;

  constructor(readonly settings: ChatSettings, readonly engine: ChatService, readonly delayMs: number) {
    this.effort = settings.prompt.effort;
    this.system = settings.prompt.system;
  }
}

interface TurnSink {
  reasoning(text: string): Promise<void>;
  content(text: string): Promise<void>;
  /** While a long prompt is read (prefilled): tokens of the prompt in the KV cache so far, and in all. */
  reading?(done: number, total: number): void;
  /** The first output arrived, or the turn ended: the reading status goes. */
  read?(): void;
}

/** How long a prompt is read before the REPL says so, and how often the count is refreshed. */
const READING_AFTER_MS = 500, READING_EVERY_MS = 250;

interface TurnResult {
  answer: string;
  finish: string;
}

/** Runs one user turn, streaming into `sink`; the conversation keeps the turn unless it produced nothing. */
async function runTurn(
  state: ChatState,
  question: string,
  sink: TurnSink,
  signal: AbortSignal,
): Promise<TurnResult> {
  const messages: ChatMessage[] = [...state.messages, { role: "user", content: question }];
  const prompt = { effort: state.effort, ...(state.system !== undefined ? { system: state.system } : {}) };
  const encoded = await state.engine.encodeConversation(messages, prompt);
  const events = state.engine.chat({
    messages,
    prompt,
    sampler: state.settings.sampler,
    maxTokens: answerBudget(state.settings, state.engine),
    signal,
    encoded,
  });
  const reading = sink.reading ? watchReading(state, encoded.ids.length, sink) : null;
  let answer = "";
  let reasoning = "";
  let finish = "stop";
  while (true) {
    const r = await events.next();
    reading?.stop();
    if (r.done) {
      state.lastUsage = r.value;
      break;
    }
    const ev = r.value;
    if (ev.type === "reasoning") {
      reasoning += ev.text;
      await sink.reasoning(ev.text);
    } else if (ev.type === "content") {
      const text = answer === "" ? ev.text.trimStart() : ev.text;
      answer += text;
      await sink.content(text);
    } else if (ev.type === "done") finish = ev.reason;
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
  }
  // A turn stopped before any answer is dropped, so the next question starts clean.
  if (answer !== "" || finish !== "aborted") {
    state.messages = [...messages, {
      role: "assistant",
      content: answer,
      ...(reasoning ? { reasoning } : {}),
    }];
  }
  return { answer, finish };
}

/**
 * Shows how much of a long prompt the engine has read, from its shared counters (the engine computes in
 * its worker: this thread only looks), until stop().
 */
function watchReading(state: ChatState, total: number, sink: TurnSink): { stop(): void } {
  let shown = false, stopped = false;
  const tick = () => {
    if (stopped) return;
    shown = true;
    sink.reading!(Math.min(total, state.engine.stats().slots[0]?.contextUsed ?? 0), total);
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  const start = setTimeout(() => {
    tick();
    timer = setInterval(tick, READING_EVERY_MS);
  }, READING_AFTER_MS);
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(start);
      clearInterval(timer);
      if (shown) sink.read?.();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("chat", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (args.positionals.length > 0) {
    throw new OssiError(
      `chat: unexpected argument '${args.positionals[0]}' (ossi run answers one prompt)`,
      2,
    );
  }
  const delayMs = numberOption(args, "delay-ms", 0);
  const settings = readChatSettings(args);
  // SIGINT stops the loading too (exit 130): taken over before anything is awaited (stop_signals.ts). In
  // pipe mode the same listener stops the answers; the terminal's line editor reads Ctrl-C as a key instead.
  const interrupt = new AbortController();
  const stopListening = onStopSignals(["SIGINT"], () => interrupt.abort());
  try {
    const notice = modelNotice(settings);
    if (notice) await writeErr(notice + "\n");
    let engine: ChatService;
    try {
      engine = await openEngine(settings, interrupt.signal);
    } catch (e) {
      if (!interrupt.signal.aborted) throw e;
      await writeErr("ossi: interrupted\n");
      return 130;
    }
    if (engine.info.format === "completion") {
      await writeErr(
        `ossi: ${settings.model.name} has no chat format; each input is continued as plain text (no conversation memory)\n`,
      );
    }
    const state = new ChatState(settings, engine, delayMs);
    state.showReasoning = !args.flags.has("no-reasoning");
    if (!Deno.stdin.isTerminal()) return await pipeMode(state, interrupt.signal);
    stopListening();
    return await repl(state);
  } catch (e) {
    if (e instanceof StdoutClosed) return 0;
    throw e;
  } finally {
    stopListening();
  }
}

/** A /effort argument: low, medium or high. */
function parseEffort(s: string): Effort {
  if ((EFFORTS as readonly string[]).includes(s)) return s as Effort;
  throw new OssiError(`effort must be one of ${EFFORTS.join(", ")} (got '${s}')`, 2);
}

/** "wasm backend, fast precision", or "auto: wasm backend, ..." when auto chose it. */
export function backendLabel(state: { settings: ChatSettings; engine: ChatService }): string {
  const { backend, precision } = state.engine.info, asked = state.settings.backend;
  return `${asked === "auto" ? "auto: " : ""}${backend} backend, ${precision} precision`;
}

/**
 * stdin is not a terminal: each input is a question (or a slash command); answers only on stdout. `signal`
 * (SIGINT) stops the answer running, or the wait for the next input, and ends with exit 130.
 */
async function pipeMode(state: ChatState, signal: AbortSignal): Promise<number> {
  const sink: TurnSink = { reasoning: () => Promise.resolve(), content: (t) => writeOut(t) };
  const interrupted = async () => {
    await writeErr("ossi: interrupted\n");
    return 130;
  };
  const inputs = stdinInputs();
  for (;;) {
    let next: IteratorResult<string>;
    try {
      next = await raceAbort(inputs.next(), signal);
    } catch (e) {
      if (signal.aborted) return await interrupted();
      throw e;
    }
    if (next.done) break;
    const input = next.value;
    if (input.trim() === "") continue;
    if (input.trimStart().startsWith("/")) {
      const r = command(state, input.trim(), styles(false));
      if (r.output) await writeErr(r.output + "\n");
      if (r.quit) break;
      continue;
    }
    const { finish } = await runTurn(state, input.trim(), sink, signal);
    await writeOut("\n");
    if (finish === "aborted") return await interrupted();
    if (finish === "length") {
      await writeErr("ossi: the answer was cut at --max-tokens or the context size\n");
    }
  }
  return 0;
}

/** An input (a line, or a block of lines) longer than this is refused: no context holds that much. */
const MAX_INPUT_CHARS = 64 << 20;

/** Inputs from stdin as they arrive (a question is answered before the next line is written). */
async function* stdinInputs(): AsyncGenerator<string> {
  const assembler = new InputAssembler();
  let buffered = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    // Only the new chunk can hold the next newline: scanning all of a long line again per chunk is quadratic.
    const noNewline = !chunk.includes("\n");
    buffered += chunk;
    if (buffered.length + assembler.pendingLength > MAX_INPUT_CHARS) {
      throw new OssiError(`chat: an input on stdin is over ${MAX_INPUT_CHARS} characters`);
    }
    if (noNewline) continue;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const input = assembler.push(buffered.slice(0, nl).replace(/\r$/, ""));
      buffered = buffered.slice(nl + 1);
      if (input !== null) yield input;
    }
  }
  if (buffered !== "") {
    const input = assembler.push(buffered);
    if (input !== null) yield input;
  }
  const last = assembler.end();
  if (last !== null) yield last;
}

async function repl(state: ChatState): Promise<number> {
  const st = styles(useColor(Deno.stdout));
  const assembler = new InputAssembler();
  let controller: AbortController | null = null;
  let armedExit = false;
  const prompt = () => (assembler.pending ? st.dim("... ") : st.bold(">>> "));
  const input: TerminalInput = new TerminalInput(historyFile(), () => {
    if (controller) {
      controller.abort();
      return;
    }
    if (!input.lineEmpty || assembler.pending) {
      assembler.reset();
      armedExit = false;
      input.abandonLine(prompt());
      return;
    }
    if (armedExit) {
      input.close();
      return;
    }
    armedExit = true;
    void writeOut(`\n${st.dim("(Ctrl-C again, Ctrl-D or /quit to leave)")}\n`).then(() =>
      input.abandonLine(prompt())
    );
  });
  const m = state.settings.model;
  await writeOut(
    `${st.bold("ossi chat")} ${m.name} ${
      st.dim(
        `(${backendLabel(state)}, context ${state.engine.info.contextSize} tokens, effort ${state.effort})`,
      )
    }\n` +
      st.dim("/help lists the commands; Ctrl-C stops an answer; Ctrl-D or /quit leaves.") + "\n",
  );
  try {
    while (true) {
      const line = await input.readLine(prompt());
      if (line === null) break;
      armedExit = false;
      const text = assembler.push(line);
      if (text === null || text.trim() === "") continue;
      if (text.trimStart().startsWith("/") && !text.includes("\n")) {
        const r = command(state, text.trim(), st);
        if (r.output) await writeOut(r.output + "\n");
        if (r.quit) break;
        continue;
      }
      controller = new AbortController();
      try {
        await replTurn(state, text.trim(), st, controller.signal);
      } catch (e) {
        if (!(e instanceof OssiError)) throw e;
        await writeOut(st.red(`error: ${e.message}`) + "\n");
      } finally {
        controller = null;
      }
    }
  } finally {
    input.close();
  }
  await writeOut("\n");
  return 0;
}

async function replTurn(state: ChatState, question: string, st: Styles, signal: AbortSignal): Promise<void> {
  let mode: "none" | "reasoning" | "content" = "none";
  const sink: TurnSink = {
    // status lines: a stdout gone is seen by the next answer's write
    reading: (done, total) =>
      writeOut(`\r${st.dim(`reading the prompt: ${done} of ${total} tokens`)}\x1b[K`).catch(() => {}),
    read: () => writeOut("\r\x1b[K").catch(() => {}),
    reasoning: async (t) => {
      if (!state.showReasoning) return;
      if (mode === "none") await writeOut(st.dim("thinking: "));
      mode = "reasoning";
      await writeOut(st.dim(t));
    },
    content: async (t) => {
      if (mode === "reasoning") await writeOut("\n\n");
      mode = "content";
      await writeOut(t);
    },
  };
  const { finish } = await runTurn(state, question, sink, signal);
  if (mode !== "none") await writeOut("\n");
  if (finish === "aborted") await writeOut(st.dim("[stopped]") + "\n");
  else if (finish === "length") {
    await writeOut(st.dim("[cut: the context is full or --max-tokens was reached]") + "\n");
  }
}

interface CommandResult {
  output?: string;
  quit?: boolean;
}

/** Runs one slash command; errors in its argument are reported as output, never thrown. */
function command(state: ChatState, text: string, st: Styles): CommandResult {
  const [name, ...rest] = text.split(/\s+/);
  const arg = text.slice(name.length).trim();
  try {
    switch (name) {
      case "/help":
        return { output: COMMAND_HELP };
      case "/quit":
      case "/exit":
        return { quit: true };
      case "/effort":
        if (!arg) return { output: `effort: ${state.effort}` };
        state.effort = parseEffort(arg);
        return { output: st.dim(`effort set to ${state.effort}`) };
      case "/system":
        state.system = arg || undefined;
        return { output: st.dim(arg ? "system line set" : "system line back to the model's default") };
      case "/reasoning":
        state.showReasoning = rest[0] === "on" ? true : rest[0] === "off" ? false : !state.showReasoning;
        return { output: st.dim(`reasoning ${state.showReasoning ? "shown" : "hidden"}`) };
      case "/reset":
        state.messages = [];
        return { output: st.dim("new conversation") };
      case "/stats":
        return { output: formatStats(state.lastUsage) };
      case "/save":
        if (!arg) return { output: "usage: /save FILE" };
        saveConversation(arg, {
          model: state.settings.model.name,
          effort: state.effort,
          ...(state.system !== undefined ? { system: state.system } : {}),
          messages: state.messages,
        });
        return { output: st.dim(`saved ${state.messages.length} messages to ${arg}`) };
      case "/load": {
        if (!arg) return { output: "usage: /load FILE" };
        const c = loadConversation(arg);
        state.messages = c.messages;
        state.effort = c.effort;
        state.system = c.system;
        return { output: st.dim(`loaded ${c.messages.length} messages from ${arg} (effort ${c.effort})`) };
      }
      default:
        return { output: `unknown command ${name}; /help lists the commands` };
    }
  } catch (e) {
    if (e instanceof OssiError) return { output: st.red(`error: ${e.message}`) };
    throw e;
  }
}

/** /stats: the last answer's prefill and decode speed, KV-cache reuse and context use. */
export function formatStats(u: ChatUsage | null): string {
  if (!u) return "no answer yet";
  const rate = (n: number, ms: number) => (ms > 0 ? `${(n / ms * 1000).toFixed(1)} tokens/s` : "-");
  const prefilled = u.promptTokens - u.cachedTokens;
  const decoded = Math.max(0, u.completionTokens - 1); // the first answer token comes from the prefill
  return [
    `prompt: ${u.promptTokens} tokens, ${u.cachedTokens} reused from the KV cache, ${prefilled} prefilled`,
    `prefill: ${prefilled} tokens in ${u.prefillMs.toFixed(1)} ms (${rate(prefilled, u.prefillMs)})`,
    `decode: ${u.completionTokens} tokens in ${u.decodeMs.toFixed(1)} ms (${rate(decoded, u.decodeMs)})`,
    `context: ${u.contextUsed} of ${u.contextSize} tokens used`,
  ].join("\n");
}
