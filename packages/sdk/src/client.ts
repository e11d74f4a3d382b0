import crypto from "node:crypto";
import path from "node:path";
import createClient, { type Client } from "openapi-fetch";
import * as undici from "undici";
import type { components, paths } from "./generated/api.js";
import { AbortError, apiErrorFrom, NotFoundError, SpeedyFilesError } from "./errors.js";
import { waitForDownload, type WaitForDownloadOptions, type WaitForDownloadResult } from "./resources/wait-for-download.js";
import { DEFAULT_TRANSPORT, makeFetch, proxyFromEnv, requestOf, type RequestOptions, type TransportOptions } from "./http.js";
import { DEFAULT_RETRY_WINDOW_MS } from "./retry-window.js";
import type { TokenProvider, TokenProviderContext } from "./auth/token-provider.js";
import { claimDraft, sendKeys } from "./idempotent-send.js";
import { USER_AGENT } from "./version.js";
import { DEFAULT_RETRY, type RetryOptions } from "./retry.js";
import { expandPaths, type LocalFile } from "./files.js";
import { walkPackages, type ListIterator } from "./paginate.js";
import { ProgressTotal, runPool } from "./pool.js";
import { completeLink, downloadAll, downloadLinkFile, getLink, uploadToLink, type DownloadAllOptions } from "./links.js";
import { DEFAULT_RESUMABLE_THRESHOLD, ResumableUploadError, uploadAuto, uploadOffset, type ResumableOptions } from "./resumable.js";
import { downloadToPath, type DownloadOptions, type TransferContext, type UploadOptions, type UploadSource, type UploadedFile } from "./transfer.js";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Token = Schemas["Token"];
export type TokenCreated = Schemas["TokenCreated"];
/** What a token may do (`packages:read`, `packages:write`, `webhooks:read`, `webhooks:write`, `tokens:write`, `admin`). */
export type Scope = Schemas["Scope"];
export type Package = Schemas["Package"];
export type PackageDetail = Schemas["PackageDetail"];
/** The answer of finalize and resend: the package with every recipient's link (shown only here). */
export type FinalizedPackage = Omit<Schemas["FinalizedPackage"], "links"> & { links: Schemas["FinalizedLink"][] };
export type PackageList = Schemas["PackageList"];
export type PackageFile = Schemas["File"];
export type PackageCreateRequest = Schemas["PackageCreateRequest"];
export type PackageUpdateRequest = Schemas["PackageUpdateRequest"];
export type PackageLink = Schemas["PackageLink"];
export type FinalizedLink = Schemas["FinalizedLink"];
export type PackageStatus = Schemas["PackageStatus"];
export type Direction = Schemas["Direction"];
export type UserCreateRequest = Schemas["UserCreateRequest"];
export type UserUpdateRequest = Schemas["UserUpdateRequest"];
export type UserList = Schemas["UserList"];
export type Health = Schemas["Health"];
export type PackageEvent = Schemas["PackageEvent"];
export type Webhook = Schemas["Webhook"];
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookCreateRequest = Schemas["WebhookCreateRequest"];
export type WebhookUpdateRequest = Schemas["WebhookUpdateRequest"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookDeliveryList = Schemas["WebhookDeliveryList"];
export type TrustPolicy = Schemas["TrustPolicy"];
export type TrustPolicyCreateRequest = Schemas["TrustPolicyCreateRequest"];
export type TrustPolicyUpdateRequest = Schemas["TrustPolicyUpdateRequest"];
export type { UploadSource, UploadOptions, UploadedFile, DownloadOptions, RequestOptions };

/** The low-level client: one typed method per path and verb of openapi.yaml. */
export type ApiClient = Client<paths>;

export interface SpeedyFilesOptions {
  /** Server URL, e.g. `https://files.example.com` (with or without `/api/v1`). Default: `SF_URL`. */
  baseUrl?: string;
  /**
   * API token `sf_…`. Default: `SF_TOKEN`, but only together with `SF_URL`: with an explicit
   * `baseUrl` the environment's token is never used (a token goes only to the server it came with).
   */
  token?: string;
  /**
   * Deadline of one API call in ms, until its answer starts, retries and waits between them
   * included (default 30 000). Per call: `{ timeoutMs }` as the last argument.
   */
  timeoutMs?: number;
  /**
   * Uploads and downloads have no deadline; they fail when no byte moves for this long, in ms
   * (default 60 000), waiting for the server's answer included. Answer bodies of API calls too.
   */
  stallTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
  /**
   * How long a call keeps trying while the server is unavailable (connections refused, or reset
   * before an answer; 502, 503, 504), in ms, with jittered backoff honouring Retry-After: a
   * restart or a deploy does not fail the call (default 30 000; 0: only `retry.retries`). POSTs
   * ride it out only when safe: with an Idempotency-Key, or when the connection was refused.
   */
  retryWindowMs?: number;
  /**
   * Where the token comes from when it is not a fixed `token`: e.g. `federatedToken()`, which
   * exchanges a CI job's OIDC ID token for a short-lived one and renews it. Asked before every
   * request; wins over `token`.
   */
  tokenProvider?: TokenProvider;
  /**
   * The undici dispatcher for every request (an `Agent` with your TLS or pool settings, a
   * `ProxyAgent`, …). Default: undici's `EnvHttpProxyAgent` when HTTP_PROXY / HTTPS_PROXY is set
   * (NO_PROXY honoured), else direct connections.
   */
  dispatcher?: undici.Dispatcher;
  /**
   * Files of at least this many bytes go through resumable (tus) uploads, resuming by
   * themselves after a network error, a 5xx or a server restart (default 64 MiB; `Infinity`:
   * never). Per call: `{ resumableThreshold }` in the upload's options.
   */
  resumableThreshold?: number;
  /** Defaults of resumable uploads: `chunkSize` (no limit), `maxRetries` (10), `retryDelayMs` (500). */
  resumable?: Pick<ResumableOptions, "chunkSize" | "maxRetries" | "retryDelayMs">;
}

type ClientSettings = Pick<SpeedyFilesOptions, "timeoutMs" | "stallTimeoutMs" | "retry" | "dispatcher" | "retryWindowMs">;

/** Creates the low-level openapi-fetch client with auth, timeouts and retries. */
export function createApiClient(opts: { baseUrl: string; token?: string | undefined } & ClientSettings): ApiClient {
  return clientFor(opts.baseUrl, opts.token, transportFrom(opts));
}

function clientFor(baseUrl: string, token: string | undefined, transport: TransportOptions): ApiClient {
  return createClient<paths>({
    baseUrl: `${normaliseBaseUrl(baseUrl)}/api/v1`,
    fetch: makeFetch(transport),
    Request: undici.Request as unknown as typeof Request,
    headers: { "User-Agent": transport.userAgent, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  });
}

function transportFrom(opts: ClientSettings): TransportOptions {
  return {
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    timeoutMs: opts.timeoutMs ?? DEFAULT_TRANSPORT.timeoutMs,
    stallTimeoutMs: opts.stallTimeoutMs ?? DEFAULT_TRANSPORT.stallTimeoutMs,
    dispatcher: opts.dispatcher ?? proxyFromEnv(),
    userAgent: USER_AGENT,
    retryWindowMs: opts.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS,
  };
}

export function normaliseBaseUrl(url: string): string {
  return url.trim().replace(/\/+$/, "").replace(/\/api\/v1$/, "");
}

type Result<T> = { data?: T; error?: unknown; response: Response };

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
  /** Defaults to the name of the one file or directory given, else `N files`. */
  title?: string;
  message?: string;
  /** Days the link works after finalize (default 7). */
  ttl_days?: number;
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
  /** Days the link works (default 7). */
  ttl_days?: number;
  signal?: AbortSignal;
}

export interface SendResult {
  package: FinalizedPackage;
  magic_link: string;
  expires_at: string;
}

/**
 * The SpeedyFiles client.
 *
 * ```ts
 * const sf = new SpeedyFiles({ baseUrl: "https://files.example.com", token: process.env.SF_TOKEN });
 * const { magic_link } = await sf.send({ files: ["./dist"], to: "qa@acme.com", ttl_days: 3 });
 * ```
 */
export class SpeedyFiles {
  /** The typed openapi-fetch client underneath, for anything the helpers do not cover. */
  readonly api: ApiClient;
  readonly baseUrl: string;
  // A private field: console.log(sf), util.inspect and JSON.stringify(sf) never show it.
  readonly #token: string | undefined;
  readonly #provider: { provider: TokenProvider; ctx: TokenProviderContext } | undefined;
  readonly #transport: TransportOptions;
  readonly #resumable: { resumableThreshold: number; resumable?: ResumableOptions | undefined };

  constructor(opts: SpeedyFilesOptions = {}) {
    const baseUrl = opts.baseUrl ?? process.env.SF_URL;
    if (!baseUrl) throw new SpeedyFilesError("no server URL: pass { baseUrl } or set SF_URL");
    this.baseUrl = normaliseBaseUrl(baseUrl);
    // SF_TOKEN belongs to SF_URL: a client pointed elsewhere must not carry it there.
    this.#token = (opts.token ?? (opts.baseUrl === undefined ? process.env.SF_TOKEN : undefined)) || undefined;
    this.#transport = transportFrom(opts);
    this.#provider = opts.tokenProvider ? { provider: opts.tokenProvider, ctx: this.#exchangeContext() } : undefined;
    if (this.#provider) {
      const { provider, ctx } = this.#provider;
      this.#transport.auth = (refresh, signal) => provider.token(ctx, { refresh, signal });
      this.#token = undefined;
    }
    this.#resumable = { resumableThreshold: opts.resumableThreshold ?? DEFAULT_RESUMABLE_THRESHOLD, resumable: opts.resumable };
    this.api = clientFor(this.baseUrl, this.#token, this.#transport);
  }

  /** Whether this client has a token or a token provider (the token itself is never readable from the object). */
  get hasToken(): boolean {
    return this.#token !== undefined || this.#provider !== undefined;
  }

  /** The token provider's context: `POST /auth/oidc` on this server, without any token. */
  #exchangeContext(): TokenProviderContext {
    const transport = this.#transport;
    const anonymous = clientFor(this.baseUrl, undefined, { ...transport, auth: undefined });
    return {
      baseUrl: this.baseUrl,
      dispatcher: transport.dispatcher,
      exchange: async (idToken, signal) => {
        // Minting a second short-lived token is harmless: the exchange is retried like a GET.
        const { data, error, response } = await anonymous.POST("/auth/oidc", {
          body: { token: idToken },
          ...(signal ? { signal } : {}),
          fetch: makeFetch(transport.auth ? { ...transport, auth: undefined } : transport, { retryPost: true }),
        });
        if (!response.ok || !data) throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
        return { body: data, date: response.headers.get("date") };
      },
    };
  }

  /** The time limits in use (ms): `timeoutMs` per API call, `stallTimeoutMs` for transfers. */
  get timeouts(): { timeoutMs: number; stallTimeoutMs: number } {
    return { timeoutMs: this.#transport.timeoutMs, stallTimeoutMs: this.#transport.stallTimeoutMs };
  }

  private requireToken(): string {
    if (!this.#token) throw new SpeedyFilesError("no API token: pass { token } (or set SF_URL and SF_TOKEN)");
    return this.#token;
  }

  /** The token for an upload or a download: the fixed one, or the provider's current one. */
  private async transferToken(signal?: AbortSignal): Promise<TransferContext> {
    if (!this.#provider) return this.transfer();
    const { provider, ctx } = this.#provider;
    const token = await provider.token(ctx, { refresh: false, signal });
    return this.transfer(token);
  }

  /** openapi-fetch options for one call: its signal, and a fetch with its own deadline. */
  private init(o: RequestOptions = {}): { signal?: AbortSignal; fetch?: (input: Request) => Promise<Response> } {
    return {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs !== undefined || o.retryWindowMs !== undefined ? { fetch: makeFetch(this.#transport, o) } : {}),
    };
  }

  private transfer(token?: string): TransferContext {
    const t = this.#transport;
    return { token: token ?? this.requireToken(), stallTimeoutMs: t.stallTimeoutMs, dispatcher: t.dispatcher, userAgent: t.userAgent };
  }

  /** The settings link functions need to reach the server the way this client does. */
  private linkOptions() {
    const t = this.#transport;
    return { baseUrl: this.baseUrl, timeoutMs: t.timeoutMs, stallTimeoutMs: t.stallTimeoutMs, retry: t.retry, dispatcher: t.dispatcher };
  }

  /** Returns `data` or throws the typed ApiError for the response. */
  private async call<T>(p: Promise<Result<T>>): Promise<T> {
    const { data, error, response } = await p;
    if (!response.ok) {
      throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
    }
    return data as T;
  }

  health(o?: RequestOptions): Promise<Health> {
    return this.call(this.api.GET("/health", this.init(o)));
  }

  me(o?: RequestOptions): Promise<User> {
    return this.call(this.api.GET("/me", this.init(o)));
  }

  readonly auth = {
    /** Exchanges email and password for a new token (`POST /auth/token`). */
    login: (email: string, password: string, name: string, params: { expires_in_days?: number; scopes?: Scope[] } = {}, o?: RequestOptions): Promise<TokenCreated> =>
      this.call(
        this.api.POST("/auth/token", {
          body: { email, password, name, ...(params.expires_in_days ? { expires_in_days: params.expires_in_days } : {}), ...(params.scopes ? { scopes: params.scopes } : {}) },
          ...this.init(o),
        }),
      ),
  };

  readonly tokens = {
    list: (o?: RequestOptions): Promise<Token[]> => this.call(this.api.GET("/me/tokens", this.init(o))),
    /** A new token; `scopes` limits it to those (each held by this client's token, or 403). */
    create: (name: string, params: { expires_in_days?: number; scopes?: Scope[] } = {}, o?: RequestOptions): Promise<TokenCreated> =>
      this.call(
        this.api.POST("/me/tokens", {
          body: { name, ...(params.expires_in_days ? { expires_in_days: params.expires_in_days } : {}), ...(params.scopes ? { scopes: params.scopes } : {}) },
          ...this.init(o),
        }),
      ),
    revoke: async (id: string, o?: RequestOptions): Promise<void> => {
      await this.call(this.api.DELETE("/me/tokens/{id}", { params: { path: { id } }, ...this.init(o) }));
    },
  };

  readonly packages = {
    /** Creates a draft. Retried like a GET on network errors and 429/502–504 (Idempotency-Key). */
    create: (body: PackageCreateRequest, o?: RequestOptions): Promise<PackageDetail> =>
      this.call(this.api.POST("/packages", { body, ...this.init(o), headers: idempotent(o) })),
    /** One page; `next_cursor` (as `cursor`) continues the walk (see iterate). `id_prefix` finds packages by the start of their id. */
    list: (query: NonNullable<paths["/packages"]["get"]["parameters"]["query"]> = {}, o?: RequestOptions): Promise<PackageList> =>
      this.call(this.api.GET("/packages", { params: { query }, ...this.init(o) })),
    /**
     * Every package matching the filters, newest first, page by page (`per_page`, default 100):
     * `for await (const p of sf.packages.iterate())`, or `.toArray({ limit })`. Packages created
     * while it walks are not included, and none is repeated or skipped (a server cursor).
     */
    iterate: (filters: { status?: PackageStatus; direction?: Direction; q?: string; id_prefix?: string; per_page?: number } = {}, o?: RequestOptions): ListIterator<Package> => {
      const { per_page, ...rest } = filters;
      return walkPackages((cursor, perPage) => this.packages.list({ ...rest, ...(cursor ? { cursor } : {}), per_page: perPage }, o), per_page ?? 100);
    },
    get: (id: string, o?: RequestOptions): Promise<PackageDetail> => this.call(this.api.GET("/packages/{id}", { params: { path: { id } }, ...this.init(o) })),
    /**
     * Waits until every recipient has downloaded every file (one by one or as the archive), through
     * the events long-poll; `{ complete: false }` when `timeoutMs` (default 24 h) passes first.
     */
    waitForDownload: (id: string, opts?: WaitForDownloadOptions): Promise<WaitForDownloadResult> =>
      waitForDownload(
        {
          getPackage: (pid, o) => this.packages.get(pid, o),
          listEvents: (pid, query, o) => this.call(this.api.GET("/packages/{id}/events", { params: { path: { id: pid }, query }, ...this.init(o) })),
        },
        id,
        opts,
      ),
    /** Mints the magic link and mails it. Retried like create (Idempotency-Key). */
    finalize: (id: string, o?: RequestOptions): Promise<FinalizedPackage> =>
      this.call(this.api.POST("/packages/{id}/finalize", { params: { path: { id } }, ...this.init(o), headers: idempotent(o) })),
    revoke: (id: string, o?: RequestOptions): Promise<PackageDetail> => this.call(this.api.POST("/packages/{id}/revoke", { params: { path: { id } }, ...this.init(o) })),
    /**
     * A new expiry (`ttl_days` from now, or `expires_at`; revives an expired package whose files
     * are still stored) or `max_downloads` (`null` removes the limit).
     */
    update: (id: string, body: PackageUpdateRequest, o?: RequestOptions): Promise<PackageDetail> =>
      this.call(this.api.PATCH("/packages/{id}", { params: { path: { id } }, body, ...this.init(o) })),
    /** Emails each recipient whose link is not revoked a fresh link (the old one stops working); 3 per hour. */
    resend: (id: string, o?: RequestOptions): Promise<FinalizedPackage> => this.call(this.api.POST("/packages/{id}/resend", { params: { path: { id } }, ...this.init(o) })),
    /** Revokes one recipient's link; the others keep working. */
    revokeLink: (id: string, linkId: string, o?: RequestOptions): Promise<PackageLink> =>
      this.call(this.api.POST("/packages/{id}/links/{link_id}/revoke", { params: { path: { id, link_id: linkId } }, ...this.init(o) })),
    delete: async (id: string, o?: RequestOptions): Promise<void> => {
      await this.call(this.api.DELETE("/packages/{id}", { params: { path: { id } }, ...this.init(o) }));
    },
  };

  readonly files = {
    upload: (packageId: string, source: UploadSource, opts: UploadOptions = {}) => this.uploadFile(packageId, source, opts),
    download: (packageId: string, fileId: string, dest: string, opts: DownloadOptions = {}) => this.downloadFile(packageId, fileId, dest, opts),
    delete: async (packageId: string, fileId: string, o?: RequestOptions): Promise<void> => {
      await this.call(this.api.DELETE("/packages/{id}/files/{file_id}", { params: { path: { id: packageId, file_id: fileId } }, ...this.init(o) }));
    },
  };

  /** The recipient's side: everything a magic link allows, no token needed. */
  readonly links = {
    /** What the link gives access to; `{ password }` for a password-protected package. */
    get: (link: string, o?: RequestOptions & { password?: string }) => getLink(link, { ...this.linkOptions(), ...o }),
    downloadAll: (link: string, dir: string, opts: Omit<DownloadAllOptions, "baseUrl"> = {}) => downloadAll(link, dir, { ...this.linkOptions(), ...opts }),
    /** One file of an outbound link to `dest`: resumable from `<dest>.part`, SHA-256 checked. */
    downloadFile: (
      link: string,
      file: { id: string; sha256?: string },
      dest: string,
      opts: Pick<DownloadOptions, "onProgress" | "signal" | "stallTimeoutMs"> & { password?: string } = {},
    ) =>
      downloadLinkFile(link, file, dest, { ...this.linkOptions(), ...opts }),
    upload: (link: string, source: UploadSource, opts: UploadOptions = {}) => uploadToLink(link, source, { ...this.linkOptions(), ...this.#resumable, ...opts }),
    complete: (link: string, o?: RequestOptions) => completeLink(link, { ...this.linkOptions(), ...o }),
  };

  /** Downloads every file of a magic link into `dir` (see `links.downloadAll`). */
  downloadAll(link: string, dir: string, opts: Omit<DownloadAllOptions, "baseUrl"> = {}) {
    return this.links.downloadAll(link, dir, opts);
  }

  /** Audit trail of one of your packages: link downloads and recipient uploads. */
  events(packageId: string, o?: RequestOptions): Promise<PackageEvent[]> {
    return this.call(this.api.GET("/packages/{id}/events", { params: { path: { id: packageId } }, ...this.init(o) }));
  }

  /**
   * Webhooks: SpeedyFiles POSTs signed events about your packages to your URL. Verify them on the
   * receiving side with `parseWebhookEvent` / `verifyWebhookSignature`.
   */
  readonly webhooks = {
    /** Yours, newest first; `{ all: true }` (admins) everyone's. Secrets are never listed. */
    list: (query: { all?: boolean } = {}, o?: RequestOptions): Promise<Webhook[]> => this.call(this.api.GET("/webhooks", { params: { query }, ...this.init(o) })),
    /** Registers a URL; the answer's `secret` (whsec_…) is shown only here. */
    create: (body: WebhookCreateRequest, o?: RequestOptions): Promise<WebhookCreated> => this.call(this.api.POST("/webhooks", { body, ...this.init(o) })),
    get: (id: string, o?: RequestOptions): Promise<Webhook> => this.call(this.api.GET("/webhooks/{id}", { params: { path: { id } }, ...this.init(o) })),
    update: (id: string, body: WebhookUpdateRequest, o?: RequestOptions): Promise<Webhook> =>
      this.call(this.api.PATCH("/webhooks/{id}", { params: { path: { id } }, body, ...this.init(o) })),
    delete: async (id: string, o?: RequestOptions): Promise<void> => {
      await this.call(this.api.DELETE("/webhooks/{id}", { params: { path: { id } }, ...this.init(o) }));
    },
    /** Queues a `ping` event; follow it with `deliveries`. */
    test: (id: string, o?: RequestOptions): Promise<WebhookDelivery> => this.call(this.api.POST("/webhooks/{id}/test", { params: { path: { id } }, ...this.init(o) })),
    /** The delivery log, newest first. */
    deliveries: (id: string, query: { page?: number; per_page?: number } = {}, o?: RequestOptions): Promise<WebhookDeliveryList> =>
      this.call(this.api.GET("/webhooks/{id}/deliveries", { params: { path: { id }, query }, ...this.init(o) })),
    /** Sends a delivery's event again, as a new delivery. */
    redeliver: (id: string, deliveryId: string, o?: RequestOptions): Promise<WebhookDelivery> =>
      this.call(this.api.POST("/webhooks/{id}/deliveries/{delivery_id}/redeliver", { params: { path: { id, delivery_id: deliveryId } }, ...this.init(o) })),
  };

  readonly admin = {
    users: {
      list: (query: { page?: number; per_page?: number; q?: string } = {}, o?: RequestOptions): Promise<UserList> =>
        this.call(this.api.GET("/admin/users", { params: { query }, ...this.init(o) })),
      create: (body: UserCreateRequest, o?: RequestOptions): Promise<User> => this.call(this.api.POST("/admin/users", { body, ...this.init(o) })),
      update: (id: string, body: UserUpdateRequest, o?: RequestOptions): Promise<User> =>
        this.call(this.api.PATCH("/admin/users/{id}", { params: { path: { id } }, body, ...this.init(o) })),
    },
    /** Trust policies for keyless CI: which pipelines' OIDC ID tokens may be exchanged for a token. */
    trustPolicies: {
      list: (o?: RequestOptions): Promise<TrustPolicy[]> => this.call(this.api.GET("/admin/trust-policies", this.init(o))),
      create: (body: TrustPolicyCreateRequest, o?: RequestOptions): Promise<TrustPolicy> =>
        this.call(this.api.POST("/admin/trust-policies", { body, ...this.init(o) })),
      get: (id: string, o?: RequestOptions): Promise<TrustPolicy> =>
        this.call(this.api.GET("/admin/trust-policies/{id}", { params: { path: { id } }, ...this.init(o) })),
      update: (id: string, body: TrustPolicyUpdateRequest, o?: RequestOptions): Promise<TrustPolicy> =>
        this.call(this.api.PATCH("/admin/trust-policies/{id}", { params: { path: { id } }, body, ...this.init(o) })),
      delete: (id: string, o?: RequestOptions): Promise<void> =>
        this.call(this.api.DELETE("/admin/trust-policies/{id}", { params: { path: { id } }, ...this.init(o) })),
    },
  };

  /**
   * Streams one file into a draft package. `source` is a path, a Readable, a Blob or a Buffer.
   * The SHA-256 computed while sending must match the server's, else the file is removed and a
   * ChecksumError thrown.
   */
  uploadFile(packageId: string, source: UploadSource, opts: UploadOptions = {}): Promise<UploadedFile> {
    const base = `${this.baseUrl}/api/v1/packages/${encodeURIComponent(packageId)}`;
    // Without a token provider a missing token throws at once, as it always did.
    const ctx = this.#provider ? this.transferToken(opts.signal) : this.transfer();
    return Promise.resolve(ctx).then((c) => uploadAuto(base, source, opts, { ...c, ...this.#resumable }, (fileId) => this.files.delete(packageId, fileId)));
  }

  /** Downloads a file of your package to `dest`, resumable and checksum-verified. */
  async downloadFile(packageId: string, fileId: string, dest: string, opts: DownloadOptions = {}): Promise<{ size: number; sha256: string }> {
    const ctx = await this.transferToken(opts.signal);
    let sha256 = opts.sha256;
    if (!sha256) {
      const pkg = await this.packages.get(packageId, opts.signal ? { signal: opts.signal } : {});
      sha256 = pkg.files.find((f) => f.id === fileId)?.sha256;
    }
    const url = `${this.baseUrl}/api/v1/packages/${encodeURIComponent(packageId)}/files/${encodeURIComponent(fileId)}`;
    return downloadToPath(url, dest, { ...opts, ...(sha256 ? { sha256 } : {}) }, ctx);
  }

  /**
   * create → upload every file (bounded concurrency) → finalize. On any failure or abort the
   * draft it created is deleted, so nothing half-sent stays behind (`resume.keepDraft` keeps it
   * on an abort or a resumable upload that gave up, to resume).
   */
  async send(opts: SendOptions): Promise<SendResult> {
    const files: SendItem[] = [
      ...(opts.expanded ?? (await expandPaths(opts.files))),
      ...(opts.sources ?? []).map((s) => ({ path: "", name: s.name, size: s.size ?? 0, source: s.source })),
    ];
    if (files.length === 0) throw new SpeedyFilesError("nothing to send: no files found");
    if (opts.signal?.aborted) throw new AbortError("send aborted", { cause: opts.signal.reason });
    return this.createAndFinalize(
      {
        title: opts.title ?? defaultTitle(opts.files, files),
        ...recipientsOf(opts.to, opts.recipient_name),
        direction: "outbound",
        ttl_days: opts.ttl_days ?? 7,
        ...(opts.message ? { message: opts.message } : {}),
        ...(opts.max_downloads !== undefined ? { max_downloads: opts.max_downloads } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.notify_on_download !== undefined ? { notify_on_download: opts.notify_on_download } : {}),
      },
      (id, existing) => this.uploadAll(id, files, opts, existing),
      opts.signal,
      opts.resume,
      opts.idempotencyKey,
    );
  }

  /** An inbound package: the link lets `from` upload files to you. Finalized, ready to share. */
  async request(opts: RequestFilesOptions): Promise<SendResult> {
    return this.createAndFinalize(
      {
        title: opts.title ?? `Files for ${this.baseUrl.replace(/^https?:\/\//, "")}`,
        recipient_email: opts.from,
        ...(opts.recipient_name ? { recipient_name: opts.recipient_name } : {}),
        direction: "inbound",
        ttl_days: opts.ttl_days ?? 7,
        ...(opts.message ? { message: opts.message } : {}),
      },
      async () => undefined,
      opts.signal,
    );
  }

  /**
   * create → `fill` → finalize. On any failure or abort the draft is deleted, so nothing
   * half-made stays behind.
   */
  private async createAndFinalize(
    body: PackageCreateRequest,
    fill: (packageId: string, existing: PackageFile[]) => Promise<void>,
    signal?: AbortSignal,
    resume?: SendResume,
    idempotencyKey?: string,
  ): Promise<SendResult> {
    let pkg: PackageDetail | undefined;
    const finalizeKey = idempotencyKey === undefined ? {} : { idempotencyKey: sendKeys(idempotencyKey).finalize };
    if (resume?.packageId) {
      // The interrupted send's draft, if it is still one (else a fresh package).
      pkg = await this.packages.get(resume.packageId, signal ? { signal } : {}).catch((err: unknown) => {
        if (err instanceof NotFoundError || (err as { status?: number }).status === 403) return undefined;
        throw err;
      });
      if (pkg && pkg.status !== "draft") pkg = undefined;
    }
    if (!pkg && idempotencyKey !== undefined) {
      const claimed = await claimDraft(this.packages, body, idempotencyKey, signal);
      if ("finalized" in claimed) return { package: claimed.finalized, magic_link: claimed.finalized.magic_link, expires_at: claimed.finalized.expires_at! };
      pkg = claimed.draft;
    }
    pkg ??= await this.packages.create(body, signal ? { signal } : {});
    resume?.onPackage?.(pkg.id);
    try {
      await fill(pkg.id, pkg.files);
      // An abort that lands after the last upload still means "do not send".
      signal?.throwIfAborted();
      const fin = await this.packages.finalize(pkg.id, { ...(signal ? { signal } : {}), ...finalizeKey });
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
      const cleanup = await this.packages.delete(pkg.id, { timeoutMs: Math.min(this.#transport.timeoutMs, 10_000), retryWindowMs: 0 }).then(
        () => undefined,
        (e: unknown) => (e instanceof NotFoundError ? undefined : e ?? new Error("delete failed")),
      );
      if (cleanup !== undefined) {
        // Say so: a draft left behind silently is invisible until someone stumbles on it.
        out.orphanedPackageId = pkg.id;
        out.cleanupError = cleanup;
      }
      throw out;
    }
  }

  private async uploadAll(packageId: string, files: SendItem[], opts: SendOptions, existing: PackageFile[] = []): Promise<void> {
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
        if (url && !f.source) progress.set(f.name, (await uploadOffset(url, await this.transferToken()).catch(() => undefined)) ?? 0);
      }
      opts.onProgress?.({ file: "", fileBytes: 0, fileSize: 0, bytes: progress.total(), totalBytes, phase: "resumed" });
      for (const f of files) if (!todo.includes(f)) report(f, f.size, progress.total(), "done", have.get(f.name));
    }

    await runPool(
      todo,
      opts.concurrency ?? 4,
      async (f, signal) => {
        const url = f.source ? undefined : saved[f.name];
        const uploaded = await this.uploadFile(packageId, f.source ?? f.path, {
          name: f.name,
          signal,
          resumable: {
            ...(url ? { uploadUrl: url } : {}),
            onUploadUrl: (u) => opts.resume?.onUpload?.(f.name, u),
          },
          onProgress: (p) => report(f, p.bytes, progress.set(f.name, p.bytes), "upload"),
        });
        report(f, f.size, progress.finish(f.name, f.source ? uploaded.size : f.size), "done", uploaded);
      },
      opts.signal,
    );
  }
}

/**
 * The Idempotency-Key of one logical POST: the caller's, or a random UUID, the same on every retry
 * of that call (the fetch retries POSTs that carry one). The server will answer a repeated key
 * with the first answer instead of acting twice; until it does, the header is ignored.
 */
function idempotent(o: RequestOptions | undefined): { "Idempotency-Key": string } {
  return { "Idempotency-Key": o?.idempotencyKey ?? crypto.randomUUID() };
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

