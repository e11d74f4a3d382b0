import fc from "fast-check";

/**
 * JSON Schema (the OpenAPI 3.0 subset openapi.yaml uses) → fast-check arbitraries: `valid` makes
 * values the schema accepts, `invalid` values it refuses (a missing required field, an unknown
 * one, a wrong type, a number or a string past its bounds) and `hostile` values no schema names
 * (odd Unicode, huge numbers, deep nesting).
 */
export type Schema = Record<string, unknown>;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class SchemaArbitraries {
  constructor(
    private readonly spec: Record<string, unknown>,
    /** Values that mean something to the server, by property name (emails of real accounts, loopback URLs). */
    private readonly hints: Record<string, fc.Arbitrary<Json>> = {},
  ) {}

  resolve(schema: Schema): Schema {
    let s = schema;
    while (typeof s.$ref === "string") {
      let cur: unknown = this.spec;
      for (const part of s.$ref.replace(/^#\//, "").split("/")) cur = (cur as Record<string, unknown>)[part];
      s = cur as Schema;
    }
    if (Array.isArray(s.allOf)) {
      // Merge the parts: properties and required lists add up.
      const merged: Schema = { type: "object", properties: {}, required: [] };
      for (const part of s.allOf as Schema[]) {
        const r = this.resolve(part);
        Object.assign(merged.properties as Schema, r.properties ?? {});
        (merged.required as string[]).push(...((r.required as string[]) ?? []));
        if (r.additionalProperties === false) merged.additionalProperties = false;
      }
      return merged;
    }
    return s;
  }

  /** Values the schema accepts (the server may still refuse them for what they mean). */
  valid(schema: Schema, name = "", depth = 0): fc.Arbitrary<Json> {
    const s = this.resolve(schema);
    const hint = this.hints[name];
    const base = this.validBase(s, depth);
    const withNull = s.nullable === true ? fc.oneof({ weight: 4, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) }) : base;
    return hint ? fc.oneof({ weight: 3, arbitrary: hint }, { weight: 1, arbitrary: withNull }) : withNull;
  }

  private validBase(s: Schema, depth: number): fc.Arbitrary<Json> {
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as Json[]));
    switch (s.type) {
      case "boolean":
        return fc.boolean();
      case "integer":
        return fc.integer({ min: (s.minimum as number | undefined) ?? -1000, max: (s.maximum as number | undefined) ?? 1_000_000 });
      case "number":
        return fc.double({ min: (s.minimum as number | undefined) ?? -1e6, max: (s.maximum as number | undefined) ?? 1e6, noNaN: true, noDefaultInfinity: true });
      case "string":
        return this.validString(s);
      case "array": {
        const items = this.valid((s.items as Schema) ?? {}, "", depth + 1);
        const minLength = (s.minItems as number | undefined) ?? 0;
        const maxLength = Math.min((s.maxItems as number | undefined) ?? minLength + 4, minLength + 4);
        return s.uniqueItems
          ? fc.uniqueArray(items, { minLength, maxLength, selector: (v) => JSON.stringify(v) }).filter((a) => a.length >= minLength)
          : fc.array(items, { minLength, maxLength });
      }
      case "object":
      case undefined: {
        if (depth > 4) return fc.constant({});
        const props = (s.properties as Record<string, Schema> | undefined) ?? {};
        const required = new Set((s.required as string[] | undefined) ?? []);
        const record: Record<string, fc.Arbitrary<Json>> = {};
        for (const [k, v] of Object.entries(props)) record[k] = this.valid(v, k, depth + 1);
        let arb: fc.Arbitrary<Json> = fc.record(record, { requiredKeys: [...required].filter((k) => k in record) }) as fc.Arbitrary<Json>;
        if (typeof s.additionalProperties === "object") {
          // A map (trust policy conditions): keys of our own, values of the schema.
          const value = this.valid(s.additionalProperties as Schema, "", depth + 1);
          arb = fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), value, {
            minKeys: (s.minProperties as number | undefined) ?? 0,
            maxKeys: Math.min((s.maxProperties as number | undefined) ?? 4, 4),
          }) as fc.Arbitrary<Json>;
        }
        const minProps = (s.minProperties as number | undefined) ?? 0;
        return minProps > 0 ? arb.filter((o) => Object.keys(o as object).length >= minProps) : arb;
      }
      default:
        return fc.constant(null);
    }
  }

  private validString(s: Schema): fc.Arbitrary<Json> {
    const minLength = (s.minLength as number | undefined) ?? 0;
    const maxLength = (s.maxLength as number | undefined) ?? 300;
    const fits = (v: string) => v.length >= minLength && v.length <= maxLength;
    switch (s.format) {
      case "email":
        return fc.emailAddress().filter(fits);
      case "uuid":
        return fc.uuid();
      case "date-time":
        return fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString());
      case "uri":
        return fc.webUrl();
      case "binary":
        return fc.string({ maxLength: 64 });
    }
    if (typeof s.pattern === "string") return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
    return fc
      .oneof(fc.string({ minLength, maxLength: Math.min(maxLength, minLength + 40) }), fc.string({ unit: "grapheme", minLength, maxLength: Math.min(maxLength, minLength + 20) }))
      .filter(fits);
  }

  /** Values the schema refuses: one thing wrong at a time, or the wrong kind of value altogether. */
  invalid(schema: Schema, depth = 0): fc.Arbitrary<Json> {
    const s = this.resolve(schema);
    const options: fc.Arbitrary<Json>[] = [wrongType(s), hostile()];
    if (Array.isArray(s.enum)) options.push(fc.string({ maxLength: 20 }).filter((v) => !(s.enum as Json[]).includes(v)));
    if (s.type === "integer" || s.type === "number") {
      if (typeof s.minimum === "number") options.push(fc.integer({ min: -1e9, max: s.minimum - 1 }));
      if (typeof s.maximum === "number") options.push(fc.oneof(fc.integer({ min: s.maximum + 1, max: 2 ** 53 }), fc.constant(s.maximum + 1)));
      if (s.type === "integer") options.push(fc.double({ noInteger: true, noNaN: true }));
      options.push(fc.constantFrom<Json>(1e308, -1e308, 2 ** 64, 2 ** 53 + 2, -0));
    }
    if (s.type === "string") {
      const max = s.maxLength as number | undefined;
      if (max !== undefined) options.push(fc.integer({ min: max + 1, max: max + 50 }).map((n) => "x".repeat(n)));
      if (typeof s.minLength === "number" && s.minLength > 0) options.push(fc.constant(""));
      if (s.format || s.pattern) options.push(fc.string({ maxLength: 30 }), oddUnicode());
    }
    if (s.type === "array") {
      const items = this.resolve((s.items as Schema) ?? {});
      options.push(fc.array(this.invalid(items, depth + 1), { minLength: 1, maxLength: 3 }));
      if (typeof s.minItems === "number" && s.minItems > 0) options.push(fc.constant([]));
      if (typeof s.maxItems === "number") options.push(fc.array(this.valid(items, "", depth + 1), { minLength: s.maxItems + 1, maxLength: s.maxItems + 3 }));
      if (s.uniqueItems) options.push(this.valid(items, "", depth + 1).map((v) => [v, v]));
    }
    if ((s.type === "object" || (s.type === undefined && s.properties)) && depth < 3) {
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      const valid = this.valid(s, "", depth) as fc.Arbitrary<Record<string, Json>>;
      const required = (s.required as string[] | undefined) ?? [];
      if (required.length > 0) {
        options.push(
          fc.tuple(valid, fc.constantFrom(...required)).map(([o, k]) => {
            const c = { ...o };
            delete c[k];
            return c;
          }),
        );
      }
      if (s.additionalProperties === false)
        options.push(
          fc
            .tuple(
              valid,
              fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in props)),
            )
            .map(([o, k]) => ({ ...o, [k]: 1 })),
        );
      const keys = Object.keys(props);
      if (keys.length > 0) {
        // One property wrong, the rest valid.
        options.push(
          fc
            .constantFrom(...keys)
            .chain((k) => fc.tuple(valid, fc.constant(k), this.invalid(props[k]!, depth + 1)))
            .map(([o, k, bad]) => ({ ...o, [k]: bad })),
        );
      }
      options.push(fc.constant({}), fc.constant([]));
    }
    return fc.oneof(...options);
  }
}

