import { expect } from "vitest";
import { startTestServer, type DbKind, type TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import type { WebClient } from "@speedyfiles/test-utils/web";
import { freePort, signInAtProvider, startTestProvider, type TestProvider } from "./provider.js";

export interface SsoSetup {
  t: TestServer;
  provider: TestProvider;
  /** The server's public URL (`http://localhost:<port>`): the redirect URI registered at the provider derives from it. */
  publicUrl: string;
  close(): Promise<void>;
}

/**
 * A SpeedyFiles server with single sign-on through a fresh test provider. The server's port is
 * chosen first, so its public URL, and with it the redirect URI the provider registers, is known
 * before either starts. The public URL says `localhost` and the provider `127.0.0.1`: two sites,
 * as a company's provider and SpeedyFiles are.
 */
export async function startSsoServer(kind: DbKind, o: { env?: Record<string, string>; claimsInIdToken?: boolean; clock?: TestClock } = {}): Promise<SsoSetup> {
  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  const provider = await startTestProvider(publicUrl, { claimsInIdToken: o.claimsInIdToken ?? false });
  let t: TestServer;
  try {
    t = await startTestServer(kind, { ...(o.clock ? { clock: o.clock } : {}), env: { SF_PORT: String(port), SF_PUBLIC_URL: publicUrl, ...provider.env(), ...o.env } });
  } catch (err) {
    await provider.close();
    throw err;
  }
  return {
    t,
    provider,
    publicUrl,
    async close() {
      await t.close();
      await provider.close();
    },
  };
}

/** Starts a sign-in at SpeedyFiles (the button's link): the answer, a redirect to the provider. */
export async function startSso(c: WebClient, next?: string): Promise<string> {
  const res = await c.get(next ? `/login/sso?next=${encodeURIComponent(next)}` : "/login/sso");
  expect(res.status).toBe(303);
  return res.headers.get("location")!;
}

/** The path and query of the provider's redirect back, to open on the test server. */
export function callbackPath(back: URL): string {
  return `${back.pathname}${back.search}`;
}

/** A whole sign-in as `login` at the provider, through the browser `c`; the callback's answer. */
export async function ssoSignIn(c: WebClient, login: string, next?: string): Promise<Response> {
  const back = await signInAtProvider(await startSso(c, next), login);
  return c.get(callbackPath(back));
}
