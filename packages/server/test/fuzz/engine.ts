import crypto from "node:crypto";
import http from "node:http";
import fc from "fast-check";
import type { TestServer } from "@speedyfiles/test-utils/server";
import { hostile, oddUnicode, SchemaArbitraries, type Schema } from "./schema-arbitrary.js";
import { type Answer, type Operation, ResponseChecker, resolveRef } from "./spec-check.js";
import { diffSnapshots, snapshot, type World } from "./world.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Node = Record<string, unknown>;

/** How long any request may take (a long poll gets its `wait` on top). */
export const REQUEST_LIMIT_MS = 5000;

/**
 * How long past its limit a request is waited for before it counts as unanswered: a slow answer
 * is reported with the time it took (and its body still checked), a hung one as no answer.
 */
const HUNG_AFTER_LIMIT_MS = 10_000;

export type Who = "owner" | "other" | "admin" | "anonymous" | "wrong_token" | "garbage_auth";
type ParamKind = "real" | "other" | "unknown" | "garbage";
interface ParamChoice {
  kind: ParamKind;
  index: number;
  garbage: string;
}
/** A value resolved against the live state when the request is made. */
const REAL_OFFSET = "\u0000real-offset";

interface Plan {
  who: Who;
  garbageAuth: [string, string][];
  params: Record<string, ParamChoice>;
  query: [string, string][];
  rawQuery: string;
  headers: [string, string][];
  body: { contentType?: string; bytes?: Buffer; note: string };
}

/** A request as sent, printable. */
export interface Sent {
  operationId: string;
  who: Who;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
}

export interface Outcome {
  sent: Sent;
  answer?: Answer;
  ms: number;
  problems: string[];
}

/** Percent-encodes every byte of the string's UTF-8 that is not unreserved (lone surrogates become U+FFFD). */
function encode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A header value Node lets through: the UTF-8 bytes as Latin-1, with CR, LF, NUL and controls replaced. */
function headerValue(v: string): string {
  // At most 8,000 characters: past Node's 16 KiB of headers its parser refuses the request (431 or a reset) before the app sees it.
  return Buffer.from(v.slice(0, 8000), "utf8")
    .toString("latin1")
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, "?");
}

const asText = (v: Json): string => (typeof v === "string" ? v : JSON.stringify(v));

/** A run's shared pieces: the server, its seeded state, the spec. */
export class Fuzzer {
  readonly checker: ResponseChecker;
  private readonly schemas: SchemaArbitraries;
  private readonly arbs = new Map<string, fc.Arbitrary<Plan>>();
  requests = 0;
  readonly statusCounts = new Map<string, Map<number, number>>();

  constructor(
    readonly spec: Node,
    readonly t: TestServer,
    readonly world: World,
  ) {
    this.checker = new ResponseChecker(spec);
    const w = world;
    const emails = fc.constantFrom(w.owner.email, w.other.email, w.admin.email, "nobody@example.com", ` ${w.owner.email.toUpperCase()} `);
    this.schemas = new SchemaArbitraries(spec, {
      email: emails,
      user_email: emails,
      recipient_email: fc.constantFrom("cfo@example.com", w.other.email, "x@y.co"),
      password: fc.constantFrom(w.owner.password, w.other.password, "correct horse", "wrong password"),
      url: fc.constantFrom(
        w.receiver.url,
        `${w.receiver.url}?q=1`,
        "http://127.0.0.1:1/x",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://0x7f000001/",
        "http://localhost./",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://example.com/hook",
      ),
      issuer: fc.constantFrom("https://token.actions.githubusercontent.com", "https://gitlab.com", "http://127.0.0.1:1", "https://issuer.example.com"),
      wait: fc.integer({ min: 0, max: 1 }),
      token: fc.constantFrom(
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIn0.c2ln",
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
        "a.b.c",
        "not a jwt",
      ),
    });
  }

