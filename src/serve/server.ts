// The HTTP server: routes, API-key check, body parsing, and the rule that no request can bring it down
// (every failure becomes an OpenAI-shaped error response). `startServer` binds it with Deno.serve.

import { ApiError, errorResponse, toApiError } from "./api_error.ts";
import { handleChatCompletions } from "./chat_completions.ts";
import { handleResponses } from "./responses.ts";
import { ServeContext, type ServeOptions } from "./serve_context.ts";
import { serveUi } from "./ui_files.ts";

/** Bodies above this are refused (413) before parsing. */
const MAX_BODY_BYTES = 16 << 20;

export type Handler = (req: Request) => Promise<Response>;

export function createHandler(opts: ServeOptions): { handler: Handler; context: ServeContext } {
  const ctx = new ServeContext(opts);
  const handler: Handler = async (req) => {
    try {
      return await route(ctx, req);
    } catch (e) {
      const err = toApiError(e);
      ctx.logError(err.status >= 500 ? e : err);
      return errorResponse(err);
    }
  };
  return { handler, context: ctx };
}

async function route(ctx: ServeContext, req: Request): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (!pathname.startsWith("/v1/")) {
    if (pathname === "/health") {
      return Response.json({ status: "ok", waiting: ctx.queue.waiting, busy: ctx.queue.busy });
    }
    if (req.method === "GET" || req.method === "HEAD") {
      const page = await serveUi(pathname);
      if (page) return page;
    }
    throw new ApiError(404, `no route for ${req.method} ${pathname}`, "invalid_request_error", "not_found");
  }
  checkKey(ctx, req);
  const path = pathname.replace(/\/+$/, "");
  if (path === "/v1/models") {
    allow(req, "GET");
    return Response.json({ object: "list", data: ctx.servedNames.map((n) => modelCard(ctx, n)) });
  }
  if (path.startsWith("/v1/models/")) {
    allow(req, "GET");
    const id = decodeURIComponent(path.slice("/v1/models/".length));
    ctx.checkModel(id);
    return Response.json(modelCard(ctx, id));
  }
  if (path === "/v1/chat/completions") {
    allow(req, "POST");
    return await handleChatCompletions(ctx, await readJson(req), req.signal);
  }
  if (path === "/v1/responses") {
    allow(req, "POST");
    return await handleResponses(ctx, await readJson(req), req.signal);
  }
  throw new ApiError(404, `no route for ${req.method} ${pathname}`, "invalid_request_error", "not_found");
}

function modelCard(ctx: ServeContext, id: string) {
  return { id, object: "model", created: ctx.created, owned_by: "ossi" };
}

function allow(req: Request, method: string): void {
  if (req.method !== method) {
    throw new ApiError(
      405,
      `${req.method} is not allowed here; use ${method}`,
      "invalid_request_error",
      "method_not_allowed",
    );
  }
}

function checkKey(ctx: ServeContext, req: Request): void {
  const key = ctx.opts.apiKey;
  if (!key) return;
  const auth = req.headers.get("authorization") ?? "";
  const given = auth.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  if (given !== key) {
    throw new ApiError(
      401,
      given ? "Incorrect API key provided" : "Missing API key: send 'Authorization: Bearer <key>'",
      "invalid_request_error",
      "invalid_api_key",
    );
  }
}

async function readJson(req: Request): Promise<unknown> {
  const length = Number(req.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) {
    throw new ApiError(
      413,
      `request body over ${MAX_BODY_BYTES} bytes`,
      "invalid_request_error",
      "body_too_large",
    );
  }
  let text: string;
  try {
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.length > MAX_BODY_BYTES) throw new Error("too large");
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(
      400,
      "could not read the request body as UTF-8 text (at most 16 MiB)",
      "invalid_request_error",
      "invalid_body",
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      `We could not parse the JSON body of your request: ${(e as Error).message}`,
      "invalid_request_error",
      "invalid_json",
    );
  }
}

export interface StartOptions {
  hostname: string;
  port: number;
  signal?: AbortSignal;
  onListen?: (addr: { hostname: string; port: number }) => void;
}

export interface RunningServer {
  /** The bound address (the real port when asked for port 0). */
  readonly hostname: string;
  readonly port: number;
  readonly url: string;
  readonly context: ServeContext;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

export function startServer(opts: ServeOptions, bind: StartOptions): RunningServer {
  const { handler, context } = createHandler(opts);
  const server = Deno.serve({
    hostname: bind.hostname,
    port: bind.port,
    signal: bind.signal,
    onListen: (addr) => bind.onListen?.(addr),
    onError: (e) => {
      context.logError(e);
      return errorResponse(toApiError(e));
    },
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    hostname: addr.hostname,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    context,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}
