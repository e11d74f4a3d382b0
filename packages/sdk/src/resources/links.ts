import type { Dispatcher } from "undici";
import { createApiClient, normaliseBaseUrl } from "../api-client.js";
import type { components } from "../generated/api.js";
import { apiErrorFrom, ConflictError, SpeedyFilesError } from "../errors.js";
import { safeFilePath } from "../files.js";
import { DEFAULT_STALL_TIMEOUT_MS, proxyFromEnv, requestOf, type RequestOptions } from "../http.js";
import type { RetryOptions } from "../retry.js";
import {
  DEFAULT_RESUMABLE_THRESHOLD,
  downloadToPath,
  ProgressTotal,
  runConcurrently,
  upload,
  type DownloadOptions,
  type Progress,
  type TransferContext,
  type UploadedFile,
  type UploadOptions,
  type UploadSource,
} from "../transfer/index.js";
import { USER_AGENT } from "../version.js";
import type { FileDecryption } from "../encryption/decrypt.js";
import { splitLinkKey, type DecryptionKey } from "../encryption/keys.js";
import { decrypterFor, openView, type Encryption, type OpenedFile } from "../encryption/seal.js";
import type { Core } from "./core.js";

export type LinkView = components["schemas"]["LinkView"];
/** What `completeLink` answers: the link, `new_files` since the last completion, and whether the owner was emailed. */
export type LinkCompletion = components["schemas"]["LinkCompletion"];

/** A magic link split into its server and its secret. */
export interface ParsedLink {
  baseUrl: string;
  secret: string;
}

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * Accepts a whole magic link (`https://files.example.com/l/<secret>`), an API link URL
 * (`…/api/v1/links/<secret>`), or a bare secret together with `baseUrl`.
 */