  plan(o: Operation): fc.Arbitrary<Plan> {
    let a = this.arbs.get(o.operationId);
    if (!a) {
      a = this.buildPlan(o);
      this.arbs.set(o.operationId, a);
    }
    return a;
  }

  private buildPlan(o: Operation): fc.Arbitrary<Plan> {
    const security = (o.op.security as Node[] | undefined) ?? [];
    const isPublic = security.length === 0;
    const who: fc.Arbitrary<Who> = isPublic
      ? fc.constantFrom<Who>("anonymous", "anonymous", "anonymous", "owner", "wrong_token", "garbage_auth")
      : fc.oneof(
          { weight: 6, arbitrary: fc.constant<Who>("owner") },
          { weight: 2, arbitrary: fc.constant<Who>("other") },
          { weight: o.path.startsWith("/admin") ? 6 : 1, arbitrary: fc.constant<Who>("admin") },
          { weight: 1, arbitrary: fc.constantFrom<Who>("anonymous", "wrong_token", "garbage_auth") },
        );
    const garbageAuth = fc.oneof(
      fc.constant<[string, string][]>([["Authorization", "Basic Ym9iOnB3"]]),
      fc.constant<[string, string][]>([["Authorization", "Bearer"]]),
      oddUnicode().map((u): [string, string][] => [["Authorization", `Bearer sf_${u}`]]),
      fc.constant<[string, string][]>([
        ["Authorization", "Bearer sf_AAAA"],
        ["Authorization", "Bearer sf_BBBB"],
      ]),
      fc.integer({ min: 100, max: 8000 }).map((n): [string, string][] => [["Authorization", `Bearer ${"a".repeat(n)}`]]),
      fc.constant<[string, string][]>([["Cookie", "sf_session=garbage; sf_session=more"]]),
    );
    const pathParams = o.parameters.filter((p) => p.in === "path");
    const params: Record<string, fc.Arbitrary<ParamChoice>> = {};
    for (const p of pathParams) {
      params[p.name as string] = fc.record({
        kind: fc.oneof(
          { weight: 6, arbitrary: fc.constant<ParamKind>("real") },
          { weight: 2, arbitrary: fc.constant<ParamKind>("other") },
          { weight: 1, arbitrary: fc.constant<ParamKind>("unknown") },
          { weight: 2, arbitrary: fc.constant<ParamKind>("garbage") },
        ),
        index: fc.nat(1000),
        // Never empty or only dots (even percent-encoded, `..` is a path step: another route, not a value).
        garbage: fc
          .oneof(oddUnicode(), fc.string({ maxLength: 40 }), fc.constantFrom("%", "00000000-0000-0000-0000-000000000000", "x".repeat(300), "1e308", "-1", "null", "[]"))
          .filter((g) => !/^\.*$/.test(g)),
      });
    }
    const queryParams = o.parameters.filter((p) => p.in === "query");
    const query = fc
      .tuple(
        ...queryParams.map((p) =>
          fc.oneof(
            { weight: 2, arbitrary: fc.constant<[string, string][]>([]) },
            { weight: 3, arbitrary: this.schemas.valid(p.schema as Schema, p.name as string).map((v) => toQuery(p.name as string, v)) },
            { weight: 2, arbitrary: this.schemas.invalid(p.schema as Schema).map((v) => toQuery(p.name as string, v)) },
            // The same key twice.
            {
              weight: 1,
              arbitrary: fc
                .tuple(this.schemas.valid(p.schema as Schema, p.name as string), this.schemas.valid(p.schema as Schema, p.name as string))
                .map(([a, b]) => [...toQuery(p.name as string, a), ...toQuery(p.name as string, b)]),
            },
          ),
        ),
        fc.oneof(
          { weight: 4, arbitrary: fc.constant<[string, string][]>([]) },
          { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map((kv): [string, string][] => [kv]) },
          {
            weight: 1,
            arbitrary: fc.constant<[string, string][]>([
              ["page[$gt]", "1"],
              ["__proto__", "x"],
              ["constructor[prototype][x]", "1"],
            ]),
          },
        ),
      )
      .map((parts) => parts.flat());
    const rawQuery = fc.oneof({ weight: 8, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constantFrom("%zz", "a=%", "&&&", "=x", `${"a=1&".repeat(600)}`, "%00=%00") });
    const headerParams = o.parameters.filter((p) => p.in === "header");
    const declared = fc
      .tuple(
        ...headerParams.map((p) => {
          const name = p.name as string;
          return fc.oneof(
            { weight: p.required ? 1 : 3, arbitrary: fc.constant<[string, string][]>([]) },
            { weight: 6, arbitrary: this.validHeader(name, p.schema as Schema).map((v): [string, string][] => [[name, v]]) },
            { weight: 2, arbitrary: this.schemas.invalid(p.schema as Schema).map((v): [string, string][] => [[name, asText(v)]]) },
          );
        }),
      )
      .map((parts) => parts.flat());
    const extra = fc.array(extraHeader(o), { maxLength: 3 });
    const headers = fc.tuple(declared, extra).map(([a, b]) => [...a, ...b]);
    const anything = fc.record({ who, garbageAuth, params: fc.record(params), query, rawQuery, headers, body: this.body(o) });
    // Each part above is wrong often enough that a request right in every part at once is rare:
    // one plan in three is well formed throughout (the caller it is meant for, real ids, only
    // valid parameters, the declared headers, a body of the declared schema), so the operations'
    // success paths are fuzzed too, not only their refusals.
    const wellFormed = fc.record({
      who: fc.constant<Who>(isPublic ? "anonymous" : o.path.startsWith("/admin") ? "admin" : "owner"),
      garbageAuth: fc.constant<[string, string][]>([]),
      params: fc.record(
        Object.fromEntries(pathParams.map((p) => [p.name as string, fc.record({ kind: fc.constant<ParamKind>("real"), index: fc.nat(1000), garbage: fc.constant("x") })])),
      ),
      query: fc
        .tuple(
          ...queryParams.map((p) =>
            fc.oneof(
              fc.constant<[string, string][]>([]),
              this.schemas.valid(p.schema as Schema, p.name as string).map((v) => toQuery(p.name as string, v)),
            ),
          ),
        )
        .map((parts) => parts.flat()),
      rawQuery: fc.constant(""),
      headers: fc
        .tuple(
          ...headerParams.map((p) => {
            const valid = this.validHeader(p.name as string, p.schema as Schema).map((v): [string, string][] => [[p.name as string, v]]);
            return p.required ? valid : fc.oneof(fc.constant<[string, string][]>([]), valid);
          }),
        )
        .map((parts) => parts.flat()),
      body: this.wellFormedBody(o),
    });
    return fc.oneof({ weight: 1, arbitrary: wellFormed }, { weight: 2, arbitrary: anything });
  }

