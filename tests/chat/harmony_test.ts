// renderHarmony against golden files (tests/chat/golden/*.txt; UPDATE_GOLDEN=1 rewrites them after a
// reviewed format change) and the format rules the golden files must show.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { renderFunctionsNamespace, renderHarmony } from "../../src/chat/harmony.ts";
import type { ChatMessage, PromptOptions, ToolDef } from "../../src/chat/messages.ts";
import { OssiError } from "../../src/errors.ts";

const GOLDEN = new URL("./golden/", import.meta.url).pathname;

function checkGolden(name: string, actual: string): void {
  const file = `${GOLDEN}${name}.txt`;
  if (Deno.env.get("UPDATE_GOLDEN") === "1") Deno.writeTextFileSync(file, actual);
  assertEquals(actual, Deno.readTextFileSync(file), `golden ${name}.txt`);
}

export const WEATHER_TOOLS: ToolDef[] = [
  { name: "get_location", description: "Gets the location of the user." },
  {
    name: "get_current_weather",
    description: "Gets the current weather in the provided location.",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
        format: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
      },
      required: ["location"],
    },
  },
  {
    name: "get_multiple_weathers",
    description: "Gets the current weather in the provided list of locations.",
    parameters: {
      type: "object",
      properties: {
        locations: {
          type: "array",
          items: { type: "string" },
          description: 'List of city and state, e.g. ["San Francisco, CA", "New York, NY"]',
        },
        format: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
      },
      required: ["locations"],
    },
  },
];

const opts = (o: Partial<PromptOptions> = {}): PromptOptions => ({
  effort: "medium",
  date: "2025-06-28",
  ...o,
});

Deno.test("renderHarmony() single user turn: system message with dates, effort, channels", () => {
  const text = renderHarmony([{ role: "user", content: "What is 2 + 2?" }], opts({ effort: "high" }));
  checkGolden("single_turn", text);
  assert(
    text.startsWith("<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"),
  );
  assert(
    text.includes(
      "Current date: 2025-06-28\n\nReasoning: high\n\n# Valid channels: analysis, commentary, final.",
    ),
  );
  assert(!text.includes("<|start|>developer"), "no developer message without instructions or tools");
  assert(text.endsWith("<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"));
});

Deno.test("renderHarmony() multi-turn drops earlier analysis and keeps final answers ending <|end|>", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "What is 2 + 2?" },
    { role: "assistant", content: "2 + 2 = 4.", reasoning: "Simple arithmetic." },
    { role: "user", content: "What about 9 / 2?" },
  ];
  const text = renderHarmony(messages, opts({ system: "You are a terse calculator." }));
  checkGolden("multi_turn", text);
  assert(!text.includes("Simple arithmetic."), "earlier analysis must be dropped");
  assert(text.includes("<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|end|><|start|>user"));
  assert(text.includes("<|start|>developer<|message|># Instructions\n\nAnswer briefly.<|end|>"));
  assert(
    text.includes("<|message|>You are a terse calculator.\nKnowledge cutoff:"),
    "system replaces identity",
  );
});

Deno.test("renderHarmony() function tools: namespace declaration, call, result, ongoing analysis kept", () => {
  const messages: ChatMessage[] = [
    { role: "developer", content: "Use a friendly tone." },
    { role: "user", content: "What is the weather like in SF?" },
    {
      role: "assistant",
      content: "",
      reasoning: "Need to use function get_current_weather.",
      toolCalls: [{ id: "call_1", name: "get_current_weather", arguments: '{"location":"San Francisco"}' }],
    },
    { role: "tool", toolCallId: "call_1", content: '{"sunny": true, "temperature": 20}' },
  ];
  const text = renderHarmony(messages, opts({ effort: "high", tools: WEATHER_TOOLS }));
  checkGolden("tools", text);
  assert(text.includes("Calls to these tools must go to the commentary channel: 'functions'.<|end|>"));
  assert(
    text.includes("<|start|>assistant<|channel|>analysis<|message|>Need to use function"),
    "ongoing analysis",
  );
  assert(text.includes(
    "<|start|>assistant<|channel|>commentary to=functions.get_current_weather <|constrain|>json<|message|>" +
      '{"location":"San Francisco"}<|call|>',
  ));
  assert(text.includes(
    '<|start|>functions.get_current_weather to=assistant<|channel|>commentary<|message|>{"sunny": true, ' +
      '"temperature": 20}<|end|><|start|>assistant',
  ));
});

Deno.test("renderFunctionsNamespace() writes TypeScript-like types from JSON schema", () => {
  const ns = renderFunctionsNamespace([
    { name: "noop" },
    {
      name: "search",
      parameters: {
        type: "object",
        properties: {
          q: { type: "string" },
          limit: { type: "integer", default: 10 },
          tags: { type: "array", items: { enum: ["a", "b"] } },
          opts: {
            type: "object",
            description: "Options.",
            properties: { exact: { type: "boolean" } },
            required: ["exact"],
          },
          when: { anyOf: [{ type: "string" }, { type: "null" }] },
        },
        required: ["q"],
      },
    },
  ]);
  checkGolden("functions_namespace", ns);
  assert(ns.includes("type noop = () => any;\n\n"));
  assert(ns.includes('q: string,\nlimit?: number, // default: 10\ntags?: ("a" | "b")[],\n'));
  assert(ns.includes("// Options.\nopts?: {\n  exact: boolean,\n},\nwhen?: string | null,\n}) => any;"));
  assert(ns.endsWith("} // namespace functions"));
});

Deno.test("renderHarmony() rejects a tool result that names no function", () => {
  assertThrows(
    () => renderHarmony([{ role: "user", content: "x" }, { role: "tool", content: "1" }], opts()),
    OssiError,
    /tool message 1/,
  );
});
