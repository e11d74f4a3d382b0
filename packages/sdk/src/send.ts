import path from "node:path";
import { AbortError, ApiError, NotFoundError, SpeedyFilesError } from "./errors.js";
import { expandPaths, type LocalFile } from "./files.js";
import { claimDraft, sendKeys } from "./idempotent-send.js";
import {
  ProgressTotal,
  ResumableUploadError,
  runConcurrently,
  uploadOffset,
  type TransferContext,
  type UploadedFile,
  type UploadOptions,
  type UploadSource,
} from "./transfer/index.js";
import type { PackagesResource } from "./resources/packages.js";
import type { EffectivePolicy, FinalizedPackage, FinalizeRequest, PackageCreateRequest, PackageDetail, PackageFile } from "./types.js";
import { defaultTtl, policyRefusal, type PackagePlan } from "./policy/index.js";
import { payloadSize } from "./encryption/stream.js";
import { generateIdentity, isRecipient, withLinkKey, type EncryptionKey } from "./encryption/keys.js";
import { sealBytes, type Encryption } from "./encryption/seal.js";

/** Progress of `send()`: the file in flight and the whole transfer. */
export interface SendProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  /** Bytes of all files sent so far, and their sum. */
  bytes: number;
  totalBytes: number;
  /**
   * `upload` while bytes flow, `done` when the server has stored the file. `resumed`, once before
   * any upload of a resumed send: `bytes` is what the server already had (files and partial uploads).
   */
  phase: "upload" | "done" | "resumed";
  uploaded?: UploadedFile;
}

export interface SendOptions {
  /** Files and directories (recursed, relative paths kept). */
  files: string[];
  /** `expandPaths(files)`, when the caller already has it: the directories are not walked again. */
  expanded?: LocalFile[];
  /**
   * Recipient email, or several (each gets their own link, email, counts and audit trail; at most
   * 50). `{ email, name }` entries name them.
   */
  to: string | (string | { email: string; name?: string })[];
  /** The name of the one recipient (with `to` a single email). */
  recipient_name?: string;
  /** Complete downloads allowed of each file per recipient's link (1–1000; the zip counts for every file). */
  max_downloads?: number;
  /** Recipients must give this password (8–128 characters); the server keeps only an scrypt hash. */
  password?: string;
  /** Email you when each recipient first completes a download, and when a link is used up (default true). */
  notify_on_download?: boolean;
  /**
   * false: the server emails no recipient their link; `result.package.links` are the only copy,
   * for you to share (default true).
   */
  notify_recipients?: boolean;
  /** Defaults to the name of the one file or directory given, else `N files`. */
  title?: string;
  message?: string;
  /**
   * Days the link works after finalize (default 7, moved within the server's policy when it has
   * `min_ttl_days` / `max_ttl_days`).
   */
  ttl_days?: number;
  /**
   * Before creating anything, read your effective policy (GET /me/policy) and refuse with a
   * `PolicyViolationError` (`refusedBy: "client"`) what the server would refuse: a file over
   * `max_file_bytes`, files past your quota, a recipient's domain, too many recipients, a TTL out
   * of range, no password or no encryption where required. Default true; the server checks all
   * of it again either way. A server without the endpoint is sent to as before.
   */
  checkPolicy?: boolean;
  /**
   * Extra files that are not paths, e.g. a Readable of stdin: uploaded with `files`, named `name`.
   * `size` is only for progress totals (0 when unknown).
   */
  sources?: { name: string; source: Exclude<UploadSource, string>; size?: number }[];
  /** Files uploaded at once (default 4). */
  concurrency?: number;
  onProgress?: (p: SendProgress) => void;
  signal?: AbortSignal;
  /** Resuming an interrupted send, and saving what it takes to resume this one. */
  resume?: SendResume;
  /**
   * Makes the send safe to run again (a CI rerun, a retried step): another send with the same
   * key and the same arguments within 24 hours answers the package of the first one (finishing it
   * when the first run was cut off) instead of sending a second. 8–200 printable ASCII characters.
   * See `ciIdempotencyKey` for one derived from a CI job.
   */
  idempotencyKey?: string;
  /**
   * Encrypt end to end: `true` makes a fresh age X25519 identity for this package, returned as
   * `key` and after `#` in every `magic_link` of the result (the server never sees it, and the
   * emails it sends carry the link without it); `{ passphrase }` encrypts to a passphrase the
   * recipients must be given another way. Files, their names and sizes, and the message travel
   * encrypted; the title and the recipients do not.
   */
  encrypt?: true | { passphrase: string };
}

