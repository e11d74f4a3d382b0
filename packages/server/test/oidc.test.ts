import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPair, SignJWT } from "jose";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError, RAW_TOKEN, UUID } from "@speedyfiles/test-utils/expect";
import { OWNER_ID, REPOSITORY_ID, startTestIssuer, type TestIssuer } from "@speedyfiles/test-utils/oidc-issuer";
import { csrfOf, signedIn } from "@speedyfiles/test-utils/web";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { resolveToken } from "../src/services/tokens.js";

const GITHUB = "https://token.actions.githubusercontent.com";
const AUDIENCE = "https://files.example.com";

interface TrustPolicy {
  id: string;
  name: string;
  issuer: string;
  audience: string;
  conditions: Record<string, string>;
  user_email: string;
  scopes: string[];
  token_ttl_seconds: number;
  allowed_events: string[];
  created_at: string;
  updated_at: string;
}
interface Exchanged {
  token: string;
  expires_at: string;
  scopes: string[];
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe.each(DATABASES)("keyless CI: trust policies and the OIDC exchange (%s)", (kind) => {
  let t: TestServer;
  let issuer: TestIssuer;
  let bystander: TestIssuer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  let ci: Awaited<ReturnType<TestServer["createUser"]>>;
  let policy: TrustPolicy;

  const create = (body: Record<string, unknown>, token: string | undefined = admin.token) => t.fetch("/admin/trust-policies", { method: "POST", token, json: body });
  const exchange = (token: string) => t.fetch("/auth/oidc", { method: "POST", json: { token } });
  const policyBody = (over: Record<string, unknown> = {}) => ({
    name: "acme/app releases",
    issuer: issuer.url,
    audience: AUDIENCE,
    conditions: { repository_id: REPOSITORY_ID, ref: "refs/heads/main", sub: "repo:acme/app:ref:refs/heads/*" },
    user_email: ci.user.email,
    scopes: ["packages:read", "packages:write"],
    token_ttl_seconds: 600,
    ...over,
  });
  const sign = (o: Parameters<TestIssuer["sign"]>[0] = {}) => issuer.sign({ now: t.clock.now(), ...o });

  beforeAll(async () => {
    [issuer, bystander] = await Promise.all([startTestIssuer(), startTestIssuer()]);
    t = await startTestServer(kind, { env: { SF_OIDC_ALLOW_INSECURE_ISSUERS: "true", SF_LOGIN_MAX_FAILURES_PER_IP: "1000" } });
    [admin, ci] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
    const res = await create(policyBody());
    expect(res.status).toBe(201);
    policy = (await res.json()) as TrustPolicy;
  });
  afterAll(async () => {
    await t?.close();
    await issuer?.close();
    await bystander?.close();
  });

  it("creates, shows, lists and changes a trust policy (admin)", async () => {
    expect(policy).toMatchObject({
      id: expect.stringMatching(UUID),
      issuer: issuer.url,
      user_email: ci.user.email,
      scopes: ["packages:read", "packages:write"],
      token_ttl_seconds: 600,
      allowed_events: [],
    });
    const got = await t.fetch(`/admin/trust-policies/${policy.id}`, { token: admin.token });
    expect(await got.json()).toEqual(policy);
    const list = (await (await t.fetch("/admin/trust-policies", { token: admin.token })).json()) as TrustPolicy[];
    expect(list.map((p) => p.id)).toContain(policy.id);

    const extra = (await (await create(policyBody({ name: "to change", token_ttl_seconds: undefined }))).json()) as TrustPolicy;
    expect(extra.token_ttl_seconds).toBe(900);
    const patched = await t.fetch(`/admin/trust-policies/${extra.id}`, { method: "PATCH", token: admin.token, json: { name: "changed", token_ttl_seconds: 120 } });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: "changed", token_ttl_seconds: 120, conditions: extra.conditions });
    expect((await t.fetch(`/admin/trust-policies/${extra.id}`, { method: "DELETE", token: admin.token })).status).toBe(204);
    await expectError(await t.fetch(`/admin/trust-policies/${extra.id}`, { token: admin.token }), 404, "trust_policy_not_found");
  });

