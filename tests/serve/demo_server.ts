// A server over the demo model (ref backend) and an official `openai` client pointed at it.

import OpenAI from "openai";
import { assertEquals } from "../assert.ts";
import { openLocalService } from "../../src/service/open_service.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { type RunningServer, startServer } from "../../src/serve/server.ts";
import { DEMO_MODEL } from "../fixture_util.ts";

export const MODEL = "tiny-oss-math";

export async function withDemoServer(
  fn: (client: OpenAI, server: RunningServer, url: string) => Promise<void>,
) {
  const engine = await openLocalService(DEMO_MODEL, { backend: "ref", maxContext: 1024 });
  const logs: string[] = [];
  const server = startServer({
    engine,
    modelId: MODEL,
    sampler: defaultSamplerParams(DEMO_MODEL),
    log: (l) => logs.push(l),
  }, { hostname: "127.0.0.1", port: 0 });
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: "not-needed",
    maxRetries: 0,
    timeout: 60_000,
  });
  try {
    await fn(client, server, server.url);
  } finally {
    await server.shutdown();
    await engine.close();
  }
  assertEquals(logs, [], "the server logged no errors");
}
