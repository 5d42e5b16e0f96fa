// Next-token sampling: temperature, top-k, top-p, min-p, repetition and presence penalties, with a seeded
// PRNG so the same seed gives the same text. Temperature 0 is greedy.

export interface SamplerParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  seed?: number;
}

export function defaultSamplerParams(_modelDir?: string): SamplerParams {
  throw new Error("defaultSamplerParams: not implemented yet");
}

export function makeSampler(_p: SamplerParams, _history?: () => readonly number[]): (logits: Float32Array) => number {
  throw new Error("makeSampler: not implemented yet");
}
