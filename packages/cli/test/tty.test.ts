// What a person at a terminal sees and types, through a pseudo-terminal (util-linux `script`).
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "../../server/test/helpers/server.js";
import { tempDir } from "./helpers.js";
import { baseEnv, BIN, Pty } from "./proc.js";

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

describe.each(DATABASES)("sf on a terminal (%s)", (kind) => {
  let t: TestServer;
  let home: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    home = await tempDir("sf-tty-");
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  async function freshHome(): Promise<Record<string, string>> {
    const h = await fs.mkdtemp(path.join(home, "h-"));
    return { ...baseEnv(h), TERM: "xterm-256color" };
  }

  it("interactive sf login echoes what you type once, and the password never (issue 2.2 defect 1)", async () => {
    const u = await t.createUser();
    const env = await freshHome();
    const pty = new Pty(`${process.execPath} ${BIN} login`, env);
    await pty.expect(/Server URL[^:]*: $/);
    pty.type(`${t.url}\r`);
    await pty.expect(/Email[^:]*: $/);
    pty.type(`${u.user.email}\r`);
    await pty.expect(/Password: $/);
    pty.type(`${u.password}\r`);
    expect(await pty.done).toBe(0);
    const text = pty.text;
    expect(text).toContain(`Logged in to ${t.url} as ${u.user.email}`);
    // Typed once, shown once (the success line names the URL and the email once more).
    expect(count(text, u.user.email)).toBe(2);
    expect(text).not.toContain(doubled(u.user.email.slice(0, 6)));
    expect(text).not.toContain(u.password);
    expect(text).not.toContain(doubled(u.password.slice(0, 4)));
    expect(text).toMatch(/Password: \r?\n/);
  });

  it("interactive sf login --with-token never shows the token", async () => {
    const u = await t.createUser();
    const env = await freshHome();
    const pty = new Pty(`${process.execPath} ${BIN} login --with-token`, env);
    await pty.expect(/Server URL[^:]*: $/);
    pty.type(`${t.url}\r`);
    await pty.expect(/API token: $/);
    pty.type(`${u.token}\r`);
    expect(await pty.done).toBe(0);
    expect(pty.text).toContain(`Logged in to ${t.url} as ${u.user.email}`);
    expect(pty.text).not.toContain(u.token.slice(0, 12));
    expect(pty.text).not.toContain(doubled(u.token.slice(3, 8)));
  });
});

/** "abc" → "aabbcc": how a character echoed twice looks. */
function doubled(s: string): string {
  return [...s].map((c) => c + c).join("");
}
