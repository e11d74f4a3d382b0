/** How long API calls ride out an unavailable server by default (ms): a restart or a deploy. */
export const DEFAULT_RETRY_WINDOW_MS = 30_000;
/** The longest wait between tries while the server is away, unless it asks for more (Retry-After). */
export const DOWN_MAX_DELAY_MS = 2000;

/** Nothing reached the server: the connection was refused. Safe to repeat any request. */
const REFUSED = new Set(["ECONNREFUSED"]);
/**
 * The connection broke before an answer: the server may have read (and acted on) the request,
 * so only requests that are safe to repeat ride it out.
 */
const RESET = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET"]);

/** The error code of a transport failure (undici wraps the socket's error as `cause`). */
export function transportCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown; errors?: { code?: unknown }[] } } | undefined;
  const code = e?.code ?? e?.cause?.code ?? e?.cause?.errors?.[0]?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether a failure before any answer means "the server is not there right now" (worth riding
 * out): its code, or undefined. A refused connection always qualifies (nothing was sent); a reset
 * only for a request that is safe to repeat (`safe`: idempotent, or a POST with an Idempotency-Key).
 */
export function serverUnavailable(err: unknown, safe: boolean): string | undefined {
  const code = transportCode(err);
  if (code === undefined) return undefined;
  if (REFUSED.has(code)) return code;
  return safe && RESET.has(code) ? code : undefined;
}
