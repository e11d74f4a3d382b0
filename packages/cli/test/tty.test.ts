// What a person at a terminal sees and types, through a pseudo-terminal (util-linux `script`).
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
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

  it("interactive sf login echoes what you type once, and the password never", async () => {
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

  it("sf login names a wrong server right after its URL and asks again; host:port is enough", async () => {
    const page = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<h1>It works!</h1>"));
    await new Promise<void>((r) => page.listen(0, "127.0.0.1", r));
    const pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    try {
      const u = await t.createUser();
      const pty = new Pty(`${process.execPath} ${BIN} login`, await freshHome());
      await pty.expect(/Server URL[^:]*: $/);
      pty.type(`${pageUrl}\r`);
      await pty.expect(/not a SpeedyFiles server\? got text\/html from .*\/api\/v1\/health \(HTTP 200\)[^\n]*\r?\nTry again \(Ctrl-C to stop\)\.\r?\nServer URL[^:]*: $/);
      pty.type(`${new URL(t.url).host}\r`);
      await pty.expect(/Email[^:]*: $/);
      pty.type(`${u.user.email}\r`);
      await pty.expect(/Password: $/);
      pty.type(`${u.password}\r`);
      expect(await pty.done).toBe(0);
      expect(pty.text).toContain(`Logged in to ${t.url} as ${u.user.email}`);
    } finally {
      page.closeAllConnections();
      await new Promise((r) => page.close(r));
    }
  });

  it("with CI set, sf never prompts, even on a terminal", async () => {
    const pty = new Pty(`${process.execPath} ${BIN} login --url ${t.url}`, { ...(await freshHome()), CI: "true" });
    expect(await pty.done).toBe(2);
    expect(pty.text).not.toMatch(/Email|Password/);
    expect(pty.text).toContain("CI is set, so sf asks nothing: use --email EMAIL --password-stdin");
    const del = new Pty(`${process.execPath} ${BIN} packages delete 0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55`, {
      ...(await freshHome()),
      CI: "1",
      SF_URL: t.url,
      SF_TOKEN: `sf_${"A".repeat(43)}`,
    });
    expect(await del.done).toBe(2);
    expect(del.text).toContain("deleting needs --yes when not run on a terminal (or in CI)");
  });

  it("packages list on an 80-column terminal: every line fits, ids short, names cut in the middle", async () => {
    const u = await t.createUser();
    const env = { ...(await freshHome()), SF_URL: t.url, SF_TOKEN: u.token };
    const { SpeedyFiles } = await import("@speedyfiles/sdk");
    const mine = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    await mine.packages.create({
      title: `A very long title ${"that goes on ".repeat(6)}and ends here.pdf`,
      recipient_email: "a.rather.long.recipient.address@example.com",
      direction: "outbound",
      ttl_days: 3,
    });
    const pty = new Pty(`${process.execPath} ${BIN} packages list`, env, { cols: 80 });
    expect(await pty.done).toBe(0);
    const lines = pty.text.replace(/\r/g, "").trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(79);
    expect(lines[0]).toMatch(/^ID +STATUS +DIR +TITLE/);
    expect(lines[1]).toMatch(/^[0-9a-f]{8}  draft +out +A very .*….*\.pdf  a\.rather/);
  });
});

/** "abc" → "aabbcc": how a character echoed twice looks. */
function doubled(s: string): string {
  return [...s].map((c) => c + c).join("");
}
