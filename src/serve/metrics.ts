// GET /health and GET /metrics (Prometheus text format, as llama-server and vLLM serve it). Both read
// only main-thread state and the engine's shared counters, so they answer in milliseconds while the
// engine computes.

import type { ServeContext } from "./serve_context.ts";

export function healthBody(ctx: ServeContext) {
  const q = ctx.queue;
  return {
    status: ctx.shuttingDown ? "stopping" : "ok",
    slots: ctx.engine.info.slots,
    running: q.running,
    waiting: q.waiting,
    // the fields of before (one engine)
    busy: q.busy,
  };
}

interface Metric {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  readonly samples: readonly { readonly labels?: string; readonly value: number }[];
}

export function metricsText(ctx: ServeContext): string {
  const s = ctx.engine.stats(), q = ctx.queue;
  const perSlot = (f: (slot: { contextUsed: number; busy: boolean }) => number) =>
    s.slots.map((slot, i) => ({ labels: `slot="${i}"`, value: f(slot) }));
  const metrics: Metric[] = [
    gauge("ossi_requests_running", "Requests generating on a KV slot.", q.running),
    gauge("ossi_requests_waiting", "Requests waiting for a free KV slot.", q.waiting),
    counter(
      "ossi_requests_finished_total",
      "Requests that ended on a slot (done, stopped or failed).",
      s.finished,
    ),
    counter("ossi_prompt_tokens_total", "Prompt tokens computed (prefilled).", s.promptTokens),
    counter(
      "ossi_prompt_tokens_cached_total",
      "Prompt tokens reused from a slot's KV cache.",
      s.cachedTokens,
    ),
    counter("ossi_generation_tokens_total", "Tokens generated.", s.generatedTokens),
    gauge("ossi_slots", "KV slots (requests that generate at once).", s.slots.length),
    gauge("ossi_slot_context_size_tokens", "KV-cache capacity of each slot, in tokens.", ctx.contextSize),
    {
      name: "ossi_slot_context_tokens",
      type: "gauge",
      help: "Tokens in each slot's KV cache.",
      samples: perSlot((x) => x.contextUsed),
    },
    {
      name: "ossi_slot_busy",
      type: "gauge",
      help: "1 while a request generates on the slot.",
      samples: perSlot((x) => x.busy ? 1 : 0),
    },
  ];
  return metrics.map((m) =>
    [
      `# HELP ${m.name} ${m.help}`,
      `# TYPE ${m.name} ${m.type}`,
      ...m.samples.map((x) => `${m.name}${x.labels ? `{${x.labels}}` : ""} ${x.value}`),
    ].join("\n")
  ).join("\n") + "\n";
}

function gauge(name: string, help: string, value: number): Metric {
  return { name, type: "gauge", help, samples: [{ value }] };
}

function counter(name: string, help: string, value: number): Metric {
  return { name, type: "counter", help, samples: [{ value }] };
}
