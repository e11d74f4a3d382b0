import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { formatWait, parseWaitDuration } from "../src/commands/wait-for-download.js";
import { EXIT_CODES_HELP, ExitCode } from "../src/exit-codes.js";
import { baseEnv, startSf } from "./proc.js";
import { sf, tempDir } from "./helpers.js";

describe("--wait-for-download durations", () => {
  it("reads 90s, 2h, 1h30m, 1d and bare seconds; the flag alone is 24h; nonsense is a usage error", () => {
    expect(parseWaitDuration("90s")).toBe(90_000);
    expect(parseWaitDuration("2h")).toBe(7_200_000);
    expect(parseWaitDuration("1h30m")).toBe(5_400_000);
    expect(parseWaitDuration("1d")).toBe(86_400_000);
    expect(parseWaitDuration("45")).toBe(45_000);
    expect(parseWaitDuration(true)).toBe(86_400_000);
    for (const bad of ["soon", "10x", "", "0s", "31d", "report.pdf"]) expect(() => parseWaitDuration(bad), bad).toThrow(/--wait-for-download/);
    expect(formatWait(86_400_000)).toBe("24h");
    expect(formatWait(90_000)).toBe("1m30s");
    expect(ExitCode.WAIT_TIMEOUT).toBe(6);
    expect(EXIT_CODES_HELP).toMatch(/^ {2}6 {4}`sf send --wait-for-download`/m);
  });
});

describe.each(DATABASES)("scoped tokens and waiting for the download with sf (%s)", (kind) => {
  let t: TestServer;
  let work: string;
  let file: string;
  let env: Record<string, string>;
  let user: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    t = await startTestServer(kind);
    work = await tempDir("sf-wait-");
    file = path.join(work, "build.txt");
    await fs.writeFile(file, "artifact\n");
    user = await t.createUser();
    env = { SF_URL: t.url, SF_TOKEN: user.token };
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("sf tokens create --scope (repeated or comma-separated) makes a limited token; list shows the scopes", async () => {
    const c = await sf(["tokens", "create", "ci", "--scope", "packages:write", "--scope", "packages:read", "--json"], { env });
    expect(c.code, c.stderr).toBe(0);
    const created = JSON.parse(c.stdout) as { token: string; scopes: string[]; kind: string };
    expect(created).toMatchObject({ kind: "personal", scopes: ["packages:read", "packages:write"] });
    const limited = { SF_URL: t.url, SF_TOKEN: created.token };
    expect((await sf(["send", file, "--to", "qa@acme.com", "--json"], { env: limited })).code).toBe(0);
    const hooks = await sf(["webhooks", "list"], { env: limited });
    expect(hooks.code).toBe(3);
    expect(hooks.stderr).toContain("lacks the scope 'webhooks:read'");

    const comma = await sf(["tokens", "create", "reader", "--scope", "packages:read,webhooks:read"], { env });
    expect(comma.code, comma.stderr).toBe(0);
    expect(comma.stderr).toContain("scopes packages:read, webhooks:read");
    const list = await sf(["tokens", "list"], { env, ttyColumns: 200 });
    expect(list.stdout).toContain("SCOPES");
    expect(list.stdout).toContain("packages:read,webhooks:read");

    const typo = await sf(["tokens", "create", "x", "--scope", "package:write"], { env });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("--scope must be one of");
    // A limited token cannot mint a wider one.
    const wider = await sf(["tokens", "create", "y", "--scope", "webhooks:write"], { env: limited });
    expect(wider.code).toBe(3);
  });

  it("--wait-for-download=30s (a separate sf process) exits 0 once each recipient has downloaded everything", async () => {
    const home = await tempDir("sf-home-");
    const run = startSf(["send", file, "--to", "cfo@acme.com", "--to", "audit@acme.com", "--json", "--wait-for-download=30s"], { ...baseEnv(home), ...env });
    run.child.stdin.end();
    await run.waitForStderr(/Waiting up to 30s for 2 recipients to download everything…/);
    const client = new SpeedyFiles({ baseUrl: t.url, token: user.token });
    const details = await Promise.all((await client.packages.list({ per_page: 100 })).items.map((p) => client.packages.get(p.id)));
    const pkg = details.find((d) => d.links.some((l) => l.recipient_email === "audit@acme.com"));
    // Each recipient's own link: the secrets went by mail; resending shows fresh ones (same recipients).
    const resent = await client.packages.resend(pkg!.id);
    const secretOf = (email: string) => /\/l\/([A-Za-z0-9_-]{43})$/.exec(resent.links.find((l) => l.recipient_email === email)!.magic_link)![1]!;
    await client.links.downloadAll(`${t.url}/l/${secretOf("cfo@acme.com")}`, await tempDir("sf-dl-"));
    await run.waitForStderr(/cfo@acme\.com downloaded everything/);
    const archive = await fetch(`${t.api}/links/${secretOf("audit@acme.com")}/archive`);
    expect(archive.status).toBe(200);
    await archive.arrayBuffer();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("audit@acme.com downloaded everything");
    const out = JSON.parse(r.stdout) as { downloads: { recipient_email: string; completed_at: string }[] };
    expect(out.downloads.map((d) => d.recipient_email).sort()).toEqual(["audit@acme.com", "cfo@acme.com"]);
    expect(out.downloads.every((d) => !Number.isNaN(Date.parse(d.completed_at)))).toBe(true);
  }, 60_000);

  it("--wait-for-download=2s with no download exits 6 and says who is missing", async () => {
    const started = Date.now();
    const r = await sf(["send", file, "--to", "late@acme.com", "--wait-for-download=2s"], { env });
    expect(r.code).toBe(ExitCode.WAIT_TIMEOUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(r.stdout).toMatch(/\/l\/[A-Za-z0-9_-]{43}\n$/);
    expect(r.stderr).toContain("Waiting up to 2s for 1 recipient to download everything…");
    expect(r.stderr).toContain("gave up waiting after 2s: late@acme.com has not downloaded everything yet");
    const json = await sf(["send", file, "--to", "late@acme.com", "--json", "--wait-for-download=1s"], { env });
    expect(json.code).toBe(ExitCode.WAIT_TIMEOUT);
    expect(JSON.parse(json.stdout)).toMatchObject({ downloads: [] });
  }, 30_000);
});
