import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { serverProcess } from "@speedyfiles/test-utils/process";
import { ConfigError, loadConfig } from "../src/config.js";

// The SF_SSO_* settings and SF_PASSWORD_LOGIN (no database, no provider): what is read, what is
// refused, and that the client secret is printed nowhere. test/sso.test.ts has the sign-ins.

describe("single sign-on settings", () => {
  const base = { SF_SSO_ISSUER: "https://login.example.com/realms/acme", SF_SSO_CLIENT_ID: "speedyfiles", SF_SSO_CLIENT_SECRET: "Sd9qTz-hunter2-secret" };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return "";
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.message;
    }
  };

  it("reads the settings, derives the redirect URI from SF_PUBLIC_URL, and never shows the client secret", () => {
    const c = loadConfig({ ...base, SF_PUBLIC_URL: "https://files.example.com/", SF_SSO_GROUPS_CLAIM: "groups", SF_SSO_ADMIN_GROUPS: "a, b ,,c" });
    expect(c.sso).toMatchObject({
      issuer: base.SF_SSO_ISSUER,
      clientId: "speedyfiles",
      scopes: ["openid", "email", "profile"],
      emailClaim: "email",
      groupsClaim: "groups",
      adminGroups: ["a", "b", "c"],
      createUsers: true,
      signOut: "local",
      redirectUri: "https://files.example.com/login/sso/callback",
      postLogoutRedirectUri: "https://files.example.com/login",
    });
    expect(c.passwordLogin).toBe(true);
    expect(c.sso!.clientSecret!.reveal()).toBe(base.SF_SSO_CLIENT_SECRET);
    for (const shown of [JSON.stringify(c), inspect(c, { depth: 10 }), `${c.sso!.clientSecret}`]) expect(shown).not.toContain("hunter2");
    expect(loadConfig({}).sso).toBeNull();
  });

  it("refuses what cannot work, in one message, without the secret", () => {
    const cases: [Record<string, string>, string][] = [
      [{ ...base, SF_SSO_ISSUER: "http://login.example.com" }, "SF_SSO_ISSUER must be an https:// URL"],
      [{ ...base, SF_SSO_ISSUER: "https://user:pw@login.example.com" }, "must not hold a user name or password"],
      [{ ...base, SF_SSO_ISSUER: "https://login.example.com/?tenant=1" }, "must not have a query"],
      [{ ...base, SF_SSO_ISSUER: "not a url" }, "SF_SSO_ISSUER must be an https:// URL"],
      [{ ...base, SF_SSO_CLIENT_ID: "" }, "SF_SSO_CLIENT_ID is required"],
      [{ ...base, SF_SSO_SCOPES: "email profile" }, "SF_SSO_SCOPES must include openid"],
      [{ ...base, SF_SSO_ADMIN_GROUPS: "admins" }, "SF_SSO_ADMIN_GROUPS needs SF_SSO_GROUPS_CLAIM"],
      [{ ...base, SF_SSO_SIGN_OUT: "everywhere" }, "SF_SSO_SIGN_OUT must be local or provider"],
      [{ ...base, SF_SSO_CREATE_USERS: "maybe" }, "SF_SSO_CREATE_USERS must be true or false"],
      [{ SF_PASSWORD_LOGIN: "false" }, "SF_PASSWORD_LOGIN=false needs single sign-on"],
      [{ SF_SSO_CLIENT_ID: "x", SF_SSO_CLIENT_SECRET: "Sd9qTz-hunter2-secret" }, "SF_SSO_CLIENT_ID, SF_SSO_CLIENT_SECRET are set but SF_SSO_ISSUER is not"],
    ];
    for (const [env, text] of cases) {
      const message = problems(env);
      expect(message, JSON.stringify(env)).toContain(text);
      expect(message).not.toContain("hunter2");
    }
  });

  it("the start banner names the provider and the redirect URI to register; the secret is printed nowhere, even when a setting is refused", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-sso-banner-"));
    try {
      const env = { SF_DATA_DIR: dataDir, SF_PORT: "0", SF_LOG_LEVEL: "info", SF_PUBLIC_URL: "https://files.example.com", SF_PASSWORD_LOGIN: "false", ...base };
      const p = serverProcess([], env);
      await p.waitFor(/API docs: /);
      await p.waitFor(/Password sign-in is off: sign in through single sign-on as admin@localhost/);
      p.kill("SIGTERM");
      await p.code;
      const printed = `${p.stdout()}${p.stderr()}`;
      expect(printed).toContain("Single sign-on: https://login.example.com/realms/acme, redirect URI https://files.example.com/login/sso/callback (password sign-in is off)");
      expect(printed).not.toContain("hunter2");

      const bad = serverProcess([], { ...env, SF_SSO_ISSUER: "http://login.example.com" });
      expect(await bad.code).not.toBe(0);
      expect(bad.stderr()).toContain("SF_SSO_ISSUER must be an https:// URL");
      expect(`${bad.stdout()}${bad.stderr()}`).not.toContain("hunter2");
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it("takes an http:// issuer on this machine, or elsewhere only when asked", () => {
    for (const issuer of ["http://127.0.0.1:8081", "http://localhost:8081/realms/x", "http://[::1]:8081"]) expect(problems({ ...base, SF_SSO_ISSUER: issuer })).toBe("");
    expect(problems({ ...base, SF_SSO_ISSUER: "http://idp.lab.internal", SF_SSO_ALLOW_INSECURE_ISSUER: "true" })).toBe("");
    // A public client (PKCE alone) needs no secret; password sign-in may be off once SSO is set up.
    expect(problems({ SF_SSO_ISSUER: base.SF_SSO_ISSUER, SF_SSO_CLIENT_ID: "public-client", SF_PASSWORD_LOGIN: "false" })).toBe("");
  });
});