  /** A body of the operation's declared schema (or none when it declares none). */
  private wellFormedBody(o: Operation): fc.Arbitrary<Plan["body"]> {
    const content = (resolveRef(this.spec, (o.op.requestBody as Node | undefined) ?? {}).content ?? {}) as Record<string, Node>;
    if (content["application/json"]) {
      return this.schemas
        .valid(content["application/json"].schema as Schema)
        .map((v): Plan["body"] => ({ contentType: "application/json", bytes: Buffer.from(JSON.stringify(v)), note: "valid JSON" }));
    }
    if (content["multipart/form-data"]) return multipart();
    if (content["application/offset+octet-stream"]) {
      return fc.uint8Array({ maxLength: 40 }).map((b): Plan["body"] => ({ contentType: "application/offset+octet-stream", bytes: Buffer.from(b), note: "tus chunk" }));
    }
    return fc.constant<Plan["body"]>({ note: "no body" });
  }

  private validHeader(name: string, schema: Schema): fc.Arbitrary<string> {
    switch (name) {
      case "Tus-Resumable":
        return fc.oneof({ weight: 8, arbitrary: fc.constant("1.0.0") }, { weight: 1, arbitrary: fc.constantFrom("0.2.2", "1.0.1", "") });
      case "Upload-Offset":
        return fc.oneof({ weight: 4, arbitrary: fc.constant(REAL_OFFSET) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }).map(String) });
      case "Upload-Length":
        return fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom("70000", "10737418241", "99999999999999999999"));
      case "Upload-Metadata":
        return fc
          .tuple(
            fileName(),
            fc.option(fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string({ maxLength: 10 }))),
            fc.option(fc.constantFrom("text/plain", "text/html", "application/x-evil\r\n")),
          )
          .map(([n, sha, ct]) => [`filename ${b64(n)}`, ...(sha !== null ? [`sha256 ${b64(sha)}`] : []), ...(ct !== null ? [`content_type ${b64(ct)}`] : [])].join(","));
      case "Range":
        return fc.constantFrom("bytes=0-9", "bytes=5-", "bytes=-3", "bytes=0-0,2-3", "bytes=100000-", "bytes=9-2", "bytes=0-99999999999", "items=0-1");
      case "If-Range":
        return fc.constantFrom('"abc"', 'W/"x"', new Date().toUTCString());
      case "X-Link-Password":
        return fc.constantFrom("correct horse", "wrong horse!", "");
      default:
        return this.schemas.valid(schema, name).map(asText);
    }
  }

  private body(o: Operation): fc.Arbitrary<Plan["body"]> {
    const none = fc.constant<Plan["body"]>({ note: "no body" });
    const content = (resolveRef(this.spec, (o.op.requestBody as Node | undefined) ?? {}).content ?? {}) as Record<string, Node>;
    const json = (v: Json, note: string, ct = "application/json"): Plan["body"] => ({ contentType: ct, bytes: Buffer.from(JSON.stringify(v)), note });
    const stray = fc.oneof(
      fc.constant<Plan["body"]>({ contentType: "application/json", bytes: Buffer.from("{broken"), note: "malformed JSON" }),
      fc.constant<Plan["body"]>({ contentType: "application/x-www-form-urlencoded", bytes: Buffer.from("a=1&a=2&b[c]=3"), note: "form" }),
      fc.uint8Array({ maxLength: 64 }).map((b): Plan["body"] => ({ contentType: "application/octet-stream", bytes: Buffer.from(b), note: "bytes" })),
      fc.uint8Array({ maxLength: 64 }).map((b): Plan["body"] => ({ bytes: Buffer.from(b), note: "bytes without a Content-Type" })),
      fc
        .constantFrom("text/plain", "application/json; charset=utf-16", "multipart/form-data", "application/xml", "*/*", "garbage", "application/json;;;")
        .map((ct): Plan["body"] => ({ contentType: ct, bytes: Buffer.from('{"a":1}'), note: "odd Content-Type" })),
      hostile().map((v) => json(v, "hostile JSON")),
      multipart(),
    );
    if (content["application/json"]) {
      const schema = content["application/json"].schema as Schema;
      return fc.oneof(
        { weight: 5, arbitrary: this.schemas.valid(schema).map((v) => json(v, "valid JSON")) },
        { weight: 4, arbitrary: this.schemas.invalid(schema).map((v) => json(v, "invalid JSON")) },
        { weight: 3, arbitrary: stray },
        { weight: 1, arbitrary: none },
        { weight: 1, arbitrary: fc.constant<Plan["body"]>({ contentType: "application/json", bytes: Buffer.from(`{"a":"${"x".repeat(1_100_000)}"}`), note: "JSON over 1 MiB" }) },
        { weight: 1, arbitrary: this.schemas.valid(schema).map((v) => json(v, "valid JSON as text/plain", "text/plain")) },
      );
    }
    if (content["multipart/form-data"]) {
      return fc.oneof({ weight: 6, arbitrary: multipart() }, { weight: 2, arbitrary: stray }, { weight: 1, arbitrary: none });
    }
    if (content["application/offset+octet-stream"]) {
      const chunk = fc.uint8Array({ maxLength: 40 }).map((b): Plan["body"] => ({ contentType: "application/offset+octet-stream", bytes: Buffer.from(b), note: "tus chunk" }));
      return fc.oneof({ weight: 5, arbitrary: chunk }, { weight: 2, arbitrary: none }, { weight: 2, arbitrary: stray });
    }
    return fc.oneof({ weight: 5, arbitrary: none }, { weight: 1, arbitrary: stray });
  }

  /** The concrete request a plan makes, against the state as it is now. */
  resolve(o: Operation, plan: Plan): Sent & { url: string; bytes?: Buffer; limitMs: number } {
    const w = this.world;
    const p = w.pools;
    const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
    const unknownUuid = "7d0f1a32-5c1e-4b8e-9a39-0b6f3f0c1c36";
    const chosen: Record<string, string> = {};
    const order = Object.keys(plan.params).sort((a, b) => (a === "id" || a === "link" ? -1 : b === "id" || b === "link" ? 1 : 0));
    for (const name of order) {
      const c = plan.params[name]!;
      let v: string | undefined;
      if (c.kind === "garbage") v = c.garbage;
      else if (c.kind === "unknown") v = name === "link" ? crypto.randomBytes(32).toString("base64url") : unknownUuid;
      else {
        const real = c.kind === "real";
        const pkgId = chosen.id;
        switch (name) {
          case "id":
            if (o.path.startsWith("/packages")) v = real ? pick(p.ownerPackages, c.index)?.id : pick(p.otherPackages, c.index);
            else if (o.path.startsWith("/me/tokens")) v = real ? pick(p.ownerTokens, c.index) : pick(p.otherTokens, c.index);
            else if (o.path.startsWith("/admin/users")) v = pick(p.victims, c.index);
            else if (o.path.startsWith("/admin/trust-policies")) v = pick(p.trustPolicies, c.index);
            else if (o.path.startsWith("/webhooks")) v = real ? pick(p.ownerWebhooks, c.index) : pick(p.otherWebhooks, c.index);
            break;
          case "file_id": {
            const own = p.ownerFiles.filter((f) => f.package_id === pkgId);
            v = real ? (pick(own, c.index) ?? pick(p.ownerFiles, c.index))?.id : pick(p.otherFiles, c.index);
            if (!v && o.path.startsWith("/links")) {
              const secret = chosen.link;
              const live = p.liveSecrets.find((s) => s.secret === secret);
              v = pick(
                p.ownerFiles.filter((f) => f.package_id === live?.package_id),
                c.index,
              )?.id;
            }
            break;
          }
          case "link_id": {
            const own = p.ownerLinks.filter((l) => l.package_id === pkgId);
            v = real ? (pick(own, c.index) ?? pick(p.ownerLinks, c.index))?.id : pick(p.otherLinks, c.index);
            break;
          }
          case "upload_id": {
            const linkPkg = p.liveSecrets.find((s) => s.secret === chosen.link)?.package_id;
            const own = p.ownerUploads.filter((u) => u.package_id === (pkgId ?? linkPkg));
            v = real ? (pick(own, c.index) ?? pick(p.ownerUploads, c.index))?.id : pick(p.otherUploads, c.index);
            break;
          }
          case "delivery_id": {
            const own = p.ownerDeliveries.filter((d) => d.webhook_id === pkgId);
            v = real ? (pick(own, c.index) ?? pick(p.ownerDeliveries, c.index))?.id : pick(p.otherDeliveries, c.index);
            break;
          }
          case "link": {
            const wantInbound = /uploads|files$|complete/.test(o.path) && o.method !== "GET" && o.method !== "HEAD";
            const fit = p.liveSecrets.filter((s) => (s.direction === "inbound") === wantInbound);
            v = real ? (c.index % 5 === 0 ? pick(p.allSecrets, c.index) : pick(fit, c.index)?.secret) : pick(p.otherSecrets, c.index);
            break;
          }
        }
        v ??= unknownUuid;
      }
      chosen[name] = v;
    }
    const pathname = o.path.replace(/\{([^}]+)\}/g, (_m, n: string) => encode(chosen[n] ?? unknownUuid));
    const qs = [...plan.query.map(([k, v]) => `${encode(k)}=${encode(v)}`), ...(plan.rawQuery ? [plan.rawQuery] : [])].join("&");
    const headers: [string, string][] = [];
    const token = { owner: w.owner.token, other: w.other.token, admin: w.admin.token, wrong_token: `sf_${crypto.randomBytes(32).toString("base64url")}` } as Record<
      Who,
      string | undefined
    >;
    if (token[plan.who]) headers.push(["Authorization", `Bearer ${token[plan.who]}`]);
    if (plan.who === "garbage_auth") headers.push(...plan.garbageAuth.map(([k, v]): [string, string] => [k, headerValue(v)]));
    for (const [k, v] of plan.headers) {
      if (v === REAL_OFFSET) {
        const up = chosen.upload_id;
        headers.push([k, String(this.offsets.get(up ?? "") ?? 0)]);
      } else headers.push([k, headerValue(v)]);
    }
    if (plan.body.contentType !== undefined) headers.push(["Content-Type", headerValue(plan.body.contentType)]);
    const wait = Number(plan.query.find(([k]) => k === "wait")?.[1]);
    const limitMs = REQUEST_LIMIT_MS + (o.operationId === "listPackageEvents" && Number.isInteger(wait) && wait >= 0 && wait <= 60 ? wait * 1000 : 0);
    const bytes = plan.body.bytes;
    return {
      operationId: o.operationId,
      who: plan.who,
      method: o.method,
      path: `/api/v1${pathname}${qs ? `?${qs}` : ""}`,
      url: `${this.t.api}${pathname}${qs ? `?${qs}` : ""}`,
      headers,
      body: bytes === undefined ? "(none)" : `${plan.body.note}, ${bytes.length} bytes: ${printable(bytes)}`,
      ...(bytes ? { bytes } : {}),
      limitMs,
    };
  }

  private lastWasDownload = false;

  /** Upload offsets, read before each request for `Upload-Offset` to be right when the plan says so. */
  private offsets = new Map<string, number>();

  /** Makes one request and checks the properties. */
  async run(o: Operation, plan: Plan): Promise<Outcome> {
    await this.world.replenish();
    const db = this.t.running.services.db;
    this.offsets = new Map(((await db("uploads").select("id", "received")) as { id: string; received: number | string }[]).map((u) => [u.id, Number(u.received)]));
    const req = this.resolve(o, plan);
    // A download is counted once its last byte has gone (after the client has it): give the
    // previous one's event time to land before taking the "before" picture.
    if (this.lastWasDownload) await new Promise((r) => setTimeout(r, 150));
    const before = await settledSnapshot(this.t);
    const started = Date.now();
    const answer = await send(req.url, req.method, req.headers, req.bytes, req.limitMs + HUNG_AFTER_LIMIT_MS);
    const ms = Date.now() - started;
    this.requests++;
    const sent: Sent = { operationId: req.operationId, who: req.who, method: req.method, path: req.path, headers: req.headers, body: req.body };
    const problems: string[] = [];
    const status = answer === "timeout" ? 0 : answer.status;
    this.lastWasDownload = status >= 200 && status < 300 && o.method === "GET" && /^download/.test(o.operationId);
    const counts = this.statusCounts.get(o.operationId) ?? new Map<number, number>();
    counts.set(status, (counts.get(status) ?? 0) + 1);
    this.statusCounts.set(o.operationId, counts);
    if (answer === "timeout") problems.push(`no answer within ${req.limitMs + HUNG_AFTER_LIMIT_MS} ms (limit ${req.limitMs} ms)`);
    else if (answer.status === 0) {
      // The server answered early (413, 401) and closed before reading all of a large body: normal HTTP.
      const headerBytes = req.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, req.path.length);
      if ((req.bytes?.length ?? 0) < 65_536 && headerBytes < 16_384) problems.push(`the connection was reset without an answer: ${answer.body.toString("utf8")}`);
    } else if (answer.status === 431 && answer.body.length === 0) {
      // Node's HTTP parser refused headers (URL included) over its 16 KiB limit before the app saw them.
    } else {
      // A dependency the operation declares it may find down (the CI issuer's keys: no internet here) is no server failure.
      const declaredOutage = answer.status === 503 && /"code":"oidc_issuer_unreachable"/.test(answer.body.toString("utf8"));
      if (answer.status >= 500 && !declaredOutage) problems.push(`answered ${answer.status}: ${answer.body.subarray(0, 300).toString("utf8")}`);
      const wrong = this.checker.check(o, answer);
      if (wrong) problems.push(wrong);
      if (ms > req.limitMs) problems.push(`took ${ms} ms (limit ${req.limitMs} ms)`);
      const text = answer.body.toString("utf8");
      if (/"(token|secret)":"(sf|whsec)_|"magic_link":"/.test(text) && !/no-store/.test(String(answer.headers["cache-control"] ?? ""))) {
        problems.push(`an answer carrying a secret has Cache-Control: ${String(answer.headers["cache-control"] ?? "(none)")}, not no-store`);
      }
      if (answer.status >= 400 && answer.status < 500) {
        const after = await snapshot(this.t);
        const diff = diffSnapshots(before, after);
        if (diff.length) problems.push(`refused with ${answer.status} but changed state: ${diff.join("; ")}`);
      } else if (answer.status < 300) {
        this.world.noteSecrets(text, plan.who === "other" ? "other" : "owner");
      }
    }
    return { sent, ...(answer === "timeout" ? {} : { answer }), ms, problems };
  }
}

