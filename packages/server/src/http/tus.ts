import os from "node:os";
import crypto from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Request, Response } from "express";
import { Server as TusServer, MemoryLocker } from "@tus/server";
import { ERRORS, type Lock, type Locker, type RequestRelease } from "@tus/utils";
import { NodeRequest, sendNodeResponse } from "srvx/node";
import { ApiError, errorExtras, type ErrorCode } from "../errors.js";
import { isPostgres } from "../db/knex.js";
import { releaseUploadLease, renewUploadLease, takeUploadLease, wantUploadLease } from "../db/uploads.js";
import type { Services } from "../services/context.js";
import { beginUpload, discardCreation, finishUpload, type UploadScope } from "../services/uploads.js";
import { DirectBody, directBody } from "../storage/upload-store.js";

/**
 * The tus 1.0 server (@tus/server) behind our own routes: the spec router has authenticated the
 * caller and validated the headers, the route has found the package (or the link) and, for an
 * existing upload, checked that it belongs there; then the request is handed to @tus/server with
 * its scope. Its hooks call the upload service (limits at creation, the file added at the last
 * byte), and its answers are made ours: every error is `{"detail", "code"}` JSON.
 */

interface Pending {
  scope: UploadScope;
  /** The upload the URL names; for a creation, the id given to the new upload. */
  uploadId: string;
  /** The file the request completed, when it did. */
  finished?: unknown;
}

const pending = new WeakMap<IncomingMessage, Pending>();

type TusRequest = { runtime?: { node?: { req: IncomingMessage } }; method: string };
const pendingOf = (req: TusRequest): Pending => {
  const node = req.runtime?.node?.req;
  const p = node ? pending.get(node) : undefined;
  if (!p) throw new Error("tus request without a scope");
  return p;
};

/** An ApiError as @tus/server carries errors (its `status_code` and `body`), our JSON as the body. */
function tusError(err: ApiError): { status_code: number; body: string } {
  return { status_code: err.status, body: JSON.stringify({ detail: err.message, code: err.code, ...errorExtras(err) }) };
}

/** An answer of ours: status, code, detail and, for a 422, the headers at fault. */
interface Refusal {
  status: number;
  code: ErrorCode;
  detail: string;
  errors?: { path: string; message: string }[];
}

const invalidHeader = (header: string, message: string): Refusal => ({
  status: 422,
  code: "validation_failed",
  detail: message,
  errors: [{ path: `/header/${header}`, message }],
});

const HEADER_NAMES: Record<string, string> = {
  "upload-length": "Upload-Length",
  "upload-offset": "Upload-Offset",
  "upload-metadata": "Upload-Metadata",
  "upload-defer-length": "Upload-Defer-Length",
  "upload-concat": "Upload-Concat",
};

const LOCKED: Refusal = { status: 423, code: "upload_locked", detail: "Another request is writing to this upload; retry shortly" };
const DEFERRED: Refusal = {
  status: 422,
  code: "upload_length_required",
  detail: "Deferred lengths are not supported: give the file's size as Upload-Length when the upload is created",
  errors: [{ path: "/header/Upload-Defer-Length", message: "deferred lengths are not supported" }],
};

/**
 * @tus/server's own refusals (plain-text bodies, its `ERRORS` and the header check of its
 * handler) as our answers, each by its body: a client's mistake is always a 4xx (tus's 400s are
 * our 422 with `errors[]`, its 501s for extensions we do not offer a 422 that says so), and only
 * the server's own failures stay 500.
 */
