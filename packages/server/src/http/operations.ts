import type { Request, Response } from "express";
import type { operations, paths } from "../generated/api.js";
import type { Client, Principal, Services } from "../services/context.js";
import type { Download } from "../services/downloads.js";

/**
 * The types that bind handlers to openapi.yaml. Everything here is derived from the types
 * openapi-typescript generates from the spec (the same file the SDK uses), so renaming an
 * operation, changing a body or a response schema, or forgetting a handler fails `typecheck`.
 */

export type OperationId = keyof operations;
type Op<K extends OperationId> = operations[K];
type Params<K extends OperationId> = Op<K>["parameters"];
type Present<T> = Exclude<T, undefined>;
type Empty = Record<string, never>;

/** Path parameters, as the spec names them (strings; format already checked). */
export type PathParams<K extends OperationId> = [Present<Params<K>["path"]>] extends [never] ? Empty : Present<Params<K>["path"]>;

/** Query parameters, with integers as numbers. */
export type QueryParams<K extends OperationId> = [Present<Params<K>["query"]>] extends [never] ? Empty : Present<Params<K>["query"]>;

/** The validated JSON body; `undefined` for operations without one (uploads read the raw stream). */
export type JsonBody<K extends OperationId> = [Op<K>["requestBody"]] extends [never]
  ? undefined
  : Present<Op<K>["requestBody"]> extends { content: { "application/json": infer B } }
    ? undefined extends Op<K>["requestBody"]
      ? B | undefined
      : B
    : undefined;

type Responses<K extends OperationId> = Op<K>["responses"];
type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : never;
type JsonStatus = 200 | 201 | 202;

/** A JSON answer the spec declares for this operation. */
export type JsonReply<K extends OperationId> = {
  [S in keyof Responses<K> & JsonStatus]: [JsonOf<Responses<K>[S]>] extends [never] ? never : { status: S; body: JsonOf<Responses<K>[S]> };
}[keyof Responses<K> & JsonStatus];

/** `204 No Content`, where the spec declares it. */
export type EmptyReply<K extends OperationId> = 204 extends keyof Responses<K> ? { status: 204 } : never;

type BinaryType = "application/octet-stream" | "application/zip";
type HasBinary<K extends OperationId> = {
  [S in keyof Responses<K>]: Responses<K>[S] extends { content: infer C } ? (keyof C & BinaryType extends never ? never : true) : never;
}[keyof Responses<K>];
type HeadOperation = { [P in keyof paths]: paths[P] extends { head: infer H } ? H : never }[keyof paths];

/** Operations that answer with a file's bytes (GET) or only its headers (HEAD). */
export type ServesBytes<K extends OperationId> = [HasBinary<K>] extends [never] ? (Op<K> extends HeadOperation ? true : false) : true;

/** The tus operations, whose answers @tus/server writes itself (http/tus.ts). */
export type TusOperation =
  | "createUpload"
  | "describeUploads"
  | "getUploadOffset"
  | "appendUpload"
  | "terminateUpload"
  | "createLinkUpload"
  | "describeLinkUploads"
  | "getLinkUploadOffset"
  | "appendLinkUpload"
  | "terminateLinkUpload";

/** Operations that may stream their answer themselves (the audit export's NDJSON and CSV). */
export type StreamingOperation = "listAdminEvents";

/** The answer has already been sent (by @tus/server, or streamed by the handler). */
export interface Sent {
  kind: "sent";
}

/** What a handler answers: JSON, nothing, or a description of bytes for the one download path. */
export type Reply<K extends OperationId> =
  | JsonReply<K>
  | EmptyReply<K>
  | (ServesBytes<K> extends true ? Download : never)
  | (K extends TusOperation | StreamingOperation ? Sent : never);

/** Everything a handler gets: validated input, the caller, the services. */
export interface Ctx<K extends OperationId> {
  s: Services;
  req: Request;
  res: Response;
  params: PathParams<K>;
  query: QueryParams<K>;
  body: JsonBody<K>;
  /** The authenticated caller. Only operations whose spec `security` needs a token have one. */
  readonly user: Principal;
  /** Address and user agent of the caller, for audit trails. */
  client: Client;
}

export type Handler<K extends OperationId> = (ctx: Ctx<K>) => Promise<Reply<K>>;

/** One handler for the GET and the HEAD of a download: its context is either operation's. */
export type DownloadHandler<K extends OperationId> = (ctx: K extends OperationId ? Ctx<K> : never) => Promise<Download>;

/** One handler per operationId of openapi.yaml: a missing, extra or misspelled one fails typecheck. */
export type HandlerTable = { [K in OperationId]: Handler<K> };
