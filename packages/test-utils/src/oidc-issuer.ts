import http from "node:http";
import type { AddressInfo } from "node:net";
import crypto from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/**
 * A real OpenID Connect issuer on loopback for tests: a discovery document and a JWKS over HTTP,
 * keys made with jose, ID tokens shaped like GitHub Actions' signed with them. `rotate()` switches
 * to a new key and kid (the old one is no longer published), as an issuer's key rotation does.
 */
export interface TestIssuer {
  /** `http://127.0.0.1:<port>`: the `iss` of its tokens. */
  url: string;
  kid: string;
  privateKey: CryptoKey;
  /** The public key as PEM (for the HS256-with-the-public-key attack). */
  publicPem: string;
  /** How many times the discovery document and the JWKS were fetched. */
  fetches: { discovery: number; jwks: number };
  /** A GitHub-shaped ID token, signed now-relative to `now` (the server's clock), with overrides. */
  sign(opts?: { now?: Date; claims?: JWTPayload; kid?: string; key?: CryptoKey; ttlSeconds?: number; nbf?: number }): Promise<string>;
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export const REPOSITORY_ID = "123456789";
export const OWNER_ID = "987654";

export async function startTestIssuer(): Promise<TestIssuer> {
  let current = await newKey();
  const fetches = { discovery: 0, jwks: 0 };
  const server = http.createServer((req, res) => {
    const send = (body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.url === "/.well-known/openid-configuration") {
      fetches.discovery++;
      return send({ issuer: issuer.url, jwks_uri: `${issuer.url}/.well-known/jwks`, id_token_signing_alg_values_supported: ["RS256"] });
    }
    if (req.url === "/.well-known/jwks") {
      fetches.jwks++;
      return send({ keys: [current.jwk] });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const issuer: TestIssuer = {
    url,
    kid: current.kid,
    privateKey: current.privateKey,
    publicPem: current.publicPem,
    fetches,
    async sign(o = {}) {
      const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
      const claims: JWTPayload = {
        sub: "repo:acme/app:ref:refs/heads/main",
        repository: "acme/app",
        repository_id: REPOSITORY_ID,
        repository_owner: "acme",
        repository_owner_id: OWNER_ID,
        ref: "refs/heads/main",
        environment: "production",
        workflow_ref: "acme/app/.github/workflows/release.yml@refs/heads/main",
        event_name: "push",
        run_id: "42",
        ...o.claims,
      };
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: o.kid ?? issuer.kid, typ: "JWT" })
        .setIssuer(typeof o.claims?.iss === "string" ? o.claims.iss : url)
        .setAudience(o.claims?.aud ?? "https://files.example.com")
        .setIssuedAt(now)
        .setNotBefore(o.nbf ?? now)
        .setExpirationTime(now + (o.ttlSeconds ?? 300))
        .setJti(crypto.randomUUID())
        .sign(o.key ?? issuer.privateKey);
    },
    async rotate() {
      current = await newKey();
      issuer.kid = current.kid;
      issuer.privateKey = current.privateKey;
      issuer.publicPem = current.publicPem;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return issuer;
}

async function newKey(): Promise<{ kid: string; privateKey: CryptoKey; jwk: JWK; publicPem: string }> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = crypto.randomBytes(8).toString("hex");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, jwk, publicPem: await exportSPKI(publicKey) };
}