function refusalOf(status: number, text: string, maxFileBytes: number): Refusal {
  const is = (e: { body: string }) => text.trim() === e.body.trim();
  if (is(ERRORS.ERR_LOCK_TIMEOUT) || is(ERRORS.ABORTED)) return LOCKED;
  if (is(ERRORS.UNSUPPORTED_CONCATENATION_EXTENSION)) {
    const message = "Upload-Concat (tus concatenation, which parallel uploads use) is not supported: send the file as one upload";
    return { status: 422, code: "tus_extension_unsupported", detail: message, errors: [{ path: "/header/Upload-Concat", message }] };
  }
  if (is(ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION)) return DEFERRED;
  if (is(ERRORS.INVALID_LENGTH)) return { ...invalidHeader("Upload-Length", "Upload-Length is required"), code: "upload_length_required" };
  if (is(ERRORS.INVALID_METADATA)) return invalidHeader("Upload-Metadata", "Upload-Metadata must be comma-separated pairs of a unique key and a base64 value");
  if (is(ERRORS.MISSING_OFFSET)) return invalidHeader("Upload-Offset", "Upload-Offset is required");
  if (is(ERRORS.INVALID_CONTENT_TYPE)) return { status: 415, code: "unsupported_media_type", detail: "A PATCH needs Content-Type: application/offset+octet-stream" };
  if (is(ERRORS.INVALID_TERMINATION)) return { status: 409, code: "package_closed", detail: "This upload is finished; delete the file instead" };
  if (is(ERRORS.FILE_NOT_FOUND)) return { status: 404, code: "upload_not_found", detail: "Upload not found" };
  if (is(ERRORS.FILE_NO_LONGER_EXISTS)) return { status: 410, code: "upload_expired", detail: "This upload expired before it was finished; start it again" };
  if (is(ERRORS.INVALID_OFFSET)) {
    return { status: 409, code: "upload_offset_mismatch", detail: "Upload-Offset does not match the bytes received; ask with HEAD and resume from there" };
  }
  // A creation's Upload-Length over SF_MAX_FILE_BYTES, refused by @tus/server (its maxSize)
  // before our hook: the same words as a multipart upload's.
  if (is(ERRORS.ERR_MAX_SIZE_EXCEEDED)) return { status: 413, code: "limit_exceeded", detail: `File is larger than the limit of ${maxFileBytes} bytes` };
  if (is(ERRORS.ERR_SIZE_EXCEEDED)) return { status: 413, code: "limit_exceeded", detail: "More bytes than the upload's length" };
  // The handler's header check: "Invalid upload-length upload-metadata".
  const invalid = /^Invalid ([a-z0-9 -]+)$/i.exec(text.trim());
  if (status === 400 && invalid) {
    const names = invalid[1]!.toLowerCase().split(" ");
    if (names.includes("content-type")) return { status: 415, code: "unsupported_media_type", detail: "A PATCH needs Content-Type: application/offset+octet-stream" };
    if (names.includes("upload-defer-length")) return DEFERRED;
    const errors = names.map((n) => ({ path: `/header/${HEADER_NAMES[n] ?? n}`, message: `${HEADER_NAMES[n] ?? n} is not valid` }));
    const detail =
      names.length === 1 && (names[0] === "upload-length" || names[0] === "upload-offset")
        ? `${HEADER_NAMES[names[0]]} must be a whole number of bytes, written in digits`
        : `Invalid ${errors.map((e) => e.path.slice("/header/".length)).join(", ")}`;
    return { status: 422, code: "validation_failed", detail, errors };
  }
  if (status === 412) return { status: 412, code: "tus_version_unsupported", detail: "Tus-Resumable: 1.0.0 is required" };
  if (status === 404) return { status: 404, code: "upload_not_found", detail: "Upload not found" };
  if (status >= 400 && status < 500) return { status: 422, code: "validation_failed", detail: "Invalid tus request" };
  return { status: 500, code: "internal_error", detail: "Internal server error" };
}

export class TusGateway {
  private readonly server: TusServer;
  private readonly locker: Locker;

  constructor(private readonly s: Services) {
    this.locker = isPostgres(s.db) ? new LeaseLocker(s) : new MemoryLocker({ acquireLockTimeout: 20_000 });
    this.server = new TusServer({
      path: "/api/v1/uploads",
      datastore: s.uploads.datastore,
      locker: new ReleasingLocker(this.locker),
      maxSize: s.config.maxFileBytes,
      relativeLocation: true,
      // Same-origin, like the rest of the API: @tus/server would otherwise answer every origin
      // with `Access-Control-Allow-Origin: *`.
      allowedOrigins: [],
      // A tus client resumes by HEAD and PATCH on the Location: our route for the package's (or
      // the link's) uploads, which checks the caller again on every request.
      generateUrl: (req, { id }) => `${pendingOf(req as unknown as TusRequest).scope.basePath}/${id}`,
      namingFunction: (req) => pendingOf(req as unknown as TusRequest).uploadId,
      getFileIdFromRequest: (req) => pendingOf(req as unknown as TusRequest).uploadId,
      onUploadCreate: async (req, upload) => {
        const p = pendingOf(req as unknown as TusRequest);
        await this.hook(() => beginUpload(s, p.scope, upload.id, { size: upload.size, metadata: upload.metadata }));
        return {};
      },
      onUploadFinish: async (req, upload) => {
        const p = pendingOf(req as unknown as TusRequest);
        const file = await this.hook(() => this.finishLocked(p.scope, upload.id));
        p.finished = file;
        // tus answers a finishing PATCH 204 without a body; this one says what the file became
        // (tus clients accept any 2xx). A creation keeps its 201 and Location.
        return {
          status_code: (req as unknown as TusRequest).method === "POST" ? 201 : 200,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(file),
        };
      },
      onResponseError: (_req, err) => {
        if (err instanceof ApiError) return tusError(err);
        if ("status_code" in err && typeof err.status_code === "number") return undefined;
        s.logger.error({ err }, "resumable upload failed");
        return { status_code: 500, body: JSON.stringify({ detail: "Internal server error", code: "internal_error" }) };
      },
    });
  }

