// Server-sent events over a ReadableStream. The producer writes events until it returns; a client that goes
// away cancels the stream, which aborts `signal` so the producer stops generating and frees the engine.

export interface SseSink {
  /** One `data:` event (JSON), with an optional `event:` name. A no-op once the client is gone. */
  send(data: unknown, event?: string): void;
  /** A raw `data:` line, e.g. "[DONE]". */
  sendRaw(data: string): void;
  readonly signal: AbortSignal;
}

export function sseResponse(
  produce: (sink: SseSink) => Promise<void>,
  abort: AbortController,
  onError: (e: unknown, sink: SseSink) => void,
  headers: Record<string, string> = {},
): Response {
  const enc = new TextEncoder();
  let open = true;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (text: string) => {
        if (!open) return;
        try {
          controller.enqueue(enc.encode(text));
        } catch {
          open = false;
        }
      };
      const sink: SseSink = {
        send: (data, event) => write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`),
        sendRaw: (data) => write(`data: ${data}\n\n`),
        signal: abort.signal,
      };
      produce(sink)
        .catch((e) => onError(e, sink))
        .finally(() => {
          if (!open) return;
          open = false;
          try {
            controller.close();
          } catch { /* already closed by a cancel */ }
        });
    },
    cancel() {
      open = false;
      abort.abort();
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      ...headers,
    },
  });
}
