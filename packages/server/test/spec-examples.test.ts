import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { loadSpec } from "../src/spec.js";

// Every `example` and `examples` in openapi.yaml is checked against its own schema, so Swagger UI
// and ReDoc never show an answer the server would not give. (`pnpm lint:api` also rejects
// properties a schema does not name; this test checks what the server's validator checks.)

// ajv-formats is CommonJS with a default export: under NodeNext its default import is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const escapePointer = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * OpenAPI 3.0 → what ajv reads: `nullable` is known to ajv for `type`, but an `enum` must list
 * null itself to allow it.
 */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) out[k] = toJsonSchema(v);
  if (out.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  return out;
}

interface Example {
  /** JSON pointer of the example in the spec. */
  at: string;
  /** JSON pointer of the schema it must match. */
  schema: string;
  value: Json;
}

/** Follows a local `$ref` (components/examples) to the object it names. */
function deref(doc: JsonObject, node: Json): Json {
  if (!isObject(node) || typeof node.$ref !== "string") return node;
  let cur: Json = doc;
  for (const part of node.$ref.replace(/^#\//, "").split("/")) {
    cur = isObject(cur) ? (cur[part.replace(/~1/g, "/").replace(/~0/g, "~")] ?? null) : null;
  }
  return cur;
}

/** Every example in the document with the schema it belongs to (media types, parameters, headers, schemas). */
function collectExamples(doc: JsonObject): Example[] {
  const found: Example[] = [];
  const walk = (node: Json, at: string) => {
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) walk(v, `${at}/${i}`);
      return;
    }
    if (!isObject(node)) return;
    // A media type, parameter or header holds `schema` beside its examples; a schema holds its own.
    const schema = "schema" in node ? `${at}/schema` : at;
    if ("example" in node) found.push({ at: `${at}/example`, schema, value: node.example as Json });
    if ("schema" in node && isObject(node.examples)) {
      for (const [name, ex] of Object.entries(node.examples)) {
        const resolved = deref(doc, ex);
        if (isObject(resolved) && "value" in resolved) {
          found.push({ at: `${at}/examples/${escapePointer(name)}`, schema, value: resolved.value as Json });
        }
      }
    }
    for (const [k, v] of Object.entries(node)) {
      // An example's value is data, not more of the document.
      if (k === "example" || k === "examples") continue;
      walk(v, `${at}/${escapePointer(k)}`);
    }
  };
  walk(doc, "#");
  return found;
}

/**
 * Properties an example has that its schema does not name (a field renamed in the schema but not
 * in the example). JSON Schema allows them unless `additionalProperties: false`; the names of every
 * `allOf`/`oneOf`/`anyOf` branch count, so a composed schema's own fields are not flagged.
 */
function unknownProperties(doc: JsonObject, schema: Json, value: Json, at = ""): string[] {
  const branches: JsonObject[] = [];
  const gather = (s: Json) => {
    const r = deref(doc, s);
    if (!isObject(r)) return;
    branches.push(r);
    for (const k of ["allOf", "oneOf", "anyOf"]) {
      const list = r[k];
      if (Array.isArray(list)) for (const s of list) gather(s);
    }
  };
  gather(schema);
  if (Array.isArray(value)) {
    const items = branches.map((b) => b.items).filter((i): i is JsonObject => isObject(i));
    return value.flatMap((v, i) => items.flatMap((item) => unknownProperties(doc, item, v, `${at}/${i}`)));
  }
  if (!isObject(value)) return [];
  const named = new Map<string, Json[]>();
  let open = false;
  for (const b of branches) {
    if (b.additionalProperties !== undefined && b.additionalProperties !== false) open = true;
    if (isObject(b.properties)) {
      for (const [k, v] of Object.entries(b.properties)) named.set(k, [...(named.get(k) ?? []), v]);
    }
  }
  if (named.size === 0) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const schemas = named.get(k);
    if (!schemas) return open ? [] : [`${at}/${k}`];
    // Checked against each schema naming it, and unknown only if unknown to all of them.
    const found = schemas.map((s) => unknownProperties(doc, s, v, `${at}/${k}`));
    return found.reduce((a, b) => a.filter((x) => b.includes(x)));
  });
}

const spec = toJsonSchema(structuredClone(loadSpec()) as Json) as JsonObject;
const examples = collectExamples(spec);

describe("openapi.yaml's examples", () => {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // Upload bodies: a file's bytes.
  ajv.addFormat("binary", true);
  ajv.addSchema(spec as object, "openapi.yaml");

  it("are found (the walk reaches the media types, parameters and schemas)", () => {
    expect(examples.length).toBeGreaterThan(25);
    expect(examples.map((e) => e.at)).toContain("#/paths/~1packages/get/responses/200/content/application~1json/example");
  });

  it.each(examples.map((e) => [e.at, e] as const))("%s matches its schema", (_at, ex) => {
    const validate = ajv.compile({ $ref: `openapi.yaml${ex.schema}` });
    const ok = validate(ex.value);
    expect(ok ? [] : validate.errors!.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
    expect(unknownProperties(spec, deref(spec, { $ref: ex.schema }), ex.value), "properties the schema does not name").toEqual([]);
  });
});
