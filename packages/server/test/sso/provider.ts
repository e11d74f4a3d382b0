import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type KoaContextWithOIDC } from "oidc-provider";
import { CookieJar } from "@speedyfiles/test-utils/web";

/**
 * A real OpenID provider for the single sign-on tests: oidc-provider 9 on loopback, in real time
 * (no test clock: it signs ID tokens that openid-client checks against the real date), with one
 * confidential client registered for SpeedyFiles and accounts the test defines. Its sign-in page
 * is oidc-provider's development one: any password, the login name is the account's id. Consent
 * is given by itself (a company's own app), as providers do for first-party clients.
 */

/** The claims a test account has at the provider (its login name is its `sub`). */
export interface ProviderAccount {
  email?: string;
  email_verified?: boolean | string;
  name?: string;
  groups?: string[];
}

export interface TestProvider {
  /** The issuer: `http://127.0.0.1:<port>`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Login name → claims; add or change accounts at any time. */
  accounts: Map<string, ProviderAccount>;
  /** The SF_SSO_* settings that point SpeedyFiles at this provider. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** A free loopback port (for a SpeedyFiles server whose public URL must be known before it starts). */
export async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Starts the provider for a SpeedyFiles server at `publicUrl`, whose redirect URI
 * (`/login/sso/callback`) and post-logout URI (`/login`) it registers. `claimsInIdToken` puts
 * the email and groups in the ID token; otherwise (oidc-provider's default, as Okta's and
 * others') they are only in the UserInfo answer. `port`: listen there (a provider that comes back).
 */
export async function startTestProvider(publicUrl: string, o: { claimsInIdToken?: boolean; port?: number } = {}): Promise<TestProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = "speedyfiles";
  const clientSecret = crypto.randomBytes(24).toString("base64url");
  const accounts = new Map<string, ProviderAccount>();
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: crypto.randomBytes(6).toString("hex"), alg: "RS256", use: "sig" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/login/sso/callback`],
        post_logout_redirect_uris: [`${publicUrl}/login`],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(24).toString("hex")] },
    scopes: ["openid", "email", "profile", "groups"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    conformIdTokenClaims: !o.claimsInIdToken,
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    findAccount: (_ctx, sub) => {
      const claims = accounts.get(sub);
      return claims ? { accountId: sub, claims: () => ({ sub, ...claims }) } : undefined;
    },
    // Consent given by itself, for every scope this provider has.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { client, session, result, provider: p } = ctx.oidc;
      const grantId = result?.consent?.grantId ?? (client && session?.grantIdFor(client.clientId));
      if (grantId) return p.Grant.find(grantId);
      const grant = new p.Grant({ clientId: client!.clientId, accountId: session?.accountId });
      grant.addOIDCScope("openid email profile groups");
      grant.addOIDCClaims(["email", "email_verified", "name", "groups"]);
      await grant.save();
      return grant;
    },
  });
  server.on("request", provider.callback());

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    env: (extra = {}) => ({
      SF_SSO_ISSUER: issuer,
      SF_SSO_CLIENT_ID: clientId,
      SF_SSO_CLIENT_SECRET: clientSecret,
      SF_SSO_SCOPES: "openid email profile groups",
      ...extra,
    }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What a person does at the provider, with fetch: from the authorization URL SpeedyFiles sent the
 * browser to, through the provider's sign-in form as `login`, to the redirect back to SpeedyFiles
 * (returned, not followed). A fresh cookie jar each time: a fresh browser at the provider.
 */
export async function signInAtProvider(authorizationUrl: string, login: string): Promise<URL> {
  const jar = new CookieJar();
  let url = new URL(authorizationUrl);
  const origin = url.origin;
  for (let hop = 0; hop < 12; hop++) {
    let res = await fetch(url, { redirect: "manual", headers: { Cookie: jar.header() } });
    jar.store(res);
    if (res.status === 200) {
      // The development sign-in form: post the login name and any password.
      const page = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      if (!action) throw new Error(`no form at ${url.pathname}: ${page.slice(0, 300)}`);
      res = await fetch(new URL(action.replace(/&amp;/g, "&"), origin), {
        method: "POST",
        redirect: "manual",
        headers: { Cookie: jar.header(), "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ prompt: "login", login, password: "any" }),
      });
      jar.store(res);
    }
    const location = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`the provider answered ${res.status} at ${url.pathname}: ${(await res.text()).slice(0, 300)}`);
    url = new URL(location, url);
    if (url.origin !== origin) return url;
  }
  throw new Error("too many redirects at the provider");
}
