// The engine's worker thread: owns the model, its backend and KV slots, the tokenizer, renderer and
// samplers (a LocalChatService), and serves the main thread's WorkerChatService over the messages of
// protocol.ts. The main thread therefore never waits on a forward pass, an encoding or a sampling step.

import { toWireError } from "./protocol.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { LocalChatService } from "./local_service.ts";
import { openLocalService } from "./open_service.ts";

// Lives in a worker: `self` is the worker scope.
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: FromWorker): void;
  close(): void;
};
const post = (m: FromWorker) => scope.postMessage(m);

let service: LocalChatService | null = null;
let stopFlags: Int32Array<ArrayBufferLike> = new Int32Array(0);
/** The running turns, by id: aborting one stops it (the stop flag does so mid-forward). */
const turns = new Map<number, { stop: AbortController; ended: Promise<void> }>();

scope.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case "open":
      stopFlags = new Int32Array(m.stopFlags);
      void open(m.modelDir, m);
      break;
    case "encode":
      void encode(m);
      break;
    case "chat": {
      const stop = new AbortController();
      turns.set(m.id, { stop, ended: chat(m, stop) });
      break;
    }
    case "cancel":
      turns.get(m.id)?.stop.abort();
      break;
    case "close":
      void close();
      break;
  }
};

async function open(modelDir: string, m: Extract<ToWorker, { type: "open" }>): Promise<void> {
  try {
    service = await openLocalService(
      modelDir,
      m.options,
      (done, total) => post({ type: "progress", done, total }),
    );
    post({ type: "ready", info: service.info, stats: service.statsBuffer as SharedArrayBuffer });
  } catch (e) {
    post({ type: "failed", error: toWireError(e) });
  }
}

async function encode(m: Extract<ToWorker, { type: "encode" }>): Promise<void> {
  try {
    post({ type: "encoded", id: m.id, encoded: await service!.encodeConversation(m.messages, m.prompt) });
  } catch (e) {
    post({ type: "error", id: m.id, error: toWireError(e) });
  }
}

async function chat(m: Extract<ToWorker, { type: "chat" }>, ac: AbortController): Promise<void> {
  const lane = m.lane;
  // polled between layers: the main thread's flag is seen while this thread computes
  const shouldStop = () => {
    if (!ac.signal.aborted && Atomics.load(stopFlags, lane) !== 0) ac.abort();
    return ac.signal.aborted;
  };
  // generated ids go out with the next message (a token that makes no event rides with a later one)
  let tokens: number[] = [];
  const onToken = (id: number) => void tokens.push(id);
  const take = () => [tokens, tokens = []][0];
  try {
    const events = service!.chat({ ...m.request, signal: ac.signal, shouldStop, onToken });
    for (;;) {
      const r = await events.next();
      if (r.done) {
        post({ type: "end", id: m.id, usage: r.value, tokens: take() });
        break;
      }
      post({ type: "event", id: m.id, event: r.value, tokens: take() });
    }
  } catch (e) {
    post({ type: "error", id: m.id, error: toWireError(e) });
  } finally {
    turns.delete(m.id);
  }
}

async function close(): Promise<void> {
  for (const t of turns.values()) t.stop.abort();
  try {
    await Promise.all([...turns.values()].map((t) => t.ended));
    await service?.close();
  } finally {
    post({ type: "closed" });
    scope.close();
  }
}