/**
 * What lets a send() that was interrupted (its process killed) go on where it stopped: the draft
 * it had made, and the URLs of its resumable uploads. Save what the callbacks report; pass it back.
 */
export interface SendResume {
  /** The draft of the interrupted send: filled instead of a new one, if it is still a draft. */
  packageId?: string | undefined;
  /** Resumable uploads on their way, by file name. */
  uploads?: Record<string, string> | undefined;
  /** The draft this send fills (new or resumed). */
  onPackage?: (id: string) => void;
  /** A file's resumable upload has its URL. */
  onUpload?: (name: string, url: string) => void;
  /**
   * Keep the draft, so that it can be resumed, when the caller aborts (`signal`: Ctrl-C) or a
   * resumable upload gave up (`ResumableUploadError`: the server stayed away longer than the
   * retries); the error's `resumablePackageId` names it. Any other failure deletes the draft, as
   * without `resume`.
   */
  keepDraft?: boolean;
}

/** `request()`: ask `from` to upload files to you. */
export interface RequestFilesOptions {
  /** Who should upload (the package's `recipient_email`); they get the link by mail. */
  from: string;
  recipient_name?: string;
  title?: string;
  message?: string;
  /** Days the link works (default 7, moved within the server's policy when it has a min or max). */
  ttl_days?: number;
  /** As `SendOptions.checkPolicy`: refuse before creating what the server's policy forbids (default true). */
  checkPolicy?: boolean;
  signal?: AbortSignal;
  /**
   * Files uploaded through the link are encrypted to this age X25519 recipient (`age1…`, the
   * public half of an identity you keep): only that identity opens them. No `message` then (the
   * uploader could not read it).
   */
  encrypt?: { recipient: string };
}

export interface SendResult {
  package: FinalizedPackage;
  /** With `encrypt: true`: the full link, `…#AGE-SECRET-KEY-1…`. */
  magic_link: string;
  expires_at: string;
  /** With `encrypt: true`: the package's age X25519 identity (also after `#` in every magic_link). */
  key?: string;
}

/** What the workflows use of the client. */
export interface WorkflowDeps {
  baseUrl: string;
  packages: Pick<PackagesResource, "create" | "get" | "finalize" | "delete">;
  uploadFile(packageId: string, source: UploadSource, opts: UploadOptions): Promise<UploadedFile>;
  deleteFile(packageId: string, fileId: string): Promise<void>;
  /** GET /me/policy: the caller's effective rules and quota use. */
  myPolicy(signal?: AbortSignal): Promise<EffectivePolicy>;
  /** The transfer settings with the token (the provider's current one, with a token provider). */
  transfer(): TransferContext | Promise<TransferContext>;
  /** The client's deadline of one API call (ms): the cleanup of a failed send takes at most 10 s of it. */
  timeoutMs: number;
}

/**
 * create → upload every file (bounded concurrency) → finalize. On any failure or abort the
 * draft it created is deleted, so nothing half-sent stays behind (`resume.keepDraft` keeps it
 * on an abort or a resumable upload that gave up, to resume).
 */
