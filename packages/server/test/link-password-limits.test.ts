import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "@speedyfiles/test-utils/expect";
import { secretOf } from "@speedyfiles/test-utils/links";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";

// Wrong link passwords: counted per package before the password is checked, so guesses sent at
// once, from many addresses, through many recipients' links, through links sent again or
// through several servers on one database get no more than SF_LINK_MAX_PASSWORD_FAILURES checks.

type User = Awaited<ReturnType<TestServer["createUser"]>>;
interface Finalized {
  id: string;
  links: { id: string; recipient_email: string; magic_link: string }[];
}

const PASSWORD = "correct horse battery";

/** A finalized package protected by PASSWORD, with one link per recipient. */
async function protectedPackage(t: TestServer, owner: User, recipients: string[]): Promise<Finalized> {
  const pkg = await createPackage(t, owner.token, { recipient_email: undefined, recipients: recipients.map((email) => ({ email })), password: PASSWORD });
  await addFile(t, owner.token, pkg.id, "a.txt", "alpha");
  const res = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: owner.token });
  expect(res.status).toBe(200);
  return (await res.json()) as Finalized;
}

const apiOf = (t: TestServer, magicLink: string) => `${t.api}/links/${secretOf(magicLink)}`;

/** One guess, from `address` (the test servers trust X-Forwarded-For from loopback); its status and code. */
async function guess(api: string, password: string, address: string): Promise<string> {
  const res = await fetch(api, { headers: { "X-Link-Password": password, "X-Forwarded-For": address } });
  const body = (await res.json()) as { code?: string };
  return `${res.status} ${body.code ?? "ok"}`;
}

/** How many times each answer came. */
function tally(answers: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a] = (out[a] ?? 0) + 1;
  return out;
}

describe.each(DATABASES)("link password guesses (%s)", (kind) => {
  let t: TestServer;
  let owner: User;

  beforeAll(async () => {
    // The defaults: 10 wrong passwords per link, 30 failures per address. 120 guesses from 8
    // addresses stay under the per-address limit, so only the per-package one can stop them.
    t = await startTestServer(kind, { env: { SF_TRUST_PROXY: "loopback", SF_LINK_MAX_PASSWORD_FAILURES: "10", SF_LINK_MAX_FAILURES_PER_IP: "30", SF_LINK_WINDOW_SECONDS: "600" } });
    owner = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("120 wrong guesses at once from 8 addresses: exactly 10 are checked, the rest 429; then the right one waits for the window", async () => {
    const fin = await protectedPackage(t, owner, ["cfo@acme.test"]);
    const api = apiOf(t, fin.links[0]!.magic_link);
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => guess(api, `wrong guess ${i}`, `198.51.100.${i % 8}`)));
    expect(tally(answers)).toEqual({ "403 link_password_wrong": 10, "429 rate_limited": 110 });

    // The right password is refused too until the window passes (from a fresh address).
    const limited = await fetch(api, { headers: { "X-Link-Password": PASSWORD, "X-Forwarded-For": "203.0.113.9" } });
    await expectError(limited, 429, "rate_limited");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    t.clock.advance(601_000);
    expect(await guess(api, PASSWORD, "203.0.113.9")).toBe("200 ok");
  });

  it("every recipient's link of one package shares the count, and sending the links again does not reset it", async () => {
    const fin = await protectedPackage(t, owner, ["r1@acme.test", "r2@acme.test", "r3@acme.test"]);
    const [a, b, c] = fin.links.map((l) => apiOf(t, l.magic_link)) as [string, string, string];
    // 4 + 3 wrong through three recipients' links: 7 of the package's 10.
    for (let i = 0; i < 4; i++) expect(await guess(a, `wrong a ${i}`, "192.0.2.1")).toBe("403 link_password_wrong");
    for (let i = 0; i < 3; i++) expect(await guess(i % 2 ? b : c, `wrong bc ${i}`, "192.0.2.2")).toBe("403 link_password_wrong");

    // Sent again: new secrets, the same package, the same count.
    const res = await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token });
    expect(res.status).toBe(200);
    const again = (await res.json()) as Finalized;
    const fresh = again.links.map((l) => apiOf(t, l.magic_link));
    expect(fresh).not.toContain(a);
    for (let i = 0; i < 3; i++) expect(await guess(fresh[i]!, `wrong again ${i}`, "192.0.2.3")).toBe("403 link_password_wrong");
    for (const l of fresh) expect(await guess(l, PASSWORD, "192.0.2.4")).toBe("429 rate_limited");

    // Another package of the same owner is not affected.
    const other = await protectedPackage(t, owner, ["r1@acme.test"]);
    expect(await guess(apiOf(t, other.links[0]!.magic_link), PASSWORD, "192.0.2.4")).toBe("200 ok");
  });

  it("the password form counts toward the same limit and answers a page when it is reached", async () => {
    const fin = await protectedPackage(t, owner, ["cfo@acme.test"]);
    const secret = secretOf(fin.links[0]!.magic_link);
    const post = (password: string, address: string) =>
      fetch(`${t.url}/l/${secret}`, {
        method: "POST",
        redirect: "manual",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": address },
        body: new URLSearchParams({ password }),
      });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`wrong form ${i}`, `198.51.100.${20 + (i % 3)}`)));
    expect(tally(answers.map((r) => String(r.status)))).toEqual({ "403": 10, "429": 20 });
    const limited = await post(PASSWORD, "203.0.113.10");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await limited.text()).toContain("Too many wrong passwords");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("link password guesses through two servers on one PostgreSQL database", () => {
  it.runIf(DATABASES.includes("postgres"))("60 wrong guesses split over both servers: exactly 10 are checked", async () => {
    const db = await createPgDatabase();
    const env = { SF_TRUST_PROXY: "loopback", SF_LINK_MAX_PASSWORD_FAILURES: "10" };
    const one = await startTestServer("postgres", { databaseUrl: db.url, env });
    const two = await startTestServer("postgres", { databaseUrl: db.url, env });
    try {
      const owner = await one.createUser();
      const fin = await protectedPackage(one, owner, ["cfo@acme.test"]);
      const secret = secretOf(fin.links[0]!.magic_link);
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => guess(`${(i % 2 ? one : two).api}/links/${secret}`, `wrong ${i}`, `198.51.100.${i % 6}`)));
      expect(tally(answers)).toEqual({ "403 link_password_wrong": 10, "429 rate_limited": 50 });
    } finally {
      await one.close();
      await two.close();
      await db.drop();
    }
  });
});
