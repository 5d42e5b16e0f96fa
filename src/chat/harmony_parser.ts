// Streaming harmony parser: fed one sampled token id at a time, it splits the assistant's output into
// reasoning (analysis), content (final, commentary preambles) and tool calls (commentary to=functions.X),
// and recovers from malformed headers without letting header markup into the answer.

import type { ToolCall } from "./messages.ts";
import { StreamDecoder, type Tokenizer } from "./tokenizer.ts";

export type DoneReason = "stop" | "tool_calls" | "length" | "aborted";

/** The log-probability of one sampled token, with the most likely alternatives (OpenAI's `logprobs`). */
export interface TokenLogprob {
  token: string;
  bytes: number[];
  logprob: number;
  top: { token: string; bytes: number[]; logprob: number }[];
}

/**
 * One prompt token with its log-probability given the tokens before it and the most likely ids there
 * (echo with logprobs, prompt_logprobs). The first prompt token has none: logprob and rank are null.
 */
export interface PromptLogprob {
  id: number;
  token: string;
  logprob: number | null;
  /** 1 + how many ids were likelier: 1 when the token is the greedy choice. */
  rank: number | null;
  top: { id: number; token: string; logprob: number }[];
}

/** What the last token pushed into a parser was: answer text, reasoning, tool-call arguments, or markup. */
export type TokenKind = "content" | "reasoning" | "tool" | null;

export type ChatEvent =
  | { type: "reasoning"; text: string } // analysis channel
  | { type: "content"; text: string; logprobs?: TokenLogprob[] } // final channel
  | { type: "tool_call"; call: ToolCall } // commentary to=functions.NAME ... <|call|>
  | { type: "prompt_logprobs"; logprobs: PromptLogprob[] } // every prompt token, before any output
  | { type: "done"; reason: DoneReason };

/** Header tokens beyond which a header without <|message|> is declared malformed. */
const MAX_HEADER_TOKENS = 48;

type State = "header" | "body" | "between" | "done";

interface Header {
  channel: string | null;
  recipient: string | null;
}

/** Reads channel and recipient from header text (special tokens kept as their text). */
export function parseHeader(text: string): Header {
  const channel = /<\|channel\|>\s*([A-Za-z_]+)/.exec(text)?.[1] ?? null;
  let recipient = /\bto=([^\s<]+)/.exec(text)?.[1] ?? null;
  if (recipient === "assistant" || recipient === "user") recipient = null;
  return { channel, recipient };
}

let callCounter = 0;

/** A fresh tool-call id ("call_" and 12 hex digits, unique within the process). */
export function newToolCallId(): string {
  callCounter = (callCounter + 1) % 0x10000;
  return `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}${
    callCounter.toString(16).padStart(4, "0")
  }`;
}

export class HarmonyParser {
  /** The prompt ends with "<|start|>assistant": output starts inside a header. */
  private state: State = "header";
  private headerText = "";
  private headerTokens = 0;
  private header: Header = { channel: null, recipient: null };
  private args = "";
  private decoder: StreamDecoder;
  private sawToolCall = false;
  private readonly ids: Record<string, number | undefined>;
  /** What the last pushed token was (see TokenKind). */
  lastKind: TokenKind = null;

  constructor(readonly tok: Tokenizer) {
    this.decoder = new StreamDecoder(tok);
    const id = (t: string) => tok.tokenId(t);
    this.ids = {
      start: id("<|start|>"),
      end: id("<|end|>"),
      message: id("<|message|>"),
      channel: id("<|channel|>"),
      constrain: id("<|constrain|>"),
      return: id("<|return|>"),
      call: id("<|call|>"),
      endoftext: id("<|endoftext|>"),
    };
  }

  /** True once a stop token (<|return|>, <|call|>, <|endoftext|>) or end() was seen. */
  get done(): boolean {
    return this.state === "done";
  }

