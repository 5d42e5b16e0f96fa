// A saved chat (`/save FILE`, `/load FILE`): JSON {format, model, effort, system, messages}.

import type { ChatMessage, Effort } from "../chat/messages.ts";
import { EFFORTS } from "../chat/messages.ts";
import { readTextFile } from "../io/checkpoint.ts";
import { OssiError } from "../errors.ts";

export const CONVERSATION_FORMAT = "ossi-chat-1";

/** Saved chats above this are refused before they are read (a whole 128k-token context is about 1 MB). */
export const MAX_CONVERSATION_BYTES = 16 << 20;

export interface Conversation {
  model: string;
  effort: Effort;
  system?: string;
  messages: ChatMessage[];
}

const ROLES = ["system", "developer", "user", "assistant", "tool"];

export function saveConversation(path: string, c: Conversation): void {
  const body = { format: CONVERSATION_FORMAT, ...c };
  try {
    Deno.writeTextFileSync(path, JSON.stringify(body, null, 2) + "\n");
  } catch (e) {
    throw new OssiError(`cannot write ${path} (${(e as Error).message.split("\n")[0]})`);
  }
}

/** Reads and validates a saved chat; every problem is a one-line error naming the file. */
export function loadConversation(path: string): Conversation {
  // A regular file of at most MAX_CONVERSATION_BYTES, UTF-8 with or without a byte-order mark.
  const text = readTextFile(path, MAX_CONVERSATION_BYTES);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new OssiError(`${path}: not valid JSON`);
  }
  const bad = (what: string): never => {
    throw new OssiError(`${path}: ${what}`);
  };
  if (!v || typeof v !== "object" || Array.isArray(v)) bad("expected a JSON object");
  const o = v as Record<string, unknown>;
  if (o.format !== CONVERSATION_FORMAT) {
    bad(`not a saved ossi chat (format must be '${CONVERSATION_FORMAT}')`);
  }
  if (!(EFFORTS as readonly unknown[]).includes(o.effort)) bad(`effort must be one of ${EFFORTS.join(", ")}`);
  if (o.system !== undefined && typeof o.system !== "string") bad("system must be a string");
  if (!Array.isArray(o.messages)) bad("messages must be an array");
  const messages = (o.messages as unknown[]).map((m, i) => {
    const r = m as Record<string, unknown>;
    if (!r || typeof r !== "object" || !ROLES.includes(r.role as string) || typeof r.content !== "string") {
      bad(`messages[${i}] needs a role (${ROLES.join(", ")}) and string content`);
    }
    const msg: ChatMessage = { role: r.role as ChatMessage["role"], content: r.content as string };
    if (typeof r.reasoning === "string") msg.reasoning = r.reasoning;
    return msg;
  });
  return {
    model: typeof o.model === "string" ? o.model : "",
    effort: o.effort as Effort,
    ...(typeof o.system === "string" ? { system: o.system } : {}),
    messages,
  };
}
