// Handling the SDK's typed errors.
import {
  AbortError,
  ApiError,
  AuthenticationError,
  ChecksumError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitError,
  SpeedyFiles,
  SpeedyFilesError,
  TimeoutError,
  ValidationError,
} from "../src/index.js";

const sf = new SpeedyFiles({ timeoutMs: 10_000, retry: { retries: 3, baseDelayMs: 500, maxDelayMs: 15_000 } });

export async function describeFailure(packageId: string): Promise<string> {
  try {
    const pkg = await sf.packages.get(packageId);
    return `${pkg.title}: ${pkg.status}`;
  } catch (err) {
    if (err instanceof AuthenticationError) return "Token missing, expired or revoked: run `sf login`.";
    if (err instanceof NotFoundError) return `No package ${packageId}.`;
    if (err instanceof ValidationError) return err.errors.map((e) => `${e.path}: ${e.message}`).join("\n");
    if (err instanceof RateLimitError) return `Rate limited; retry in ${err.retryAfter ?? "?"} s.`;
    if (err instanceof ApiError) {
      // Every HTTP error: status, code, detail, method, url (no token), request id.
      const { status, code, detail, method, url, requestId } = err;
      return `${method} ${url} → ${status} ${code}: ${detail} [${requestId}]`;
    }
    if (err instanceof TimeoutError) return "The server did not answer in time.";
    if (err instanceof NetworkError) return `Could not reach the server: ${String(err.cause)}`;
    throw err;
  }
}

export async function upload(packageId: string, file: string, signal: AbortSignal): Promise<void> {
  try {
    await sf.uploadFile(packageId, file, { signal, onProgress: ({ bytes, total }) => console.error(`${bytes}/${total ?? "?"}`) });
  } catch (err) {
    if (err instanceof AbortError) return; // the caller cancelled
    if (err instanceof PayloadTooLargeError) throw new Error(`${file} is over the server's limit: ${err.detail}`);
    if (err instanceof ChecksumError) throw new Error(`corrupted in transit (expected ${err.expected}, server had ${err.actual}); retry`);
    if (err instanceof SpeedyFilesError) throw err; // anything else the SDK knows about
    throw err;
  }
}

// Switch on the code when classes are not convenient (e.g. after crossing a worker boundary).
export function isRetryableLater(err: unknown): boolean {
  return err instanceof ApiError && (err.code === "rate_limited" || err.code === "server");
}
