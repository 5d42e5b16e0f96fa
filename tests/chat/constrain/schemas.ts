// Schemas and the ajv validator the constrained-decoding tests share.

import AjvModule from "ajv";

/** A schema with nested objects, arrays, enums, bounds and required keys. */
export const PERSON_SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1, maxLength: 12 },
    age: { type: "integer", minimum: 0, maximum: 130 },
    score: { type: "number", exclusiveMinimum: -1.5, maximum: 99.5 },
    role: { enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 3 },
    address: {
      type: "object",
      properties: {
        city: { type: "string" },
        zip: { type: ["string", "null"] },
        geo: { type: "array", items: { type: "number" } },
      },
      required: ["city", "zip"],
      additionalProperties: false,
    },
    active: { type: "boolean" },
    nickname: { type: "string" },
  },
  required: ["name", "age", "role", "tags", "address", "active"],
  additionalProperties: false,
};

/** ajv's CommonJS default export, as a constructor. */
export function newAjv() {
  const Ajv = (AjvModule as unknown as { default: typeof AjvModule }).default ?? AjvModule;
  return new (Ajv as unknown as new (o: object) => InstanceType<typeof AjvModule.default>)({ strict: false });
}
