// JSON Schema to the value grammar the constrained decoder follows (json_machine.ts). Only keywords whose
// meaning the grammar enforces are accepted; any other keyword is a SchemaError naming it and where it is.

/** A schema the decoder cannot enforce, or one no value satisfies. The message names keyword and path. */
export class SchemaError extends Error {
  override name = "SchemaError";
}

/** One value shape. Literals hold their JSON text as UTF-8 bytes (enum, const, true/false/null). */
export type SchemaNode =
  | ObjectNode
  | ArrayNode
  | StringNode
  | NumberNode
  | LiteralNode
  | UnionNode
  | RefNode;

export interface ObjectNode {
  kind: "object";
  /** In schema order: output keys follow it (as OpenAI's structured outputs do). */
  props: PropertyRule[];
  /** Values of free keys when the object has no `properties` (a map, or any object); null: no free keys. */
  free: SchemaNode | null;
  minLen: number;
}
export interface PropertyRule {
  name: string;
  /** The key as JSON text: `"name"` in UTF-8, quotes included. */
  key: Uint8Array;
  node: SchemaNode;
  required: boolean;
}
export interface ArrayNode {
  kind: "array";
  items: SchemaNode;
  minItems: number;
  maxItems: number;
  minLen: number;
}
export interface StringNode {
  kind: "string";
  /** In characters (code points; an escape counts as one). */
  minLength: number;
  maxLength: number;
  minLen: number;
}
export interface NumberNode {
  kind: "number";
  integer: boolean;
  lo: number;
  hi: number;
  loOpen: boolean;
  hiOpen: boolean;
  minLen: number;
}
export interface LiteralNode {
  kind: "literal";
  values: Uint8Array[];
  minLen: number;
}
export interface UnionNode {
  kind: "union";
  options: SchemaNode[];
  minLen: number;
}
/** A `$ref`, resolved after the whole schema is compiled (refs may be recursive). */
export interface RefNode {
  kind: "ref";
  target: SchemaNode | null;
  path: string;
  minLen: number;
}

/** Keywords that describe and never constrain: accepted and left aside. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$defs",
  "definitions",
]);

/** Keywords the grammar enforces, by the type they apply to. */
const ENFORCED: Record<string, readonly string[]> = {
  any: ["type", "enum", "const", "anyOf", "allOf", "$ref"],
  object: ["properties", "required", "additionalProperties"],
  array: ["items", "minItems", "maxItems"],
  string: ["minLength", "maxLength"],
  number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
};

const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"] as const;
const utf8 = new TextEncoder();

/** Most characters between two JSON tokens the decoder allows (unbounded runs of whitespace loop). */
export const MAX_WHITESPACE = 16;

type Json = Record<string, unknown>;

/** Compiles a JSON schema; throws SchemaError for unsupported keywords and unsatisfiable schemas. */
export function compileSchema(schema: unknown): SchemaNode {
  const c = new Compiler(schema);
  const root = c.node(schema, "#");
  c.resolveRefs();
  computeMinLengths(c.all);
  if (!Number.isFinite(root.minLen)) throw new SchemaError("no finite JSON value satisfies the schema");
  return root;
}

/** The schema of `{type: "json_object"}`: any JSON object. */
export function anyObjectSchema(): SchemaNode {
  return compileSchema({ type: "object", additionalProperties: {} });
}

class Compiler {
  readonly all: SchemaNode[] = [];
  private readonly refs: RefNode[] = [];
  private readonly cache = new Map<string, SchemaNode>();

  constructor(private readonly root: unknown) {}