  /** Runs a service call in a hook: its ApiErrors become tus errors carrying our JSON. */
  private async hook<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw tusError(err);
      throw err;
    }
  }

  /**
   * @tus/server calls onUploadFinish after releasing the upload's lock; a client that repeats its
   * last PATCH could finish twice. The finish takes the lock again, and the service answers the
   * same file to the second.
   */
  private async finishLocked(scope: UploadScope, id: string): Promise<unknown> {
    const lock = this.locker.newLock(id);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 60_000);
    await lock.lock(ac.signal, () => undefined);
    try {
      return await finishUpload(this.s, scope, id);
    } finally {
      clearTimeout(timer);
      await lock.unlock();
    }
  }

  /**
   * Hands the request to @tus/server and sends its answer, errors as our JSON. Resolves when sent.
   * `beforeSend` runs with the answer's status before it is sent (a client that acts on the
   * answer then sees its effect).
   */
  async handle(
    req: Request,
    res: Response,
    scope: UploadScope,
    uploadId: string,
    beforeSend?: (status: number) => Promise<void>,
  ): Promise<{ status: number; offset: number | undefined }> {
    pending.set(req, { scope, uploadId });
    // Express has cut the mount path from req.url; tus reads the id through getFileIdFromRequest.
    const request = new NodeRequest({ req, res });
    const bytes = (req.method === "PATCH" || req.method === "POST") && (req.headers["content-type"] ?? "").toLowerCase().startsWith("application/offset+octet-stream");
    let answer: globalThis.Response;
    let direct: DirectBody | undefined;
    if (req.method !== "OPTIONS" && req.headers["tus-resumable"] !== "1.0.0") {
      // @tus/server answers a missing version 412 but another one 400 "Invalid tus-resumable":
      // both are the protocol's 412, with the version this server speaks.
      const { code, detail } = refusalOf(412, "", 0);
      answer = new Response(JSON.stringify({ detail, code }), { status: 412, headers: { "Tus-Resumable": "1.0.0", "Tus-Version": "1.0.0", "Content-Type": "application/json" } });
    } else if (bytes) {
      // The body goes straight from the socket to the store (see directBody): @tus/server gets an empty one.
      Object.defineProperty(request, "body", { value: null });
      const metrics = this.s.metrics;
      direct = new DirectBody(req, (n) => metrics.uploaded(n));
      const ended = metrics.uploadStarted();
      try {
        answer = await directBody.run(direct, () => this.server.handleWeb(request));
      } finally {
        ended();
      }
    } else {
      answer = await this.server.handleWeb(request);
    }
    let out = answer;
    if (answer.status >= 400) {
      const text = await answer.text();
      let body: string;
      try {
        const parsed = JSON.parse(text) as { detail?: unknown };
        if (typeof parsed.detail !== "string") throw new Error("not ours");
        body = text;
      } catch {
        const refusal = refusalOf(answer.status, text, this.s.config.maxFileBytes);
        if (refusal.status >= 500) this.s.logger.error({ status: answer.status, tus: text.slice(0, 200) }, "resumable upload failed");
        body = JSON.stringify({ detail: refusal.detail, code: refusal.code, ...(refusal.errors ? { errors: refusal.errors } : {}) });
        out = new Response(body, { status: refusal.status, headers: answer.headers });
      }
      const headers = new Headers(out.headers);
      headers.set("Content-Type", "application/json");
      headers.set("Content-Length", String(Buffer.byteLength(body)));
      out = new Response(body, { status: out.status, headers });
    }
    out.headers.set("Cache-Control", "no-store");
    // Let go for another request (its body is unread): answered with what was stored, then cut.
    if (direct?.released) out.headers.set("Connection", "close");
    // A refused creation has no Location to resume or DELETE: nothing of it stays, before the
    // client can try the same name again.
    const creation = req.method === "POST" && uploadId !== "";
    if (creation && out.status >= 400) await discardCreation(this.s, uploadId);
    await beforeSend?.(out.status);
    // A response to a client that went away never finishes: done when it closes instead.
    const closed = new Promise<void>((resolve) => (res.destroyed ? resolve() : res.once("close", () => resolve())));
    await Promise.race([sendNodeResponse(res, out).catch(() => undefined), closed]);
    if (direct?.released) {
      req.socket.destroy();
    } else if (creation && out.status < 400 && ((direct && !req.complete) || (res.destroyed && !res.writableFinished))) {
      // The client went away during its creation (its body cut, or before the answer): it never
      // learnt the upload's URL either.
      await discardCreation(this.s, uploadId);
    }
    const offset = out.headers.get("Upload-Offset");
    return { status: out.status, offset: offset === null ? undefined : Number(offset) };
  }
}

