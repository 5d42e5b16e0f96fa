// `ossi serve`: an OpenAI-compatible HTTP server (chat completions, responses, models) and a chat page at /.
// This file only reads flags, opens the engine and binds; everything else lives in src/serve/.

import { OssiError } from "../errors.ts";
import { isLoopbackName, normalizeOrigin } from "../serve/origin_policy.ts";
import { type RunningServer, startServer } from "../serve/server.ts";
import { WorkerChatService } from "../service/worker_service.ts";
import { listFlag, numberOption, stringFlag } from "./args.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { readEngineSettings, readSampler } from "./settings.ts";
import { onStopSignals } from "./stop_signals.ts";

const HELP = commandHelp(
  "serve",
  `usage: ossi serve [--model DIR|ORG/NAME] [--host 127.0.0.1] [--port 8000] [--api-key KEY]
                  [--parallel N] [--alias NAME]... [--cors-origin ORIGIN]... [options]

Serves the OpenAI API (GET /v1/models, POST /v1/chat/completions, POST /v1/responses), a chat page
at http://HOST:PORT/, GET /health, GET /metrics (Prometheus) and POST /stop {"id"}. --parallel N gives
the engine N KV slots of --ctx tokens each: N requests generate at once, their decode steps
batched; a request goes to the free slot that already holds its conversation. Past --queue waiting
requests (default 32) the server answers 429. SIGINT or SIGTERM stops the requests in progress and
exits 0. With --api-key (or OSSI_API_KEY) every /v1 request needs 'Authorization: Bearer KEY'.
It binds to loopback unless --host says otherwise. --port 0 picks a free port. On the CPU (wasm
backend) it runs the fast path (int8 weights and expert activations); --exact runs the reference's f32
arithmetic.
Requests name the model as GET /v1/models lists it (a Hub id such as openai/gpt-oss-20b, or the folder's
name); the name without its organisation (gpt-oss-20b) works too, and each --alias NAME adds a name.
Web pages from other origins are refused unless --cors-origin allows them (repeatable; '*' allows any
origin), e.g. --cors-origin http://localhost:3000. On loopback, Host names other than localhost and
loopback addresses are refused (DNS rebinding).`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("serve", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (args.positionals.length > 0) {
    throw new OssiError(`serve: unexpected argument '${args.positionals[0]}'`, 2);
  }
  const listed = listFlag(args, "alias");
  if (listed.some((a) => a.trim() === "")) throw new OssiError("serve: --alias needs a model name", 2);
  const hostname = stringFlag(args, "host") ?? "127.0.0.1";
  if (!validHost(hostname)) {
    throw new OssiError(`serve: --host must be an IP address or a host name (got '${hostname}')`, 2);
  }
  const port = numberOption(args, "port", 8000);
  const queue = numberOption(args, "queue", 32);
  const corsOrigins = listFlag(args, "cors-origin").map((o) => {
    const origin = normalizeOrigin(o);
    if (origin === null) {
      throw new OssiError(`serve: --cors-origin must be '*' or scheme://host[:port] (got '${o}')`, 2);
    }
    return origin;
  });
  const apiKey = stringFlag(args, "api-key") ?? (Deno.env.get("OSSI_API_KEY") || undefined);
  const { model, backend, threads, precision, ctx } = readEngineSettings(args);
  const sampler = readSampler(args, model.dir);
  const modelArg = stringFlag(args, "model");
  // A signal stops accepting, stops the requests in progress (streams end with an error event saying
  // so), frees the engine and exits 0; a second one quits at once. Listening starts before the model loads
  // (taken over from main: stop_signals.ts): a signal then ends the loading (exit 0).
  let server: RunningServer | null = null;
  let stopping = false;
  const loading = new AbortController();
  const shutDown = (s: RunningServer) => {
    s.context.shutDown();
    void s.shutdown();
  };
  const stop = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    console.error("ossi: shutting down");
    if (server) shutDown(server);
    else loading.abort();
  };
  const stopListening = onStopSignals(["SIGINT", "SIGTERM"], stop);
  try {
    if (model.source === "demo") {
      console.error(`ossi: no gpt-oss model given or cached; serving the demo model ${model.dir}`);
    }
    // the engine lives in a worker: this thread keeps the sockets and signals
    let engine: WorkerChatService;
    try {
      engine = await WorkerChatService.open(
        model.dir,
        { backend, threads, precision, maxContext: ctx, slots: numberOption(args, "parallel") },
        undefined,
        loading.signal,
      );
    } catch (e) {
      if (loading.signal.aborted) return 0;
      throw e;
    }
    const modelId = model.name;
    try {
      server = startServer({
        engine,
        modelId,
        // A cached Hub id also answers to its name part (openai/gpt-oss-20b -> gpt-oss-20b).
        aliases: [model.dir, ...(modelArg ? [modelArg] : []), modelId.split("/").pop()!],
        listedAliases: listed.filter((a) => a !== modelId),
        sampler,
        apiKey,
        corsOrigins,
        maxWaiting: queue,
        log: (line) => console.error(line),
      }, { hostname, port });
    } catch (e) {
      await engine.close();
      if (e instanceof Deno.errors.AddrInUse) {
        throw new OssiError(`serve: ${hostname}:${port} is already in use`);
      }
      if (e instanceof Deno.errors.AddrNotAvailable) {
        throw new OssiError(`serve: cannot bind ${hostname}:${port}`);
      }
      // An address that does not parse or resolve (--host 999.1.1.1), a port below 1024 without root, ...
      throw new OssiError(
        `serve: cannot listen on ${hostname}:${port} (${(e as Error).message.split("\n")[0]})`,
      );
    }
    if (!isLoopbackName(server.hostname) && !apiKey) {
      console.error(
        `ossi: warning: listening on ${server.hostname} without --api-key; anyone who can reach it can use it`,
      );
    }
    console.error(
      `ossi: serving ${modelId} at ${server.url} (chat page ${server.url}/, OpenAI API ${server.url}/v1; ` +
        `${engine.info.backend} backend, ${engine.info.precision} precision, ${engine.info.slots} slot${
          engine.info.slots === 1 ? "" : "s"
        } of ` +
        `${engine.info.contextSize} tokens)`,
    );
    // stopped between the engine opening and the server starting
    if (stopping) shutDown(server);
    await server.finished;
    await engine.close();
    return 0;
  } finally {
    stopListening();
  }
}

/** An IPv4 address with octets 0-255, an IPv6 address, or a DNS name: checked before the model loads. */
function validHost(host: string): boolean {
  if (/^[\d.]+$/.test(host)) {
    const parts = host.split(".");
    return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  }
  if (host.includes(":")) return /^[0-9a-fA-F:.]+$/.test(host);
  return /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/
    .test(host);
}
