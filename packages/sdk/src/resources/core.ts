import crypto from "node:crypto";
import type { ApiClient } from "../api-client.js";
import { apiErrorFrom, SpeedyFilesError } from "../errors.js";
import { makeFetch, requestOf, type RequestOptions, type TransportOptions } from "../http.js";
import type { LinkOptions } from "./links.js";
import type { TokenProvider, TokenProviderContext } from "../auth/token-provider.js";
import type { ResumableOptions, TransferContext, UploadContext } from "../transfer/index.js";

type Result<T> = { data?: T; error?: unknown; response: Response };

/**
 * What every resource gets from the client: the typed API, how one call is made and answered,
 * and the settings of transfers. The token stays in a closure (see createCore): no resource, and
 * no printout of the client, can show it.
 */
export interface Core {
  readonly api: ApiClient;
  readonly baseUrl: string;
  readonly transport: TransportOptions;
  /** Returns `data` or throws the typed ApiError for the response. */
  call<T>(p: Promise<Result<T>>): Promise<T>;
  /** openapi-fetch options for one call: its signal, and a fetch with its own deadline and retry window. */
  init(o?: RequestOptions): { signal?: AbortSignal; fetch?: (input: Request) => Promise<Response> };
  /**
   * What a transfer of one's own packages needs: the fixed token (throws at once without one, as
   * it always did), or, with a token provider, a promise of the provider's current token.
   */
  transfer(signal?: AbortSignal): TransferContext | Promise<TransferContext>;
  /** transfer() with the resumable defaults: what an upload needs. */
  uploadContext(signal?: AbortSignal): UploadContext | Promise<UploadContext>;
  /** The resumable defaults alone (link uploads need no token). */
  readonly resumable: Pick<UploadContext, "resumableThreshold" | "resumable">;
  /** The settings link functions need to reach the server the way this client does. */
  linkOptions(): LinkOptions;
}

/** A token provider and the context it is asked with (see SpeedyFilesOptions.tokenProvider). */
export interface ProviderBinding {
  provider: TokenProvider;
  ctx: TokenProviderContext;
}

/** The core of one client: its token (or token provider) kept in closures, never in a property. */
export function createCore(opts: {
  api: ApiClient;
  baseUrl: string;
  token: string | undefined;
  /** Wins over `token`: API calls ask it through `transport.auth`, transfers here. */
  provider?: ProviderBinding | undefined;
  transport: TransportOptions;
  resumableThreshold: number;
  resumable?: ResumableOptions | undefined;
}): Core {
  const { api, baseUrl, transport: t } = opts;
  const resumable = { resumableThreshold: opts.resumableThreshold, resumable: opts.resumable };
  const requireToken = (): string => {
    if (!opts.token) throw new SpeedyFilesError("no API token: pass { token } (or set SF_URL and SF_TOKEN)");
    return opts.token;
  };
  const context = (token: string): TransferContext => ({ token, stallTimeoutMs: t.stallTimeoutMs, dispatcher: t.dispatcher, userAgent: t.userAgent });
  const { provider } = opts;
  const transfer = (signal?: AbortSignal): TransferContext | Promise<TransferContext> =>
    provider ? provider.provider.token(provider.ctx, { refresh: false, signal }).then(context) : context(requireToken());
  return {
    api,
    baseUrl,
    transport: t,
    resumable,
    async call<T>(p: Promise<Result<T>>): Promise<T> {
      const { data, error, response } = await p;
      if (!response.ok) throw apiErrorFrom(response.status, error, { ...requestOf(response), headers: response.headers });
      return data as T;
    },
    init: (o = {}) => ({
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs !== undefined || o.retryWindowMs !== undefined ? { fetch: makeFetch(t, o) } : {}),
    }),
    transfer,
    uploadContext: (signal) => {
      const ctx = transfer(signal);
      return ctx instanceof Promise ? ctx.then((c) => ({ ...c, ...resumable })) : { ...ctx, ...resumable };
    },
    linkOptions: () => ({ baseUrl, timeoutMs: t.timeoutMs, stallTimeoutMs: t.stallTimeoutMs, retry: t.retry, dispatcher: t.dispatcher }),
  };
}

/**
 * The Idempotency-Key of one logical POST: the caller's, or a random UUID, the same on every retry
 * of that call (the fetch retries POSTs that carry one). The server will answer a repeated key
 * with the first answer instead of acting twice; until it does, the header is ignored.
 */
export function idempotent(o: RequestOptions | undefined): { "Idempotency-Key": string } {
  return { "Idempotency-Key": o?.idempotencyKey ?? crypto.randomUUID() };
}
