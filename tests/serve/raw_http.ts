// A raw HTTP/1.1 client over TCP for server tests that fetch() cannot express: any Host header, bodies sent
// chunk by chunk, malformed request lines and headers.

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Parses "HTTP/1.1 200 OK\r\nk: v\r\n\r\nbody" (a chunked body is decoded). */
export function parseResponse(text: string): RawResponse | null {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(":");
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  let body = text.slice(end + 4);
  if (headers.get("transfer-encoding") === "chunked") {
    let out = "";
    let rest = body;
    for (;;) {
      const nl = rest.indexOf("\r\n");
      if (nl < 0) break;
      const n = parseInt(rest.slice(0, nl), 16);
      if (!(n > 0)) break;
      out += rest.slice(nl + 2, nl + 2 + n);
      rest = rest.slice(nl + 2 + n + 2);
    }
    body = out;
  }
  return { status, headers, body };
}

/** Sends `request` as it is (a string or bytes) and reads until the server closes or `ms` pass. */
export async function rawRequest(url: string, request: string | Uint8Array, ms = 10_000): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const timer = setTimeout(() => conn.close(), ms);
  try {
    const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    let text = "";
    const buf = new Uint8Array(65536);
    const dec = new TextDecoder();
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
      const r = parseResponse(text);
      // A complete response with a length: no need to wait for the close.
      if (r && r.headers.has("content-length") && r.body.length >= Number(r.headers.get("content-length"))) {
        break;
      }
    }
    return text;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** A GET or POST as raw HTTP/1.1 with the given headers (Host included only when given). */
export function httpText(method: string, path: string, headers: Record<string, string>, body = ""): string {
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body || method === "POST") lines.push(`content-length: ${new TextEncoder().encode(body).length}`);
  lines.push("connection: close");
  return lines.join("\r\n") + "\r\n\r\n" + body;
}
