// Flags shared by `ossi chat` and `ossi run` (model, backend, sampling, effort, system, context) and the
// engine they open. The demo-model notice is the one line both commands print on stderr.

import { type Effort, EFFORTS, type PromptOptions } from "../chat/messages.ts";
import { defaultSamplerParams, type SamplerParams, validateSamplerParams } from "../chat/sampler.ts";
import { parseBackendName, type Precision } from "../engine/create_backend.ts";
import { OssiError } from "../errors.ts";
import { type ResolvedModel, resolveModel } from "../io/hub.ts";
import type { ChatService } from "../service/chat_service.ts";
import { WorkerChatService } from "../service/worker_service.ts";
import { decimalFlag, MIN_CONTEXT, type ParsedArgs, stringFlag, THREAD_RANGE, wholeFlag } from "./args.ts";
import { ProgressBar } from "./term.ts";

export const CHAT_VALUE_FLAGS = [
  "model",
  "backend",
  "threads",
  "temperature",
  "top-k",
  "top-p",
  "min-p",
  "seed",
  "max-tokens",
  "effort",
  "system",
  "ctx",
] as const;

/** Switches `ossi chat` and `ossi run` share (`--moe-int8` is the default now, kept for old scripts). */
export const CHAT_SWITCH_FLAGS = ["exact", "moe-int8"] as const;

export const CHAT_FLAGS_HELP = `model and sampling:
  --model DIR|ORG/NAME  model folder or Hub id in the HF cache (default: a cached openai/gpt-oss-20b
                        or -120b, else the demo model models/tiny-oss-math)
  --backend NAME        auto, ref, wasm or webgpu (default auto)
  --threads N           CPU threads for the wasm backend
  --exact               wasm: the reference's f32 arithmetic on the checkpoint's bf16 weights (slower);
                        the default uses int8 attention and unembedding weights and int8 expert
                        activations, within llama.cpp's Q8_0 loss (README: CPU backend, accuracy)
  --ctx N               context size in tokens (KV cache capacity)
  --effort LEVEL        reasoning effort: low, medium or high (default medium; low for the demo model)
  --system TEXT         replaces the model-identity line of the system message
  --temperature T       0 is greedy (default from generation_config.json, else 1)
  --top-k K, --top-p P, --min-p P, --seed N
  --max-tokens N        most tokens in one answer (default: until the context is full)`;

export interface ChatSettings {
  model: ResolvedModel;
  prompt: PromptOptions;
  sampler: SamplerParams;
  /** undefined: up to the context size. */
  maxTokens?: number;
  backend: string;
  threads?: number;
  precision: Precision;
  ctx?: number;
}

/**
 * --exact picks the exact path; the fast path is the default (`--moe-int8`, its old opt-in spelling,
 * asks for it too and contradicts --exact).
 */
export function precisionFlag(args: ParsedArgs): Precision {
  const exact = args.flags.has("exact");
  if (exact && args.flags.has("moe-int8")) {
    throw new OssiError("--exact and --moe-int8 contradict each other", 2);
  }
  return exact ? "exact" : "fast";
}

export function parseEffort(s: string): Effort {
  if ((EFFORTS as readonly string[]).includes(s)) return s as Effort;
  throw new OssiError(`effort must be one of ${EFFORTS.join(", ")} (got '${s}')`, 2);
}

/** Reads the shared flags and resolves the model (a folder, a cached Hub id, or the demo model). */
export function readChatSettings(args: ParsedArgs): ChatSettings {
  const backend = stringFlag(args, "backend") ?? "auto";
  parseBackendName(backend);
  const model = resolveModel(stringFlag(args, "model"));
  const sampler = defaultSamplerParams(model.dir);
  sampler.temperature = decimalFlag(args, "temperature", { min: 0 }, sampler.temperature);
  sampler.topK = wholeFlag(args, "top-k", { min: 0 }, sampler.topK);
  sampler.topP = decimalFlag(args, "top-p", { min: 0, minExclusive: true, max: 1 }, sampler.topP);
  sampler.minP = decimalFlag(args, "min-p", { min: 0, max: 1 }, sampler.minP);
  const seed = wholeFlag(args, "seed", {});
  if (seed !== undefined) sampler.seed = seed;
  try {
    validateSamplerParams(sampler);
  } catch (e) {
    throw new OssiError((e as Error).message, 2);
  }
  const effortFlag = stringFlag(args, "effort");
  const effort = effortFlag ? parseEffort(effortFlag) : model.source === "demo" ? "low" : "medium";
  const system = stringFlag(args, "system");
  return {
    model,
    prompt: { effort, ...(system !== undefined ? { system } : {}) },
    sampler,
    maxTokens: wholeFlag(args, "max-tokens", { min: 1 }),
    backend,
    threads: wholeFlag(args, "threads", THREAD_RANGE),
    precision: precisionFlag(args),
    ctx: wholeFlag(args, "ctx", { min: MIN_CONTEXT }),
  };
}

/** The stderr line saying which model is used when none was named (nothing when one was). */
export function modelNotice(s: ChatSettings): string | undefined {
  if (s.model.source === "demo") {
    return `ossi: no --model given and no gpt-oss in the Hugging Face cache; using the demo model tiny-oss-math (arithmetic and word games only)`;
  }
  return undefined;
}

/**
 * Opens the engine in its worker (one KV slot: one conversation); weight placement shows a progress bar
 * on a terminal's stderr.
 */
export async function openEngine(s: ChatSettings): Promise<ChatService> {
  const bar = new ProgressBar();
  try {
    return await WorkerChatService.open(
      s.model.dir,
      { backend: s.backend, threads: s.threads, precision: s.precision, maxContext: s.ctx, slots: 1 },
      (done, total) => bar.update(done, total, `loading ${s.model.name}`, (n) => String(Math.round(n))),
    );
  } finally {
    bar.clear();
  }
}

/** Tokens one answer may use: --max-tokens, else the whole context. */
export function answerBudget(s: ChatSettings, engine: ChatService): number {
  return s.maxTokens ?? engine.info.contextSize;
}
