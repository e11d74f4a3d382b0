import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

/** The server package's folder (the child runs its src/main.ts with the server's own tsx). */
const SERVER_DIR = fileURLToPath(new URL("../../server/", import.meta.url));

export interface Proc {
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  kill: (sig: NodeJS.Signals) => void;
  /** Waits until `re` matches stderr. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
}

/**
 * Runs the real `speedyfiles-server` entry point (src/main.ts through tsx, as the server's test/process.test.ts
 * does) as a child process with only `env` (plus PATH and HOME) in its environment.
 */
export function serverProcess(args: string[], env: Record<string, string>, stdin?: string): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: SERVER_DIR,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  child.stdin.end(stdin ?? "");
  const code = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  return {
    code,
    stdout: () => out,
    stderr: () => err,
    kill: (sig) => child.kill(sig),
    async waitFor(re, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(err);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
