import createClient, { type Client } from "openapi-fetch";
import * as undici from "undici";
import type { paths } from "./generated/api.js";
import { DEFAULT_TRANSPORT, makeFetch, proxyFromEnv, type TransportOptions } from "./http.js";
import { DEFAULT_RETRY, type RetryOptions } from "./retry.js";
import { DEFAULT_RETRY_WINDOW_MS } from "./retry-window.js";
import { USER_AGENT } from "./version.js";

/** The low-level client: one typed method per path and verb of openapi.yaml. */
export type ApiClient = Client<paths>;

/** The transport settings a client takes (see SpeedyFilesOptions). */
export interface ClientSettings {
  timeoutMs?: number;
  stallTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
  dispatcher?: undici.Dispatcher;
  retryWindowMs?: number;
}

/** Creates the low-level openapi-fetch client with auth, timeouts and retries. */
export function createApiClient(opts: { baseUrl: string; token?: string | undefined } & ClientSettings): ApiClient {
  return clientFor(opts.baseUrl, opts.token, transportFrom(opts));
}

/** The openapi-fetch client for a server, a token and the transport settings. */
export function clientFor(baseUrl: string, token: string | undefined, transport: TransportOptions): ApiClient {
  return createClient<paths>({
    baseUrl: `${normaliseBaseUrl(baseUrl)}/api/v1`,
    fetch: makeFetch(transport),
    Request: undici.Request as unknown as typeof Request,
    headers: { "User-Agent": transport.userAgent, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  });
}

/** The transport settings with the defaults filled in (a proxy from the environment, if set). */
export function transportFrom(opts: ClientSettings): TransportOptions {
  return {
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    timeoutMs: opts.timeoutMs ?? DEFAULT_TRANSPORT.timeoutMs,
    stallTimeoutMs: opts.stallTimeoutMs ?? DEFAULT_TRANSPORT.stallTimeoutMs,
    dispatcher: opts.dispatcher ?? proxyFromEnv(),
    userAgent: USER_AGENT,
    retryWindowMs: opts.retryWindowMs ?? DEFAULT_RETRY_WINDOW_MS,
  };
}

/** `https://x.example.com/api/v1/` → `https://x.example.com`: the server's root. */
export function normaliseBaseUrl(url: string): string {
  return url
    .trim()
    .replace(/\/+$/, "")
    .replace(/\/api\/v1$/, "");
}
