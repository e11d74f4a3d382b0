import {
  ApiError,
  AuthenticationError,
  ciIdentity,
  FederatedAuthError,
  federatedToken,
  SpeedyFiles,
  SpeedyFilesError,
  type CiIdentity,
  type TokenProvider,
  type WaitForDownloadResult,
} from "@speedyfiles/sdk";
import { formatDuration, idempotencyKey, InputError, readInputs, readRunner, type Inputs, type RunnerContext } from "./inputs.js";
import { resolvePaths } from "./paths.js";
import { sendFiles } from "./send.js";
import { addMask, error, setOutput, warning, type Runner } from "./workflow.js";

export interface ActionIo {
  env: Record<string, string | undefined>;
  /** Where relative paths start (the workspace). */
  cwd: string;
  /** The job log (the process's stdout). */
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** The step ran, the outputs are written, but not every recipient downloaded in time. */
class WaitTimeout extends Error {}

/**
 * The action, start to end: inputs → a token (the `token` input, or keyless) → send → outputs →
 * optionally wait until every recipient has downloaded every file. Returns the exit code; every
 * failure is reported as one `::error::` line a person can act on.
 */
export async function runAction(io: ActionIo): Promise<number> {
  const ctx = readRunner(io.env);
  const runner: Runner = { log: io.log, outputFile: ctx.outputFile };
  try {
    const inputs = readInputs(io.env);
    if (inputs.token) addMask(runner, inputs.token);
    // Keyless: the SDK's provider mints a token on the first request and renews it before it
    // expires (and once after a 401), so a long wait-for-download outlives any one token.
    const sf = new SpeedyFiles({ baseUrl: inputs.url, ...(inputs.token ? { token: inputs.token } : { tokenProvider: keylessProvider(inputs, ctx, runner) }) });
    const paths = await resolvePaths(inputs.paths, io.cwd);
    const key = idempotencyKey(inputs, ctx);

    const fin = await sendFiles(sf, {
      paths,
      to: inputs.to,
      title: inputs.title,
      message: inputs.message,
      ttlDays: inputs.ttlDays,
      maxDownloads: inputs.maxDownloads,
      idempotencyKey: key,
      onFile: (f) => io.log(`${f.skipped ? "already on the server" : "sent"}: ${f.name} (${formatSize(f.size)})`),
      onStale: (m) => warning(runner, m),
    });

    // Masked before anything else can print them: every recipient's link is a bearer secret.
    if (!inputs.revealLink) for (const l of fin.links) addMask(runner, l.magic_link);
    const files = fin.files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 }));
    setOutput(runner, "link", fin.magic_link);
    setOutput(runner, "package-id", fin.id);
    setOutput(runner, "files", JSON.stringify(files));

    const total = files.reduce((n, f) => n + f.size, 0);
    io.log(`Sent "${fin.title}" (${files.length} file${files.length === 1 ? "" : "s"}, ${formatSize(total)}) to ${inputs.to.join(", ")}; expires ${fin.expires_at ?? "never"}.`);
    io.log(inputs.revealLink ? `Link: ${fin.magic_link}` : "The link is in the step's link output (masked in logs; reveal-link: true shows it).");
    if (!fin.email_sent) warning(runner, `the server could not email the link${fin.email_error ? `: ${fin.email_error}` : ""}; share the link output yourself`);

    if (inputs.waitMs !== undefined) {
      const ms = inputs.waitMs;
      const outcome = await sf.packages.waitForDownload(fin.id, {
        timeoutMs: ms,
        ...(io.signal ? { signal: io.signal } : {}),
        onEvent: (p) => {
          if (p.type === "waiting" && p.pending.length > 0) {
            io.log(`Waiting up to ${formatDuration(ms)} until ${p.pending.length === 1 ? "the recipient has" : `all ${p.pending.length} recipients have`} downloaded every file…`);
          }
          if (p.type === "downloaded") io.log(`Downloaded every file: ${p.recipient_email} (${p.completed_at}).`);
        },
      });
      if (!outcome.complete) throw new WaitTimeout(timedOut(outcome, ms));
      io.log("Every recipient has downloaded every file.");
    }
    return 0;
  } catch (err) {
    error(runner, describe(err));
    return 1;
  }
}

/**
 * A token for this job without a stored secret: the SDK's federated provider (the runner's ID
 * token for the audience input, exchanged at the server, renewed before it expires), with the ID
 * token and every minted token masked before anything could print them.
 */
function keylessProvider(inputs: Inputs, ctx: RunnerContext, runner: Runner): TokenProvider {
  const github =
    ctx.idTokenUrl && ctx.idTokenRequestToken ? ciIdentity({ ACTIONS_ID_TOKEN_REQUEST_URL: ctx.idTokenUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: ctx.idTokenRequestToken }) : undefined;
  if (!github) {
    throw new InputError("no token input, and this job cannot sign in without one: add `permissions: id-token: write` to the job (keyless), or pass a token");
  }
  const identity: CiIdentity = {
    ...github,
    idToken: async (audience, o) => {
      const idToken = await github.idToken(audience, o);
      addMask(runner, idToken);
      return idToken;
    },
  };
  const federated = federatedToken({ audience: inputs.audience, identity, env: {} });
  const masked = new Set<string>();
  return {
    kind: federated.kind,
    token: async (c, o) => {
      const token = await federated.token(c, o);
      if (!masked.has(token)) {
        masked.add(token);
        addMask(runner, token);
      }
      return token;
    },
  };
}

/** As sf says it: who has not downloaded everything yet (the package stays sent). */
function timedOut(outcome: WaitForDownloadResult, ms: number): string {
  const n = outcome.pending.length;
  return `gave up waiting after ${formatDuration(ms)}: ${outcome.pending.join(", ")} ${n === 1 ? "has" : "have"} not downloaded every file yet (the package stays sent)`;
}

/** A refused keyless sign-in, with the server's detail and code and what to do about it. */
function keylessRefusal(err: FederatedAuthError): string {
  const api = err.cause instanceof ApiError ? err.cause : undefined;
  if (api) {
    const hint =
      api.status === 404
        ? " (this server has no keyless sign-in; pass a token input)"
        : api.status === 401 || api.status === 403
          ? " (ask an admin for a trust policy that matches this repository)"
          : "";
    return `keyless sign-in refused: ${api.detail} (${api.code})${hint}`;
  }
  if (err.code === "id_token_unavailable" && err.status !== undefined && err.status < 500) {
    return `keyless sign-in: ${err.message}; does the job have permissions: id-token: write?`;
  }
  return `keyless sign-in: ${err.message}`;
}

/** One line for `::error::`: what failed and, where it helps, what to do. Never a token or a link. */
function describe(err: unknown): string {
  if (err instanceof InputError || err instanceof WaitTimeout) return err.message;
  if (err instanceof FederatedAuthError) return keylessRefusal(err);
  if (err instanceof AuthenticationError) return `the server refused the token (${err.detail}); check the token input, or use keyless sign-in`;
  if (err instanceof ApiError) return `${err.detail} (HTTP ${err.status} from ${err.method} ${pathOf(err.url)})`;
  if (err instanceof SpeedyFilesError) return err.message;
  return `unexpected failure: ${err instanceof Error ? err.message : String(err)}`;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function formatSize(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
