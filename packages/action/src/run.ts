import { ApiError, AuthenticationError, SpeedyFiles, SpeedyFilesError } from "@speedyfiles/sdk";
import { idempotencyKey, InputError, readInputs, readRunner, type Inputs, type RunnerContext } from "./inputs.js";
import { exchangeIdToken, githubIdToken, KeylessError } from "./keyless.js";
import { resolvePaths } from "./paths.js";
import { sendFiles } from "./send.js";
import { formatMs, waitForDownload, WaitError } from "./wait.js";
import { addMask, error, setOutput, warning, type Runner } from "./workflow.js";

export interface ActionIo {
  env: Record<string, string | undefined>;
  /** Where relative paths start (the workspace). */
  cwd: string;
  /** The job log (the process's stdout). */
  log: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * The action, start to end: inputs → a token (the `token` input, or keyless) → send → outputs →
 * optionally wait for the first download. Returns the exit code; every failure is reported as one
 * `::error::` line a person can act on.
 */
export async function runAction(io: ActionIo): Promise<number> {
  const ctx = readRunner(io.env);
  const runner: Runner = { log: io.log, outputFile: ctx.outputFile };
  try {
    const inputs = readInputs(io.env);
    if (inputs.token) addMask(runner, inputs.token);
    const keyless = inputs.token === undefined;
    const token = inputs.token ?? (await keylessToken(inputs, ctx, runner, io.signal));
    const sf = new SpeedyFiles({ baseUrl: inputs.url, token });
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
      io.log(`Waiting up to ${formatMs(inputs.waitMs)} for the first download…`);
      const seen = await waitForDownload(fin.id, {
        baseUrl: sf.baseUrl,
        token,
        timeoutMs: inputs.waitMs,
        ...(keyless ? { refreshToken: () => keylessToken(inputs, ctx, runner, io.signal) } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      });
      io.log(`Downloaded${seen.recipient_email ? ` by ${seen.recipient_email}` : ""} at ${seen.created_at}.`);
    }
    return 0;
  } catch (err) {
    error(runner, describe(err));
    return 1;
  }
}

/** A token for this job without a stored secret: the runner's ID token, exchanged at the server. */
async function keylessToken(inputs: Inputs, ctx: RunnerContext, runner: Runner, signal?: AbortSignal): Promise<string> {
  if (!ctx.idTokenUrl || !ctx.idTokenRequestToken) {
    throw new InputError("no token input, and this job cannot sign in without one: add `permissions: id-token: write` to the job (keyless), or pass a token");
  }
  const idToken = await githubIdToken(ctx.idTokenUrl, ctx.idTokenRequestToken, inputs.audience, signal);
  addMask(runner, idToken);
  const t = await exchangeIdToken(inputs.url.replace(/\/+$/, ""), idToken, signal);
  addMask(runner, t.token);
  return t.token;
}

/** One line for `::error::`: what failed and, where it helps, what to do. Never a token or a link. */
function describe(err: unknown): string {
  if (err instanceof InputError || err instanceof KeylessError || err instanceof WaitError) return err.message;
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
