import crypto from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { TestServer } from "./server.js";

export const sha256 = (b: Buffer | Uint8Array | string) => crypto.createHash("sha256").update(b).digest("hex");

export interface PackageBody {
  title?: string;
  recipient_email?: string;
  recipient_name?: string;
  direction?: "outbound" | "inbound";
  ttl_days?: number;
  message?: string;
  recipients?: { email: string; name?: string }[] | undefined;
  max_downloads?: number;
  password?: string;
  notify_on_download?: boolean;
}

/** POST /packages; asserts nothing, returns the response. */
export function postPackage(t: TestServer, token: string, body: Record<string, unknown>): Promise<Response> {
  return t.fetch("/packages", { method: "POST", token, json: body });
}

/** Creates a draft package and returns its JSON (throws unless 201). */
export async function createPackage(t: TestServer, token: string, body: PackageBody = {}) {
  const res = await postPackage(t, token, {
    title: "Q4 financials",
    recipient_email: "cfo@acme.test",
    direction: "outbound",
    ttl_days: 14,
    ...body,
  });
  if (res.status !== 201) throw new Error(`create package: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; [k: string]: unknown };
}

/** Uploads through fetch's FormData (what the seed's Node example does). */
export function uploadFile(
  t: TestServer,
  token: string,
  packageId: string,
  name: string,
  bytes: Buffer | string,
  opts: { sha256?: string; type?: string } = {},
): Promise<Response> {
  const form = new FormData();
  if (opts.sha256 !== undefined) form.append("sha256", opts.sha256);
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  form.append("file", new Blob([new Uint8Array(buf)], opts.type ? { type: opts.type } : {}), name);
  return t.fetch(`/packages/${packageId}/files`, { method: "POST", token, body: form });
}

/** Uploads a file and returns its JSON (throws unless 201). */
export async function addFile(t: TestServer, token: string, packageId: string, name: string, bytes: Buffer | string) {
  const res = await uploadFile(t, token, packageId, name, bytes);
  if (res.status !== 201) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; name: string; size: number; sha256: string; content_type: string };
}

/**
 * A multipart body written by hand, so the exact `Content-Disposition` bytes are under the
 * test's control (fetch's FormData escapes some characters itself).
 */
export function rawMultipart(disposition: string, content: Buffer | string, extraParts: string[] = []) {
  const boundary = `----sftest${crypto.randomBytes(8).toString("hex")}`;
  const pre = extraParts.map((p) => `--${boundary}\r\n${p}\r\n`).join("");
  const head = Buffer.from(`${pre}--${boundary}\r\nContent-Disposition: form-data; name="file"; ${disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`, "utf8");
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([head, typeof content === "string" ? Buffer.from(content) : content, tail]),
  };
}

export function uploadRaw(t: TestServer, token: string, packageId: string, disposition: string, content: Buffer | string = "hello") {
  const m = rawMultipart(disposition, content);
  return t.fetch(`/packages/${packageId}/files`, {
    method: "POST",
    token,
    headers: { "Content-Type": m.contentType },
    body: new Uint8Array(m.body),
  });
}

/** Every regular file under `dir`, relative paths, sorted; [] if `dir` does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Where the local blob store keeps a key's bytes. */
export function blobPath(t: TestServer, storageKey: string): string {
  return path.join(t.dataDir, "blobs", storageKey.slice(0, 2), storageKey);
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A tus PATCH (from offset 0) whose client stalls: its headers and the first `sent` bytes of
 * `bytes`, then nothing, the socket kept open. Resolves once `stored` (the upload's file) holds
 * them. `answer()` is what the server wrote back; `closed` settles when the connection ends.
 */
export async function stalledTusPatch(baseUrl: string, token: string, location: string, bytes: Buffer, sent: number, stored: string) {
  const socket = net.connect(Number(new URL(baseUrl).port), "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let answer = "";
  socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.write(
    `PATCH ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
      `Content-Type: application/offset+octet-stream\r\nContent-Length: ${bytes.length}\r\n\r\n`,
  );
  socket.write(bytes.subarray(0, sent));
  await until(async () => (await fs.stat(stored).catch(() => undefined))?.size === sent, 10_000, "the first bytes on disk");
  return { socket, closed, answer: () => answer, isClosed: () => socket.destroyed || socket.readyState === "closed" };
}