  node(s: unknown, path: string): SchemaNode {
    if (s === true || (isObject(s) && Object.keys(s).every((k) => ANNOTATIONS.has(k)))) {
      return this.anyValue(path);
    }
    if (!isObject(s)) throw new SchemaError(`${path}: a schema must be an object`);
    const unsupported = Object.keys(s).filter((k) =>
      !ANNOTATIONS.has(k) && !Object.values(ENFORCED).some((list) => list.includes(k))
    );
    if (unsupported.length) {
      throw new SchemaError(
        `${path}: unsupported JSON Schema keyword${unsupported.length > 1 ? "s" : ""} ${
          unsupported.map((k) => `'${k}'`).join(", ")
        }`,
      );
    }
    if (s.$ref !== undefined) {
      if (Object.keys(s).some((k) => k !== "$ref" && !ANNOTATIONS.has(k))) {
        throw new SchemaError(`${path}: '$ref' beside other constraining keywords is not supported`);
      }
      return this.ref(s.$ref, path);
    }
    if (s.allOf !== undefined) {
      if (
        !Array.isArray(s.allOf) || s.allOf.length !== 1 ||
        Object.keys(s).some((k) => k !== "allOf" && !ANNOTATIONS.has(k))
      ) {
        throw new SchemaError(`${path}: 'allOf' is supported with exactly one schema and nothing beside it`);
      }
      return this.node(s.allOf[0], `${path}/allOf/0`);
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) {
        throw new SchemaError(`${path}/anyOf: must be a non-empty array`);
      }
      const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== "anyOf"));
      const options = s.anyOf.map((o, i) =>
        this.node(mergeInto(rest, o, `${path}/anyOf/${i}`), `${path}/anyOf/${i}`)
      );
      return this.add({ kind: "union", options, minLen: Infinity });
    }
    if (s.const !== undefined) return this.literal([s.const], path);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) {
        throw new SchemaError(`${path}/enum: must be a non-empty array`);
      }
      return this.literal(s.enum.filter((v) => matchesType(v, s.type)), path);
    }
    const types = s.type === undefined ? null : Array.isArray(s.type) ? s.type : [s.type];
    if (types === null) {
      // No type: the keywords present say which.
      const implied = (["object", "array", "string", "number"] as const).filter((t) =>
        ENFORCED[t].some((k) => k in s)
      );
      if (implied.length === 0) return this.anyValue(path);
      return this.typed(s, implied, path);
    }
    for (const t of types) {
      if (!(TYPES as readonly unknown[]).includes(t)) {
        throw new SchemaError(`${path}/type: unknown type ${JSON.stringify(t)}`);
      }
    }
    return this.typed(s, types as string[], path);
  }

  private typed(s: Json, types: string[], path: string): SchemaNode {
    const options = types.map((t) => this.single(s, t, path));
    return options.length === 1 ? options[0] : this.add({ kind: "union", options, minLen: Infinity });
  }

  private single(s: Json, type: string, path: string): SchemaNode {
    switch (type) {
      case "object":
        return this.object(s, path);
      case "array": {
        const items = s.items === undefined
          ? this.anyValue(`${path}/items`)
          : this.node(s.items, `${path}/items`);
        const minItems = count(s, "minItems", path, 0);
        const maxItems = count(s, "maxItems", path, Infinity);
        if (maxItems < minItems) throw new SchemaError(`${path}: maxItems is below minItems`);
        return this.add({ kind: "array", items, minItems, maxItems, minLen: Infinity });
      }
      case "string": {
        const minLength = count(s, "minLength", path, 0);
        const maxLength = count(s, "maxLength", path, Infinity);
        if (maxLength < minLength) throw new SchemaError(`${path}: maxLength is below minLength`);
        return this.add({ kind: "string", minLength, maxLength, minLen: Infinity });
      }
      case "number":
      case "integer":
        return this.number(s, type === "integer", path);
      case "boolean":
        return this.literal([true, false], path);
      default:
        return this.literal([null], path);
    }
  }

  private object(s: Json, path: string): SchemaNode {
    const props = s.properties ?? {};
    if (!isObject(props)) throw new SchemaError(`${path}/properties: must be an object`);
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
      throw new SchemaError(`${path}/required: must be an array of property names`);
    }
    for (const r of required as string[]) {
      if (!(r in props)) throw new SchemaError(`${path}/required: '${r}' is not among the properties`);
    }
    const rules: PropertyRule[] = Object.entries(props).map(([name, sub]) => ({
      name,
      key: utf8.encode(JSON.stringify(name)),
      node: this.node(sub, `${path}/properties/${escapePointer(name)}`),
      required: (required as string[]).includes(name),
    }));
    const extra = s.additionalProperties;
    let free: SchemaNode | null = null;
    // Extra keys are generated only for objects without properties (a map, or any object): beside named
    // properties they are optional, and leaving them out still satisfies the schema.
    if (rules.length === 0 && extra !== false) {
      free = extra === undefined || extra === true
        ? this.anyValue(`${path}/additionalProperties`)
        : this.node(extra, `${path}/additionalProperties`);
    } else if (extra !== undefined && typeof extra !== "boolean" && !isObject(extra)) {
      throw new SchemaError(`${path}/additionalProperties: must be a boolean or a schema`);
    }
    return this.add({ kind: "object", props: rules, free, minLen: Infinity });
  }

  private number(s: Json, integer: boolean, path: string): SchemaNode {
    const bound = (k: string) => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new SchemaError(`${path}/${k}: must be a number`);
      }
      return v;
    };
    let lo = -Infinity, hi = Infinity, loOpen = false, hiOpen = false;
    const min = bound("minimum"), max = bound("maximum");
    const xmin = bound("exclusiveMinimum"), xmax = bound("exclusiveMaximum");
    if (min !== undefined) lo = min;
    if (xmin !== undefined && xmin >= lo) [lo, loOpen] = [xmin, true];
    if (max !== undefined) hi = max;
    if (xmax !== undefined && xmax <= hi) [hi, hiOpen] = [xmax, true];
    if (lo > hi || (lo === hi && (loOpen || hiOpen))) {
      throw new SchemaError(`${path}: no number lies within the bounds`);
    }
    return this.add({ kind: "number", integer, lo, hi, loOpen, hiOpen, minLen: Infinity });
  }

  private literal(values: unknown[], path: string): SchemaNode {
    if (values.length === 0) throw new SchemaError(`${path}: no enum value has the schema's type`);
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    for (const v of values) {
      const text = JSON.stringify(v);
      if (text === undefined) throw new SchemaError(`${path}: enum/const values must be JSON`);
      if (!seen.has(text)) out.push(utf8.encode(text));
      seen.add(text);
    }
    return this.add({ kind: "literal", values: out, minLen: Infinity });
  }

  private ref(ref: unknown, path: string): SchemaNode {
    if (typeof ref !== "string" || !(ref === "#" || ref.startsWith("#/"))) {
      throw new SchemaError(`${path}/$ref: only references inside the schema ('#/...') are supported`);
    }
    const node: RefNode = { kind: "ref", target: null, path: ref, minLen: Infinity };
    this.refs.push(node);
    return this.add(node);
  }

  /** Any JSON value (for `{}`, `true`, json_object's values); one shared node per compile. */
  private anyValue(_path: string): SchemaNode {
    const hit = this.cache.get("any");
    if (hit) return hit;
    const union: UnionNode = { kind: "union", options: [], minLen: Infinity };
    this.cache.set("any", union);
    this.add(union);
    const obj: ObjectNode = { kind: "object", props: [], free: union, minLen: Infinity };
    const arr: ArrayNode = { kind: "array", items: union, minItems: 0, maxItems: Infinity, minLen: Infinity };
    union.options.push(
      this.add(obj),
      this.add(arr),
      this.add({ kind: "string", minLength: 0, maxLength: Infinity, minLen: Infinity }),
      this.add({
        kind: "number",
        integer: false,
        lo: -Infinity,
        hi: Infinity,
        loOpen: false,
        hiOpen: false,
        minLen: Infinity,
      }),
      this.add({
        kind: "literal",
        values: ["true", "false", "null"].map((t) => utf8.encode(t)),
        minLen: Infinity,
      }),
    );
    return union;
  }

  private add<T extends SchemaNode>(n: T): T {
    this.all.push(n);
    return n;
  }

  resolveRefs(): void {
    const targets = new Map<string, SchemaNode>();
    for (const r of this.refs) {
      let t = targets.get(r.path);
      if (!t) {
        let at: unknown = this.root;
        for (const part of r.path.slice(2).split("/").filter((p) => p !== "")) {
          const key = part.replaceAll("~1", "/").replaceAll("~0", "~");
          if (!isObject(at) || !(key in at)) throw new SchemaError(`$ref '${r.path}' points at nothing`);
          at = at[key];
        }
        t = this.node(at, r.path);
        targets.set(r.path, t);
      }
      r.target = t;
    }
    // Refs compiled while resolving refs (nested $defs) resolve in later passes.
    if (this.refs.some((r) => r.target === null)) this.resolveRefs();
    for (const r of this.refs) {
      const seen = new Set<RefNode>();
      let t: SchemaNode | null = r;
      while (t?.kind === "ref") {
        if (seen.has(t)) throw new SchemaError(`$ref '${r.path}' refers only to itself`);
        seen.add(t);
        t = t.target;
      }
    }
  }
}