/** A snapshot taken twice until it holds still: work a previous answer started (a download counted after its last byte) lands first. */
async function settledSnapshot(t: TestServer) {
  let prev = await snapshot(t);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, i === 0 ? 5 : 50));
    const next = await snapshot(t);
    if (diffSnapshots(prev, next).length === 0) return next;
    prev = next;
  }
  return prev;
}

function toQuery(name: string, v: Json): [string, string][] {
  if (Array.isArray(v)) return v.map((x) => [name, asText(x)]);
  return [[name, asText(v)]];
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

function printable(b: Buffer): string {
  const s = b.subarray(0, 300).toString("utf8");
  return JSON.stringify(b.length > 300 ? `${s}…` : s);
}

function fileName(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[a-z]{1,8}\.(txt|pdf|bin)$/) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "sub/dir/a.txt",
        "../x",
        "/etc/passwd",
        "a\\b",
        "CON",
        "nul.txt",
        "a.",
        "a ",
        "a:b",
        "",
        ".",
        "\u202etxt.exe",
        "x".repeat(300),
        "é.txt",
        "e\u0301.txt",
      ),
    },
    { weight: 1, arbitrary: oddUnicode() },
  );
}

function multipart(): fc.Arbitrary<Plan["body"]> {
  return fc
    .record({
      name: fileName(),
      content: fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ maxLength: 50 }).map((b) => Buffer.from(b)) }, { weight: 1, arbitrary: fc.constant(Buffer.alloc(70_000, 1)) }),
      sha: fc.oneof(fc.constant(null), fc.constant("good"), fc.constantFrom("0".repeat(64), "xyz", "0".repeat(65))),
      shaAfter: fc.boolean(),
      field: fc.constantFrom("file", "file", "file", "other", "file[]"),
      shape: fc.constantFrom("ok", "ok", "ok", "ok", "no closing boundary", "two files", "no filename", "empty"),
    })
    .map(({ name, content, sha, shaAfter, field, shape }) => {
      const boundary = "----sffuzz7MA4YWxkTrZu0gW";
      const digest = sha === "good" ? crypto.createHash("sha256").update(content).digest("hex") : sha;
      const shaPart = digest === null ? "" : `--${boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n${digest}\r\n`;
      const disposition = shape === "no filename" ? `form-data; name="${field}"` : `form-data; name="${field}"; filename="${name.replace(/"/g, "%22")}"`;
      const filePart = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`, "utf8"),
        content,
        Buffer.from("\r\n"),
      ]);
      const parts = shape === "empty" ? [] : shape === "two files" ? [filePart, filePart] : [filePart];
      const end = shape === "no closing boundary" ? Buffer.alloc(0) : Buffer.from(`--${boundary}--\r\n`);
      const bytes = Buffer.concat([Buffer.from(shaAfter ? "" : shaPart), ...parts, Buffer.from(shaAfter ? shaPart : ""), end]);
      return {
        contentType: `multipart/form-data; boundary=${boundary}`,
        bytes,
        note: `multipart (${shape}, field ${field}, name ${JSON.stringify(name)}, sha256 ${digest === null ? "none" : shaAfter ? "after the file" : "first"})`,
      };
    });
}

/** Headers nobody declared, or declared ones with values nobody expects. */
function extraHeader(o: Operation): fc.Arbitrary<[string, string]> {
  const names = [
    "X-Fuzz",
    "Accept",
    "Accept-Encoding",
    "If-None-Match",
    "If-Modified-Since",
    "If-Range",
    "Range",
    "X-Link-Password",
    "Idempotency-Key",
    "X-CSRF-Token",
    "Cookie",
    "X-Forwarded-For",
    "Origin",
    "X-HTTP-Method-Override",
    "Accept-Language",
    "User-Agent",
    "Referer",
  ];
  if (/uploads/.test(o.path))
    names.push("Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Defer-Length", "Upload-Concat", "Upload-Checksum", "X-HTTP-Method-Override");
  const value = fc.oneof(
    oddUnicode(),
    fc.constantFrom("99999999999999999999999", "-1", "1e308", "NaN", "0x10", "00000000000000000001", "1", "final;/a /b", "partial"),
    fc.integer({ min: 10, max: 400 }).map((n) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`),
    fc.integer({ min: 200, max: 8000 }).map((n) => "v".repeat(n)),
    fc.constantFrom("bytes=" + "0-1,".repeat(1500), "bytes=9999999999", "bytes=-0", "bytes=0-"),
  );
  return fc.tuple(fc.constantFrom(...names), value);
}

