import type * as undici from "undici";
import { clientFor, createApiClient, normaliseBaseUrl, transportFrom, type ApiClient } from "./api-client.js";
import { apiErrorFrom, SpeedyFilesError } from "./errors.js";
import { makeFetch, requestOf, type RequestOptions, type TransportOptions } from "./http.js";
import type { RetryOptions } from "./retry.js";
import type { TokenProvider, TokenProviderContext } from "./auth/token-provider.js";
import { createCore, type ProviderBinding } from "./resources/core.js";
import { filesResource, type FilesResource, type OwnerDownloadOptions } from "./resources/files.js";
import { linksResource, type DownloadAllOptions, type LinksResource } from "./resources/links.js";
import { packageEvents, packagesResource, type PackagesResource } from "./resources/packages.js";
import { authResource, type AuthResource } from "./resources/auth.js";
import { tokensResource, type TokensResource } from "./resources/tokens.js";
import { accountMethods, adminResource, type AdminResource } from "./resources/users.js";
import { webhooksResource, type WebhooksResource } from "./resources/webhooks.js";
import { request, send, type RequestFilesOptions, type SendOptions, type SendResult, type WorkflowDeps } from "./send.js";
import { DEFAULT_RESUMABLE_THRESHOLD, type DownloadOptions, type ResumableOptions, type UploadedFile, type UploadOptions, type UploadSource } from "./transfer/index.js";
import type { EffectivePolicy, Health, PackageEvent, User } from "./types.js";

export { createApiClient, normaliseBaseUrl, type ApiClient };
export type * from "./types.js";
export type { SendOptions, SendProgress, SendResult, SendResume, RequestFilesOptions } from "./send.js";
export type { UploadSource, UploadOptions, UploadedFile, DownloadOptions, RequestOptions };

/** `sf.me()`: the user the token belongs to; `sf.me.policy()`: the rules their packages must follow, and the storage they use. */
export type MeMethod = ((o?: RequestOptions) => Promise<User>) & {
  /**
   * The instance's policy as it applies to you (your role's overrides applied), with the bytes you
   * hold against `quota_bytes_per_user`: what `send()` checks before it uploads a byte.
   */
  policy(o?: RequestOptions): Promise<EffectivePolicy>;
};

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