/** anyOf branches inherit the keywords beside anyOf (e.g. `type` or `description`). */
function mergeInto(rest: Json, option: unknown, path: string): unknown {
  if (!isObject(option)) throw new SchemaError(`${path}: a schema must be an object`);
  const constraining = Object.keys(rest).filter((k) => !ANNOTATIONS.has(k));
  return constraining.length ? { ...rest, ...option } : option;
}

function matchesType(v: unknown, type: unknown): boolean {
  if (type === undefined) return true;
  const types = Array.isArray(type) ? type : [type];
  const jsonType = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  return types.some((t) => t === jsonType || (t === "integer" && Number.isInteger(v)));
}

function count(s: Json, key: string, path: string, dflt: number): number {
  const v = s[key];
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || (v as number) < 0) {
    throw new SchemaError(`${path}/${key}: must be a whole number >= 0`);
  }
  return v as number;
}

function escapePointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Shortest JSON text of each node, in bytes (a fixed point, since refs may recurse); Infinity when no
 * finite value exists. The decoder's budget check relies on these being exact.
 */
function computeMinLengths(nodes: SchemaNode[]): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const n of nodes) {
      const v = minLenOf(n);
      if (v < n.minLen) {
        n.minLen = v;
        changed = true;
      }
    }
  }
}

