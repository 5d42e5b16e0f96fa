// The HTTP server: routes, Origin/Host policy (origin_policy.ts), API-key check, body parsing, and the rule
// that no request can bring it down (every failure becomes an OpenAI-shaped error response).
// `startServer` binds it with Deno.serve.

import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError, errorResponse, toApiError } from "./api_error.ts";
import { handleChatCompletions } from "./chat_completions.ts";
import { handleCompletions } from "./completions.ts";
import { healthBody, metricsText } from "./metrics.ts";
import { handleResponses } from "./responses.ts";
import { isLoopbackName, OriginPolicy } from "./origin_policy.ts";
import { ServeContext, type ServeOptions } from "./serve_context.ts";
import { serveUi } from "./ui_files.ts";

/** Bodies above this are refused (413) while they are read, whether or not they give a length. */
export const MAX_BODY_BYTES = 16 << 20;

/** JSON bodies nested deeper are refused (400): renderers and serializers recurse on tool schemas. */
export const MAX_JSON_DEPTH = 64;

export type Handler = (req: Request) => Promise<Response>;

export function createHandler(
  opts: ServeOptions,
  policy = new OriginPolicy({ corsOrigins: opts.corsOrigins, loopback: false }),
): { handler: Handler; context: ServeContext } {
  const ctx = new ServeContext(opts);
  const handler: Handler = async (req) => {
    let res: Response;
    try {
      res = policy.check(req) ?? await route(ctx, req);
    } catch (e) {
      const err = toApiError(e);
      ctx.logError(err.status >= 500 ? e : err);
      res = errorResponse(err);
    }
    for (const [k, v] of Object.entries(policy.corsHeaders(req.headers.get("origin")))) res.headers.set(k, v);
    return res;
  };
  return { handler, context: ctx };
}

async function route(ctx: ServeContext, req: Request): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (!pathname.startsWith("/v1/")) {
    if (pathname === "/health") return Response.json(healthBody(ctx));
    if (pathname === "/metrics") {
      checkKey(ctx, req);
      allow(req, "GET");
      return new Response(metricsText(ctx), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (pathname === "/stop") {
      checkKey(ctx, req);
      allow(req, "POST");
      return stopRequest(ctx, await readJson(req));
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
    const id = decodePathPart(path.slice("/v1/models/".length));
    ctx.checkModel(id);
    return Response.json(modelCard(ctx, id));
  }
  if (path === "/v1/chat/completions") {
    allow(req, "POST");
    return await handleChatCompletions(ctx, await readJson(req), req.signal);
  }
  if (path === "/v1/completions") {
    allow(req, "POST");
    return await handleCompletions(ctx, await readJson(req), req.signal);
  }
  if (path === "/v1/responses") {
    allow(req, "POST");
    return await handleResponses(ctx, await readJson(req), req.signal);
  }
  throw new ApiError(404, `no route for ${req.method} ${pathname}`, "invalid_request_error", "not_found");
}

/** POST /stop {"id"}: stops the request whose response has that id (chatcmpl-..., resp_...). */
function stopRequest(ctx: ServeContext, body: unknown): Response {
  const id = (body as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || id === "") {
    throw new ApiError(400, 'send {"id": "<response id>"}', "invalid_request_error", "invalid_value", "id");
  }
  if (!ctx.stop(id)) {
    throw new ApiError(404, `no request '${id}' is running`, "invalid_request_error", "not_found", "id");
  }
  return Response.json({ id, object: "stop", stopped: true });
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

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError(
      400,
      `malformed %-encoding in '${part.slice(0, 100)}'`,
      "invalid_request_error",
      "invalid_path",
    );
  }
}

function checkKey(ctx: ServeContext, req: Request): void {
  const key = ctx.opts.apiKey;
  if (!key) return;
  const auth = req.headers.get("authorization") ?? "";
  const given = auth.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  if (given === undefined || !sameSecret(given, key)) {
    throw new ApiError(
      401,
      given ? "Incorrect API key provided" : "Missing API key: send 'Authorization: Bearer <key>'",
      "invalid_request_error",
      "invalid_api_key",
    );
  }
}

/** Compares in time that depends on neither the keys' contents nor their lengths (SHA-256 digests). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Reads the body as JSON: at most MAX_BODY_BYTES, counted while reading (a chunked body has no
 * Content-Length), UTF-8, nested at most MAX_JSON_DEPTH deep.
 */
async function readJson(req: Request): Promise<unknown> {
  const tooLarge = () =>
    new ApiError(413, `request body over ${MAX_BODY_BYTES} bytes`, "invalid_request_error", "body_too_large");
  const length = Number(req.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw tooLarge();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    const reader = req.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) {
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(400, "could not read the request body", "invalid_request_error", "invalid_body");
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(
      400,
      "could not read the request body as UTF-8 text",
      "invalid_request_error",
      "invalid_body",
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      `We could not parse the JSON body of your request: ${(e as Error).message}`,
      "invalid_request_error",
      "invalid_json",
    );
  }
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    throw new ApiError(
      400,
      `the JSON body is nested more than ${MAX_JSON_DEPTH} levels deep`,
      "invalid_request_error",
      "invalid_json",
    );
  }
  return body;
}

/** Nesting depth of a parsed JSON value (a scalar is 0), without recursion. */
function jsonDepth(root: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d + 1 > max) max = d + 1;
    if (max > MAX_JSON_DEPTH) return max;
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push([x, d + 1]);
  }
  return max;
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
  const policy = new OriginPolicy({ corsOrigins: opts.corsOrigins, loopback: isLoopbackName(bind.hostname) });
  const { handler, context } = createHandler(opts, policy);
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
