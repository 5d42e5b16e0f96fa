// The messages between the main thread's WorkerChatService and the engine worker (engine_worker.ts). All
// are structured-clone safe. Besides them, two SharedArrayBuffers: the stop flags (one Int32 per turn's
// lane, set by the main thread and polled by the forward pass between layers, because the worker cannot
// read messages while it computes) and the engine's live counters (EngineStats, written by the worker).
//
//   main -> worker                                  worker -> main
//   open {modelDir, options, stopFlags}             progress {done, total}* then ready {info, stats} | failed
//   encode {id, messages, prompt}                   encoded {id, encoded} | error {id}
//   chat {id, lane, request}                        event {id, event, tokens}* then end {id, usage, tokens}
//                                                   | error {id}   (tokens: ids generated since the last)
//   cancel {id} (after setting stopFlags[lane])     (the turn ends as an abort: events, then end)
//   close                                           closed

import type { ChatRequest, ChatUsage, EncodedPrompt } from "../chat/chat_engine.ts";
import type { ChatEvent } from "../chat/harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "../chat/messages.ts";
import { ForwardAbortedError } from "../backends/backend.ts";
import { ContextOverflowError } from "../engine/session.ts";
import { FormatError, MissingError, ModelChangedError, OssiError } from "../errors.ts";
import type { EngineInfo } from "./chat_service.ts";
import type { OpenServiceOptions } from "./open_service.ts";

/** A ChatRequest without what cannot cross threads (the signal and callbacks live on the main thread). */
export type WireChatRequest = Omit<ChatRequest, "signal" | "shouldStop" | "onToken">;

export type ToWorker =
  | { type: "open"; modelDir: string; options: OpenServiceOptions; stopFlags: SharedArrayBuffer }
  | { type: "encode"; id: number; messages: ChatMessage[]; prompt: PromptOptions }
  | { type: "chat"; id: number; lane: number; request: WireChatRequest }
  | { type: "cancel"; id: number }
  | { type: "close" };

export type FromWorker =
  | { type: "progress"; done: number; total: number }
  | { type: "ready"; info: EngineInfo; stats: SharedArrayBuffer }
  | { type: "failed"; error: WireError }
  | { type: "encoded"; id: number; encoded: EncodedPrompt }
  | { type: "event"; id: number; event: ChatEvent; tokens: number[] }
  | { type: "end"; id: number; usage: ChatUsage; tokens: number[] }
  | { type: "error"; id: number; error: WireError }
  | { type: "closed" };

/** An error as it crosses: rebuilt on the other side as the same class where it is one of ours. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly exitCode?: number;
  readonly stack?: string;
}

export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const exitCode = e instanceof OssiError ? e.exitCode : undefined;
  return { name: e.name, message: e.message, exitCode, stack: e.stack };
}

/** The error classes the CLI and the server tell apart (by instanceof); others come back as Error. */
const CLASSES: Record<string, new (message: string, exitCode?: number) => Error> = {
  OssiError,
  FormatError,
  MissingError,
  ModelChangedError,
  ContextOverflowError,
  RangeError,
  TypeError,
};

export function fromWireError(w: WireError): Error {
  let e: Error;
  if (w.name === "ForwardAbortedError") e = new ForwardAbortedError();
  else {
    const Class = CLASSES[w.name];
    // another error a user can act on keeps its exit code
    e = Class
      ? new Class(w.message, w.exitCode)
      : w.exitCode !== undefined
      ? new OssiError(w.message, w.exitCode)
      : new Error(w.message);
    if (!Class) e.name = w.name;
  }
  if (w.stack) e.stack = w.stack;
  return e;
}