export function parseLink(link: string, baseUrl?: string): ParsedLink {
  // The `#…` part (an encrypted package's key) never goes to the server.
  const trimmed = link.trim().replace(/#.*$/s, "");
  if (SECRET.test(trimmed)) {
    if (!baseUrl) throw new SpeedyFilesError("a bare link secret needs the server URL (baseUrl or SF_URL)");
    return { baseUrl: normaliseBaseUrl(baseUrl), secret: trimmed };
  }
  let u: URL;
  try {
    u = new URL(trimmed);
  } catch {
    throw new SpeedyFilesError("not a SpeedyFiles link: expected https://…/l/<secret>");
  }
  const m = /^(.*?)\/(?:l|api\/v1\/links)\/([A-Za-z0-9_-]{43})\/?$/.exec(u.pathname);
  if (!m) throw new SpeedyFilesError("not a SpeedyFiles link: expected https://…/l/<secret>");
  return { baseUrl: `${u.origin}${m[1]}`, secret: m[2]! };
}

function linkApi(p: ParsedLink) {
  return `${p.baseUrl}/api/v1/links/${p.secret}`;
}

/**
 * How the link functions reach the server: `baseUrl` for a bare secret, and the client settings
 * (`new SpeedyFiles()` passes its own to `sf.links.*`).
 */
export interface LinkOptions extends RequestOptions {
  baseUrl?: string | undefined;
  stallTimeoutMs?: number | undefined;
  retry?: Partial<RetryOptions> | undefined;
  /** undici dispatcher; default: a proxy from HTTP(S)_PROXY / NO_PROXY when set, else direct. */
  dispatcher?: Dispatcher | undefined;
  /**
   * The package's password, when the sender set one (sent as `X-Link-Password`). Without it such
   * a link throws PermissionError `link_password_required`; a wrong one `link_password_wrong`.
   */
  password?: string | undefined;
}

function apiFor(p: ParsedLink, opts: LinkOptions) {
  return createApiClient({
    baseUrl: p.baseUrl,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.stallTimeoutMs !== undefined ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
    ...(opts.retry ? { retry: opts.retry } : {}),
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
}

/**
 * A link password goes in a header (`X-Link-Password`): bytes, spaces around it trimmed. The
 * server takes only printable ASCII without a space first or last; say so instead of fetch's
 * "Cannot convert argument to a ByteString" (or a 403 that counts toward the lockout).
 */
function checkedPassword(password: string | undefined): string | undefined {
  if (password !== undefined && !/^(?:[!-~](?:[ -~]*[!-~])?)?$/.test(password)) {
    throw new SpeedyFilesError(
      "A link password is printable ASCII (letters, digits, spaces and symbols, no accents or other scripts; no space first or last): this one cannot be sent",
    );
  }
  return password;
}

function transferContext(opts: LinkOptions): TransferContext {
  checkedPassword(opts.password);
  return {
    stallTimeoutMs: opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    dispatcher: opts.dispatcher ?? proxyFromEnv(),
    userAgent: USER_AGENT,
    ...(opts.password !== undefined ? { linkPassword: opts.password } : {}),
  };
}

function callInit(opts: LinkOptions) {
  return opts.signal ? { signal: opts.signal } : {};
}

/**
 * What the link gives access to (title, sender, files). Dead links throw GoneError (410), a link
 * whose downloads are used up too (`code: download_limit_reached`). A password-protected one needs
 * `{ password }`.
 */
export async function getLink(link: string, opts: LinkOptions = {}): Promise<LinkView> {
  const p = parseLink(link, opts.baseUrl);
  const password = checkedPassword(opts.password);
  const header = password !== undefined ? { "X-Link-Password": password } : {};
  const { data, error, response } = await apiFor(p, opts).GET("/links/{link}", { params: { path: { link: p.secret }, header }, ...callInit(opts) });
  if (!response.ok) throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
  return data!;
}

/** The key of an encrypted package, when the link's `#` part does not carry it (or to override it). */
export interface LinkKeyOptions {
  /** The age X25519 identity (`AGE-SECRET-KEY-1…`); default: the link's `#` part. */
  identity?: string | undefined;
  /** The passphrase of a passphrase-encrypted package. */
  passphrase?: string | undefined;
}

/** The key `opts` or the link's fragment gives (undefined: none). */
export function linkKey(link: string, opts: LinkKeyOptions): DecryptionKey | undefined {
  if (opts.passphrase !== undefined) return { passphrase: opts.passphrase };
  const identity = opts.identity ?? splitLinkKey(link).identity;
  return identity !== undefined ? { identity } : undefined;
}

export interface DownloadAllOptions extends LinkOptions, LinkKeyOptions {
  /** Files fetched at once (default 4). */
  concurrency?: number;
  onProgress?: (p: { file: string; fileBytes: number; fileSize: number; bytes: number; totalBytes: number; phase: "download" | "done" }) => void;
}

/**
 * Downloads every file of an outbound link into `dir`, keeping relative paths. Each file is
 * resumable (an interrupted run continues from `<file>.part`) and checked against its SHA-256.
 *
 * An encrypted package is opened with the link's `#` key (or `identity` / `passphrase`): the
 * returned view has the plaintext names and message, each file is decrypted as it streams into a
 * temporary file next to its target and renamed once its plaintext SHA-256 and size match; any
 * failure leaves no file at the target (DecryptionError `tampered` names the file). Encrypted
 * files start from zero after an interruption.
 */
export async function downloadAll(
  link: string,
  dir: string,
  opts: DownloadAllOptions = {},
): Promise<{ view: LinkView & { files: OpenedFile[] }; files: { name: string; path: string; size: number; sha256: string }[] }> {
  const p = parseLink(link, opts.baseUrl);
  const key = linkKey(link, opts);
  const sealedView = await getLink(link, opts);
  if (sealedView.direction !== "outbound") throw new SpeedyFilesError("this is an upload link: it takes files, it has none to download");
  const view = await openView(sealedView, key);
  // Files this link already downloaded as often as the sender allowed are skipped, not failed.
  const usedUp = new Set(view.used_up_file_ids ?? []);
  const files = view.files.filter((f) => !usedUp.has(f.id));
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const targets = files.map((f) => ({ f, dest: safeFilePath(dir, f.name) }));
  const progress = new ProgressTotal();
  const results: { name: string; path: string; size: number; sha256: string }[] = [];
  const report = (name: string, fileBytes: number, fileSize: number, bytes: number, phase: "download" | "done") =>
    opts.onProgress?.({ file: name, fileBytes, fileSize, bytes, totalBytes, phase });

  await runConcurrently(
    targets,
    opts.concurrency ?? 4,
    async ({ f, dest }, signal) => {
      progress.set(f.name, 0);
      const r = await downloadLinkFile(linkApi(p), f, dest, {
        ...opts,
        ...(view.encryption ? { encryption: view.encryption, key } : {}),
        signal,
        onProgress: (pr: Progress) => report(f.name, pr.bytes, f.size, progress.set(f.name, pr.bytes), "download"),
      });
      results.push({ name: f.name, path: dest, size: r.size, sha256: r.sha256 });
      report(f.name, f.size, f.size, progress.finish(f.name, f.size), "done");
    },
    opts.signal,
  );
  return { view, files: results };
}

/** What decrypts one file of an encrypted package: its Encryption and the key. */
export interface FileKeyOptions {
  /**
   * The package's key: with `file.ciphertext` (an OpenedFile from openView) the download
   * decrypts; default for a link: its `#` part.
   */
  key?: DecryptionKey | undefined;
  /** The package's `encryption` (default: asked from the server when `file.ciphertext` is there). */
  encryption?: Encryption | undefined;
}

/**
 * Downloads one file of an outbound link to `dest`: resumable from `<dest>.part`, SHA-256 checked.
 * An OpenedFile of an encrypted package (from openView, `ciphertext` set) is decrypted on the way
 * (no resume; nothing left at `dest` on failure), with `key` or the link's `#` part.
 */
export async function downloadLinkFile(
  link: string,
  file: { id: string; sha256?: string; name?: string; size?: number; content_type?: string; ciphertext?: OpenedFile["ciphertext"] },
  dest: string,
  opts: LinkOptions & FileKeyOptions & { onProgress?: (p: Progress) => void } = {},
): Promise<{ size: number; sha256: string }> {
  const p = parseLink(link, opts.baseUrl);
  let decrypt: FileDecryption | undefined;
  if (file.ciphertext) {
    const key = opts.key ?? linkKey(link, {});
    const encryption = opts.encryption ?? (await getLink(link, opts)).encryption;
    if (!encryption) throw new SpeedyFilesError("this file has a ciphertext description, but its package is not encrypted");
    decrypt = fileDecryption(encryption, key, file as OpenedFile);
  }
  return downloadToPath(
    `${linkApi(p)}/files/${encodeURIComponent(file.id)}`,
    dest,
    {
      ...(file.sha256 ? { sha256: file.sha256 } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.stallTimeoutMs !== undefined ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
    },
    transferContext(opts),
    decrypt,
  );
}

/**
 * Uploads one file through an inbound link (no token needed). To an encrypted link (its view's
 * `encryption.recipient`) the file is encrypted to that recipient and sent with its sealed entry;
 * `opts.name` is then the plaintext name (the server sees an opaque one).
 */
export async function uploadToLink(link: string, source: UploadSource, opts: UploadOptions & Omit<LinkOptions, "signal"> = {}): Promise<UploadedFile> {
  const p = parseLink(link, opts.baseUrl);
  const ctx = { ...transferContext(opts), resumableThreshold: opts.resumableThreshold ?? DEFAULT_RESUMABLE_THRESHOLD };
  let encrypt = opts.encrypt;
  if (!encrypt) {
    const view = await getLink(link, { ...opts, ...(opts.signal ? { signal: opts.signal } : {}) });
    // Said here, before a byte of the file leaves: the server would refuse it only once sent.
    // A ConflictError with the server's own code, as the server's 409 `link_not_inbound` was.
    if (view.direction !== "inbound") {
      throw new ConflictError({
        status: 409,
        code: "link_not_inbound",
        detail: "this link is for downloading: it takes no files",
        method: "POST",
        url: `${linkApi(p)}/uploads`,
      });
    }
    if (view.encryption) {
      const recipient = view.encryption.recipient;
      if (!recipient) throw new SpeedyFilesError("this upload link is encrypted but names no public key to encrypt to: ask its owner for a new one");
      encrypt = { recipient };
    }
  }
  return (await upload({ base: linkApi(p), onMismatch: async () => undefined }, source, { ...opts, ...(encrypt ? { encrypt } : {}) }, ctx)).file;
}

/** Tells the owner of an inbound link that the upload is complete. */
export async function completeLink(link: string, opts: LinkOptions = {}): Promise<LinkCompletion> {
  const p = parseLink(link, opts.baseUrl);
  const { data, error, response } = await apiFor(p, opts).POST("/links/{link}/complete", { params: { path: { link: p.secret } }, ...callInit(opts) });
  if (!response.ok) throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
  return data!;
}

/**
 * `sf.links`: the recipient's side, everything a magic link allows (no token needed), reaching
 * the server with this client's settings.
 */
export function linksResource(core: Core) {
  return {
    /** What the link gives access to; `{ password }` for a password-protected package. */
    get: (link: string, o?: RequestOptions & { password?: string }) => getLink(link, { ...core.linkOptions(), ...o }),
    downloadAll: (link: string, dir: string, opts: Omit<DownloadAllOptions, "baseUrl"> = {}) => downloadAll(link, dir, { ...core.linkOptions(), ...opts }),
    /**
     * One file of an outbound link to `dest`: resumable from `<dest>.part`, SHA-256 checked; an
     * OpenedFile of an encrypted package is decrypted (with `key`, default the link's `#` part).
     */
    downloadFile: (
      link: string,
      file: Parameters<typeof downloadLinkFile>[1],
      dest: string,
      opts: Pick<DownloadOptions, "onProgress" | "signal" | "stallTimeoutMs"> & FileKeyOptions & { password?: string } = {},
    ) => downloadLinkFile(link, file, dest, { ...core.linkOptions(), ...opts }),
    upload: (link: string, source: UploadSource, opts: UploadOptions = {}) => uploadToLink(link, source, { ...core.linkOptions(), ...core.resumable, ...opts }),
    complete: (link: string, o?: RequestOptions) => completeLink(link, { ...core.linkOptions(), ...o }),
  };
}

export type LinksResource = ReturnType<typeof linksResource>;

/** What a download needs to decrypt `file` (an OpenedFile) of a package encrypted with `encryption`. */
export function fileDecryption(encryption: Encryption, key: DecryptionKey | undefined, file: OpenedFile): FileDecryption {
  return {
    decrypter: decrypterFor(encryption, key),
    encryption,
    meta: { name: file.name, size: file.size, content_type: file.content_type, sha256: file.sha256 },
    stored: file.ciphertext?.name ?? file.name,
  };
}
