// config.json values out of range or meaning are refused when the model is opened: one line naming the
// file, the key and the value, exit 1 (never a model that computes NaN, an empty answer, or silently
// different logits). Every class for every architecture, and through the CLI.

import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { FormatError } from "../../src/errors.ts";
import type { Architecture } from "../../src/model/architecture.ts";
import { gpt2 } from "../../src/model/gpt2.ts";
import { gptOss } from "../../src/model/gpt_oss.ts";
import { llama } from "../../src/model/llama.ts";
import { qwen3 } from "../../src/model/qwen3.ts";
import { FIXTURES, runCli } from "../fixture_util.ts";

const config = (fixture: string) => JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${fixture}/config.json`));

type Case = [string, Record<string, unknown>, RegExp];

const GPT_OSS: Case[] = [
  ["rope_theta 0", { rope_theta: 0 }, /key 'rope_theta' must be > 0, got 0/],
  ["rope_theta negative", { rope_theta: -150000 }, /key 'rope_theta' must be > 0, got -150000/],
  ["rms_norm_eps negative", { rms_norm_eps: -1e-5 }, /key 'rms_norm_eps' must be in \(0, 1\), got -0.00001/],
  ["rms_norm_eps 0", { rms_norm_eps: 0 }, /key 'rms_norm_eps' must be in \(0, 1\), got 0/],
  [
    "YaRN factor 0",
    { rope_scaling: { rope_type: "yarn", factor: 0 } },
    /\(rope_scaling\): key 'factor' must be >= 1, got 0/,
  ],
  [
    "YaRN factor negative",
    { rope_scaling: { rope_type: "yarn", factor: -4 } },
    /key 'factor' must be >= 1, got -4/,
  ],
  [
    "YaRN betas reversed",
    { rope_scaling: { rope_type: "yarn", factor: 32, beta_fast: 1, beta_slow: 32 } },
    /key 'beta_fast' must be > beta_slow \(32\), got 1/,
  ],
  ["swiglu_limit negative", { swiglu_limit: -7 }, /key 'swiglu_limit' must be > 0, got -7/],
  ["sliding_window 0", { sliding_window: 0 }, /key 'sliding_window' must be a positive integer, got 0/],
  [
    "sliding_window fractional",
    { sliding_window: 8.5 },
    /key 'sliding_window' must be a positive integer, got 8.5/,
  ],
  ["no experts", { num_local_experts: 0 }, /key 'num_local_experts' must be a positive integer, got 0/],
  [
    "more experts per token than experts",
    { num_experts_per_tok: 9, experts_per_token: 9 },
    /key 'num_experts_per_tok' \(9\) exceeds/,
  ],
  ["head_dim odd", { head_dim: 15 }, /key 'head_dim' must be even \(RoPE rotates pairs\), got 15/],
  [
    "KV heads not dividing heads",
    { num_key_value_heads: 3 },
    /key 'num_key_value_heads' \(3\) must divide the 4/,
  ],
  ["hidden size not in MXFP4 blocks", { hidden_size: 48 }, /key 'hidden_size' must be a multiple of 32/],
  [
    "eos outside the vocabulary",
    { eos_token_id: [2, 512] },
    /key 'eos_token_id' holds 512, outside the vocabulary/,
  ],
  [
    "unknown layer type",
    { layer_types: ["x", "x", "x", "x"] },
    /key 'layer_types' holds unknown layer type 'x'/,
  ],
  ["layer_types of the wrong length", { layer_types: ["full_attention"] }, /key 'layer_types' has 1 entries/],
  ["a string for a number", { rope_theta: "150000" }, /key 'rope_theta' must be a number, got "150000"/],
];

const QWEN3: Case[] = [
  ["rope_theta negative", { rope_theta: -1 }, /key 'rope_theta' must be > 0, got -1/],
  ["rms_norm_eps negative", { rms_norm_eps: -1e-6 }, /key 'rms_norm_eps' must be in \(0, 1\)/],
  [
    "YaRN factor below 1",
    { rope_scaling: { rope_type: "yarn", factor: 0.5 } },
    /key 'factor' must be >= 1, got 0.5/,
  ],
  [
    "an unknown rope type",
    { rope_scaling: { rope_type: "longrope" } },
    /rope type "longrope" is not supported/,
  ],
  [
    "sliding_window 0 when used",
    { use_sliding_window: true, sliding_window: 0 },
    /'sliding_window' must be a positive/,
  ],
  ["a hidden_act other than silu", { hidden_act: "gelu" }, /key 'hidden_act' is "gelu", not supported/],
  ["norm_topk_prob not a boolean", { norm_topk_prob: "true" }, /key 'norm_topk_prob' must be true or false/],
];

const GPT2: Case[] = [
  [
    "layer_norm_epsilon negative",
    { layer_norm_epsilon: -1e-5 },
    /key 'layer_norm_epsilon' must be in \(0, 1\)/,
  ],
  ["n_head not dividing n_embd", { n_head: 5 }, /key 'n_head' \(5\) must divide the hidden size 64/],
  [
    "scaled attention by layer index",
    { scale_attn_by_inverse_layer_idx: true },
    /'scale_attn_by_inverse_layer_idx' true/,
  ],
  ["n_positions 0", { n_positions: 0 }, /key 'n_positions' must be a positive integer, got 0/],
];

const LLAMA: Case[] = [
  [
    "llama3 factor 0",
    { rope_scaling: { ...config("llama-tiny").rope_scaling, factor: 0 } },
    /key 'factor' must be >= 1/,
  ],
  ["llama3 bands reversed", {
    rope_scaling: { ...config("llama-tiny").rope_scaling, low_freq_factor: 4, high_freq_factor: 1 },
  }, /key 'high_freq_factor' must be > low_freq_factor \(4\), got 1/],
  ["rms_norm_eps of 1", { rms_norm_eps: 1 }, /key 'rms_norm_eps' must be in \(0, 1\), got 1/],
];

const ARCHES: [string, Architecture, string, Case[]][] = [
  ["gpt-oss", gptOss as unknown as Architecture, "gpt-oss-tiny", GPT_OSS],
  ["Qwen3-MoE", qwen3 as unknown as Architecture, "qwen3-moe-tiny", QWEN3],
  ["GPT-2", gpt2 as unknown as Architecture, "gpt2-tiny", GPT2],
  ["Llama", llama as unknown as Architecture, "llama-tiny", LLAMA],
];

for (const [family, arch, fixture, cases] of ARCHES) {
  Deno.test(`${family}: config values out of range or meaning are a FormatError naming file, key and value`, () => {
    const base = config(fixture);
    arch.parseConfig("dir/config.json", base); // the fixture's own config passes
    for (const [what, patch, re] of cases) {
      const e = assertThrows(
        () => arch.parseConfig("dir/config.json", { ...base, ...patch }),
        FormatError,
        re,
      );
      assertMatch(e.message, /^dir\/config\.json/, what);
    }
  });
}

Deno.test("gpt-oss original/ config: its YaRN keys are checked under their own names", () => {
  const orig = config("gpt-oss-tiny/original");
  assertThrows(
    () => gptOss.parseConfig("c.json", { ...orig, rope_scaling_factor: 0 }),
    FormatError,
    /key 'rope_scaling_factor' must be >= 1, got 0/,
  );
  assertThrows(
    () => gptOss.parseConfig("c.json", { ...orig, rope_ntk_alpha: -1 }),
    FormatError,
    /key 'rope_ntk_alpha' must be > 0, got -1/,
  );
});

Deno.test("ossi logits refuses an absurd config.json in one line, exit 1, for each backend", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ossi-config-" });
  try {
    await Deno.copyFile(`${FIXTURES}/qwen3-tiny/model.safetensors`, `${dir}/model.safetensors`);
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ ...config("qwen3-tiny"), rope_theta: 0 }),
    );
    for (const backend of ["ref", "wasm", "webgpu"]) {
      const r = await runCli(["logits", "--model", dir, "--tokens", "1,2", "--backend", backend]);
      assertEquals([r.code, r.stdout], [1, ""], r.stderr);
      assertEquals(r.stderr, `ossi: ${dir}/config.json: key 'rope_theta' must be > 0, got 0\n`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
