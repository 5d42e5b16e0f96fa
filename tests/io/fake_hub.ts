// A local imitation of the Hugging Face Hub's file endpoints for download tests: the revision API
// (siblings), HEAD/GET on resolve URLs (LFS files redirect to a CDN path and carry X-Linked-Etag/Size),
// Range requests, and switches for a broken transfer, corrupted content and a required token.

import { createHash } from "node:crypto";

export interface FakeHubOptions {
  id: string;
  commit: string;
  files: Record<string, Uint8Array<ArrayBuffer>>;
  /** Files stored as LFS (sha256 etag, redirect); default: *.safetensors. */
  lfs?: (path: string) => boolean;
  /** path -> bytes after which the first GET of that path breaks the connection (once per entry). */
  breakAfter?: Record<string, number>;
  /** Paths whose content is served with its last byte flipped (the advertised sha256 stays right). */
  corrupt?: string[];
  /** When set, every request needs "Authorization: Bearer <token>". */
  token?: string;
}

export interface FakeHub {
  url: string;
  /** "METHOD path range?" for every request, in order. */
  log: string[];
  close(): Promise<void>;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function gitOid(b: Uint8Array): string {
  return createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
}

export function startFakeHub(o: FakeHubOptions): FakeHub {
  const log: string[] = [];
  const breaks = { ...o.breakAfter };
  const isLfs = o.lfs ?? ((p: string) => p.endsWith(".safetensors"));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    const range = req.headers.get("range");
    log.push(`${req.method} ${decodeURIComponent(url.pathname)}${range ? ` ${range}` : ""}`);
    if (o.token && req.headers.get("authorization") !== `Bearer ${o.token}`) {
      return new Response("unauthorized", { status: 401 });
    }
    if (url.pathname === `/api/models/${o.id}/revision/main`) {
      return Response.json({
        id: o.id,
        sha: o.commit,
        siblings: Object.keys(o.files).map((rfilename) => ({ rfilename })),
      });
    }
    const resolvePrefix = `/${o.id}/resolve/${o.commit}/`;
    const cdnPrefix = `/cdn/${o.id}/`;
    let path: string | undefined;
    let viaCdn = false;
    if (url.pathname.startsWith(resolvePrefix)) {
      path = decodeURIComponent(url.pathname.slice(resolvePrefix.length));
    } else if (url.pathname.startsWith(cdnPrefix)) {
      path = decodeURIComponent(url.pathname.slice(cdnPrefix.length));
      viaCdn = true;
    }
    const body = path !== undefined ? o.files[path] : undefined;
    if (path === undefined || body === undefined) return new Response("not found", { status: 404 });
    const lfs = isLfs(path);
    if (lfs && !viaCdn) {
      return new Response(null, {
        status: 302,
        headers: {
          location: `${cdnPrefix}${path}`,
          "x-linked-etag": `"${sha256Hex(body)}"`,
          "x-linked-size": String(body.length),
          "x-repo-commit": o.commit,
          etag: `"${gitOid(body)}"`,
        },
      });
    }
    const headers: Record<string, string> = {
      etag: `"${lfs ? sha256Hex(body) : gitOid(body)}"`,
      "accept-ranges": "bytes",
    };
    if (req.method === "HEAD") {
      headers["content-length"] = String(body.length);
      return new Response(null, { status: 200, headers });
    }
    let content = body;
    if (o.corrupt?.includes(path)) {
      content = body.slice();
      content[content.length - 1] ^= 0xff;
    }
    let start = 0;
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      start = Number(m[1]);
      if (start >= content.length) return new Response(null, { status: 416 });
    }
    const part = content.subarray(start);
    const status = m ? 206 : 200;
    if (m) headers["content-range"] = `bytes ${start}-${content.length - 1}/${content.length}`;
    const cut = breaks[path];
    if (cut !== undefined) {
      delete breaks[path];
      // Sends `cut` bytes, then fails the stream: the client sees a broken connection.
      const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
        start(c) {
          c.enqueue(part.slice(0, cut));
        },
        pull(c) {
          return new Promise((r) => setTimeout(r, 20)).then(() => c.error(new Error("connection reset")));
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(part.slice(), { status, headers });
  });
  const addr = server.addr as Deno.NetAddr;
  return { url: `http://127.0.0.1:${addr.port}`, log, close: () => server.shutdown() };
}
