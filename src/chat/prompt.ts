// Prompt rendering that follows the model folder: its chat template (chat_template.jinja, or
// tokenizer_config.json's chat_template) through @huggingface/jinja, else the built-in harmony renderer.
// Every renderer says which parts of its text are user text (RenderedPrompt.literal).

import { Environment, parse, tokenize } from "@huggingface/jinja";
import { exists, joinPath, readJson, readTextFile } from "../io/checkpoint.ts";
import { FormatError } from "../errors.ts";
import { renderHarmony, renderHarmonyPrompt, renderResponseFormat } from "./harmony.ts";
import { type ChatMessage, type PromptOptions, todayIso } from "./messages.ts";
import type { RenderedPrompt } from "./rendered_prompt.ts";
import { StandIns } from "./stand_ins.ts";
import { BudgetedInterpreter, MAX_RANGE } from "./template_budget.ts";

/** chat_template.jinja files larger than this are refused (real ones are a few KB to 20 KB). */
const MAX_TEMPLATE_BYTES = 1 << 20;

export interface PromptRenderer {
  /** The prompt text alone (what renderPrompt() gives as `text`). */
  render(messages: ChatMessage[], opts: PromptOptions): string;
  /**
   * The prompt and its literal spans. `guard`: the characters that begin or end a special token
   * (stand_ins.ts boundaryChars); a renderer that cannot place user text exactly hides them from it.
   */
  renderPrompt(messages: ChatMessage[], opts: PromptOptions, guard: ReadonlySet<string>): RenderedPrompt;
}

/** The built-in renderer, used when the folder has no chat template. */
export const harmonyRenderer: PromptRenderer = { render: renderHarmony, renderPrompt: renderHarmonyPrompt };

const NO_GUARD: ReadonlySet<string> = new Set();

/** A message as Hugging Face chat templates expect it (OpenAI-style tool calls, `thinking`). */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  // gpt-oss templates read `thinking`, Qwen3's `reasoning_content`.
  if (m.reasoning !== undefined) out.thinking = out.reasoning_content = m.reasoning;
  if (m.toolCalls?.length) {
    out.tool_calls = m.toolCalls.map((c) => ({
      id: c.id,
      type: "function",
      function: { name: c.name, arguments: parseArguments(c.arguments) },
    }));
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.name !== undefined) out.name = m.name;
  return out;
}

/** Templates render `arguments | tojson`, so they expect an object; text that is not JSON stays text. */
function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** The strftime subset chat templates use for dates, on a YYYY-MM-DD date. */
function strftime(date: string, fmt: string): string {
  const [y, m, d] = date.split("-");
  return fmt.replace(/%([YmdBbye%])/g, (_, c: string) => {
    switch (c) {
      case "Y":
        return y;
      case "y":
        return y.slice(2);
      case "m":
        return m;
      case "d":
        return d;
      case "e":
        return String(Number(d));
      case "B":
        return MONTHS[Number(m) - 1] ?? m;
      case "b":
        return (MONTHS[Number(m) - 1] ?? m).slice(0, 3);
      default:
        return "%";
    }
  });
}

/** The globals @huggingface/jinja's Template installs, less its clock-bound strftime_now. */
function templateGlobals(): Record<string, unknown> {
  return {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: string) => {
      throw new FormatError(`chat template: ${message}`);
    },
    range: (start: number, stop?: number, step = 1) => {
      if (stop === undefined) [start, stop] = [0, start];
      if (![start, stop, step].every(Number.isSafeInteger)) {
        throw new FormatError("chat template: range() takes whole numbers");
      }
      if (step === 0) throw new FormatError("chat template: range() step must not be zero");
      if ((stop - start) / step > MAX_RANGE) {
        throw new FormatError(`chat template: range() of more than ${MAX_RANGE} numbers`);
      }
      const out: number[] = [];
      for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
      return out;
    },
  };
}

/** A renderer over a Jinja chat template; `specials` are the tokenizer_config.json token strings. */
export class TemplateRenderer implements PromptRenderer {
  private readonly program: ReturnType<typeof parse>;

