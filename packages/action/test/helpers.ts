import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** `runs.main` of the repository's action.yml: the file a runner starts. */
export async function actionMain(): Promise<string> {
  const yml = await fs.readFile(path.join(REPO, "action.yml"), "utf8");
  const using = /^\s+using:\s*(\S+)/m.exec(yml)?.[1];
  const main = /^\s+main:\s*(\S+)/m.exec(yml)?.[1];
  if (using !== "node24" || !main) throw new Error(`action.yml: runs.using ${using}, runs.main ${main}`);
  return path.join(REPO, main);
}

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the step wrote to GITHUB_OUTPUT, parsed. */
  outputs: Record<string, string>;
}

/**
 * Runs the action as a runner does: `node <main>` in the workspace, inputs as `INPUT_<NAME>`
 * (upper-cased, dashes kept), `GITHUB_OUTPUT` / `GITHUB_ENV` files and `RUNNER_TEMP` in a temp dir.
 */
export async function runAction(
  inputs: Record<string, string>,
  opts: { workspace: string; env?: Record<string, string>; onStdout?: (text: string) => void } = { workspace: os.tmpdir() },
): Promise<ActionRun> {
  const main = await actionMain();
  const temp = await fs.mkdtemp(path.join(os.tmpdir(), "sf-action-runner-"));
  const outputFile = path.join(temp, "github_output");
  const envFile = path.join(temp, "github_env");
  await fs.writeFile(outputFile, "");
  await fs.writeFile(envFile, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: temp,
    GITHUB_ACTIONS: "true",
    GITHUB_WORKSPACE: opts.workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_ENV: envFile,
    RUNNER_TEMP: temp,
    GITHUB_REPOSITORY: "acme/app",
    GITHUB_RUN_ID: String(Date.now()) + String(Math.floor(Math.random() * 1e6)),
    GITHUB_JOB: "deliver",
    GITHUB_ACTION: "__speedyfiles",
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [main], { cwd: opts.workspace, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString("utf8");
    opts.onStdout?.(stdout);
  });
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const outputs = parseOutputFile(await fs.readFile(outputFile, "utf8"));
  await fs.rm(temp, { recursive: true, force: true });
  return { code, stdout, stderr, outputs };
}

/** The `name<<DELIM\nvalue\nDELIM` blocks of a GITHUB_OUTPUT file, as the runner reads them. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    out[m[1]!] = value.join("\n");
  }
  return out;
}

/** A small HTTP server that answers with `handle` and records each request. */
export async function fakeServer(
  handle: (req: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }) => { status: number; json: unknown },
): Promise<{ url: string; requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(r);
      const a = handle(r);
      res.writeHead(a.status, { "Content-Type": "application/json" }).end(JSON.stringify(a.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
