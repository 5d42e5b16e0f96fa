// The server against hostile clients: a 300 MB chunked body is refused while it arrives; web pages of other
// origins and foreign Host names (DNS rebinding) are refused unless allowed; CORS preflights; API keys;
// nesting and %-encoding; and a fuzz of bodies, paths, methods and headers in which no response is a 500
// and every error is OpenAI-shaped JSON.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { rng } from "../random.ts";
import { harmonyRenderer, TemplateRenderer } from "../../src/chat/prompt.ts";
import { HARMONY_LIKE_TEMPLATE } from "./harmony_like_template.ts";
import { type Json, postJson, STUB_MODEL, withStubServer } from "./serve_util.ts";
import { httpText, parseResponse, rawRequest } from "./raw_http.ts";

const TEMPLATE = new TemplateRenderer(HARMONY_LIKE_TEMPLATE, {}, "test template");
const CHAT = { model: STUB_MODEL, messages: [{ role: "user", content: "What is 2+3?" }] };

Deno.test(
  "a 300 MB chunked body is refused with 413 after the size limit, without the server's memory growing",
  withStubServer({}, async (s) => {
    const { hostname, port } = new URL(s.url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}:${port}\r\n` +
      "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    const size = 1 << 20;
    const prefix = new TextEncoder().encode(`${size.toString(16)}\r\n`);
    const framed = new Uint8Array(prefix.length + size + 2).fill(0x20); // spaces: valid JSON whitespace
    framed.set(prefix);
    framed.set(new TextEncoder().encode("\r\n"), prefix.length + size);
    const rssBefore = Deno.memoryUsage().rss;
    let sent = 0;
    let reply = "";
    const reading = (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        reply += new TextDecoder().decode(buf.subarray(0, n));
      }
    })();
    try {
      await conn.write(new TextEncoder().encode(head));
      while (sent < 300 << 20 && !reply.includes("\r\n\r\n")) {
        for (let off = 0; off < framed.length;) off += await conn.write(framed.subarray(off));
        sent += size;
      }
    } catch { /* the server closed the connection: refused */ }
    for (let waited = 0; !/\r\n\r\n[^]*\}/.test(reply) && waited < 5000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
    }
    conn.close();
    await reading;
    assertMatch(reply, /^HTTP\/1\.1 413/);
    assert(sent < 64 << 20, `the client could send ${sent >> 20} MB before the refusal`);
    const grew = (Deno.memoryUsage().rss - rssBefore) / (1 << 20);
    assert(grew < 100, `RSS grew by ${grew.toFixed(0)} MB`);
    // The server still answers.
    assertEquals((await postJson(`${s.url}/v1/chat/completions`, CHAT)).status, 200);
  }),
);

Deno.test(
  "web pages from other origins are refused; the server's own page, clients without Origin and loopback Hosts pass",
  withStubServer({}, async (s) => {
    const chat = `${s.url}/v1/chat/completions`;
    const foreign = await fetch(chat, {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "https://evil.example" },
      body: JSON.stringify(CHAT),
    });
    const err: Json = await foreign.json();
    assertEquals([foreign.status, err.error.code], [403, "forbidden_origin"]);
    assertEquals(foreign.headers.get("access-control-allow-origin"), null);
    assertEquals((await postJson(chat, CHAT, { origin: s.url })).status, 200); // the chat page's own fetches
    assertEquals((await postJson(chat, CHAT)).status, 200); // SDKs, curl
    assertEquals((await postJson(chat, CHAT, { origin: "null" })).status, 403); // sandboxed frames, file://
    // A preflight from a foreign page is refused too.
    const pre = await fetch(chat, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assertEquals(pre.status, 403);
    await pre.body?.cancel();
    // DNS rebinding: a page at evil.example rebound to 127.0.0.1 sends its own name as Host.
    const { port } = new URL(s.url);
    for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.nip.io:${port}`]) {
      const r = parseResponse(await rawRequest(s.url, httpText("GET", "/v1/models", { host })))!;
      assertEquals(r.status, 403, host);
      assertEquals(JSON.parse(r.body).error.code, "forbidden_host");
      const page = parseResponse(await rawRequest(s.url, httpText("GET", "/", { host })))!;
      assertEquals(page.status, 403, `chat page for ${host}`);
    }
    for (
      const host of [
        `localhost:${port}`,
        `127.0.0.1:${port}`,
        `127.9.9.9:${port}`,
        `[::1]:${port}`,
        "app.localhost",
      ]
    ) {
      const r = parseResponse(await rawRequest(s.url, httpText("GET", "/v1/models", { host })))!;
      assertEquals(r.status, 200, host);
    }
  }),
);

