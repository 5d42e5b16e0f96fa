// Which browser pages may talk to the server. A browser sends `Origin` with cross-site requests (and with
// same-site POSTs); a page from another origin is refused (403) unless `--cors-origin` allows it, which
// also answers its CORS preflight. Clients that are not browsers send no Origin and are not affected.
// Bound to loopback, the `Host` must name this machine (localhost, a loopback address): a page that
// rebinds its own DNS name to 127.0.0.1 is same-origin with itself, and only its Host gives it away.

import { ApiError } from "./api_error.ts";

export interface OriginPolicyOptions {
  /** Origins allowed besides the server's own ("*" allows every origin). */
  readonly corsOrigins?: readonly string[];
  /** The server listens on loopback only: refuse Host names that are not this machine's. */
  readonly loopback: boolean;
}

const ALLOWED_METHODS = "GET, POST, OPTIONS";
const DEFAULT_ALLOWED_HEADERS = "authorization, content-type";

/** A loopback host name or address: localhost, *.localhost, 127.0.0.0/8, ::1. */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1" || h === "[::1]" || h === "0:0:0:0:0:0:0:1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host name of a Host header ("[::1]:8000" -> "[::1]", "a.b:80" -> "a.b"). */
function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon >= 0 ? host.slice(0, colon) : host;
}

/** An origin in the form browsers send: scheme://host[:port], lower case, no trailing slash. */
export function normalizeOrigin(origin: string): string | null {
  if (origin === "*" || origin === "null") return origin;
  try {
    const u = new URL(origin);
    if (!/^https?:$/.test(u.protocol) || u.pathname !== "/" || u.search || u.hash || u.username) return null;
    return u.origin;
  } catch {
    return null;
  }
}

export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;
  private readonly anyOrigin: boolean;

  constructor(readonly opts: OriginPolicyOptions) {
    const list = (opts.corsOrigins ?? []).map((o) => normalizeOrigin(o) ?? o);
    this.allowed = new Set(list);
    this.anyOrigin = this.allowed.has("*");
  }

  /**
   * Checks a request. Returns the response to a CORS preflight, or null when the request may go on;
   * throws ApiError 403 for a foreign Host (on loopback) or a foreign Origin.
   */
  check(req: Request): Response | null {
    const host = req.headers.get("host");
    if (this.opts.loopback && host !== null && !isLoopbackName(hostName(host))) {
      throw new ApiError(
        403,
        `Host '${host.slice(0, 100)}' is not this machine: the server only answers localhost names`,
        "invalid_request_error",
        "forbidden_host",
      );
    }
    const origin = req.headers.get("origin");
    if (origin === null) return null;
    if (!this.allows(origin, host)) {
      throw new ApiError(
        403,
        `requests from the web page at ${origin.slice(0, 100)} are not allowed (start the server with ` +
          "--cors-origin ORIGIN to allow a page)",
        "invalid_request_error",
        "forbidden_origin",
      );
    }
    if (req.method === "OPTIONS" && req.headers.has("access-control-request-method")) {
      return new Response(null, {
        status: 204,
        headers: {
          ...this.corsHeaders(origin),
          "access-control-allow-methods": ALLOWED_METHODS,
          "access-control-allow-headers": req.headers.get("access-control-request-headers") ??
            DEFAULT_ALLOWED_HEADERS,
          "access-control-max-age": "600",
        },
      });
    }
    return null;
  }

  /** The Access-Control-* headers for an allowed cross-origin request (none for same-origin ones). */
  corsHeaders(origin: string | null): Record<string, string> {
    if (origin === null || !this.isListed(origin)) return {};
    return { "access-control-allow-origin": origin, "vary": "Origin" };
  }

  private isListed(origin: string): boolean {
    return this.anyOrigin || this.allowed.has(normalizeOrigin(origin) ?? origin);
  }

  /**
   * Listed with --cors-origin, or the page's host is the Host the browser asked for (same origin; either
   * scheme, so that the chat page also works behind a TLS proxy that keeps the Host).
   */
  private allows(origin: string, host: string | null): boolean {
    if (this.isListed(origin)) return true;
    const o = normalizeOrigin(origin);
    if (o === null || o === "null" || o === "*" || host === null) return false;
    try {
      return new URL(o).host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }
}
