// vLLM's `return_token_ids` extension: the prompt's token ids and the generated ones in the response, to
// debug chat templates and to check what the model was really given. Chat completions carry them as
// vLLM does (`prompt_token_ids` on the response, or on the first chunk; each choice's or chunk's
// `token_ids`); a Responses-API response object carries `prompt_token_ids` and `token_ids` itself.

import { isObject, optBool } from "./request_fields.ts";

/** Whether the request body asks for token ids (a boolean `return_token_ids`, else a 400). */
export function wantsTokenIds(body: unknown): boolean {
  return isObject(body) ? optBool(body, "return_token_ids") ?? false : false;
}

/** Collects a turn's generated ids (ChatRequest.onToken) and hands them out chunk by chunk. */
export class TokenIds {
  readonly all: number[] = [];
  private sent = 0;

  constructor(readonly enabled: boolean, readonly prompt: readonly number[]) {}

  readonly onToken = (id: number): void => {
    this.all.push(id);
  };

  /** `{prompt_token_ids}` when enabled, else nothing. */
  promptField(): { prompt_token_ids?: number[] } {
    return this.enabled ? { prompt_token_ids: [...this.prompt] } : {};
  }

  /** `{token_ids}`: every generated id so far. */
  allField(): { token_ids?: number[] } {
    return this.enabled ? { token_ids: [...this.all] } : {};
  }

  /** `{token_ids}`: the ids generated since the last call (a stream chunk's share). */
  nextField(): { token_ids?: number[] } {
    if (!this.enabled) return {};
    const ids = this.all.slice(this.sent);
    this.sent = this.all.length;
    return { token_ids: ids };
  }
}