/** One request over a fresh connection; "timeout" when no full answer came within `waitMs`. */
function send(url: string, method: string, headers: [string, string][], body: Buffer | undefined, waitMs: number): Promise<Answer | "timeout"> {
  return new Promise((resolve, reject) => {
    const grouped: Record<string, string[]> = {};
    for (const [k, v] of headers) (grouped[k] ??= []).push(v);
    if (body !== undefined) grouped["Content-Length"] = [String(body.length)];
    const req = http.request(url, { method, headers: grouped, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      resolve("timeout");
    }, waitMs);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= 8 * 1024 * 1024) chunks.push(c);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      // The server may answer (413, 401) and close before reading a body it does not want.
      if ((err as NodeJS.ErrnoException).code === "ECONNRESET" || (err as NodeJS.ErrnoException).code === "EPIPE")
        resolve({ status: 0, headers: {}, body: Buffer.from(String(err)) });
      else reject(err);
    });
    req.end(body);
  });
}

/** A request as the failure message shows it: enough to send it again by hand. */
export function describe(s: Sent): string {
  const h = s.headers.map(([k, v]) => `  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} chars)` : v}`).join("\n");
  return `${s.method} ${s.path.length > 500 ? `${s.path.slice(0, 500)}…` : s.path}  [${s.operationId}, as ${s.who}]\n${h}\n  body: ${s.body}`;
}
