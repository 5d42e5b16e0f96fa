// Test helper: the tiny GPT-2 / Qwen3 / Llama fixtures have no tokenizer, so this builds a synthetic
// byte-level BPE tokenizer.json (256 byte symbols + merges learned from a small text + the family's special
// tokens, the last special at config.json's eos_token_id) and, for Qwen3, a ChatML chat template modelled
// on Qwen3's, for Llama one modelled on Llama 3.1's, in a temp copy of the fixture.

import { FIXTURES } from "../fixture_util.ts";

/** GPT-2's byte-to-symbol table (printable bytes stand for themselves, the rest from U+0100 up). */
export function byteSymbols(): string[] {
  const out: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out.push(String.fromCodePoint(printable ? b : next++));
  }
  return out;
}

const CORPUS = `The answer is four. Let me add the numbers: two and two make four. Hello world, hello there!
The quick brown fox jumps over the lazy dog. What is the sum of three and five? It is eight.
Once upon a time there was a small model that liked to think before it answered the question.`;

/** `count` merges: greedy most-frequent-pair learning on CORPUS, then letter pairs to fill up. */
function learnMerges(count: number, symbols: string[]): [string, string][] {
  const enc = new TextEncoder();
  let words = CORPUS.split(/(?= )|\n/).map((w) => [...enc.encode(w)].map((b) => symbols[b]));
  const known = new Set(symbols);
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        if (known.has(w[i] + w[i + 1])) continue;
        const key = `${w[i]}\u0000${w[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let best = "";
    let bestCount = 1; // pairs seen once are left to the filler
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && best !== "" && k < best)) [best, bestCount] = [k, c];
    }
    if (best === "") break;
    const [a, b] = best.split("\u0000");
    merges.push([a, b]);
    known.add(a + b);
    words = words.map((w) => {
      const out: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(w[i]);
      }
      return out;
    });
  }
  const letters = "abcdefghijklmnopqrstuvwxyz";
  for (const a of letters) {
    for (const b of letters) {
      if (merges.length >= count) return merges;
      if (!known.has(a + b)) {
        merges.push([a, b]);
        known.add(a + b);
      }
    }
  }
  return merges;
}

export type Family = "gpt2" | "qwen3" | "llama";

/** Special tokens in id order; the last one sits at eos_token_id. */
const SPECIALS: Record<Family, { content: string; special: boolean }[]> = {
  gpt2: [{ content: "<|endoftext|>", special: true }],
  qwen3: [
    { content: "<think>", special: false },
    { content: "</think>", special: false },
    { content: "<|endoftext|>", special: true },
    { content: "<|im_start|>", special: true },
    { content: "<|im_end|>", special: true },
  ],
  // llama-tiny: bos 573, eos 574
  llama: [
    { content: "<|start_header_id|>", special: true },
    { content: "<|end_header_id|>", special: true },
    { content: "<|eot_id|>", special: true },
    { content: "<|begin_of_text|>", special: true },
    { content: "<|end_of_text|>", special: true },
  ],
};

/** The regex Qwen2/Qwen3 tokenizer.json files use in their Split pre-tokenizer. */
const QWEN_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Llama 3's Split regex: Qwen's, with numbers in groups of up to three digits. */
const LLAMA3_SPLIT = QWEN_SPLIT.replace("\\p{N}|", "\\p{N}{1,3}|");

/** A tokenizer.json object for a family whose last special token has id `eos`. */
export function syntheticTokenizerJson(family: Family, eos: number): Record<string, unknown> {
  const symbols = byteSymbols();
  const specials = SPECIALS[family];
  const firstSpecial = eos - specials.length + 1;
  const merges = learnMerges(firstSpecial - 256, symbols);
  if (merges.length !== firstSpecial - 256) throw new Error("not enough merges for the vocabulary");
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const added = specials.map((t, i) => ({
    id: firstSpecial + i,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special,
  }));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false };
  return {
    version: "1.0",
    added_tokens: added,
    normalizer: family === "qwen3" ? { type: "NFC" } : null,
    pre_tokenizer: family !== "gpt2"
      ? {
        type: "Sequence",
        pretokenizers: [
          {
            type: "Split",
            pattern: { Regex: family === "qwen3" ? QWEN_SPLIT : LLAMA3_SPLIT },
            behavior: "Isolated",
            invert: false,
          },
          { ...byteLevel, use_regex: false },
        ],
      }
      : { ...byteLevel, use_regex: true },
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
}

/**
 * A ChatML template in the manner of Qwen3's: system first, reasoning of the last assistant turn kept in
 * a <think> block (earlier turns drop it), and `enable_thinking = false` pre-filling an empty think block.
 */
export const CHATML_TEMPLATE = [
  "{%- for message in messages %}",
  "{%- if message.role == 'assistant' %}",
  "{{- '<|im_start|>assistant\\n' }}",
  "{%- if loop.last and message.reasoning_content %}",
  "{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}",
  "{%- endif %}",
  "{{- message.content + '<|im_end|>\\n' }}",
  "{%- else %}",
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}",
  "{{- '<|im_start|>assistant\\n' }}",
  "{%- if enable_thinking is defined and enable_thinking is false %}",
  "{{- '<think>\\n\\n</think>\\n\\n' }}",
  "{%- endif %}",
  "{%- endif %}",
].join("\n");

/**
 * A template in the manner of Llama 3.1's: <|begin_of_text|>, a system header with the knowledge cutoff and
 * today's date (strftime_now), the system message's text, then one header block per message.
 */
export const LLAMA3_TEMPLATE = [
  "{{- bos_token }}",
  "{%- if not date_string is defined %}",
  "{%- if strftime_now is defined %}{%- set date_string = strftime_now('%d %b %Y') %}",
  "{%- else %}{%- set date_string = '26 Jul 2024' %}{%- endif %}",
  "{%- endif %}",
  "{%- if messages[0]['role'] == 'system' %}",
  "{%- set system_message = messages[0]['content'] | trim %}",
  "{%- set messages = messages[1:] %}",
  "{%- else %}{%- set system_message = '' %}{%- endif %}",
  "{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}",
  "{{- 'Cutting Knowledge Date: December 2023\n' }}",
  "{{- 'Today Date: ' + date_string + '\n\n' }}",
  "{{- system_message }}",
  "{{- '<|eot_id|>' }}",
  "{%- for message in messages %}",
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}",
].join("\n");

/** The family a fixture belongs to. */
export function familyOf(fixture: string): Family {
  return fixture.startsWith("gpt2") ? "gpt2" : fixture.startsWith("llama") ? "llama" : "qwen3";
}

/**
 * Copies tests/fixtures/<fixture> to a temp dir and adds tokenizer.json (and, for Qwen3,
 * tokenizer_config.json with the ChatML template). `withTemplate: false` leaves the template out.
 */
export function tokenizedFixture(fixture: string, opts: { withTemplate?: boolean } = {}): string {
  const dir = Deno.makeTempDirSync({ prefix: `ossi-${fixture}-` });
  for (const name of ["config.json", "model.safetensors"]) {
    Deno.copyFileSync(`${FIXTURES}/${fixture}/${name}`, `${dir}/${name}`);
  }
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  const family = familyOf(fixture);
  Deno.writeTextFileSync(
    `${dir}/tokenizer.json`,
    JSON.stringify(syntheticTokenizerJson(family, config.eos_token_id)),
  );
  if (family === "qwen3" && opts.withTemplate !== false) {
    Deno.writeTextFileSync(
      `${dir}/tokenizer_config.json`,
      JSON.stringify({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML_TEMPLATE }),
    );
  }
  if (family === "llama" && opts.withTemplate !== false) {
    Deno.writeTextFileSync(
      `${dir}/tokenizer_config.json`,
      JSON.stringify({
        bos_token: "<|begin_of_text|>",
        eos_token: "<|eot_id|>",
        chat_template: LLAMA3_TEMPLATE,
      }),
    );
  }
  return dir;
}