  constructor(
    readonly source: string,
    private readonly specials: Record<string, string>,
    private readonly name = "chat template",
  ) {
    try {
      // The options transformers uses for chat templates.
      this.program = parse(tokenize(source, { lstrip_blocks: true, trim_blocks: true }));
    } catch (e) {
      throw new FormatError(`${name}: cannot parse (${(e as Error).message.split("\n")[0]})`);
    }
  }

  render(messages: ChatMessage[], opts: PromptOptions): string {
    return this.renderPrompt(messages, opts, NO_GUARD).text;
  }

  /** Renders with the user's strings behind stand-ins (stand_ins.ts), so their special-token text is known. */
  renderPrompt(messages: ChatMessage[], opts: PromptOptions, guard: ReadonlySet<string>): RenderedPrompt {
    const date = opts.date ?? todayIso();
    const user: Record<string, unknown> = {
      messages: withResponseFormat(messages, opts).map(templateMessage),
    };
    if (opts.system !== undefined) user.model_identity = opts.system;
    if (opts.tools?.length) {
      user.tools = opts.tools.map((t) => ({
        type: "function",
        function: { name: t.name, description: t.description ?? "", parameters: t.parameters ?? {} },
      }));
    }
    const standIns = new StandIns(guard, user, [this.source, ...Object.values(this.specials)]);
    const context: Record<string, unknown> = {
      ...this.specials,
      ...standIns.hideDeep(user),
      add_generation_prompt: true,
      reasoning_effort: opts.effort,
      strftime_now: (fmt: string) => strftime(date, fmt),
    };
    // Template.render() would install a strftime_now() on today's clock; the globals are set here
    // instead so that `opts.date` decides "Current date:".
    const env = new Environment();
    for (const [key, value] of Object.entries({ ...templateGlobals(), ...context })) env.set(key, value);
    let text: string;
    try {
      text = new BudgetedInterpreter(env, this.name).run(this.program).value as string;
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(`${this.name}: cannot render (${(e as Error).message.split("\n")[0]})`);
    }
    return standIns.restore(text);
  }
}

/**
 * Templates have no slot for a response format: its section goes at the end of the system/developer
 * instructions (where harmony's developer message has it), or in a system message of its own.
 */
function withResponseFormat(messages: ChatMessage[], opts: PromptOptions): ChatMessage[] {
  if (!opts.responseFormat) return messages;
  const section = renderResponseFormat(opts.responseFormat);
  const i = messages.findLastIndex((m) => m.role === "system" || m.role === "developer");
  if (i < 0) return [{ role: "system", content: section }, ...messages];
  return messages.map((m, j) => (j === i ? { ...m, content: `${m.content}\n\n${section}` } : m));
}

/** The template text of a folder: chat_template.jinja first, then tokenizer_config.json's chat_template. */
function findTemplate(
  modelDir: string,
  config: Record<string, unknown> | null,
): { source: string; file: string } | null {
  const file = joinPath(modelDir, "chat_template.jinja");
  if (exists(file)) return { source: readTextFile(file, MAX_TEMPLATE_BYTES), file };
  const configFile = joinPath(modelDir, "tokenizer_config.json");
  const t = config?.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === "string") return { source: t, file: configFile };
  if (Array.isArray(t) && t.length > 0) {
    const named = t.find((x) => x?.name === "default") ?? t[0];
    if (typeof named?.template === "string") return { source: named.template, file: configFile };
  }
  throw new FormatError(`${configFile}: chat_template must be a string or a list of {name, template}`);
}

/** Special-token strings (bos_token, eos_token, ...) a template may print. */
function specialStrings(config: Record<string, unknown> | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const v = config?.[key];
    if (typeof v === "string") out[key] = v;
    else if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
      out[key] = (v as { content: string }).content;
    }
  }
  return out;
}

export function loadPromptRendererSync(modelDir: string): PromptRenderer {
  const configFile = joinPath(modelDir, "tokenizer_config.json");
  const config = exists(configFile) ? readJson(configFile) : null;
  const found = findTemplate(modelDir, config);
  if (found === null) return harmonyRenderer;
  return new TemplateRenderer(found.source, specialStrings(config), found.file);
}

export function loadPromptRenderer(modelDir: string): Promise<PromptRenderer> {
  return Promise.resolve(loadPromptRendererSync(modelDir));
}