  it("is for admins only: 403 for a user, 401 anonymous, 404 unknown id, 422 malformed", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000";
    const calls: [string, RequestInit & { json?: unknown }][] = [
      ["/admin/trust-policies", {}],
      ["/admin/trust-policies", { method: "POST", json: policyBody() }],
      [`/admin/trust-policies/${policy.id}`, {}],
      [`/admin/trust-policies/${policy.id}`, { method: "PATCH", json: { name: "mine now" } }],
      [`/admin/trust-policies/${policy.id}`, { method: "DELETE" }],
    ];
    for (const [path, init] of calls) {
      await expectError(await t.fetch(path, { ...init, token: ci.token }), 403, "admin_required");
      await expectUnauthorized(await t.fetch(path, init));
    }
    await expectError(await t.fetch(`/admin/trust-policies/${unknown}`, { token: admin.token }), 404, "trust_policy_not_found");
    await expectError(await t.fetch(`/admin/trust-policies/${unknown}`, { method: "PATCH", token: admin.token, json: { name: "x" } }), 404, "trust_policy_not_found");
    await expectError(await t.fetch(`/admin/trust-policies/${unknown}`, { method: "DELETE", token: admin.token }), 404, "trust_policy_not_found");

    await expectValidationError(await create({ name: "no issuer" }));
    await expectValidationError(await create(policyBody({ conditions: {} })), "/body/conditions");
    await expectValidationError(await create(policyBody({ scopes: ["packages:write", "admin"] })), "/body/scopes");
    await expectValidationError(await create(policyBody({ scopes: ["tokens:write"] })), "/body/scopes");
    await expectValidationError(await create(policyBody({ scopes: ["everything"] })), "/body/scopes");
    await expectValidationError(await create(policyBody({ token_ttl_seconds: 3601 })), "/body/token_ttl_seconds");
    await expectValidationError(await create(policyBody({ user_email: "nobody@example.com" })), "/body/user_email");
    await expectValidationError(await create(policyBody({ issuer: "not a url" })), "/body/issuer");
    await expectValidationError(await create(policyBody({ allowed_events: ["push"] })));
    await expectValidationError(await create(policyBody({ conditions: { "bad claim": "x" } })), "/body/conditions");
    await expectValidationError(await t.fetch(`/admin/trust-policies/${policy.id}`, { method: "PATCH", token: admin.token, json: {} }));
    await expectValidationError(await t.fetch("/admin/trust-policies/not-a-uuid", { token: admin.token }));
  });

  it("refuses a GitHub policy that does not pin a numeric repository or owner id", async () => {
    const github = (conditions: Record<string, string>) => create(policyBody({ issuer: GITHUB, conditions }));
    const unpinned: Record<string, string>[] = [
      { repository: "acme/app" },
      { sub: "repo:acme/app:ref:refs/heads/main" },
      { repository_id: "12345*" },
      { repository_id: "acme" },
      { repository_owner_id: "**" },
    ];
    for (const conditions of unpinned) {
      const body = await expectValidationError(await github(conditions), "/body/conditions", "trust_policy_unpinned");
      expect(body.detail).toMatch(/repository_id/);
    }
    const pinned = await github({ repository_id: REPOSITORY_ID, ref: "refs/heads/main" });
    expect(pinned.status).toBe(201);
    // GitHub's enterprise issuers and gitlab.com too.
    await expectValidationError(
      await create(policyBody({ issuer: `${GITHUB}/acme-enterprise`, conditions: { repository: "acme/app" } })),
      "/body/conditions",
      "trust_policy_unpinned",
    );
    const gitlab = await expectValidationError(
      await create(policyBody({ issuer: "https://gitlab.com", conditions: { project_path: "acme/app" } })),
      "/body/conditions",
      "trust_policy_unpinned",
    );
    expect(gitlab.detail).toMatch(/project_id/);
    const byOwner = await github({ repository_owner_id: OWNER_ID });
    expect(byOwner.status).toBe(201);
    // An update that removes the pin is refused the same way.
    const { id } = (await pinned.json()) as TrustPolicy;
    await expectValidationError(
      await t.fetch(`/admin/trust-policies/${id}`, { method: "PATCH", token: admin.token, json: { conditions: { repository: "acme/app" } } }),
      "/body/conditions",
      "trust_policy_unpinned",
    );
    for (const p of [id, ((await byOwner.json()) as TrustPolicy).id]) await t.fetch(`/admin/trust-policies/${p}`, { method: "DELETE", token: admin.token });
  });

  it("exchanges a pipeline's ID token for a short-lived token that acts for the policy's user", async () => {
    const res = await exchange(await sign());
    expect(res.status).toBe(201);
    const body = (await res.json()) as Exchanged;
    expect(body.token).toMatch(RAW_TOKEN);
    expect(body.scopes).toEqual(["packages:read", "packages:write"]);
    expect(Date.parse(body.expires_at) - t.clock.now().getTime()).toBe(600_000);

    const me = await t.fetch("/me", { token: body.token });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { email: string }).email).toBe(ci.user.email);
    const pkg = await t.fetch("/packages", {
      method: "POST",
      token: body.token,
      json: { title: "build 42", recipient_email: "qa@example.com", direction: "outbound", ttl_days: 3 },
    });
    expect(pkg.status).toBe(201);

    // Stored like any token (hash and prefix), marked federated with its policy; not in the user's list.
    const row = (await t.running.services
      .db("api_tokens")
      .where({ prefix: body.token.slice(0, 11) })
      .first()) as Record<string, unknown>;
    expect(row).toMatchObject({ kind: "federated", trust_policy_id: policy.id, expires_at: body.expires_at });
    expect(JSON.stringify(row)).not.toContain(body.token);
    // The bearer authenticator's caller: a federated principal with the policy's scopes.
    const principal = await resolveToken(t.running.services, body.token);
    expect({ kind: principal.kind, userId: principal.userId, scopes: [...principal.scopes] }).toEqual({
      kind: "federated",
      userId: ci.user.id,
      scopes: ["packages:read", "packages:write"],
    });
    const mine = (await (await t.fetch("/me/tokens", { token: ci.token })).json()) as { prefix: string }[];
    expect(mine.map((x) => x.prefix)).not.toContain(body.token.slice(0, 11));

    // The audit trail names the policy and the claims that matched.
    const audit = (await t.running.services.db("audit_events").where({ type: "oidc.exchanged", subject_id: policy.id })) as { data: string; actor_user_id: string }[];
    expect(audit.length).toBeGreaterThan(0);
    const data = JSON.parse(audit.at(-1)!.data) as { policy: { id: string }; matched: Record<string, string>; claims: Record<string, unknown> };
    expect(audit.at(-1)!.actor_user_id).toBe(ci.user.id);
    expect(data.policy.id).toBe(policy.id);
    expect(data.matched).toEqual({ repository_id: REPOSITORY_ID, ref: "refs/heads/main", sub: "repo:acme/app:ref:refs/heads/main" });
    expect(data.claims).toMatchObject({ iss: issuer.url, jti: expect.any(String) });
  });

  it("the minted token holds only the policy's scopes: no admin operation, no new tokens", async () => {
    // Even a policy acting for an admin mints no admin token.
    const forAdmin = (await (
      await create(policyBody({ name: "for the admin", user_email: admin.user.email, conditions: { repository_id: REPOSITORY_ID, ref: "refs/heads/release" } }))
    ).json()) as TrustPolicy;
    const { token } = (await (await exchange(await sign({ claims: { ref: "refs/heads/release" } }))).json()) as Exchanged;
    expect(((await (await t.fetch("/me", { token })).json()) as { email: string }).email).toBe(admin.user.email);
    await expectError(await t.fetch("/admin/users", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/admin/trust-policies", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/me/tokens", { method: "POST", token, json: { name: "escape" } }), 403, "insufficient_scope");
    await t.fetch(`/admin/trust-policies/${forAdmin.id}`, { method: "DELETE", token: admin.token });
    // Deleting the policy ends the tokens it minted.
    await expectUnauthorized(await t.fetch("/me", { token }));
  });

  it("refuses bad tokens with 401 and the check that failed", async () => {
    const now = t.clock.now();
    const nowS = Math.floor(now.getTime() / 1000);
    await expectUnauthorized(await exchange(await sign({ claims: { aud: "https://other.example.com" } })), "oidc_audience_mismatch");
    await expectUnauthorized(await exchange(await sign({ now: new Date(now.getTime() - 10 * 60_000), ttlSeconds: 300 })), "oidc_token_expired");
    await expectUnauthorized(await exchange(await sign({ nbf: nowS + 600 })), "oidc_token_not_yet_valid");
    await expectUnauthorized(await exchange(await sign({ now: new Date(now.getTime() + 10 * 60_000) })), "oidc_token_not_yet_valid");
    // Within the 60 s leeway: accepted.
    expect((await exchange(await sign({ now: new Date(now.getTime() - 330_000), ttlSeconds: 300 }))).status).toBe(201);

    const stranger = await generateKeyPair("RS256");
    await expectUnauthorized(await exchange(await sign({ kid: "not-published", key: stranger.privateKey })), "oidc_key_unknown");
    // The published kid with another key's signature.
    await expectUnauthorized(await exchange(await sign({ key: stranger.privateKey })), "oidc_token_invalid");

    const claims = { iss: issuer.url, aud: AUDIENCE, sub: "repo:acme/app:ref:refs/heads/main", repository_id: REPOSITORY_ID, ref: "refs/heads/main", iat: nowS, exp: nowS + 300 };
    await expectUnauthorized(await exchange(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`), "oidc_algorithm_refused");
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: issuer.kid }).sign(new TextEncoder().encode(issuer.publicPem));
    await expectUnauthorized(await exchange(hs256), "oidc_algorithm_refused");

    await expectUnauthorized(await exchange("not.a.jwt"), "oidc_token_invalid");
    await expectUnauthorized(await exchange("garbage"), "oidc_token_invalid");
    await expectValidationError(await t.fetch("/auth/oidc", { method: "POST", json: {} }));
  });

  it("never contacts an issuer that no policy names", async () => {
    const token = await bystander.sign({ now: t.clock.now() });
    await expectUnauthorized(await exchange(token), "oidc_issuer_unknown");
    expect(bystander.fetches).toEqual({ discovery: 0, jwks: 0 });
  });

  it("refuses valid tokens no policy allows with 403, without saying what would pass", async () => {
    const wrongRepo = await expectError(await exchange(await sign({ claims: { repository_id: "111", repository: "evil/app" } })), 403, "oidc_no_matching_policy");
    expect(wrongRepo.detail).not.toMatch(new RegExp(`${REPOSITORY_ID}|refs/heads|repository`));
    await expectError(await exchange(await sign({ claims: { ref: "refs/heads/feature", sub: "repo:acme/app:ref:refs/heads/feature" } })), 403, "oidc_no_matching_policy");
    // `*` stays within one segment.
    await expectError(await exchange(await sign({ claims: { sub: "repo:acme/app:ref:refs/heads/main/x" } })), 403, "oidc_no_matching_policy");

    const prt = await sign({ claims: { event_name: "pull_request_target" } });
    await expectError(await exchange(prt), 403, "oidc_event_refused");
    await expectError(await exchange(await sign({ claims: { event_name: "workflow_run" } })), 403, "oidc_event_refused");
    const refused = await t.running.services.db("audit_events").where({ type: "oidc.refused" });
    expect(refused.length).toBeGreaterThanOrEqual(3);

    // Unless the policy says otherwise.
    const ok = await t.fetch(`/admin/trust-policies/${policy.id}`, { method: "PATCH", token: admin.token, json: { allowed_events: ["pull_request_target"] } });
    expect(ok.status).toBe(200);
    expect((await exchange(prt)).status).toBe(201);
    await t.fetch(`/admin/trust-policies/${policy.id}`, { method: "PATCH", token: admin.token, json: { allowed_events: [] } });
  });

  it("fetches an issuer's keys with a size cap, and only from the issuer its discovery document names", async () => {
    const bad = http.createServer((req, res) => {
      const base = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
      res.setHeader("Content-Type", "application/json");
      if (req.url === "/big/.well-known/openid-configuration") return res.end(JSON.stringify({ issuer: `${base}/big`, jwks_uri: `${base}/big/jwks` }));
      if (req.url === "/big/jwks") return res.end(JSON.stringify({ keys: [], padding: "x".repeat(300 * 1024) }));
      if (req.url === "/liar/.well-known/openid-configuration")
        return res.end(JSON.stringify({ issuer: "https://token.actions.githubusercontent.com", jwks_uri: `${base}/big/jwks` }));
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((resolve) => bad.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
      for (const name of ["big", "liar"]) {
        const made = (await (await create(policyBody({ name, issuer: `${base}/${name}` }))).json()) as TrustPolicy;
        const res = await exchange(await sign({ claims: { iss: `${base}/${name}` } }));
        await expectError(res, 503, "oidc_issuer_unreachable");
        await t.fetch(`/admin/trust-policies/${made.id}`, { method: "DELETE", token: admin.token });
      }
    } finally {
      bad.closeAllConnections();
      await new Promise<void>((resolve) => bad.close(() => resolve()));
    }
  });

  it("picks up a rotated key without a restart", async () => {
    const before = issuer.fetches.jwks;
    await issuer.rotate();
    // Within the refresh cooldown the unknown kid is not fetched for again.
    t.clock.advance(1000);
    await expectUnauthorized(await exchange(await sign()), "oidc_key_unknown");
    expect(issuer.fetches.jwks).toBe(before);
    t.clock.advance(31_000);
    const res = await exchange(await sign());
    expect(res.status).toBe(201);
    expect(issuer.fetches.jwks).toBe(before + 1);
  });

  it("the admin web page lists, adds (post/redirect/get, CSRF, escaped) and deletes trust policies", async () => {
    const browser = await signedIn(t, admin.user.email, admin.password);
    const page = await browser.get("/admin/trust-policies");
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain(policy.name);
    const csrf = csrfOf(text);
    const form = {
      _csrf: csrf,
      name: "<script>alert(1)</script> web",
      issuer: issuer.url,
      audience: AUDIENCE,
      conditions: `repository_id=${REPOSITORY_ID}\nenvironment=staging`,
      user_email: ci.user.email,
      scopes: ["packages:read", "packages:write"],
      token_ttl_seconds: "300",
    };
    const created = await browser.post("/admin/trust-policies", form);
    expect(created.status).toBe(303);
    expect(created.headers.get("location")).toBe("/admin/trust-policies?notice=created");
    const after = await (await browser.get("/admin/trust-policies?notice=created")).text();
    expect(after).toContain("&lt;script&gt;alert(1)&lt;/script&gt; web");
    expect(after).not.toContain("<script>alert(1)</script>");
    const list = (await (await t.fetch("/admin/trust-policies", { token: admin.token })).json()) as TrustPolicy[];
    const made = list.find((p) => p.name.endsWith(" web"))!;
    expect(made).toMatchObject({ conditions: { repository_id: REPOSITORY_ID, environment: "staging" }, token_ttl_seconds: 300 });

    // Refusals come back on the form, with what was typed; no CSRF token is 403.
    const refused = await browser.post("/admin/trust-policies", { ...form, issuer: GITHUB, conditions: "repository=acme/app" });
    expect(refused.status).toBe(422);
    expect(await refused.text()).toContain("repository_id");
    expect((await browser.post("/admin/trust-policies", { ...form, _csrf: "nope" })).status).toBe(403);
    expect((await browser.post(`/admin/trust-policies/${made.id}/delete`, { _csrf: "nope" })).status).toBe(403);

    const deleted = await browser.post(`/admin/trust-policies/${made.id}/delete`, { _csrf: csrf });
    expect(deleted.status).toBe(303);
    await expectError(await t.fetch(`/admin/trust-policies/${made.id}`, { token: admin.token }), 404, "trust_policy_not_found");

    // Not for users.
    const user = await signedIn(t, ci.user.email, ci.password);
    expect((await user.get("/admin/trust-policies")).status).toBe(403);
  });

  it("the minted token expires with the server's clock", async () => {
    const { token, expires_at } = (await (await exchange(await sign())).json()) as Exchanged;
    expect((await t.fetch("/me", { token })).status).toBe(200);
    t.clock.advance(Date.parse(expires_at) - t.clock.now().getTime() + 1000);
    await expectUnauthorized(await t.fetch("/me", { token }), "token_expired");
    // A day later the sweeper removes its row.
    const prefix = token.slice(0, 11);
    expect(await t.running.services.db("api_tokens").where({ prefix }).first()).toBeDefined();
    t.clock.advanceDays(1.01);
    await sweepOnce(t.running.services);
    expect(await t.running.services.db("api_tokens").where({ prefix }).first()).toBeUndefined();
    // Personal tokens are not the sweeper's.
    expect((await t.fetch("/me", { token: ci.token })).status).toBe(200);
  });
});

describe.each(DATABASES)("keyless CI with the default settings (%s)", (kind) => {
  let t: TestServer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "3" } });
    admin = await t.createUser({ role: "admin" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("refuses an http:// issuer unless SF_OIDC_ALLOW_INSECURE_ISSUERS is on", async () => {
    const body = {
      name: "lab",
      issuer: "http://127.0.0.1:9/",
      audience: AUDIENCE,
      conditions: { repository_id: REPOSITORY_ID },
      user_email: admin.user.email,
      scopes: ["packages:write"],
    };
    await expectValidationError(await t.fetch("/admin/trust-policies", { method: "POST", token: admin.token, json: body }), "/body/issuer", "issuer_insecure");
    const https = await t.fetch("/admin/trust-policies", { method: "POST", token: admin.token, json: { ...body, issuer: "https://gitlab.example.com" } });
    expect(https.status).toBe(201);
  });

  it("rate-limits refused exchanges per address", async () => {
    const token = `${b64url({ alg: "RS256" })}.${b64url({ iss: "https://unknown.example.com" })}.c2ln`;
    for (let i = 0; i < 3; i++) await expectUnauthorized(await t.fetch("/auth/oidc", { method: "POST", json: { token } }), "oidc_issuer_unknown");
    const limited = await t.fetch("/auth/oidc", { method: "POST", json: { token } });
    await expectError(limited, 429, "rate_limited");
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});
