import { createLocalJWKSet, type JSONWebKeySet, type JWK, type LocalJWKSet } from "jose";
import type { Services } from "../services/context.js";
import { IssuerUnreachable } from "./errors.js";

/**
 * The signing keys of the OIDC issuers that trust policies name, found through each issuer's
 * discovery document (`<issuer>/.well-known/openid-configuration` → `jwks_uri`) and cached per
 * server. Only an issuer a policy names is ever passed here (services/oidc-exchange.ts looks the
 * policies up by the token's `iss` first), so a caller cannot make the server fetch a host of its
 * choosing. Ages and the refresh cooldown follow the server's clock, like every other decision.
 */

/** Keys older than this are fetched again before use (a failed refetch keeps the old ones). */
const MAX_AGE_MS = 10 * 60_000;
/** A token with an unknown `kid` refetches the keys at most this often per issuer. */
const REFRESH_COOLDOWN_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;
/** Discovery documents and key sets are small; anything bigger is refused unread. */
const MAX_BYTES = 256 * 1024;

interface IssuerKeys {
  keySet: LocalJWKSet;
  fetchedAt: number;
}

interface Cache {
  keys: Map<string, IssuerKeys>;
  lastFetch: Map<string, number>;
  inflight: Map<string, Promise<IssuerKeys>>;
}

// One cache per running server (Services), so two test servers in a process never share one.
const caches = new WeakMap<Services, Cache>();

function cacheOf(s: Services): Cache {
  let c = caches.get(s);
  if (!c) {
    c = { keys: new Map(), lastFetch: new Map(), inflight: new Map() };
    caches.set(s, c);
  }
  return c;
}

/** The issuer's keys, fetched when not cached or too old. */
export async function issuerKeys(s: Services, issuer: string): Promise<LocalJWKSet> {
  const c = cacheOf(s);
  const cached = c.keys.get(issuer);
  const now = s.clock().getTime();
  if (cached && now - cached.fetchedAt < MAX_AGE_MS) return cached.keySet;
  try {
    return (await load(s, issuer)).keySet;
  } catch (err) {
    // The issuer is down for a moment: the keys we had are still the best answer.
    if (cached) return cached.keySet;
    throw err;
  }
}

/**
 * After a token named a key the cached set lacks (the issuer rotated its keys): the keys fetched
 * again, or null when they were fetched less than the cooldown ago (a flood of tokens with made-up
 * `kid`s costs the issuer one request per cooldown).
 */
export async function refreshedIssuerKeys(s: Services, issuer: string): Promise<LocalJWKSet | null> {
  const c = cacheOf(s);
  const last = c.lastFetch.get(issuer);
  if (last !== undefined && s.clock().getTime() - last < REFRESH_COOLDOWN_MS && !c.inflight.has(issuer)) return null;
  return (await load(s, issuer)).keySet;
}

function load(s: Services, issuer: string): Promise<IssuerKeys> {
  const c = cacheOf(s);
  const running = c.inflight.get(issuer);
  if (running) return running;
  c.lastFetch.set(issuer, s.clock().getTime());
  const p = fetchIssuerKeys(s, issuer)
    .then((keySet) => {
      const entry = { keySet, fetchedAt: s.clock().getTime() };
      c.keys.set(issuer, entry);
      return entry;
    })
    .finally(() => c.inflight.delete(issuer));
  c.inflight.set(issuer, p);
  return p;
}

async function fetchIssuerKeys(s: Services, issuer: string): Promise<LocalJWKSet> {
  try {
    const discovery = await fetchJson(`${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
    if (typeof discovery !== "object" || discovery === null) throw new Error("the discovery document is not a JSON object");
    const doc = discovery as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if (doc.issuer !== issuer) throw new Error(`the discovery document names the issuer ${JSON.stringify(doc.issuer)}`);
    if (typeof doc.jwks_uri !== "string") throw new Error("the discovery document has no jwks_uri");
    const jwksUrl = new URL(doc.jwks_uri);
    if (jwksUrl.protocol !== "https:" && !(jwksUrl.protocol === "http:" && s.config.oidcAllowInsecureIssuers)) {
      throw new Error("jwks_uri is not https");
    }
    const jwks = await fetchJson(jwksUrl.toString());
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error("the key set has no keys");
    // Only public keys: a symmetric (`oct`) key in an issuer's set is never a way to verify.
    const usable = keys.filter((k): k is JWK => typeof k === "object" && k !== null && (k as JWK).kty !== "oct");
    const set: JSONWebKeySet = { keys: usable };
    return createLocalJWKSet(set);
  } catch (err) {
    s.logger.warn({ issuer, err: (err as Error).message }, "could not fetch an OIDC issuer's keys");
    throw new IssuerUnreachable();
  }
}

/** GET a small JSON document: a time limit, no redirects, at most MAX_BYTES. */
async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { redirect: "error", headers: { Accept: "application/json" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > MAX_BYTES) {
    await res.body?.cancel();
    throw new Error(`${url} is larger than ${MAX_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BYTES) {
        await reader.cancel();
        throw new Error(`${url} is larger than ${MAX_BYTES} bytes`);
      }
      chunks.push(value);
    }
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
}
