import { spawn } from "node:child_process";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { redactUrl, urlSecrets } from "../util/redact-url.js";

/** pg_dump or pg_restore is not installed (not on PATH). */
export class ToolMissing extends Error {}

/** What the docs and the refusals show: the database part of a backup, by hand. */
export const PG_RECIPE = [
  "  back up:  pg_dump --format=custom --file=<backup>/database.pgdump <database URL>",
  "  restore:  createdb <new database>; pg_restore --no-owner --no-privileges --single-transaction --exit-on-error --dbname=<new database URL> <backup>/database.pgdump",
  "  then:     speedyfiles-server check   (rows and stored objects agree)",
].join("\n");

/**
 * The connection as libpq reads it, without the password on the command line (where `ps` shows
 * it): the URL without its password, and a `passfile` holding it (0600, in a private temp folder,
 * removed by `cleanup`).
 */
async function connection(databaseUrl: string): Promise<{ conninfo: string; cleanup: () => Promise<void> }> {
  const u = new URL(databaseUrl);
  const password = u.password !== "" ? decodeURIComponent(u.password) : u.searchParams.get("password");
  u.password = "";
  u.searchParams.delete("password");
  if (!password) return { conninfo: u.toString(), cleanup: async () => undefined };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-pgpass-"));
  const file = path.join(dir, "pgpass");
  // .pgpass: host:port:database:user:password, ":" and "\" escaped.
  await fsp.writeFile(file, `*:*:*:*:${password.replace(/[\\:]/g, (c) => `\\${c}`)}\n`, { mode: 0o600 });
  u.searchParams.set("passfile", file);
  return { conninfo: u.toString(), cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

/**
 * Runs `pg_dump` or `pg_restore` on the database of `databaseUrl` with `args`; rejects with its
 * message (the database's secrets scrubbed) when it fails, ToolMissing when it is not installed.
 */
export async function runPgTool(tool: "pg_dump" | "pg_restore", databaseUrl: string, args: string[]): Promise<void> {
  const { conninfo, cleanup } = await connection(databaseUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(tool, [...args, "--no-password", `--dbname=${conninfo}`], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (c: Buffer) => {
        if (err.length < 64 * 1024) err += c.toString();
      });
      child.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") {
          reject(new ToolMissing(`${tool} is not installed (not found on PATH): install the PostgreSQL client tools, the server's major version or newer`));
        } else reject(e);
      });
      child.on("close", (code) => {
        if (code === 0) return resolve();
        let text = err.trim().replace(/\s*\n\s*/g, "; ");
        for (const secret of urlSecrets(databaseUrl)) text = text.split(secret).join("***");
        text = text.split(conninfo).join(redactUrl(databaseUrl));
        reject(new Error(`${tool} failed (exit code ${code}): ${text || "no message"}`));
      });
    });
  } finally {
    await cleanup();
  }
}
