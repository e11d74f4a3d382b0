import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import net from "node:net";
import { type AllowList, isForbiddenAddress, isLocalHostName } from "./addresses.js";

/** What one POST to a receiver came to. */
export interface Attempt {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  /** Why it failed, in a few words; null on success. */
  error: string | null;
  /**
   * The start of the response body, at most 1 KiB. Always null from a private address reached
   * through the allow-list: the delivery log must not let a user read internal services' answers.
   */
  excerpt: string | null;
}

const EXCERPT_BYTES = 1024;

export class ForbiddenAddress extends Error {}

/**
 * Of the addresses `hostname` resolved to, the first a webhook may not reach: a private or
 * reserved one (in any spelling, see addresses.ts) that the allow-list lets through neither by
 * the name nor by the address. Undefined when all may be reached.
 */
export function refusedAddress(hostname: string, addresses: { address: string; family: number }[], allow: AllowList): string | undefined {
  if (allow.allowsName(hostname)) return undefined;
  return addresses.find((a) => isForbiddenAddress(a.address) && !allow.allowsAddress(a.address))?.address;
}

/**
 * A DNS lookup that refuses forbidden addresses: net.connect connects to what this returns, so
 * the check holds for the address actually connected to, even if the name's DNS answer changed
 * since the webhook was registered (DNS rebinding). `onPrivate` is told when the answer holds a
 * private address the allow-list let through.
 */
function safeLookup(allow: AllowList, onPrivate: () => void): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const bad = refusedAddress(hostname, addresses, allow);
      // The address itself stays out of the message (it lands in the user's delivery log).
      if (bad) return callback(new ForbiddenAddress(`${hostname} resolves to a private or reserved address`), "", 0);
      if (addresses.some((a) => isForbiddenAddress(a.address))) onPrivate();
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), "", 0);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * Checks a URL a webhook may be registered with: http(s), no credentials, and a host that is not
 * private (a literal address, or a name meaning this machine) unless the allow-list names it.
 * `private` says the host is such an address or name, reachable only through the list. A host
 * name's DNS answer is checked when each delivery connects (postWebhook).
 */
export function checkWebhookUrl(raw: string, allow: AllowList): { ok: true; url: URL; private: boolean } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "url must be an absolute http(s) URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: "url must use http or https" };
  if (url.username || url.password) return { ok: false, reason: "url must not contain a user name or password" };
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) !== 0) {
    if (!isForbiddenAddress(host)) return { ok: true, url, private: false };
    if (allow.allowsAddress(host) || allow.allowsName(host)) return { ok: true, url, private: true };
    return { ok: false, reason: `url points at a private or reserved address (${host})` };
  }
  if (isLocalHostName(host)) {
    if (allow.allowsName(host)) return { ok: true, url, private: true };
    return { ok: false, reason: `url points at this machine (${host})` };
  }
  return { ok: true, url, private: false };
}

/**
 * POSTs `body` to `url`. No redirect is followed, the whole exchange is cut after `timeoutMs`, and
 * a private or reserved address is refused both as an IP literal and as a DNS answer, unless the
 * allow-list lets it through; what such an address answers is not kept (`excerpt` null). Never
 * throws: the outcome says what happened.
 */
export function postWebhook(rawUrl: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number; allow: AllowList }): Promise<Attempt> {
  const started = performance.now();
  const done = (a: Omit<Attempt, "durationMs">): Attempt => ({ ...a, durationMs: Math.round(performance.now() - started) });
  const checked = checkWebhookUrl(rawUrl, opts.allow);
  if (!checked.ok) return Promise.resolve(done({ ok: false, statusCode: null, error: checked.reason, excerpt: null }));
  const url = checked.url;
  let privateTarget = checked.private;

  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const finish = (a: Omit<Attempt, "durationMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(done(a));
    };
    const client = url.protocol === "https:" ? https : http;
    const req = client.request(url, {
      method: "POST",
      agent: false,
      lookup: safeLookup(opts.allow, () => {
        privateTarget = true;
      }),
      headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)) },
    });
    const timer = setTimeout(() => finish({ ok: false, statusCode: null, error: `timeout after ${opts.timeoutMs} ms`, excerpt: null }), opts.timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      const reason = err instanceof ForbiddenAddress ? err.message : err.code ? `${err.code}: ${err.message}` : err.message;
      finish({ ok: false, statusCode: null, error: reason.slice(0, 300), excerpt: null });
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const end = () => {
        const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8");
        const ok = status >= 200 && status < 300;
        finish({ ok, statusCode: status, error: ok ? null : `status ${status}`, excerpt: privateTarget ? null : excerpt || null });
      };
      res.on("data", (c: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(c);
        size += c.length;
        if (size >= EXCERPT_BYTES) end();
      });
      res.on("end", end);
      res.on("error", end);
    });
    req.end(body);
  });
}