  push(id: number): ChatEvent[] {
    this.lastKind = null;
    if (this.state === "done") return [];
    const ev: ChatEvent[] = [];
    const k = this.ids;
    switch (id) {
      case k.start:
        this.finishMessage(ev);
        this.beginHeader("");
        return ev;
      case k.end:
        this.finishMessage(ev);
        this.state = "between";
        return ev;
      case k.message:
        if (this.state === "header" || this.state === "between") {
          this.header = parseHeader(this.headerText);
          this.state = "body";
          this.args = "";
        }
        return ev; // a stray <|message|> inside a body is dropped
      case k.channel:
        // Inside a body this means the model began a new header without <|end|><|start|>.
        if (this.state !== "header") {
          this.finishMessage(ev);
          this.beginHeader("");
        }
        this.headerText += "<|channel|>";
        this.headerTokens++;
        return ev;
      case k.constrain:
        if (this.state === "header") this.headerText += "<|constrain|>";
        return ev;
      case k.return:
      case k.endoftext:
        this.finishMessage(ev);
        return this.finish(ev, "stop");
      case k.call:
        this.finishMessage(ev);
        return this.finish(ev, this.sawToolCall ? "tool_calls" : "stop");
    }
    if (this.isSpecial(id)) return ev; // other specials (reserved tokens) carry no text
    const text = this.decoder.push(id);
    switch (this.state) {
      case "between":
        // Text outside a message: the model left out <|start|>; read it as a header.
        this.beginHeader(text);
        break;
      case "header":
        this.headerText += text;
        if (++this.headerTokens > MAX_HEADER_TOKENS) this.recoverHeader(ev);
        break;
      case "body":
        this.emitBody(text, ev);
        break;
    }
    if (this.state === "body") {
      this.lastKind = this.header.recipient ? "tool" : this.channelEvent(this.header.channel);
    }
    return ev;
  }

  /** Ends the stream (generation stopped without a stop token); emits "done" unless already done. */
  end(reason: DoneReason = "stop"): ChatEvent[] {
    if (this.state === "done") return [];
    const ev: ChatEvent[] = [];
    if (reason === "stop" || reason === "length") this.finishMessage(ev);
    else if (this.state === "body" && !this.header.recipient) this.emitBody(this.decoder.flush(), ev);
    return this.finish(ev, reason === "stop" && this.sawToolCall ? "tool_calls" : reason);
  }

  private finish(ev: ChatEvent[], reason: DoneReason): ChatEvent[] {
    this.state = "done";
    ev.push({ type: "done", reason });
    return ev;
  }

  private isSpecial(id: number): boolean {
    const t = this.tok as Tokenizer & { isSpecial?: (id: number) => boolean };
    return t.isSpecial ? t.isSpecial(id) : /^<\|[a-z_0-9]+\|>$/.test(t.decode([id]));
  }

  private beginHeader(text: string): void {
    this.state = "header";
    this.headerText = text;
    this.headerTokens = text ? 1 : 0;
    this.header = { channel: null, recipient: null };
  }

  /**
   * A header that never reached <|message|>: the model most likely forgot it and is already writing the
   * message. Its channel is kept (analysis when none) and the text after the channel name becomes body.
   */
  private recoverHeader(ev: ChatEvent[]): void {
    const h = parseHeader(this.headerText);
    this.header = { channel: h.channel ?? "analysis", recipient: h.recipient };
    this.state = "body";
    this.args = "";
    const m = /<\|channel\|>\s*[A-Za-z_]+\s*(.*)$/s.exec(this.headerText);
    const rest = m ? m[1].replace(/^(?:to=\S+\s*)?(?:<\|constrain\|>\s*\S+\s*)?/, "") : "";
    this.headerText = "";
    this.headerTokens = 0;
    this.emitBody(rest, ev);
  }

  private emitBody(text: string, ev: ChatEvent[]): void {
    if (!text) return;
    if (this.header.recipient) {
      this.args += text;
      return;
    }
    const type = this.channelEvent(this.header.channel);
    const last = ev[ev.length - 1];
    if (last && last.type === type) last.text += text;
    else ev.push({ type, text });
  }

  /** analysis and unknown channels are reasoning; final, commentary preambles and no channel are content. */
  private channelEvent(channel: string | null): "reasoning" | "content" {
    return channel === null || channel === "final" || channel === "commentary" ? "content" : "reasoning";
  }

  /** Closes the current message: flushes held-back bytes, emits its tool call if it had a recipient. */
  private finishMessage(ev: ChatEvent[]): void {
    // A header with a channel and text but no <|message|> (e.g. "<|channel|>final 42<|return|>").
    if (this.state === "header") {
      this.headerText += this.decoder.flush();
      if (/<\|channel\|>\s*[A-Za-z_]+\s+\S/.test(this.headerText)) this.recoverHeader(ev);
    }
    if (this.state === "body") {
      this.emitBody(this.decoder.flush(), ev);
      if (this.header.recipient) {
        const name = this.header.recipient.replace(/^functions\./, "");
        ev.push({ type: "tool_call", call: { id: newToolCallId(), name, arguments: this.args.trim() } });
        this.sawToolCall = true;
        this.args = "";
      }
    } else {
      this.decoder.flush();
    }
    this.headerText = "";
    this.headerTokens = 0;
  }
}