Deno.test(
  "--cors-origin: an allowed page gets Access-Control-* headers and its preflight is answered",
  async () => {
    await withStubServer({ corsOrigins: ["http://localhost:3000"] }, async (s) => {
      const chat = `${s.url}/v1/chat/completions`;
      const pre = await fetch(chat, {
        method: "OPTIONS",
        headers: {
          origin: "http://localhost:3000",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, authorization",
        },
      });
      assertEquals(pre.status, 204);
      assertEquals(pre.headers.get("access-control-allow-origin"), "http://localhost:3000");
      assertMatch(pre.headers.get("access-control-allow-methods")!, /POST/);
      assertEquals(pre.headers.get("access-control-allow-headers"), "content-type, authorization");
      await pre.body?.cancel();
      const res = await postJson(chat, CHAT, { origin: "http://localhost:3000" });
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("access-control-allow-origin"), "http://localhost:3000");
      assertEquals(res.headers.get("vary"), "Origin");
      await res.body?.cancel();
      // Errors carry the headers too, so the page can read them.
      const bad = await postJson(chat, "{", { origin: "http://localhost:3000" });
      assertEquals([bad.status, bad.headers.get("access-control-allow-origin")], [
        400,
        "http://localhost:3000",
      ]);
      await bad.body?.cancel();
      assertEquals((await postJson(chat, CHAT, { origin: "http://localhost:3001" })).status, 403);
    })();
    await withStubServer({ corsOrigins: ["*"] }, async (s) => {
      const res = await postJson(`${s.url}/v1/chat/completions`, CHAT, { origin: "https://any.example" });
      assertEquals([res.status, res.headers.get("access-control-allow-origin")], [
        200,
        "https://any.example",
      ]);
      await res.body?.cancel();
    })();
  },
);

Deno.test(
  "API key: right key passes; wrong, shorter, longer and missing keys are 401",
  withStubServer({ apiKey: "s3cret-key" }, async (s) => {
    const chat = `${s.url}/v1/chat/completions`;
    assertEquals((await postJson(chat, CHAT, { authorization: "Bearer s3cret-key" })).status, 200);
    for (const auth of ["Bearer s3cret-kez", "Bearer s3cret", "Bearer s3cret-key-and-more", "", "Basic x"]) {
      const res = await postJson(chat, CHAT, auth ? { authorization: auth } : {});
      assertEquals(res.status, 401, auth);
      await res.body?.cancel();
    }
  }),
);

Deno.test(
  "deep nesting and malformed %-encoding are 400s",
  withStubServer({}, async (s) => {
    let schema: Json = { type: "string" };
    for (let i = 0; i < 5000; i++) schema = { type: "object", properties: { a: schema } };
    const tools = [{ type: "function", function: { name: "f", parameters: schema } }];
    const deep = await postJson(`${s.url}/v1/chat/completions`, { ...CHAT, tools });
    assertEquals(deep.status, 400);
    assertMatch((await deep.json()).error.message, /nested more than/);
    const nestedArgs = "[".repeat(100_000) + "]".repeat(100_000);
    const msgs = [
      ...CHAT.messages,
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: nestedArgs } }],
      },
      { role: "tool", tool_call_id: "c", content: "x" },
    ];
    const args = await postJson(`${s.url}/v1/chat/completions`, { ...CHAT, messages: msgs });
    assert(args.status === 200 || args.status === 400, `${args.status}`);
    await args.body?.cancel();
    const output = await postJson(`${s.url}/v1/responses`, {
      model: STUB_MODEL,
      input: [
        { role: "user", content: "x" },
        { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "c", output: JSON.parse(nestedArgs.slice(49_000, 151_000)) },
      ],
    });
    assertEquals(output.status, 400);
    await output.body?.cancel();
    for (const path of ["/v1/models/%E0%A4%A", "/v1/models/%", "/v1/models/%zz"]) {
      const r = await fetch(`${s.url}${path}`);
      assertEquals(r.status, 400, path);
      assertEquals((await r.json()).error.code, "invalid_path");
    }
  }),
);

/** Request fields a mutation may add with an odd value. */
const FIELDS = [
  "temperature",
  "top_p",
  "stop",
  "n",
  "tools",
  "tool_choice",
  "stream",
  "seed",
  "return_token_ids",
];

/** One random change to a JSON value (a type swapped, a key dropped or added, a list emptied). */
function mutate(v: unknown, r: () => number, depth = 0): unknown {
  const odd = [
    null,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    2 ** 53,
    "",
    "x",
    "<|start|>",
    "\u0000",
    "\ud800",
    true,
    [],
    {},
    [null],
    { role: "user" },
    "a".repeat(5000),
  ];
  if (v === null || typeof v !== "object" || depth > 5 || r() < 0.1) return odd[Math.floor(r() * odd.length)];
  const isArray = Array.isArray(v);
  const entries: [string | number, unknown][] = isArray ? v.map((x, i) => [i, x]) : Object.entries(v);
  if (entries.length === 0 || r() < 0.05) return isArray ? [...v, odd[Math.floor(r() * odd.length)]] : v;
  const [key, child] = entries[Math.floor(r() * entries.length)];
  if (isArray) return v.map((x, i) => (i === key ? mutate(child, r, depth + 1) : x));
  const copy: Json = { ...(v as Json) };
  const dice = r();
  if (dice < 0.1) delete copy[key];
  else if (dice < 0.2) copy[FIELDS[Math.floor(r() * FIELDS.length)]] = odd[Math.floor(r() * odd.length)];
  else copy[key] = mutate(child, r, depth + 1);
  return copy;
}