function minLenOf(n: SchemaNode): number {
  switch (n.kind) {
    case "object": {
      const req = n.props.filter((p) => p.required);
      return 2 + req.reduce((s, p) => s + p.key.length + 1 + p.node.minLen, 0) + Math.max(0, req.length - 1);
    }
    case "array":
      return 2 + n.minItems * n.items.minLen + Math.max(0, n.minItems - 1);
    case "string":
      return 2 + n.minLength;
    case "number":
      return shortestNumber(n);
    case "literal":
      return Math.min(...n.values.map((v) => v.length));
    case "union":
      return Math.min(...n.options.map((o) => o.minLen));
    case "ref":
      return n.target?.minLen ?? Infinity;
  }
}

/** Characters of the shortest number within a node's bounds. */
export function shortestNumber(n: NumberNode): number {
  for (let len = 1; len <= 40; len++) {
    if (numbersOfLength(n, len)) return len;
  }
  return Infinity;
}

/** Whether some JSON number of exactly `len` characters (no exponent) lies within n's bounds. */
function numbersOfLength(n: NumberNode, len: number): boolean {
  // Integers of len characters: [10^(len-1), 10^len - 1] (or 0..9 for len 1), and negatives of len-1 digits.
  const ranges: [number, number][] = [];
  const digits = (d: number): [number, number] => d === 1 ? [0, 9] : [10 ** (d - 1), 10 ** d - 1];
  ranges.push(digits(len));
  if (len >= 2) {
    const [a, b] = digits(len - 1);
    ranges.push([-b, -a]);
  }
  for (const [a, b] of ranges) {
    const lo = Math.max(a, n.loOpen ? Math.floor(n.lo) + 1 : Math.ceil(n.lo));
    const hi = Math.min(b, n.hiOpen ? Math.ceil(n.hi) - 1 : Math.floor(n.hi));
    if (lo <= hi) return true;
  }
  if (n.integer || len < 3) return false;
  // A fraction "i.f": some value with len-2-k integer characters and k fraction digits.
  for (let k = 1; k <= len - 2; k++) {
    const step = 10 ** -k;
    for (const sign of [1, -1]) {
      const intChars = len - 1 - k - (sign < 0 ? 1 : 0);
      if (intChars < 1) continue;
      const [a, b] = digits(intChars);
      const lo = sign > 0 ? a : -(b + 1 - step), hi = sign > 0 ? b + 1 - step : -a;
      if (intervalsMeet(lo, hi, false, false, n)) return true;
    }
  }
  return false;
}

/** [a, b] (open ends as given) meets the node's bounds. */
export function intervalsMeet(a: number, b: number, aOpen: boolean, bOpen: boolean, n: NumberNode): boolean {
  const lo = Math.max(a, n.lo), hi = Math.min(b, n.hi);
  if (lo < hi) return true;
  if (lo > hi) return false;
  const loOpen = (lo === a && aOpen) || (lo === n.lo && n.loOpen);
  const hiOpen = (hi === b && bOpen) || (hi === n.hi && n.hiOpen);
  return !loOpen && !hiOpen;
}
