import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { sf, tempDir } from "./helpers.js";

// A server that uses single sign-on with password sign-in turned off (SF_PASSWORD_LOGIN=false):
// `sf login` cannot use a password there, and says how to get in with a token instead. (The
// provider is never asked: the server discovers it on a browser's first sign-in.)
describe.each(DATABASES)("sf login against a server with password sign-in off (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(kind, {
      env: { SF_PASSWORD_LOGIN: "false", SF_SSO_ISSUER: "https://login.example.test/realms/acme", SF_SSO_CLIENT_ID: "speedyfiles", SF_SSO_CLIENT_SECRET: "not-used-here" },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a password login says to create a token on the web's tokens page and use --with-token (exit 3, nothing saved)", async () => {
    const u = await t.createUser();
    const env = { XDG_CONFIG_HOME: await tempDir("sf-xdg-") };
    const r = await sf(["login", "--url", t.url, "--email", u.user.email, "--password-stdin"], { env, stdin: `${u.password}\n` });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `error: ${t.url} does not take passwords (it uses single sign-on): sign in on the web, create a token at ${t.url}/account/tokens, then run: sf login --url ${t.url} --with-token < token.txt\n`,
    );
    await expect(fs.stat(path.join(env.XDG_CONFIG_HOME, "speedyfiles", "config.json"))).rejects.toThrow();
  });

  it("logs in with a token made on the web (--with-token)", async () => {
    const u = await t.createUser();
    const env = { XDG_CONFIG_HOME: await tempDir("sf-xdg-") };
    const r = await sf(["login", "--url", t.url, "--with-token"], { env, stdin: `${u.token}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect((await sf(["whoami"], { env })).stdout.trim()).toBe(u.user.email);
  });
});
