// A chat template for server tests, written the way gpt-oss's own is (harmony markup, tools through
// tojson, a raise_exception check on assistant content), to run requests through a Jinja template.

/**
 * A template written the way gpt-oss's is: identity and effort in the system message, instructions and
 * tools (names, descriptions, schemas through tojson) in the developer message, reasoning as `thinking`,
 * tool calls with `arguments | tojson`, a check that refuses harmony tags inside assistant content.
 */
export const HARMONY_LIKE_TEMPLATE = [
  "<|start|>system<|message|>{{ model_identity | default('You are a test model.') }}",
  "\nReasoning: {{ reasoning_effort }}<|end|>",
  "<|start|>developer<|message|>",
  "{%- for m in messages %}{% if m.role == 'system' or m.role == 'developer' %}{{ m.content }}\n{% endif %}",
  "{%- endfor %}",
  "{%- for t in tools or [] %}// {{ t.function.description }}\ntype {{ t.function.name }} = ",
  "{{ t.function.parameters | tojson }}\n{% endfor %}<|end|>",
  "{%- for m in messages %}",
  "{%- if m.role == 'user' %}<|start|>user<|message|>{{ m.content }}<|end|>",
  "{%- elif m.role == 'assistant' %}",
  "{%- if '<|channel|>' in m.content %}{{ raise_exception('harmony tags in assistant content') }}{% endif %}",
  "{%- if m.thinking %}<|start|>assistant<|channel|>analysis<|message|>{{ m.thinking }}<|end|>{% endif %}",
  "{%- if m.content %}<|start|>assistant<|channel|>final<|message|>{{ m.content | trim }}<|end|>{% endif %}",
  "{%- for c in m.tool_calls or [] %}<|start|>assistant<|channel|>commentary to=functions.",
  "{{ c.function.name }} <|constrain|>json<|message|>{{ c.function.arguments | tojson }}<|call|>{% endfor %}",
  "{%- elif m.role == 'tool' %}<|start|>functions.{{ m.name }} to=assistant<|channel|>commentary",
  "<|message|>[{{ m.tool_call_id }}] {{ m.content }}<|end|>",
  "{%- endif %}{%- endfor %}<|start|>assistant",
].join("");