/**
 * The SpeedyFiles client: the transport, and the resources on it (one file each under
 * resources/), plus the workflows `send()` and `request()`.
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
  // Private fields: console.log(sf), util.inspect and JSON.stringify(sf) never show them (the
  // token lives only in the core's closures).
  readonly #hasToken: boolean;
  readonly #transport: TransportOptions;

  readonly auth: AuthResource;
  readonly tokens: TokensResource;
  readonly packages: PackagesResource;
  readonly files: FilesResource;
  /** The recipient's side: everything a magic link allows, no token needed. */
  readonly links: LinksResource;
  /**
   * Webhooks: SpeedyFiles POSTs signed events about your packages to your URL. Verify them on the
   * receiving side with `parseWebhookEvent` / `verifyWebhookSignature`.
   */
  readonly webhooks: WebhooksResource;
  readonly admin: AdminResource;
  /** The user the token belongs to; `me.policy()`: the rules that apply to them and the storage they use. */
  readonly me: MeMethod;
  readonly #account: ReturnType<typeof accountMethods>;
  readonly #events: ReturnType<typeof packageEvents>;
  readonly #workflows: WorkflowDeps;

  constructor(opts: SpeedyFilesOptions = {}) {
    const baseUrl = opts.baseUrl ?? process.env.SF_URL;
    if (!baseUrl) throw new SpeedyFilesError("no server URL: pass { baseUrl } or set SF_URL");
    this.baseUrl = normaliseBaseUrl(baseUrl);
    // SF_TOKEN belongs to SF_URL: a client pointed elsewhere must not carry it there.
    let token = (opts.token ?? (opts.baseUrl === undefined ? process.env.SF_TOKEN : undefined)) || undefined;
    this.#transport = transportFrom(opts);
    let provider: ProviderBinding | undefined;
    if (opts.tokenProvider) {
      // The provider wins over a fixed token: every request asks it (renewed once after a 401).
      provider = { provider: opts.tokenProvider, ctx: exchangeContext(this.baseUrl, this.#transport) };
      const { provider: p, ctx } = provider;
      this.#transport.auth = (refresh, signal) => p.token(ctx, { refresh, signal });
      token = undefined;
    }
    this.#hasToken = token !== undefined || provider !== undefined;
    this.api = clientFor(this.baseUrl, token, this.#transport);
    const core = createCore({
      api: this.api,
      baseUrl: this.baseUrl,
      token,
      provider,
      transport: this.#transport,
      resumableThreshold: opts.resumableThreshold ?? DEFAULT_RESUMABLE_THRESHOLD,
      resumable: opts.resumable,
    });
    this.auth = authResource(core);
    this.tokens = tokensResource(core);
    this.packages = packagesResource(core);
    this.files = filesResource(core, this.packages);
    this.links = linksResource(core);
    this.webhooks = webhooksResource(core);
    this.admin = adminResource(core);
    this.#account = accountMethods(core);
    const account = this.#account;
    this.me = Object.assign((o?: RequestOptions) => account.me(o), { policy: (o?: RequestOptions) => account.myPolicy(o) });
    this.#events = packageEvents(core);
    this.#workflows = {
      baseUrl: this.baseUrl,
      packages: this.packages,
      uploadFile: this.files.upload,
      deleteFile: (p, f) => this.files.delete(p, f),
      myPolicy: (signal) => this.#account.myPolicy(signal ? { signal } : {}),
      transfer: core.transfer,
      timeoutMs: this.#transport.timeoutMs,
    };
  }

  /** Whether this client has a token or a token provider (the token itself is never readable from the object). */
  get hasToken(): boolean {
    return this.#hasToken;
  }

  /** The time limits in use (ms): `timeoutMs` per API call, `stallTimeoutMs` for transfers. */
  get timeouts(): { timeoutMs: number; stallTimeoutMs: number } {
    return { timeoutMs: this.#transport.timeoutMs, stallTimeoutMs: this.#transport.stallTimeoutMs };
  }

  health(o?: RequestOptions): Promise<Health> {
    return this.#account.health(o);
  }

  /** Audit trail of one of your packages: link downloads and recipient uploads. */
  events(packageId: string, o?: RequestOptions): Promise<PackageEvent[]> {
    return this.#events(packageId, o);
  }

  /** Downloads every file of a magic link into `dir` (see `links.downloadAll`). */
  downloadAll(link: string, dir: string, opts: Omit<DownloadAllOptions, "baseUrl"> = {}) {
    return this.links.downloadAll(link, dir, opts);
  }

  /**
   * Streams one file into a draft package (the same as `files.upload`). `source` is a path, a
   * Readable, a Blob or a Buffer. The SHA-256 computed while sending must match the server's,
   * else the file is removed and a ChecksumError thrown.
   */
  uploadFile(packageId: string, source: UploadSource, opts: UploadOptions = {}): Promise<UploadedFile> {
    return this.files.upload(packageId, source, opts);
  }

  /**
   * Downloads a file of your package to `dest`, resumable and checksum-verified (the same as
   * `files.download`); `{ file, key }` decrypts a file of an encrypted package.
   */
  downloadFile(packageId: string, fileId: string, dest: string, opts: OwnerDownloadOptions = {}): Promise<{ size: number; sha256: string }> {
    return this.files.download(packageId, fileId, dest, opts);
  }

  /**
   * create → upload every file (bounded concurrency) → finalize. On any failure or abort the
   * draft it created is deleted, so nothing half-sent stays behind (`resume.keepDraft` keeps it
   * on an abort or a resumable upload that gave up, to resume).
   */
  send(opts: SendOptions): Promise<SendResult> {
    return send(this.#workflows, opts);
  }

  /** An inbound package: the link lets `from` upload files to you. Finalized, ready to share. */
  request(opts: RequestFilesOptions): Promise<SendResult> {
    return request(this.#workflows, opts);
  }
}

/** A token provider's context: `POST /auth/oidc` on this server, without any token. */
function exchangeContext(baseUrl: string, transport: TransportOptions): TokenProviderContext {
  // Without the provider's own auth: the exchange is what mints its token.
  const plain: TransportOptions = { ...transport, auth: undefined };
  const anonymous = clientFor(baseUrl, undefined, plain);
  return {
    baseUrl,
    dispatcher: transport.dispatcher,
    exchange: async (idToken, signal) => {
      // Minting a second short-lived token is harmless: the exchange is retried like a GET.
      const { data, error, response } = await anonymous.POST("/auth/oidc", {
        body: { token: idToken },
        ...(signal ? { signal } : {}),
        fetch: makeFetch(plain, { retryPost: true }),
      });
      if (!response.ok || !data) throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
      return { body: data, date: response.headers.get("date") };
    },
  };
}
