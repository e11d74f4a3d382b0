import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export: under NodeNext its default import is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Node = Record<string, unknown>;

export interface Operation {
  operationId: string;
  method: string;
  /** The path template, e.g. `/packages/{id}`. */
  path: string;
  op: Node;
  /** Path-level and operation-level parameters, resolved. */
  parameters: Node[];
}

export const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];

/** What a response looked like on the wire. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Every operation of the spec, in the spec's order. */
export function operationsOf(spec: Node): Operation[] {
  const out: Operation[] = [];
  const deref = (n: Node) => resolveRef(spec, n);
  for (const [path, item] of Object.entries(spec.paths as Record<string, Node>)) {
    const shared = ((item.parameters as Node[] | undefined) ?? []).map(deref);
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const own = (((op as Node).parameters as Node[] | undefined) ?? []).map(deref);
      const names = new Set(own.map((p) => `${p.in}:${p.name}`));
      out.push({
        operationId: (op as Node).operationId as string,
        method: method.toUpperCase(),
        path,
        op: op as Node,
        parameters: [...shared.filter((p) => !names.has(`${p.in}:${p.name}`)), ...own],
      });
    }
  }
  return out;
}

export function resolveRef(spec: Node, node: Node): Node {
  let n = node;
  while (typeof n.$ref === "string") {
    let cur: unknown = spec;
    for (const part of n.$ref.replace(/^#\//, "").split("/")) cur = (cur as Node)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    n = cur as Node;
  }
  return n;
}

/** OpenAPI 3.0 → what ajv reads: an `enum` must list null itself to allow it. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (typeof node !== "object" || node === null) return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node)) out[k] = toJsonSchema(v);
  if (out.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  return out;
}

/**
 * Responses whose JSON body the spec declares for one case only, as its description says: a tus
 * creation answers 201 with the file when the body held all of it, and with no body (as tus
 * answers) while bytes are still to come.
 */
export const BODY_ONLY_SOMETIMES: Record<string, number[]> = {
  createUpload: [201],
  createLinkUpload: [201],
};

const escapePointer = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * Checks an answer against the operation's declared responses: the status is declared, and a body
 * is of a declared media type and, for JSON, matches its schema (a declared JSON body must be
 * there: an empty one is wrong, but for 204, 304 and HEAD). Returns what is wrong, or null.
 */
export class ResponseChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly spec: Node) {
    addFormats(this.ajv);
    this.ajv.addFormat("binary", true);
    this.ajv.addSchema(toJsonSchema(spec) as Node, "spec.json");
  }

  check(o: Operation, a: Answer): string | null {
    const responses = o.op.responses as Record<string, Node>;
    const declared = responses[String(a.status)] ?? responses.default;
    if (!declared) return `status ${a.status} is not declared for ${o.operationId} (declared: ${Object.keys(responses).join(", ")})`;
    // Where the response object lives, to point ajv at its schema (through one $ref at most).
    const raw = responses[String(a.status)] ? String(a.status) : "default";
    const refd =
      typeof responses[raw]!.$ref === "string" ? (responses[raw]!.$ref as string).replace(/^#/, "") : `/paths/${escapePointer(o.path)}/${o.method.toLowerCase()}/responses/${raw}`;
    const response = resolveRef(this.spec, declared);
    const content = response.content as Record<string, Node> | undefined;
    if (o.method === "HEAD") return a.body.length > 0 ? `a HEAD answer carried ${a.body.length} bytes` : null;
    if (a.body.length === 0) {
      // A declared JSON body is required: an empty one passes no schema. (204 and 304 have none;
      // an operation that may also answer another type, a download of an empty file, may be empty.)
      const types = Object.keys(content ?? {});
      const onlyJson = types.length > 0 && types.every((t) => t === "application/json");
      const sometimes = BODY_ONLY_SOMETIMES[o.operationId]?.includes(a.status) ?? false;
      if (onlyJson && a.status !== 204 && a.status !== 304 && !sometimes) return `status ${a.status} of ${o.operationId} declares a JSON body, got an empty one`;
      return null;
    }
    if (!content) return `status ${a.status} of ${o.operationId} declares no body, got ${a.body.length} bytes (${String(a.headers["content-type"])})`;
    const type = String(a.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim()
      .toLowerCase();
    if (!(type in content)) return `content type "${type}" is not declared for ${a.status} of ${o.operationId} (declared: ${Object.keys(content).join(", ")})`;
    if (type !== "application/json") return null;
    let body: unknown;
    try {
      body = JSON.parse(a.body.toString("utf8"));
    } catch {
      return `status ${a.status}: the JSON body does not parse: ${a.body.subarray(0, 200).toString("utf8")}`;
    }
    const pointer = `spec.json#${refd}/content/${escapePointer(type)}/schema`;
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: pointer });
      this.compiled.set(pointer, validate);
    }
    if (!validate(body)) return `the ${a.status} body does not match the spec: ${this.ajv.errorsText(validate.errors)}`;
    return null;
  }
}
