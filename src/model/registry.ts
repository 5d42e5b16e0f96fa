// The architectures this build runs, by config.json model_type. Adding one is a line here and its file.

import { FormatError } from "../errors.ts";
import type { Architecture } from "./architecture.ts";
import type { ModelConfig } from "./config.ts";
import { gpt2 } from "./gpt2.ts";
import { gptOss } from "./gpt_oss.ts";
import { llama } from "./llama.ts";
import { qwen3 } from "./qwen3.ts";

// deno-lint-ignore no-explicit-any
const ARCHITECTURES: readonly Architecture<any>[] = [gptOss, gpt2, qwen3, llama];

/** Every model_type value ossi runs. */
export const MODEL_TYPES: readonly string[] = ARCHITECTURES.flatMap((a) => a.modelTypes);

/** The architecture of a config.json (one without model_type is recognised by its keys, or refused). */
export function architectureOf(file: string, json: Record<string, unknown>): Architecture<ModelConfig> {
  const type = json.model_type;
  const arch = ARCHITECTURES.find((a) => a.modelTypes.includes(type as string)) ??
    (type === undefined ? ARCHITECTURES.find((a) => a.recognizes?.(json)) : undefined);
  if (arch) return arch;
  const all = MODEL_TYPES.map((t) => `'${t}'`).join(", ");
  throw new FormatError(
    `${file}: model_type ${JSON.stringify(type)} is not supported (expected one of ${all})`,
  );
}
