import crypto from "node:crypto";
import type { TestServer } from "./server.js";
import { addFile, createPackage, type PackageBody } from "./uploads.js";

/** The secret of a magic link `…/l/<secret>`. */
export function secretOf(magicLink: string): string {
  const m = /\/l\/([A-Za-z0-9_-]{43})$/.exec(magicLink);
  if (!m) throw new Error(`not a magic link: ${magicLink}`);
  return m[1]!;
}

export interface Shared {
  id: string;
  secret: string;
  /** The recipient's page on this test server. */
  page: string;
  /** The recipient's API root for this link. */
  api: string;
  files: { id: string; name: string; size: number; sha256: string; content_type: string }[];
}

/** POST /packages/{id}/finalize as the owner; throws unless 200. */
export async function finalize(t: TestServer, token: string, id: string): Promise<string> {
  const res = await t.fetch(`/packages/${id}/finalize`, { method: "POST", token });
  if (res.status !== 200) throw new Error(`finalize: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { magic_link: string };
  return secretOf(body.magic_link);
}

/** An active outbound package holding `files`, and its link. */
export async function shareFiles(t: TestServer, token: string, files: [name: string, bytes: Buffer | string][], body: PackageBody = {}): Promise<Shared> {
  const pkg = await createPackage(t, token, { direction: "outbound", ...body });
  const stored = [];
  for (const [name, bytes] of files) {
    // One second apart: files are listed (and zipped) in upload order, events newest first.
    t.clock.advance(1000);
    stored.push(await addFile(t, token, pkg.id, name, bytes));
  }
  const secret = await finalize(t, token, pkg.id);
  return { id: pkg.id, secret, page: `${t.url}/l/${secret}`, api: `${t.api}/links/${secret}`, files: stored };
}

/** An active inbound package (a request for files) and its link. */
export async function requestFiles(t: TestServer, token: string, body: PackageBody = {}): Promise<Shared> {
  const pkg = await createPackage(t, token, { direction: "inbound", title: "Send me your documents", ...body });
  const secret = await finalize(t, token, pkg.id);
  return { id: pkg.id, secret, page: `${t.url}/l/${secret}`, api: `${t.api}/links/${secret}`, files: [] };
}

/** A recipient upload through a link with fetch's FormData. */
export function uploadToLink(api: string, name: string, bytes: Buffer | string, headers: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  form.append("file", new Blob([new Uint8Array(buf)]), name);
  return fetch(`${api}/files`, { method: "POST", body: form, headers });
}

/** A well-formed secret (43 base64url characters) that no package has. */
export function unknownSecret(): string {
  return crypto.randomBytes(32).toString("base64url");
}