function wrongType(s: Schema): fc.Arbitrary<Json> {
  const all: Record<string, fc.Arbitrary<Json>> = {
    string: fc.string({ maxLength: 10 }),
    integer: fc.integer(),
    boolean: fc.boolean(),
    array: fc.array(fc.integer(), { maxLength: 3 }),
    object: fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  };
  const others = Object.entries(all)
    .filter(([t]) => t !== s.type && !(t === "integer" && s.type === "number"))
    .map(([, a]) => a);
  if (s.nullable !== true) others.push(fc.constant(null));
  return fc.oneof(...others);
}

/** Unicode that breaks naive code: NUL and controls, lone surrogates, RTL overrides, combining marks, emoji, BOM. */
export function oddUnicode(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      "\u0000",
      "a\u0000b",
      "\u202eevil\u202c",
      "\ud800",
      "\udfff\ud800",
      "\ufeff",
      "e\u0301\u0301\u0301",
      "👩‍👩‍👧‍👦",
      "\u2028\u2029",
      "\r\n",
      "..",
      "../../etc/passwd",
      "%00",
      "%2e%2e%2f",
      "CON",
      "ﬀ",
      "İ",
      "\u00a0",
      "\t",
    ),
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
  );
}

/** Values no schema expects: huge or odd numbers, deep nesting, long strings, odd Unicode. */
export function hostile(): fc.Arbitrary<Json> {
  const deep = fc.integer({ min: 50, max: 2000 }).map((n) => {
    let v: Json = 1;
    for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
    return v;
  });
  return fc.oneof(
    fc.constantFrom<Json>(1e308, -1e308, 2 ** 64, -(2 ** 63), 2 ** 53 + 2, 0.1, -1, 0, true, false, null, "", [], {}),
    oddUnicode(),
    deep,
    fc.integer({ min: 1000, max: 70_000 }).map((n) => "y".repeat(n)),
    fc.array(fc.constant("z"), { minLength: 100, maxLength: 3000 }),
  );
}
