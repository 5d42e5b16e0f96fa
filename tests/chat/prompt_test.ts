// Prompt rendering follows the model folder: the demo model's chat_template.jinja must give eval.jsonl's
// prompts exactly; tokenizer_config.json templates get the variables HF templates use; no template falls
// back to the built-in harmony renderer; broken templates are one-line errors.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { renderHarmony } from "../../src/chat/harmony.ts";
import type { ChatMessage } from "../../src/chat/messages.ts";
import { harmonyRenderer, loadPromptRenderer, loadPromptRendererSync } from "../../src/chat/prompt.ts";
import { FormatError } from "../../src/errors.ts";

const evalItems = Deno.readTextFileSync(`${DEMO_MODEL}/eval.jsonl`).trim().split("\n").map((l) =>
  JSON.parse(l)
);

function withFolder(files: Record<string, string>, fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [name, text] of Object.entries(files)) Deno.writeTextFileSync(`${dir}/${name}`, text);
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("demo model: its chat template renders every eval.jsonl conversation to the stored prompt", async () => {
  const r = await loadPromptRenderer(DEMO_MODEL);
  assert(r !== harmonyRenderer, "the demo folder has a template");
  let multiTurn = 0;
  for (const item of evalItems) {
    assertEquals(r.render(item.messages, { effort: item.reasoning_effort }), item.prompt);
    if (item.messages.length > 1) multiTurn++;
  }
  assertEquals(multiTurn, 10);
  // The built-in renderer writes gpt-oss's own system message, which the demo model was not trained on.
  const first = evalItems[0];
  assert(renderHarmony(first.messages, { effort: "low" }) !== first.prompt);
});

Deno.test("a folder without a template uses the built-in harmony renderer", () => {
  withFolder({ "tokenizer_config.json": JSON.stringify({ eos_token: "<|return|>" }) }, (dir) => {
    const r = loadPromptRendererSync(dir);
    assert(r === harmonyRenderer);
    const msgs: ChatMessage[] = [{ role: "user", content: "hi" }];
    assertEquals(
      r.render(msgs, { effort: "low", date: "2025-01-02" }),
      renderHarmony(msgs, { effort: "low", date: "2025-01-02" }),
    );
  });
  withFolder({}, (dir) => assert(loadPromptRendererSync(dir) === harmonyRenderer));
});

/** A small template using what HF chat templates for gpt-oss read. */
const PROBE_TEMPLATE = [
  "{{ bos_token }}[{{ model_identity | default('default identity') }}|{{ strftime_now('%Y-%m-%d %B') }}|",
  "{{ reasoning_effort }}]",
  "{%- if tools %}{% for t in tools %}(tool {{ t.function.name }}: {{ t.function.parameters | tojson }}){% endfor %}{% endif -%}",
  "{%- for m in messages %}<{{ m.role }}",
  "{%- if m.thinking %} thinking={{ m.thinking }}{% endif %}",
  "{%- if m.tool_calls %}{% for c in m.tool_calls %} call={{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}{% endif %}",
  "{%- if m.role == 'tool' %} id={{ m.tool_call_id }}{% endif %}>{{ m.content }}",
  "{%- endfor %}{% if add_generation_prompt %}<gen>{% endif %}",
].join("");

Deno.test("tokenizer_config.json chat_template gets identity, date, effort, tools, thinking and tool calls", () => {
  const config = { bos_token: "<|startoftext|>", chat_template: PROBE_TEMPLATE };
  withFolder({ "tokenizer_config.json": JSON.stringify(config) }, (dir) => {
    const r = loadPromptRendererSync(dir);
    const msgs: ChatMessage[] = [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "",
        reasoning: "need tool",
        toolCalls: [{ id: "c1", name: "w", arguments: '{"city":"SF"}' }],
      },
      { role: "tool", content: "sunny", toolCallId: "c1", name: "w" },
    ];
    const out = r.render(msgs, {
      effort: "high",
      date: "2025-06-28",
      system: "You are Probe.",
      tools: [{ name: "w", parameters: { type: "object", properties: { city: { type: "string" } } } }],
    });
    assertEquals(
      out,
      '<|startoftext|>[You are Probe.|2025-06-28 June|high](tool w: {"type": "object", "properties": {"city": ' +
        '{"type": "string"}}})<user>weather?<assistant thinking=need tool call=w{"city": "SF"}>' +
        "<tool id=c1>sunny<gen>",
    );
    assert(
      r.render([], { effort: "low", date: "2024-01-05" }).startsWith(
        "<|startoftext|>[default identity|2024-01-05 January|low]",
      ),
    );
  });
});

Deno.test("chat_template.jinja wins over tokenizer_config.json's chat_template", () => {
  withFolder(
    {
      "chat_template.jinja": "file:{{ messages[0].content }}",
      "tokenizer_config.json": JSON.stringify({ chat_template: "config" }),
    },
    (dir) =>
      assertEquals(
        loadPromptRendererSync(dir).render([{ role: "user", content: "x" }], { effort: "low" }),
        "file:x",
      ),
  );
  // The list form: [{name, template}], "default" preferred.
  const config = { chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] };
  withFolder({ "tokenizer_config.json": JSON.stringify(config) }, (dir) => {
    assertEquals(loadPromptRendererSync(dir).render([], { effort: "low" }), "D");
  });
});

Deno.test("broken templates and raise_exception() are one-line FormatErrors naming the file", () => {
  withFolder({ "chat_template.jinja": "{% for m in messages %}{{ m.content }" }, (dir) => {
    const e = assertThrows(
      () => loadPromptRendererSync(dir),
      FormatError,
      /chat_template\.jinja: cannot parse/,
    );
    assert(!e.message.includes("\n"));
  });
  withFolder({ "chat_template.jinja": "{{ raise_exception('roles must alternate') }}" }, (dir) => {
    const r = loadPromptRendererSync(dir);
    assertThrows(() => r.render([], { effort: "low" }), FormatError, /roles must alternate/);
  });
});
