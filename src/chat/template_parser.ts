// Streaming parsers for the output of the "template" chat format (models whose folder's Jinja template
// renders the prompt: Qwen3's ChatML, Llama 3) and of plain completion (GPT-2). TemplateParser, fed one token
// id at a time, sends the text between <think> and </think> to reasoning events and the rest to content,
// and stops on the family's stop and new-turn tokens (ChatML: <|im_end|>, <|endoftext|>, <|im_start|>;
// Llama 3: <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|start_header_id|>). Whitespace that only lays out the
// think block is dropped.

import type { ChatEvent, DoneReason, TokenKind } from "./harmony_parser.ts";
import { StreamDecoder, type Tokenizer } from "./tokenizer.ts";

/** What chat_engine.ts needs of any output parser (HarmonyParser has the same shape). */
export interface OutputParser {
  readonly done: boolean;
  /** What the last pushed token was: answer, reasoning or tool text, or markup (null). */
  readonly lastKind: TokenKind;
  push(id: number): ChatEvent[];
  end(reason?: DoneReason): ChatEvent[];
}

/** The token strings that end a ChatML (Qwen) assistant turn: TemplateParser's default stops. */
export const CHATML_STOPS = ["<|im_end|>", "<|endoftext|>", "<|im_start|>"] as const;

/**
 * Streams one segment (a think block or the answer) with its leading and trailing whitespace removed:
 * leading whitespace is skipped until the first visible character, trailing whitespace is held back
 * until more visible text follows (and dropped when the segment ends).
 */
class TrimmedSegment {
  private started = false;
  private held = "";

  push(text: string): string {
    if (!this.started) {
      text = text.trimStart();
      if (text === "") return "";
      this.started = true;
    }
    const all = this.held + text;
    const visibleEnd = all.trimEnd().length;
    this.held = all.slice(visibleEnd);
    return all.slice(0, visibleEnd);
  }
}

/** The template format's output: answer text, <think> blocks as reasoning, the family's stops. */
export class TemplateParser implements OutputParser {
  private state: "content" | "reasoning" | "done" = "content";
  private readonly decoder: StreamDecoder;
  private segment = new TrimmedSegment();
  private readonly think: number | undefined;
  private readonly thinkEnd: number | undefined;
  private readonly stops: ReadonlySet<number>;

  /**
   * `inReasoning`: the prompt already ends inside a think block (the template wrote `<think>`);
   * `stopStrings`: the token strings that end the output (those the tokenizer lacks are ignored).
   */
  constructor(readonly tok: Tokenizer, inReasoning = false, stopStrings: readonly string[] = CHATML_STOPS) {
    this.decoder = new StreamDecoder(tok);
    this.think = tok.tokenId("<think>");
    this.thinkEnd = tok.tokenId("</think>");
    this.stops = new Set(stopStrings.map((s) => tok.tokenId(s)).filter((x): x is number => x !== undefined));
    if (inReasoning) this.state = "reasoning";
  }

  get done(): boolean {
    return this.state === "done";
  }

  lastKind: TokenKind = null;

  push(id: number): ChatEvent[] {
    this.lastKind = null;
    if (this.state === "done") return [];
    const out: ChatEvent[] = [];
    if (this.stops.has(id)) {
      this.emit(this.decoder.flush(), out);
      this.state = "done";
      out.push({ type: "done", reason: "stop" });
      return out;
    }
    if (id === this.think || id === this.thinkEnd) {
      this.emit(this.decoder.flush(), out);
      const next = id === this.think ? "reasoning" : "content";
      // A repeated marker (<think> inside a think block) changes nothing; a switch starts a new segment.
      if (next !== this.state) {
        this.state = next;
        this.segment = new TrimmedSegment();
      }
      return out;
    }
    this.lastKind = this.state;
    this.emit(this.decoder.push(id), out);
    return out;
  }

  /** Ends the turn without a stop token (length or abort). */
  end(reason: DoneReason = "length"): ChatEvent[] {
    if (this.state === "done") return [];
    const out: ChatEvent[] = [];
    this.emit(this.decoder.flush(), out);
    this.state = "done";
    out.push({ type: "done", reason });
    return out;
  }

  private emit(text: string, out: ChatEvent[]): void {
    if (text === "" || this.state === "done") return;
    const visible = this.segment.push(text);
    if (visible === "") return;
    out.push(
      this.state === "reasoning" ? { type: "reasoning", text: visible } : { type: "content", text: visible },
    );
  }
}

/** Plain completion (GPT-2 and other base models): every token is content; the end-of-text id stops. */
export class CompletionParser implements OutputParser {
  private finished = false;
  private readonly decoder: StreamDecoder;

  constructor(readonly tok: Tokenizer, private readonly stops: ReadonlySet<number>) {
    this.decoder = new StreamDecoder(tok);
  }

  get done(): boolean {
    return this.finished;
  }

  lastKind: TokenKind = null;

  push(id: number): ChatEvent[] {
    this.lastKind = null;
    if (this.finished) return [];
    if (this.stops.has(id)) return this.finish("stop");
    this.lastKind = "content";
    const text = this.decoder.push(id);
    return text === "" ? [] : [{ type: "content", text }];
  }

  end(reason: DoneReason = "length"): ChatEvent[] {
    return this.finished ? [] : this.finish(reason);
  }

  private finish(reason: DoneReason): ChatEvent[] {
    this.finished = true;
    const text = this.decoder.flush();
    const out: ChatEvent[] = text === "" ? [] : [{ type: "content", text }];
    out.push({ type: "done", reason });
    return out;
  }
}