export async function send(sf: WorkflowDeps, opts: SendOptions): Promise<SendResult> {
  const files: SendItem[] = [
    ...(opts.expanded ?? (await expandPaths(opts.files))),
    ...(opts.sources ?? []).map((s) => ({ path: "", name: s.name, size: s.size ?? 0, source: s.source })),
  ];
  if (files.length === 0) throw new SpeedyFilesError("nothing to send: no files found");
  if (opts.signal?.aborted) throw new AbortError("send aborted", { cause: opts.signal.reason });
  const policy = await effectivePolicy(sf, opts);
  const ttl = opts.ttl_days ?? defaultTtl(policy?.rules);
  if (policy) {
    refuseIfForbidden(sf, policy, {
      direction: "outbound",
      recipients: (Array.isArray(opts.to) ? opts.to : [opts.to]).map((r) => (typeof r === "string" ? r : r.email)),
      ttl_days: ttl,
      password: opts.password !== undefined,
      encrypted: !!opts.encrypt,
      // An encrypted file is stored as ciphertext: at least its payload and nonce (the header adds more).
      files: files.map((f) => ({ name: f.name, size: f.source && !f.size ? undefined : opts.encrypt ? payloadSize(f.size) + 16 : f.size })),
      // A resumed draft or a rerun's package already holds (some of) these bytes: the server counts them.
      countQuota: !opts.resume?.packageId && opts.idempotencyKey === undefined,
    });
  }
  const e2e = opts.encrypt ? await encryptionOf(opts.encrypt) : undefined;
  if (e2e && opts.idempotencyKey !== undefined) {
    // A rerun could not give the key of the first run's package: it exists only in that run.
    throw new SpeedyFilesError("an encrypted send cannot take an idempotency key: its key exists only in the run that made it, so a rerun could not give it back");
  }
  const result = await createAndFinalize(
    sf,
    {
      title: opts.title ?? defaultTitle(opts.files, files),
      ...recipientsOf(opts.to, opts.recipient_name),
      direction: "outbound",
      ttl_days: ttl,
      ...(e2e ? { encryption: e2e.encryption, ...(opts.message ? { sealed_message: await sealBytes(e2e.to, opts.message) } : {}) } : opts.message ? { message: opts.message } : {}),
      ...(opts.max_downloads !== undefined ? { max_downloads: opts.max_downloads } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.notify_on_download !== undefined ? { notify_on_download: opts.notify_on_download } : {}),
    },
    (id, existing) => uploadAll(sf, id, files, opts, existing, e2e?.to),
    opts.signal,
    opts.resume,
    opts.idempotencyKey,
    opts.notify_recipients === false ? { notify_recipients: false } : undefined,
  );
  return e2e?.identity ? withKey(result, e2e.identity) : result;
}

/** A send's encryption: what the package says, what files are encrypted to, and the identity (x25519). */
async function encryptionOf(encrypt: true | { passphrase: string }): Promise<{ encryption: Encryption; to: EncryptionKey; identity?: string }> {
  if (encrypt === true) {
    const { identity, recipient } = await generateIdentity();
    return { encryption: { scheme: "age-x25519" }, to: { recipient }, identity };
  }
  if (typeof encrypt.passphrase !== "string" || encrypt.passphrase === "") throw new SpeedyFilesError("encrypt: { passphrase } needs a passphrase that is not empty");
  return { encryption: { scheme: "age-scrypt" }, to: { passphrase: encrypt.passphrase } };
}

/** The result with every magic link made whole: `#<identity>` after it. */
function withKey(r: SendResult, identity: string): SendResult {
  const pkg = {
    ...r.package,
    magic_link: withLinkKey(r.package.magic_link, identity),
    links: r.package.links.map((l) => ({ ...l, magic_link: withLinkKey(l.magic_link, identity) })),
  };
  return { ...r, package: pkg, magic_link: withLinkKey(r.magic_link, identity), key: identity };
}

/** An inbound package: the link lets `from` upload files to you. Finalized, ready to share. */
export async function request(sf: WorkflowDeps, opts: RequestFilesOptions): Promise<SendResult> {
  if (opts.encrypt) {
    if (!isRecipient(opts.encrypt.recipient)) throw new SpeedyFilesError("encrypt: { recipient } must be an age X25519 recipient (age1… as age-keygen prints it)");
    if (opts.message) throw new SpeedyFilesError("an encrypted request cannot carry a message: the uploader could not read it, and the server may not see it");
  }
  const policy = await effectivePolicy(sf, opts);
  const ttl = opts.ttl_days ?? defaultTtl(policy?.rules);
  if (policy) {
    refuseIfForbidden(sf, policy, { direction: "inbound", recipients: [opts.from], ttl_days: ttl, password: false, encrypted: !!opts.encrypt, files: [], countQuota: false });
  }
  return createAndFinalize(
    sf,
    {
      title: opts.title ?? `Files for ${sf.baseUrl.replace(/^https?:\/\//, "")}`,
      recipient_email: opts.from,
      ...(opts.recipient_name ? { recipient_name: opts.recipient_name } : {}),
      direction: "inbound",
      ttl_days: ttl,
      ...(opts.message ? { message: opts.message } : {}),
      ...(opts.encrypt ? { encryption: { scheme: "age-x25519" as const, recipient: opts.encrypt.recipient } } : {}),
    },
    async () => undefined,
    opts.signal,
  );
}

