// How one turn picks its tokens when a request shapes sampling: logit bias, a constrained-decoding
// program for the chat format (constrain/), and log-probabilities reported per token.

import { OssiError } from "../errors.ts";
import type { ChatEngine } from "./chat_engine.ts";
import { harmonyProgram, type OutputSpec, plainProgram } from "./constrain/output_program.ts";
import { TokenConstraint } from "./constrain/token_constraint.ts";
import { hasTokenBytes, vocabIndex } from "./constrain/vocab_index.ts";
import type { Logprobs } from "./sampler.ts";

export interface TurnSampling {
  sample: (logits: Float32Array) => number;
  logprobs: ((logits: Float32Array, chosen: number, k: number) => Logprobs) | null;
  topLogprobs: number;
  bias: ReadonlyMap<number, number> | null;
  constraint: TokenConstraint | null;
  /** Tokens the answer may still take, the next one included. */
  remaining: () => number;
  /** The log-probabilities of the token just sampled (taken by the engine when it sees the token). */
  last: Logprobs | null;
}

/** The token constraint for a turn's required output, in the engine's chat format. */
export function constraintFor(
  engine: Pick<ChatEngine, "tokenizer" | "format" | "stopTokens">,
  spec: OutputSpec,
  prompt: string,
): TokenConstraint {
  const tok = engine.tokenizer;
  if (!hasTokenBytes(tok)) throw new OssiError("constrained decoding needs a byte-level tokenizer");
  const ix = vocabIndex(tok);
  switch (engine.format.name) {
    case "harmony":
      return new TokenConstraint(ix, harmonyProgram(tok, spec));
    case "template": {
      // the format's end of turn (<|im_end|>, <|eot_id|>), else the first stop id
      const stop = tok.tokenId(engine.format.stopStrings[0] ?? "") ?? engine.stopTokens[0];
      return new TokenConstraint(
        ix,
        plainProgram(tok, spec, stop, /<think>\s*$/.test(prompt) ? "</think>" : undefined),
      );
    }
    default:
      return new TokenConstraint(ix, plainProgram(tok, spec, engine.stopTokens[0]));
  }
}