const SEEDS: Json[] = [
  {
    ...CHAT,
    stream: false,
    max_tokens: 8,
    temperature: 0.5,
    stop: ["\n"],
    return_token_ids: true,
    tools: [{
      type: "function",
      function: {
        name: "get_weather",
        description: "d",
        parameters: {
          type: "object",
          properties: { city: { type: "string", enum: ["a"] } },
          required: ["city"],
        },
      },
    }],
    tool_choice: "auto",
    messages: [
      { role: "system", content: "s" },
      { role: "user", content: [{ type: "text", text: "weather in Paris" }] },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "c1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        }],
      },
      { role: "tool", tool_call_id: "c1", content: "sunny" },
    ],
  },
  {
    model: STUB_MODEL,
    instructions: "i",
    max_output_tokens: 8,
    reasoning: { effort: "low" },
    input: [
      { role: "user", content: [{ type: "input_text", text: "What is 1+2?" }] },
      { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "c", output: "ok" },
    ],
    tools: [{ type: "function", name: "f", parameters: { type: "object", properties: {} } }],
  },
  {
    model: STUB_MODEL,
    prompt: [[1, 2, 3]],
    max_tokens: 6,
    stream: true,
    stream_options: { include_usage: true },
    logprobs: 2,
    echo: false,
    stop: ["x", "<|end|>"],
    logit_bias: { "5": -1 },
    return_token_ids: true,
  },
];
/** The route each seed body is sent to. */
const SEED_PATHS = ["/v1/chat/completions", "/v1/responses", "/v1/completions"];

for (
  const [name, renderer] of [["built-in harmony", harmonyRenderer], ["a Jinja template", TEMPLATE]] as const
) {
  Deno.test(
    `fuzz (${name}): mutated bodies, odd paths, methods and headers never give a 500, and every error is JSON`,
    withStubServer({ contextSize: 1 << 15, renderer }, async (s) => {
      const r = rng(name.length);
      const check = async (res: Response, what: string) => {
        const text = await res.text();
        assert(res.status < 500, `${what}: ${res.status} ${text.slice(0, 300)}`);
        assert(!text.includes('"server_error"'), `${what}: ${text.slice(0, 300)}`); // an error inside a stream
        if (res.status >= 400) {
          const body = JSON.parse(text);
          assert(typeof body.error?.message === "string", `${what}: ${text.slice(0, 200)}`);
        }
      };
      for (let i = 0; i < 200; i++) {
        const seed = SEEDS[i % SEEDS.length];
        const path = SEED_PATHS[i % SEEDS.length];
        let body = seed;
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) body = mutate(body, r) as Json;
        const text = JSON.stringify(body) ?? "null";
        const res = await postJson(`${s.url}${path}`, text);
        await check(res, `${path} ${text.slice(0, 300)}`);
      }
      const paths = [
        "/v1",
        "/v1/",
        "/v1//models",
        "/v1/models/",
        "/v1/models/%2F..%2F",
        "/v1/models/" + "a".repeat(5000),
        "/v1/chat/completions/x",
        "/v1/responses?x=%zz",
        "/v1/completions/",
        "/..%2f..%2fetc/passwd",
        "/ui/../../README.md",
        "/%00",
        "/health?x",
        "/index.html",
        "/ui/app.js",
      ];
      for (const path of paths) {
        for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
          const res = await fetch(`${s.url}${path}`, { method, body: method === "POST" ? "{}" : undefined });
          if (method === "HEAD") {
            assert(res.status < 500, `${method} ${path}`);
            await res.body?.cancel();
          } else await check(res, `${method} ${path}`);
        }
      }
      const headerSets: Record<string, string>[] = [
        { "content-type": "application/x-www-form-urlencoded" },
        { "content-length": "999999999999" },
        { authorization: "Bearer " + "x".repeat(10000) },
        { "content-type": "application/json; charset=latin1" },
        { "x-forwarded-host": "evil.example" },
        { origin: "http://" + "a".repeat(3000) },
        { origin: "not a url" },
      ];
      for (const headers of headerSets) {
        const res = await postJson(`${s.url}/v1/chat/completions`, CHAT, headers).catch(() => null);
        if (res) await check(res, JSON.stringify(headers).slice(0, 100));
      }
      const raw = [
        "GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
        'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\n{"a"',
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n",
        "GET /v1/models/%ff HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
      ];
      for (const req of raw) {
        const res = parseResponse(await rawRequest(s.url, req, 3000));
        if (res) assert(res.status < 500, `${JSON.stringify(req)}: ${res.status} ${res.body}`);
      }
      // Still healthy after all of it.
      assertEquals((await postJson(`${s.url}/v1/chat/completions`, CHAT)).status, 200);
    }),
  );
}
