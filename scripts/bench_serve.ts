// The serving row of `deno task bench`: one backend with 4 KV slots under the BatchScheduler (what `ossi
// serve --parallel 4` runs), on a synthetic gpt-oss-20b-shaped checkpoint. Aggregate decode tokens/s with 1,
// 2 and 4 concurrent streams (rounds interleaved in one run), and the time to first token of a short
// request sent while a long generation decodes, beside the same request on an idle engine. Tokens are
// sampled from the logits as the server samples them (not through the argmax fast path). Last, how long a
// stop takes to land in the middle of a long prefill (the flag flips; the generation returns).
// usage: deno run -A scripts/bench_serve.ts [--json] [--layers 2] [--threads N] [--decode 16] [--rounds 2]

import { numberFlag, parseArgs } from "../src/cli/args.ts";
import { BatchScheduler } from "../src/engine/batch_scheduler.ts";
import { createBackend } from "../src/engine/create_backend.ts";
import { type GenerateRequest, Session } from "../src/engine/session.ts";
import { loadModel } from "../src/model/load.ts";
import { cachedSynth20b } from "./synth_checkpoint.ts";

export interface ServeRow {
  phase: "serve";
  backend: string;
  model: string;
  streams: number;
  round: number;
  /** Tokens decoded by all streams together per second, while all of them decode. */
  decode_tokens_per_s: number;
}

export interface TtftRow {
  phase: "ttft";
  backend: string;
  model: string;
  /** A 16-token request's time to first token on an idle engine, and while a long generation decodes. */
  ttft_idle_ms: number;
  ttft_busy_ms: number;
  /** The long generation's tokens after the short request's first token: it went on, not waited. */
  long_tokens_after: number;
  /** Milliseconds from a stop requested mid-prefill to the generation's end (median of three). */
  stop_ms: number;
}

const SLOTS = 4, PROMPT = 16;

/** Deterministic prompt ids below vocab, different per stream. */
function prompt(stream: number, vocab: number): number[] {
  return Array.from({ length: PROMPT }, (_, i) => (i * 7919 + stream * 104_729 + 13) % vocab);
}

const argmax = (x: Float32Array) => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
};

/** Runs a generation; resolves with each token's arrival time (ms). */
async function timed(session: Session, req: GenerateRequest): Promise<number[]> {
  const times: number[] = [];
  for await (const _ of session.generate(req)) times.push(performance.now());
  return times;
}

export async function benchServe(
  dir: string,
  modelName: string,
  opts: { threads?: number; decode: number; rounds: number },
): Promise<(ServeRow | TtftRow)[]> {
  const model = loadModel(dir), vocab = model.config.vocabSize;
  const backend = await createBackend(model, "wasm", {
    // the fast path, as `ossi serve` runs by default (createBackend's own default is exact)
    precision: "fast",
    slots: SLOTS,
    maxContext: Math.max(PROMPT + 4 * opts.decode + 8, 264),
    threads: opts.threads,
  });
  const rows: (ServeRow | TtftRow)[] = [];
  try {
    const scheduler = new BatchScheduler(backend);
    const sessions = Array.from({ length: SLOTS }, (_, slot) => new Session(scheduler, { slot }));
    const request = (stream: number, maxTokens: number): GenerateRequest => ({
      prompt: prompt(stream, vocab),
      sample: argmax,
      stopTokens: new Set(),
      maxTokens,
    });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const streams of [1, 2, 4]) {
        sessions.forEach((s) => s.reset());
        const times = await Promise.all(
          sessions.slice(0, streams).map((s, i) => timed(s, request(round * 10 + i, opts.decode + 1))),
        );
        // the window in which every stream decodes: from the last first token to the first last token
        const start = Math.max(...times.map((t) => t[0])), end = Math.min(...times.map((t) => t.at(-1)!));
        const decoded = times.reduce((n, t) => n + t.filter((x) => x > start && x <= end).length, 0);
        rows.push({
          phase: "serve",
          backend: backend.name,
          model: modelName,
          streams,
          round,
          decode_tokens_per_s: decoded / ((end - start) / 1000),
        });
      }
    }
    // time to first token: alone, then while a long generation decodes on another slot
    sessions.forEach((s) => s.reset());
    let t0 = performance.now();
    const idle = (await timed(sessions[1], request(91, 1)))[0] - t0;
    sessions.forEach((s) => s.reset());
    let shortFirst = 0;
    const long = timed(sessions[0], request(92, 3 * opts.decode));
    const short = (async () => {
      // once the long one decodes
      while ((sessions[0].lastStats?.decodeTokens ?? 0) < 3) await new Promise((r) => setTimeout(r, 1));
      t0 = performance.now();
      shortFirst = (await timed(sessions[1], request(93, 1)))[0];
    })();
    const [longTimes] = await Promise.all([long, short]);
    // a stop in the middle of a long prefill: the time from the flag to the generation's end
    const stops: number[] = [];
    for (let i = 0; i < 3; i++) {
      let stopAt = Infinity;
      sessions[0].reset();
      const req = {
        ...request(94 + i, 1),
        prompt: Array.from({ length: 256 }, (_, j) => (j * 31 + i) % vocab),
      };
      const ended = timed(sessions[0], { ...req, shouldStop: () => performance.now() >= stopAt });
      stopAt = performance.now() + 700 + 150 * i;
      await ended;
      stops.push(performance.now() - stopAt);
    }
    rows.push({
      phase: "ttft",
      backend: backend.name,
      model: modelName,
      ttft_idle_ms: idle,
      ttft_busy_ms: shortFirst - t0,
      long_tokens_after: longTimes.filter((x) => x > shortFirst).length,
      stop_ms: stops.sort((a, b) => a - b)[1],
    });
  } finally {
    backend.dispose();
  }
  return rows;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/**
 * Median aggregate rate per stream count, and the median of each round's rate over that round's 1-stream
 * rate (the rounds alternate stream counts: a shared machine's speed drifts between rounds).
 */
