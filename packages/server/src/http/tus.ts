import os from "node:os";
import crypto from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Request, Response } from "express";
import { Server as TusServer, MemoryLocker } from "@tus/server";
import { ERRORS, type Lock, type Locker, type RequestRelease } from "@tus/utils";
import { NodeRequest, sendNodeResponse } from "srvx/node";
import { ApiError, type ErrorCode } from "../errors.js";
import { isPostgres } from "../db/knex.js";
import { releaseUploadLease, takeUploadLease } from "../db/uploads.js";
import type { Services } from "../services/context.js";
import { beginUpload, finishUpload, type UploadScope } from "../services/uploads.js";
import { directBody } from "../storage/upload-store.js";

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
  return { status_code: err.status, body: JSON.stringify({ detail: err.message, code: err.code, ...(err.errors ? { errors: err.errors } : {}) }) };
}

/** Codes for @tus/server's own refusals (their bodies are plain text). */
const TUS_CODES: Record<number, [ErrorCode, string]> = {
  400: ["validation_failed", "Invalid tus request"],
  403: ["unsupported_media_type", "A PATCH needs Content-Type: application/offset+octet-stream"],
  404: ["upload_not_found", "Upload not found"],
  409: ["upload_offset_mismatch", "Upload-Offset does not match the bytes received; ask with HEAD and resume from there"],
  410: ["upload_expired", "This upload expired before it was finished; start it again"],
  412: ["tus_version_unsupported", "Tus-Resumable: 1.0.0 is required"],
  413: ["limit_exceeded", "More bytes than the upload's length"],
  423: ["upload_locked", "Another request is writing to this upload; retry shortly"],
};

export class TusGateway {
  private readonly server: TusServer;
  private readonly locker: Locker;

  constructor(private readonly s: Services) {
    this.locker = isPostgres(s.db) ? new LeaseLocker(s) : new MemoryLocker({ acquireLockTimeout: 20_000 });
    this.server = new TusServer({
      path: "/api/v1/uploads",
      datastore: s.uploads.datastore,
      locker: this.locker,
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
    if (req.method !== "OPTIONS" && req.headers["tus-resumable"] !== "1.0.0") {
      // @tus/server answers a missing version 412 but another one 400 "Invalid tus-resumable":
      // both are the protocol's 412, with the version this server speaks.
      const [code, detail] = TUS_CODES[412]!;
      answer = new Response(JSON.stringify({ detail, code }), { status: 412, headers: { "Tus-Resumable": "1.0.0", "Tus-Version": "1.0.0", "Content-Type": "application/json" } });
    } else if (bytes) {
      // The body goes straight from the socket to the store (see directBody): @tus/server gets an empty one.
      Object.defineProperty(request, "body", { value: null });
      answer = await directBody.run({ body: req }, () => this.server.handleWeb(request));
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
        const status = text.startsWith("failed to acquire lock") ? 423 : answer.status;
        let [code, detail] = TUS_CODES[status] ?? ["internal_error", "Internal server error"];
        // A creation's Upload-Length over SF_MAX_FILE_BYTES, refused by @tus/server (its maxSize)
        // before our hook: the same words as a multipart upload's.
        if (status === 413 && text.startsWith(ERRORS.ERR_MAX_SIZE_EXCEEDED.body.trim())) detail = `File is larger than the limit of ${this.s.config.maxFileBytes} bytes`;
        body = JSON.stringify({ detail, code });
        // A header @tus/server cannot read (an Upload-Length that is no number) is its 400: the
        // API's validation errors are 422, as the OpenAPI validator's 400s become.
        out = new Response(body, { status: status === 400 ? 422 : status in TUS_CODES ? status : 500, headers: answer.headers });
      }
      const headers = new Headers(out.headers);
      headers.set("Content-Type", "application/json");
      headers.set("Content-Length", String(Buffer.byteLength(body)));
      out = new Response(body, { status: out.status, headers });
    }
    out.headers.set("Cache-Control", "no-store");
    await beforeSend?.(out.status);
    // A response to a client that went away never finishes: done when it closes instead.
    const closed = new Promise<void>((resolve) => (res.destroyed ? resolve() : res.once("close", () => resolve())));
    await Promise.race([sendNodeResponse(res, out).catch(() => undefined), closed]);
    const offset = out.headers.get("Upload-Offset");
    return { status: out.status, offset: offset === null ? undefined : Number(offset) };
  }
}

/** How long a process's hold on an upload lasts without renewal (a killed process's hold ends by itself). */
const LEASE_MS = 10_000;

/**
 * With several server processes (PostgreSQL), two PATCHes of one upload may reach different
 * processes: each takes the upload's lease in the database (a row update, no connection held),
 * renewed while the request runs. Within the process a MemoryLocker comes first, so a client
 * that reconnects makes its own stale request let go at once (tus's request-release).
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
    const deadline = Date.now() + 20_000;
    try {
      while (!(await this.take())) {
        if (signal.aborted || Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
        await new Promise((r) => setTimeout(r, 200));
      }
    } catch (err) {
      await this.local.unlock();
      throw err;
    }
    this.renew = setInterval(() => {
      this.take().catch((err: unknown) => this.locker.s.logger.warn({ err, uploadId: this.id }, "could not renew an upload's lease"));
    }, LEASE_MS / 3);
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