/**
 * The caller's effective policy, unless the check is off. Best effort: an API error (a server
 * without GET /me/policy, or one failing it) sends without the check, the server still
 * enforcing every rule; a network failure or an abort is the send's failure, as its first
 * request would meet it too.
 */
async function effectivePolicy(sf: WorkflowDeps, opts: { checkPolicy?: boolean | undefined; signal?: AbortSignal | undefined }): Promise<EffectivePolicy | undefined> {
  if (opts.checkPolicy === false) return undefined;
  try {
    const policy = await sf.myPolicy(opts.signal);
    // (Something that is not the answer of a server that has the endpoint: no check.)
    return policy && typeof policy.rules === "object" && policy.rules !== null ? policy : undefined;
  } catch (err) {
    if (err instanceof ApiError) return undefined;
    if (opts.signal?.aborted) throw new AbortError("send aborted", { cause: err });
    throw err;
  }
}

/** Throws the PolicyViolationError the server would answer, before anything is created. */
function refuseIfForbidden(sf: WorkflowDeps, policy: EffectivePolicy, plan: PackagePlan): void {
  const refusal = policyRefusal(policy, plan, { method: "POST", url: `${sf.baseUrl}/api/v1/packages` });
  if (refusal) throw refusal;
}

/**
 * create → `fill` → finalize. On any failure or abort the draft is deleted, so nothing
 * half-made stays behind.
 */
