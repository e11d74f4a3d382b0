// The recipient page's decrypting service worker (served as /decrypt-sw.js, scope /decrypt/).
// The page hands it one download at a time through postMessage: the ciphertext's URL on our own
// origin, the key, and the plaintext name, size and SHA-256 from the file's sealed entry. Then the
// page navigates a hidden iframe to /decrypt/<id>, and this worker answers that navigation
// with the plaintext as it streams: ciphertext from the API → age STREAM decryption → SHA-256 and
// byte count → an ordinary download. Memory stays flat whatever the size: the ciphertext's age
// header is capped (limits.js) before the Decrypter sees it. Anything wrong (a MAC, the SHA-256,
// the size) errors the stream before its end, so the browser marks the download failed instead of
// saving a complete file. The key never goes into a URL and never leaves this
// browser: the only request made is the ciphertext's, same origin, without it. The plaintext name
// is not in that address either (Content-Disposition carries it): had this worker been stopped in
// between, the navigation would reach the server, and its log must not learn the name.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { Decrypter } from "age-encryption";
import { headerLimit } from "./limits.js";

/** Downloads handed over by the page and not yet asked for, by id. */
const pending = new Map();
/** A handed-over download that nobody asks for within this time is forgotten (with its key). */
const FORGET_AFTER_MS = 60_000;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (ev) => ev.waitUntil(self.clients.claim()));

self.addEventListener("message", (ev) => {
  const m = ev.data;
  const port = ev.ports[0];
  // "ping": the page keeps us alive during a long download (any event does).
  if (!port || !m || typeof m !== "object" || m.type !== "decrypt") return;
  const url = new URL(String(m.url), self.location.origin);
  // The bytes from our own origin even when downloads are offloaded to presigned URLs: a redirect
  // to the bucket is another origin, which this worker neither may nor would follow.
  url.searchParams.set("redirect", "never");
  const valid =
    /^[0-9a-f]{32}$/.test(m.id) &&
    url.origin === self.location.origin &&
    url.pathname.startsWith("/api/v1/links/") &&
    (typeof m.identity === "string" || typeof m.passphrase === "string") &&
    Number.isSafeInteger(m.size) &&
    m.size >= 0 &&
    /^[0-9a-f]{64}$/.test(m.sha256);
  if (!valid) {
    port.postMessage({ type: "failed", reason: "invalid" });
    return;
  }
  pending.set(m.id, { url: url.href, identity: m.identity, passphrase: m.passphrase, name: String(m.name), size: m.size, sha256: m.sha256, port });
  setTimeout(() => pending.delete(m.id), FORGET_AFTER_MS);
  port.postMessage({ type: "ready" });
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  const match = /^\/decrypt\/([0-9a-f]{32})$/.exec(url.pathname);
  if (url.origin !== self.location.origin || !match) return;
  const job = pending.get(match[1]);
  // Unknown (or already used) id: the server answers, with its harmless 404 page.
  if (!job) return;
  pending.delete(match[1]);
  job.port.postMessage({ type: "started" });
  ev.respondWith(decrypted(job));
});

/** `attachment` with the plaintext's base name, ASCII fallback and RFC 5987 UTF-8 form. */
function disposition(name) {
  const base = (name.split("/").pop() || "download").replace(/[\u0000-\u001f\u007f]/g, "_");
  const ascii = base.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

/** The answer when nothing can be streamed (the page says why: the port tells it). */
function failure(job, reason, status = 502) {
  job.port.postMessage({ type: "failed", reason });
  return new Response(`The file could not be decrypted (${reason}).`, { status, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" } });
}

async function decrypted(job) {
  let res;
  const stop = new AbortController();
  try {
    // Same origin: a password-protected link's cookie goes along; the key does not.
    res = await fetch(job.url, { credentials: "same-origin", cache: "no-store", redirect: "error", signal: stop.signal });
  } catch {
    return failure(job, "network");
  }
  if (!res.ok || !res.body) return failure(job, `http ${res.status}`);
  const d = new Decrypter();
  if (typeof job.identity === "string") d.addIdentity(job.identity);
  else d.addPassphrase(job.passphrase);
  let plain;
  try {
    // A header too long or with too many stanzas fails here, before age-encryption holds it.
    plain = await d.decrypt(res.body.pipeThrough(headerLimit()));
  } catch (err) {
    stop.abort();
    return failure(job, /no identity matched/.test(String(err?.message)) ? "key" : "tampered");
  }
  const reader = plain.getReader();
  const hash = sha256.create();
  let seen = 0;
  let lastReport = 0;
  const body = new ReadableStream({
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          // Checked before the stream closes: a mismatch errors it, so no complete file is saved.
          if (seen !== job.size || bytesToHex(hash.digest()) !== job.sha256) throw new Error("checksum");
          c.close();
          job.port.postMessage({ type: "done", bytes: seen });
          return;
        }
        seen += value.length;
        if (seen > job.size) throw new Error("size");
        hash.update(value);
        c.enqueue(value);
        if (seen - lastReport >= 8 * 1024 * 1024) {
          lastReport = seen;
          job.port.postMessage({ type: "progress", bytes: seen });
        }
      } catch (err) {
        job.port.postMessage({ type: "failed", reason: "tampered" });
        reader.cancel().catch(() => {});
        c.error(err);
      }
    },
    cancel(reason) {
      job.port.postMessage({ type: "failed", reason: "cancelled" });
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    headers: {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(job.size),
      "Content-Disposition": disposition(job.name),
      // Never a document of our origin, even if a browser tried to render it.
      "Content-Security-Policy": "sandbox; default-src 'none'",
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "no-store",
    },
  });
}
