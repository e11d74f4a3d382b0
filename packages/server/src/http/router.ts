import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { ApiError, Unauthorized, ValidationFailed } from "../errors.js";
import type { Client, Services } from "../services/context.js";
import { loadSpec } from "../spec.js";
import { authenticate, securityAlternatives } from "./authenticators/index.js";
import type { Ctx, HandlerTable, OperationId, Reply, Sent } from "./operations.js";
import { sendDownload, type Download } from "./send-file.js";
import { openApiValidator } from "./validator.js";
import { labelOperation } from "./metrics.js";
import { replayOrRun, requestFingerprint, type JsonAnswer } from "../services/idempotency.js";

/**
 * Builds the API's routes from openapi.yaml: one route per operation, whose chain is
 *
 *   authenticate (when the operation's `security` needs a caller: by its schemes' names, with
 *                 the scopes each names; http/authenticators/)
 *   → body parser (JSON operations only; uploads keep the raw stream)
 *   → express-openapi-validator (parameters and body against the spec; responses in tests)
 *   → the operation's own middleware (rate limits)
 *   → the handler registered under its operationId, whose reply is sent here.
 *
 * So an anonymous request to a protected operation is 401 whatever its body, and no operation
 * exists without a handler (startup fails) or a handler without an operation (typecheck fails),
 * nor names a security scheme without an authenticator (startup fails).
 */

interface SpecParameter {
  name: string;
  in: string;
  schema?: { type?: string; $ref?: string; minimum?: number; maximum?: number };
  $ref?: string;
}

interface SpecOperation {
  operationId: string;
  security?: Record<string, unknown>[];
  "x-speedyfiles-idempotent"?: boolean;
  parameters?: SpecParameter[];
  requestBody?: { content?: Record<string, unknown> };
}

type SpecPathItem = Partial<Record<Method, SpecOperation>> & { parameters?: SpecParameter[] };

interface Spec {
  security?: Record<string, unknown>[];
  paths: Record<string, SpecPathItem>;
  components: { parameters: Record<string, SpecParameter> };
}

// HEAD before GET: Express answers HEAD with the first GET route of a path unless a HEAD route
// comes first, and the spec's HEAD operations have their own handlers.
const METHODS = ["head", "get", "post", "put", "patch", "delete", "options"] as const;
type Method = (typeof METHODS)[number];

export interface SpecRouterOptions {
  validateResponses: boolean;
  /** Middleware that runs for one operation after authentication and validation (rate limits). */
  before?: Partial<Record<OperationId, RequestHandler[]>>;
  /** The parsed spec (tests pass a changed copy); openapi.yaml by default. */
  spec?: Record<string, unknown>;
}

export function specRouter(s: Services, handlers: HandlerTable, opts: SpecRouterOptions): Router {
  const spec = (opts.spec ?? loadSpec()) as unknown as Spec;
  const validator = openApiValidator({ validateResponses: opts.validateResponses });
  const jsonBody = express.json({ limit: "1mb", type: ["application/json", "application/*+json"] });
  const router = Router();

  for (const [path, item] of Object.entries(spec.paths)) {
    const expressPath = path.replace(/\{([^}]+)\}/g, ":$1");
    const allowed: string[] = [];
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      allowed.push(method.toUpperCase());
      const id = op.operationId as OperationId;
      const handler = handlers[id] as unknown as (ctx: Ctx<OperationId>) => Promise<Reply<OperationId>>;
      if (typeof handler !== "function") throw new Error(`openapi.yaml: operation ${id} has no handler`);

      // The operationId labels the request's metrics (http/metrics.ts), whatever answers it.
      const chain: RequestHandler[] = s.metrics.enabled ? [labelled(id)] : [];
      const security = op.security ?? spec.security;
      if (needsToken(security)) chain.push(authenticate(s, securityAlternatives(id, security!)));
      const bodyTypes = Object.keys(op.requestBody?.content ?? {});
      if (bodyTypes.includes("application/json")) chain.push(jsonBody);
      if (bodyTypes.includes("multipart/form-data")) chain.push(multipartPlaceholder);
      if (bodyTypes.includes(TUS_BODY)) chain.push(tusBodyPlaceholder);
      // An operation without parameters or body has nothing to validate but its (empty) query:
      // the validator's route lookup (a regexp compiled per route per request) is skipped.
      const inputs = (item.parameters?.length ?? 0) + (op.parameters?.length ?? 0) + (op.requestBody ? 1 : 0);
      chain.push(...(inputs > 0 || opts.validateResponses ? validator : [noQuery]), ...(opts.before?.[id] ?? []));
      chain.push(dispatch(s, handler, { id, query: queryParameters(spec, item, op), idempotent: op["x-speedyfiles-idempotent"] === true }));
      router[method](expressPath, ...chain);
    }
    const allow = allowed.join(", ");
    router.all(expressPath, () => {
      throw new ApiError(405, "method_not_allowed", "Method not allowed", { headers: { Allow: allow } });
    });
  }
  return router;
}

const TUS_BODY = "application/offset+octet-stream";

function labelled(id: OperationId): RequestHandler {
  return (_req, res, next) => {
    labelOperation(res, id);
    next();
  };
}

/**
 * A tus body (PATCH, or a creation with its first chunk) stays a stream for @tus/server: the
 * validator checks its Content-Type (415) and sees an empty placeholder, never the bytes.
 */