async function createAndFinalize(
  sf: WorkflowDeps,
  body: PackageCreateRequest,
  fill: (packageId: string, existing: PackageFile[]) => Promise<void>,
  signal?: AbortSignal,
  resume?: SendResume,
  idempotencyKey?: string,
  finalizeBody?: FinalizeRequest,
): Promise<SendResult> {
  let pkg: PackageDetail | undefined;
  const finalizeKey = idempotencyKey === undefined ? {} : { idempotencyKey: sendKeys(idempotencyKey).finalize };
  if (resume?.packageId) {
    // The interrupted send's draft, if it is still one (else a fresh package).
    pkg = await sf.packages.get(resume.packageId, signal ? { signal } : {}).catch((err: unknown) => {
      if (err instanceof NotFoundError || (err as { status?: number }).status === 403) return undefined;
      throw err;
    });
    if (pkg && pkg.status !== "draft") pkg = undefined;
  }
  if (!pkg && idempotencyKey !== undefined) {
    const claimed = await claimDraft(sf.packages, body, idempotencyKey, signal);
    if ("finalized" in claimed) return { package: claimed.finalized, magic_link: claimed.finalized.magic_link, expires_at: claimed.finalized.expires_at! };
    pkg = claimed.draft;
  }
  pkg ??= await sf.packages.create(body, signal ? { signal } : {});
  resume?.onPackage?.(pkg.id);
  try {
    await fill(pkg.id, pkg.files);
    // An abort that lands after the last upload still means "do not send".
    signal?.throwIfAborted();
    const fin = await sf.packages.finalize(pkg.id, { ...(signal ? { signal } : {}), ...finalizeKey, ...(finalizeBody ? { body: finalizeBody } : {}) });
    return { package: fin, magic_link: fin.magic_link, expires_at: fin.expires_at! };
  } catch (err) {
    let out = err instanceof SpeedyFilesError ? err : new SpeedyFilesError(`send failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    if (signal?.aborted && !(out instanceof AbortError)) out = new AbortError("send aborted", { cause: err });
    if (resume?.keepDraft && (out instanceof AbortError || out instanceof ResumableUploadError || err instanceof ResumableUploadError)) {
      out.resumablePackageId = pkg.id;
      throw out;
    }
    // Not under the caller's signal (it may be what fired), and briefly: this runs on the way out.
    // No retry window either: the failure itself already waited out an unavailable server.
    const cleanup = await sf.packages.delete(pkg.id, { timeoutMs: Math.min(sf.timeoutMs, 10_000), retryWindowMs: 0 }).then(
      () => undefined,
      (e: unknown) => (e instanceof NotFoundError ? undefined : (e ?? new Error("delete failed"))),
    );
    if (cleanup !== undefined) {
      // Say so: a leftover draft nobody hears of is never cleaned up.
      out.orphanedPackageId = pkg.id;
      out.cleanupError = cleanup;
    }
    throw out;
  }
}

async function uploadAll(sf: WorkflowDeps, packageId: string, files: SendItem[], opts: SendOptions, existing: PackageFile[] = [], encrypt?: EncryptionKey): Promise<void> {
  if (encrypt && existing.length > 0) {
    // A resumed encrypted send has a new key: what the draft holds was encrypted to the old one.
    // It starts over (and its partial uploads with it: their headers were the old run's).
    for (const f of existing) await sf.deleteFile(packageId, f.id);
    existing = [];
    opts = { ...opts, resume: { ...opts.resume, uploads: {} } };
  }
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const progress = new ProgressTotal();
  const report = (f: SendItem, fileBytes: number, bytes: number, phase: SendProgress["phase"], uploaded?: UploadedFile) =>
    opts.onProgress?.({ file: f.name, fileBytes, fileSize: f.size, bytes, totalBytes, phase, ...(uploaded ? { uploaded } : {}) });

  // A resumed send: files the draft already holds (same name and size) are not sent again, and
  // partial uploads go on from where the server has them.
  const have = new Map(existing.map((f) => [f.name, f]));
  const todo = files.filter((f) => !(f.source === undefined && have.get(f.name)?.size === f.size));
  const saved = opts.resume?.uploads ?? {};
  if (opts.resume?.packageId === packageId && (todo.length < files.length || Object.keys(saved).length > 0)) {
    for (const f of files) if (!todo.includes(f)) progress.finish(f.name, f.size);
    for (const f of todo) {
      const url = saved[f.name];
      if (url && !f.source) progress.set(f.name, (await uploadOffset(url, await sf.transfer()).catch(() => undefined)) ?? 0);
    }
    opts.onProgress?.({ file: "", fileBytes: 0, fileSize: 0, bytes: progress.total(), totalBytes, phase: "resumed" });
    for (const f of files) if (!todo.includes(f)) report(f, f.size, progress.total(), "done", have.get(f.name));
  }

  await runConcurrently(
    todo,
    opts.concurrency ?? 4,
    async (f, signal) => {
      const url = f.source ? undefined : saved[f.name];
      const uploaded = await sf.uploadFile(packageId, f.source ?? f.path, {
        name: f.name,
        ...(encrypt ? { encrypt } : {}),
        signal,
        resumable: {
          ...(url ? { uploadUrl: url } : {}),
          onUploadUrl: (u) => opts.resume?.onUpload?.(f.name, u),
        },
        // (An encrypted file sends a little more than its size: the count stops at its size.)
        onProgress: (p) => report(f, Math.min(p.bytes, f.size || p.bytes), progress.set(f.name, Math.min(p.bytes, f.size || p.bytes)), "upload"),
      });
      report(f, f.size, progress.finish(f.name, f.source ? uploaded.size : f.size), "done", uploaded);
    },
    opts.signal,
  );
}

/** `to` as the API takes it: one recipient as `recipient_email` (the seed's shape), several as `recipients`. */
function recipientsOf(to: SendOptions["to"], name: string | undefined): Pick<PackageCreateRequest, "recipient_email" | "recipient_name" | "recipients"> {
  const list = (Array.isArray(to) ? to : [to]).map((r) => (typeof r === "string" ? { email: r } : r));
  if (list.length === 0) throw new SpeedyFilesError("send needs at least one recipient (to)");
  if (list.length === 1 && !Array.isArray(to)) return { recipient_email: list[0]!.email, ...(name ? { recipient_name: name } : {}) };
  return { recipients: list.map((r) => ({ email: r.email, ...(r.name ? { name: r.name } : {}) })) };
}

/** `sf send ./reports` is titled "reports", `sf send q4.pdf` "q4.pdf"; several inputs "N files". */
function defaultTitle(inputs: string[], files: SendItem[]): string {
  if (files.length === 1) return files[0]!.name;
  if (inputs.length === 1 && files.every((f) => !f.source)) return path.basename(path.resolve(inputs[0]!));
  return `${files.length} files`;
}

/** A file for send(): a path from expandPaths, or a stream/buffer given in `sources`. */
type SendItem = LocalFile & { source?: Exclude<UploadSource, string> };
