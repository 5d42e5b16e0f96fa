// What chat, run and serve read from their shared options (options.ts), in one place: the model, the
// engine's backend, threads, context and precision, the sampler, and for chat and run the prompt and the
// answer budget; and the engine they open. The demo-model notice is the one line chat and run print.

import type { Precision } from "../backends/backend.ts";
import type { Effort, PromptOptions } from "../chat/messages.ts";
import { defaultSamplerParams, type SamplerParams, validateSamplerParams } from "../chat/sampler.ts";
import type { BackendName } from "../engine/create_backend.ts";
import { OssiError } from "../errors.ts";
import { type ResolvedModel, resolveModel } from "../io/hub.ts";
import type { ChatService } from "../service/chat_service.ts";
import { WorkerChatService } from "../service/worker_service.ts";
import { numberOption, type ParsedArgs, stringFlag } from "./args.ts";
import { ProgressBar } from "./term.ts";

/** The model and how the engine runs it (chat, run, serve). */
export interface EngineSettings {
  model: ResolvedModel;
  backend: BackendName;
  threads?: number;
  /** undefined: the model's default (defaultPrecision: fast for gpt-oss, exact for float checkpoints). */
  precision?: Precision;
  /** KV capacity (of each slot) in tokens; undefined: the model's, capped. */
  ctx?: number;
}

export interface ChatSettings extends EngineSettings {
  prompt: PromptOptions;
  sampler: SamplerParams;
  /** undefined: up to the context size. */
  maxTokens?: number;
}

/**
 * --precision, or --exact (its shorthand) and --moe-int8 (the old opt-in to the fast path, the default
 * for gpt-oss): `fallback` when none is given; two that disagree are a usage error.
 */
export function precisionFlag(args: ParsedArgs, fallback?: Precision): Precision | undefined {
  const given: [string, Precision][] = [];
  const named = stringFlag(args, "precision") as Precision | undefined;
  if (named) given.push([`--precision ${named}`, named]);
  if (args.flags.has("exact")) given.push(["--exact", "exact"]);
  if (args.flags.has("moe-int8")) given.push(["--moe-int8", "fast"]);
  const other = given.find(([, p]) => p !== given[0][1]);
  if (other) throw new OssiError(`${given[0][0]} and ${other[0]} contradict each other`, 2);
  return given[0]?.[1] ?? fallback;
}

/** The engine options and the resolved model (a folder, a cached Hub id, or the demo model). */
export function readEngineSettings(args: ParsedArgs): EngineSettings {
  const backend = (stringFlag(args, "backend") ?? "auto") as BackendName;
  const threads = numberOption(args, "threads");
  const precision = precisionFlag(args);
  const ctx = numberOption(args, "ctx");
  return { model: resolveModel(stringFlag(args, "model")), backend, threads, precision, ctx };
}

/** The model folder's sampling defaults (generation_config.json) with the sampling options given. */
export function readSampler(args: ParsedArgs, modelDir: string): SamplerParams {
  const sampler = defaultSamplerParams(modelDir);
  sampler.temperature = numberOption(args, "temperature", sampler.temperature);
  sampler.topK = numberOption(args, "top-k", sampler.topK);
  sampler.topP = numberOption(args, "top-p", sampler.topP);
  sampler.minP = numberOption(args, "min-p", sampler.minP);
  const seed = numberOption(args, "seed");
  if (seed !== undefined) sampler.seed = seed;
  try {
    validateSamplerParams(sampler);
  } catch (e) {
    throw new OssiError((e as Error).message, 2);
  }
  return sampler;
}

/** Everything chat and run read from their options. */
export function readChatSettings(args: ParsedArgs): ChatSettings {
  const engine = readEngineSettings(args);
  const effort = (stringFlag(args, "effort") as Effort | undefined) ??
    (engine.model.source === "demo" ? "low" : "medium");
  const system = stringFlag(args, "system");
  return {
    ...engine,
    prompt: { effort, ...(system !== undefined ? { system } : {}) },
    sampler: readSampler(args, engine.model.dir),
    maxTokens: numberOption(args, "max-tokens"),
  };
}

/** The stderr line saying which model is used when none was named (nothing when one was). */
export function modelNotice(s: EngineSettings): string | undefined {
  if (s.model.source === "demo") {
    return `ossi: no --model given and no gpt-oss in the Hugging Face cache; using the demo model tiny-oss-math (arithmetic and word games only)`;
  }
  return undefined;
}

/**
 * Opens the engine in its worker (one KV slot: one conversation); weight placement shows a progress bar
 * on a terminal's stderr. Aborting `signal` stops the loading (it rejects with the signal's reason).
 */
export async function openEngine(s: ChatSettings, signal?: AbortSignal): Promise<ChatService> {
  const bar = new ProgressBar();
  try {
    return await WorkerChatService.open(
      s.model.dir,
      { backend: s.backend, threads: s.threads, precision: s.precision, maxContext: s.ctx, slots: 1 },
      (done, total) => bar.update(done, total, `loading ${s.model.name}`, (n) => String(Math.round(n))),
      signal,
    );
  } finally {
    bar.clear();
  }
}

/** Tokens one answer may use: --max-tokens, else the whole context. */
export function answerBudget(s: ChatSettings, engine: ChatService): number {
  return s.maxTokens ?? engine.info.contextSize;
}
