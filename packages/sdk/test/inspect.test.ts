// A script's `console.log(err)` shows what happened, not a list of empty fields.
import net from "node:net";
import { fileURLToPath } from "node:url";
import util from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { AbortError, ApiError, NetworkError, NotFoundError, SpeedyFiles, TimeoutError } from "../src/index.js";

describe.each(DATABASES)("printed errors (%s)", (kind) => {
  let t: TestServer;
  let sf: SpeedyFiles;

  beforeAll(async () => {
    t = await startTestServer(kind);
    sf = new SpeedyFiles({ baseUrl: t.url, token: (await t.createUser()).token });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The error a call throws. */
  async function caught(p: Promise<unknown>): Promise<Error> {
    try {
      await p;
    } catch (err) {
      return err as Error;
    }
    throw new Error("did not throw");
  }

  it("util.inspect shows only the fields that are set", async () => {
    const notFound = await caught(sf.packages.get("0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55"));
    expect(notFound).toBeInstanceOf(NotFoundError);
    const unauth = await caught(new SpeedyFiles({ baseUrl: t.url, token: `sf_${"x".repeat(43)}` }).me());
    expect(unauth).toBeInstanceOf(ApiError);
    // A port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const network = await caught(new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token: `sf_${"x".repeat(43)}`, retry: { retries: 0 } }).me());
    expect(network).toBeInstanceOf(NetworkError);
    const ac = new AbortController();
    ac.abort();
    const aborted = await caught(sf.send({ files: [fileURLToPath(import.meta.url)], to: "a@b.co", signal: ac.signal }));
    expect(aborted).toBeInstanceOf(AbortError);
    const slow = await caught(new SpeedyFiles({ baseUrl: t.url, token: `sf_${"x".repeat(43)}`, timeoutMs: 1, retry: { retries: 0 } }).me());
    expect(slow).toBeInstanceOf(TimeoutError);

    for (const err of [notFound, unauth, network, aborted, slow]) {
      const shown = util.inspect(err);
      expect(shown, shown).not.toMatch(/\b\w+: undefined\b/);
      expect(shown).not.toContain("orphanedPackageId");
      expect(shown).not.toContain("cleanupError");
      expect(shown).not.toContain("resumablePackageId");
    }
    // What is set still shows, and reads as before.
    expect(util.inspect(notFound)).toMatch(/status: 404/);
    expect(util.inspect(notFound)).toMatch(/requestId: '/);
    expect((notFound as NotFoundError).requestId).toMatch(/./);
    expect((network as NetworkError).method).toBe("GET");
  });
});
