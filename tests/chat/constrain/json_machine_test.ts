// The JSON automaton against an independent validator (ajv): random byte walks that take only allowed
// bytes, closing in time for a byte budget, always end in text that parses and validates; costs are exact.

import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { makeRng } from "../../../src/chat/sampler.ts";
import { newAjv, PERSON_SCHEMA } from "./schemas.ts";
import { compileSchema, SchemaError } from "../../../src/chat/constrain/json_schema.ts";
import {
  accepting,
  type MachineState,
  startState,
  stateCost,
  stepState,
} from "../../../src/chat/constrain/json_machine.ts";

const SCHEMAS: Record<string, unknown> = {
  person: PERSON_SCHEMA,
  any_object: { type: "object" },
  map: { type: "object", additionalProperties: { type: "integer", minimum: 10, maximum: 12 } },
  recursive: {
    $defs: {
      node: {
        type: "object",
        properties: {
          v: { type: "integer" },
          kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 },
        },
        required: ["v"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  },
  union: {
    anyOf: [{ type: "object", properties: { a: { const: 1 } }, required: ["a"] }, {
      type: "object",
      properties: { a: { const: 12 }, b: { type: "null" } },
      required: ["a", "b"],
    }, { type: "array", items: { enum: [1, 12, "x"] } }],
  },
  number_top: { type: "number", minimum: 100, maximum: 250 },
};

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** A random document within `budget` bytes: each byte drawn from those allowed and still closable. */
function randomDocument(schema: unknown, seed: number, budget: number): string {
  const rng = makeRng(seed);
  let s: MachineState = startState(compileSchema(schema));
  const out: number[] = [];
  // Printable ASCII, newline, tab, a control byte and some UTF-8 (é, €, a stray continuation byte).
  const alphabet = [
    ...Array.from({ length: 95 }, (_, i) => 0x20 + i),
    0x0a,
    0x09,
    0x01,
    0xc3,
    0xa9,
    0xe2,
    0x82,
    0xac,
    0xbf,
  ];
  for (let left = budget; left > 0; left--) {
    if (accepting(s) && rng() < 0.15) break;
    const options: MachineState[] = [];
    const bytes: number[] = [];
    for (const b of alphabet) {
      const next = stepState(s, b);
      if (next && stateCost(next) <= left - 1) {
        options.push(next);
        bytes.push(b);
      }
    }
    if (options.length === 0) break;
    const k = Math.floor(rng() * options.length);
    s = options[k];
    out.push(bytes[k]);
  }
  assert(accepting(s), `not complete: ${dec.decode(new Uint8Array(out))}`);
  return dec.decode(new Uint8Array(out));
}

Deno.test("json_machine: random walks within a byte budget always end in JSON that validates (ajv)", () => {
  const ajv = newAjv();
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const validate = ajv.compile(schema as object);
    for (let seed = 1; seed <= 40; seed++) {
      const budget = 10 + (seed % 7) * 40 + stateCost(startState(compileSchema(schema)));
      const text = randomDocument(schema, seed * 7919, budget);
      assert(enc.encode(text).length <= budget, `${name}: over budget`);
      const value = JSON.parse(text);
      assert(validate(value), `${name} seed ${seed}: ${text}\n${JSON.stringify(validate.errors)}`);
    }
  }
});

Deno.test("json_machine: the start cost is the length of the shortest valid document", () => {
  assertEquals(stateCost(startState(compileSchema({ type: "object" }))), 2); // {}
  assertEquals(stateCost(startState(compileSchema({ type: "integer", minimum: 100 }))), 3); // 100
  assertEquals(stateCost(startState(compileSchema({ type: "integer", maximum: -20 }))), 3); // -20
  assertEquals(
    stateCost(startState(compileSchema({ type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 }))),
    3,
  ); // 0.5
  assertEquals(
    stateCost(
      startState(
        compileSchema({
          type: "object",
          properties: { a: { type: "string", minLength: 2 }, b: { enum: ["xy", 7] } },
          required: ["a", "b"],
        }),
      ),
    ),
    '{"a":"  ","b":7}'.length,
  );
  assertEquals(
    stateCost(startState(compileSchema(PERSON_SCHEMA))),
    JSON.stringify({
      name: "x",
      age: 0,
      role: "user",
      tags: [""],
      address: { city: "", zip: "" },
      active: true,
    }).length,
  );
});

Deno.test("json_machine: rejects what the schema forbids", () => {
  const run = (schema: unknown, text: string) => {
    let s: MachineState | null = startState(compileSchema(schema));
    for (const b of enc.encode(text)) s = s && stepState(s, b);
    return s !== null && accepting(s);
  };
  assert(
    run(
      PERSON_SCHEMA,
      '{"name":"A","age":3,"role":"user","tags":["t"],"address":{"city":"P","zip":null},"active":false}',
    ),
  );
  assert(!run(PERSON_SCHEMA, '{"age":3'), "required name cannot be skipped");
  assert(!run({ type: "integer", maximum: 50 }, "51"));
  assert(!run({ type: "integer", minimum: 0 }, "-1"));
  assert(!run({ type: "string", maxLength: 2 }, '"abc"'));
  assert(!run({ type: "array", maxItems: 1 }, "[1,2]"));
  assert(!run({ enum: ["a", "b"] }, '"c"'));
  assert(run({ type: "string" }, '"caf\u00e9 \\u00e9\\n"'));
  assert(!run({ type: "string" }, '"a\nb"'), "raw newline inside a string");
  assert(
    !run({ type: "object", properties: { a: { type: "integer" } }, additionalProperties: false }, '{"b":1}'),
  );
});

Deno.test("compileSchema: unsupported keywords are named with their place; unsatisfiable schemas refused", () => {
  assertThrows(
    () => compileSchema({ type: "string", pattern: "^a" }),
    SchemaError,
    /#: unsupported JSON Schema keyword 'pattern'/,
  );
  assertThrows(
    () => compileSchema({ type: "object", properties: { a: { type: "string", format: "email", not: {} } } }),
    SchemaError,
    /#\/properties\/a: unsupported JSON Schema keywords 'format', 'not'/,
  );
  assertThrows(() => compileSchema({ oneOf: [{ type: "string" }] }), SchemaError, /'oneOf'/);
  assertThrows(() => compileSchema({ $ref: "#/$defs/nope" }), SchemaError, /points at nothing/);
  assertThrows(
    () =>
      compileSchema({
        $defs: { n: { type: "object", properties: { n: { $ref: "#/$defs/n" } }, required: ["n"] } },
        $ref: "#/$defs/n",
      }),
    SchemaError,
    /no finite JSON value/,
  );
  assertThrows(() => compileSchema({ type: "integer", minimum: 3, maximum: 2 }), SchemaError, /bounds/);
});