/**
 * The locker given to @tus/server: when another request wants an upload whose lock a request
 * holds, @tus/server's release ends the body that request reads; a request whose body goes
 * straight to the store (directBody) is told to stop here. Only requests that passed the route's
 * checks (the upload's owner, or its link) reach the lock.
 */
class ReleasingLocker implements Locker {
  constructor(private readonly inner: Locker) {}
  newLock(id: string): Lock {
    const lock = this.inner.newLock(id);
    return {
      lock: (signal, requestRelease) => {
        const direct = directBody.getStore();
        return lock.lock(signal, () => {
          direct?.release();
          return requestRelease();
        });
      },
      unlock: () => lock.unlock(),
    };
  }
}

/** How long a process's hold on an upload lasts without renewal (a killed process's hold ends by itself). */
const LEASE_MS = 10_000;
/** How often a held lease is renewed, and a request from another process to let go looked for. */
const RENEW_MS = 1_000;

/**
 * With several server processes (PostgreSQL), two requests of one upload may reach different
 * processes: each takes the upload's lease in the database (a row update, no connection held),
 * renewed while the request runs. Within the process a MemoryLocker comes first, so a client
 * that reconnects makes its own stale request let go at once (tus's request-release). Across
 * processes the same: a request that finds the lease held asks for it (`lock_wanted_at`), and the
 * holder, renewing every second, sees that and lets go as for a request of its own process.
 */
class LeaseLocker implements Locker {
  readonly local = new MemoryLocker({ acquireLockTimeout: 20_000 });
  readonly holder = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString("hex")}`;
  constructor(readonly s: Services) {}
  newLock(id: string): Lock {
    return new LeaseLock(this, id);
  }
}

class LeaseLock implements Lock {
  private readonly local: Lock;
  private renew: NodeJS.Timeout | undefined;
  constructor(
    private readonly locker: LeaseLocker,
    private readonly id: string,
  ) {
    this.local = locker.local.newLock(id);
  }

  private take(): Promise<boolean> {
    const now = Date.now();
    return takeUploadLease(this.locker.s.db, this.id, this.locker.holder, new Date(now).toISOString(), new Date(now + LEASE_MS).toISOString());
  }

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    await this.local.lock(signal, requestRelease);
    const { db } = this.locker.s;
    const deadline = Date.now() + 20_000;
    try {
      while (!(await this.take())) {
        if (signal.aborted || Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
        await wantUploadLease(db, this.id, this.locker.holder, new Date().toISOString());
        await new Promise((r) => setTimeout(r, 200));
      }
    } catch (err) {
      await this.local.unlock();
      throw err;
    }
    let asked = false;
    this.renew = setInterval(() => {
      renewUploadLease(db, this.id, this.locker.holder, new Date(Date.now() + LEASE_MS).toISOString()).then(
        ({ wanted }) => {
          if (wanted && !asked) {
            asked = true;
            void requestRelease();
          }
        },
        (err: unknown) => this.locker.s.logger.warn({ err, uploadId: this.id }, "could not renew an upload's lease"),
      );
    }, RENEW_MS);
    this.renew.unref();
  }

  async unlock(): Promise<void> {
    clearInterval(this.renew);
    try {
      await releaseUploadLease(this.locker.s.db, this.id, this.locker.holder);
    } finally {
      await this.local.unlock();
    }
  }
}
