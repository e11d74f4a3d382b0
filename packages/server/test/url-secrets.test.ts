import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedPort, serverProcess } from "@speedyfiles/test-utils/process";
import { loadConfig } from "../src/config.js";

// Every URL setting, given with a password in it and something wrong with it: whatever the server
// prints when it refuses to start (or starts anyway), no part of the password appears.

const port = await closedPort();

/** Two fragments that each password holds, around a character that URL parsers treat apart. */
const FRAGMENTS = ["hunter2", "Sd9qTz"];
const SEPARATORS = ["@", "/", ":", "#", "?", "%40", "/#?@"];
const passwords = SEPARATORS.map((sep) => `${FRAGMENTS[0]}${sep}${FRAGMENTS[1]}`);

/** The setting, what else it needs to be read, and the URLs to try for one password. */
const SETTINGS: [name: string, env: Record<string, string>, urls: (pw: string) => string[]][] = [
  ["SF_SMTP_URL", {}, (pw) => [`smtpx://mailer:${pw}@mail.example.test:25`, `smtp://mailer:${pw}@mail.example.test:25`, `mailer:${pw}@mail.example.test:25`]],
  ["SF_DATABASE_URL", {}, (pw) => [`mysql://sf:${pw}@db.example.test/sf`, `postgres://sf:${pw}@127.0.0.1:${port}/sf`, `sf:${pw}@db.example.test/sf`]],
  [
    "SF_S3_ENDPOINT",
    { SF_STORAGE: "s3", SF_S3_BUCKET: "bucket", SF_S3_ACCESS_KEY_ID: "key", SF_S3_SECRET_ACCESS_KEY: "not-in-the-url" },
    (pw) => [`ftp://key:${pw}@s3.example.test`, `http://key:${pw}@127.0.0.1:${port}`, `key:${pw}@s3.example.test`],
  ],
  ["SF_PUBLIC_URL", {}, (pw) => [`ftp://u:${pw}@files.example.test`, `https://u:${pw}@files.example.test`, `u:${pw}@files.example.test`]],
];

let dataDir: string;
beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-url-secrets-"));
});
afterAll(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

/** Starts the server with `env`; once it exits (or has printed its banner, then it is stopped), all it printed. */
async function printed(env: Record<string, string>, dir: string): Promise<{ code: number | null; text: string }> {
  const p = serverProcess([], { SF_DATA_DIR: dir, SF_PORT: "0", SF_LOG_LEVEL: "info", ...env });
  const started = p.waitFor(/API docs: /, 20_000).then(
    () => "started",
    () => "timeout",
  );
  const outcome = await Promise.race([p.code.then(() => "exited"), started]);
  if (outcome !== "exited") {
    await new Promise((r) => setTimeout(r, 300));
    p.kill("SIGTERM");
  }
  const code = await p.code;
  return { code, text: `${p.stdout()}${p.stderr()}` };
}

/** Runs `jobs` at most `n` at a time. */
async function inBatches<T>(jobs: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += n) out.push(...(await Promise.all(jobs.slice(i, i + n).map((j) => j()))));
  return out;
}

describe("a URL setting with a password is never printed with it", () => {
  it.each(SETTINGS)(
    "%s",
    async (name, extra, urls) => {
      // Each shape through a real process would start ~84 servers: the process is started for the
      // password that holds every separator at once, and every shape goes through the settings'
      // reading in this process below.
      const cases = [passwords.at(-1)!].flatMap((pw) => urls(pw).map((url) => ({ pw, url })));
      const results = await inBatches(
        cases.map(({ pw, url }, i) => async () => {
          const dir = path.join(dataDir, `${name}-${i}`);
          await fs.mkdir(dir);
          return { pw, url, ...(await printed({ ...extra, [name]: url }, dir)) };
        }),
        4,
      );
      for (const r of results) {
        const context = `${name}=${r.url}\n--- printed (exit ${r.code}):\n${r.text}`;
        for (const secret of [...FRAGMENTS, r.pw, decodeURIComponent(r.pw.replace(/%(?![0-9A-F]{2})/gi, "%25"))]) {
          expect(r.text.includes(secret), `${context}\nholds "${secret}"`).toBe(false);
        }
        // Refused: the setting is named, so the operator knows what to fix.
        if (r.code !== 0 && r.code !== null) expect(r.text, context).toMatch(new RegExp(name === "SF_DATABASE_URL" ? "database|SF_DATABASE_URL" : name));
      }
    },
    240_000,
  );
});

describe("every shape of password, through the reading of the settings", () => {
  it.each(SETTINGS)("%s", (name, extra, urls) => {
    for (const pw of passwords) {
      for (const url of urls(pw)) {
        let text = "";
        try {
          text = JSON.stringify(loadConfig({ SF_DATA_DIR: dataDir, ...extra, [name]: url }));
        } catch (err) {
          text = String((err as Error).message);
        }
        for (const secret of [...FRAGMENTS, pw]) expect(text.includes(secret) && !text.startsWith("{"), `${name}=${url}: ${text}`).toBe(false);
      }
    }
  });
});