export function serveSummary(
  rows: (ServeRow | TtftRow)[],
): { streams: number; tokensPerS: number; ratio: number }[] {
  const serve = rows.filter((r): r is ServeRow => r.phase === "serve");
  return [1, 2, 4].map((streams) => {
    const mine = serve.filter((r) => r.streams === streams);
    const ratio = (r: ServeRow) =>
      r.decode_tokens_per_s / serve.find((x) => x.round === r.round && x.streams === 1)!.decode_tokens_per_s;
    return {
      streams,
      tokensPerS: median(mine.map((r) => r.decode_tokens_per_s)),
      ratio: median(mine.map(ratio)),
    };
  });
}

export function serveTable(rows: (ServeRow | TtftRow)[]): string {
  const lines: string[] = [];
  const serve = rows.filter((r): r is ServeRow => r.phase === "serve");
  if (serve.length) {
    const rounds = Math.max(...serve.map((r) => r.round));
    lines.push(
      `serving (${serve[0].backend}, ${serve[0].model}, ${SLOTS} slots): aggregate decode tokens/s ` +
        `(medians over ${rounds} interleaved rounds; the ratio is each round's over its own 1-stream rate)`,
    );
    for (const r of serveSummary(rows)) {
      lines.push(
        `  ${r.streams} stream${r.streams > 1 ? "s" : " "}  ${r.tokensPerS.toFixed(2).padStart(7)} tok/s  ` +
          `${r.ratio.toFixed(2)}x one stream`,
      );
    }
  }
  for (const r of rows) {
    if (r.phase !== "ttft") continue;
    lines.push(
      `time to first token of a ${PROMPT}-token request: ${r.ttft_idle_ms.toFixed(0)} ms idle, ` +
        `${
          r.ttft_busy_ms.toFixed(0)
        } ms while a long generation decodes (which made ${r.long_tokens_after} ` +
        `more tokens after it); a stop mid-prefill landed in ${r.stop_ms.toFixed(0)} ms`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = parseArgs(Deno.args, {
    values: ["layers", "threads", "decode", "rounds"],
    switches: ["json"],
  });
  const layers = numberFlag(args, "layers", 2);
  const rows = await benchServe(await cachedSynth20b(layers), `gpt-oss-20b-synth-${layers}l`, {
    threads: numberFlag(args, "threads"),
    decode: numberFlag(args, "decode", 16),
    rounds: numberFlag(args, "rounds", 2),
  });
  if (args.flags.has("json")) { for (const r of rows) console.log(JSON.stringify(r)); }
  else console.log(serveTable(rows));
}