function tusBodyPlaceholder(req: Request, _res: Response, next: NextFunction): void {
  if ((req.headers["content-type"] ?? "").toLowerCase().startsWith(TUS_BODY)) req.body = "";
  next();
}

/** What the validator says of an operation without query parameters, when one is given anyway. */
function noQuery(req: Request, _res: Response, next: NextFunction): void {
  const q = req.originalUrl.indexOf("?");
  if (q >= 0 && q < req.originalUrl.length - 1) {
    const name = req.originalUrl.slice(q + 1).split(/[=&]/)[0] ?? "";
    throw new ValidationFailed(`Unknown query parameter '${decodeURIComponent(name)}'`, `/query/${name}`);
  }
  next();
}

/** An operation needs a token unless one of its security alternatives is empty (`[]` or `[{}]`). */
function needsToken(security: Record<string, unknown>[] | undefined): boolean {
  if (!security || security.length === 0) return false;
  return !security.some((alt) => Object.keys(alt).length === 0);
}

/**
 * With `fileUploader: false` the validator would see an empty body and reject the required
 * `file` part, so a placeholder stands in; the real body is streamed by the handler.
 */
function multipartPlaceholder(req: Request, _res: Response, next: NextFunction): void {
  if (/^multipart\/form-data/i.test(req.headers["content-type"] ?? "")) req.body = { file: "" };
  next();
}

interface QueryParameter {
  name: string;
  type: "integer" | "boolean" | "string" | "array";
}

function queryParameters(spec: Spec, item: SpecPathItem, op: SpecOperation): QueryParameter[] {
  const resolve = (p: SpecParameter): SpecParameter => (p.$ref ? (spec.components.parameters[p.$ref.slice("#/components/parameters/".length)] as SpecParameter) : p);
  return [...(item.parameters ?? []), ...(op.parameters ?? [])]
    .map(resolve)
    .filter((p) => p.in === "query")
    .map((p) => {
      const type = p.schema?.type;
      return { name: p.name, type: type === "integer" || type === "boolean" || type === "array" ? type : "string" };
    });
}

/**
 * The query as the handler's types say: integers as numbers. The validator has checked ranges and
 * enums; it also accepts what JavaScript can read as a number (`1e999`, `0x10`, `Infinity`), which
 * a query integer never is: only decimal digits pass.
 */
function parseQuery(req: Request, params: QueryParameter[]): Record<string, string | number | boolean | string[]> {
  // From the URL itself: the validator replaces `req.query` with its coerced values (`1e3` → 1000).
  const raw = new URLSearchParams(req.originalUrl.slice(req.originalUrl.indexOf("?") + 1 || req.originalUrl.length));
  const out: Record<string, string | number | boolean | string[]> = {};
  for (const p of params) {
    const values = raw.getAll(p.name);
    if (values.length === 0) continue;
    // A list: comma-separated, or the parameter repeated (the validator checked each item).
    if (p.type === "array") {
      out[p.name] = values.flatMap((v) => v.split(",")).filter((v) => v !== "");
      continue;
    }
    if (values.length > 1) throw new ValidationFailed(`${p.name} must be given once`, `/query/${p.name}`);
    const text = values[0]!;
    if (p.type === "string") {
      out[p.name] = text;
      continue;
    }
    if (p.type === "boolean") {
      if (text !== "true" && text !== "false") throw new ValidationFailed(`${p.name} must be true or false`, `/query/${p.name}`);
      out[p.name] = text === "true";
      continue;
    }
    if (!/^\d{1,15}$/.test(text)) throw new ValidationFailed(`${p.name} must be a whole number`, `/query/${p.name}`);
    out[p.name] = Number(text);
  }
  return out;
}

function clientOf(req: Request): Client {
  const ua = req.headers["user-agent"];
  return { address: req.ip, userAgent: typeof ua === "string" ? ua : undefined };
}

interface DispatchOptions {
  id: OperationId;
  query: QueryParameter[];
  /** `x-speedyfiles-idempotent`: an `Idempotency-Key` makes retries safe (services/idempotency.ts). */
  idempotent: boolean;
}

function dispatch(s: Services, handler: (ctx: Ctx<OperationId>) => Promise<Reply<OperationId>>, op: DispatchOptions): RequestHandler {
  return async (req: Request, res: Response) => {
    const ctx = {
      s,
      req,
      res,
      params: req.params,
      query: parseQuery(req, op.query),
      body: req.body as unknown,
      client: clientOf(req),
      get user() {
        if (!req.principal) throw new Unauthorized("token_missing", "This operation needs a token");
        return req.principal;
      },
    } as unknown as Ctx<OperationId>;
    const key = req.headers["idempotency-key"];
    const reply =
      op.idempotent && typeof key === "string"
        ? await replayOrRun(s, ctx.user, op.id, key, requestFingerprint(req.baseUrl + req.path, req.body), async () => (await handler(ctx)) as unknown as JsonAnswer)
        : ((await handler(ctx)) as unknown as Download | Sent | { status: number; body?: unknown });
    if ("kind" in reply && reply.kind === "sent") {
      return;
    } else if ("kind" in reply) {
      await sendDownload(req, res, s.storage, reply, req.log ?? s.logger, s.metrics);
    } else if (reply.status === 204) {
      res.status(204).end();
    } else {
      res.status(reply.status).json(reply.body);
    }
  };
}
