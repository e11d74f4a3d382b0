import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { TestServer } from "@speedyfiles/test-utils/server";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";
import { finalize } from "@speedyfiles/test-utils/links";

/**
 * The state the fuzzer works on: an owner with packages in every state (drafts with files and an
 * unfinished resumable upload, active outbound and inbound packages with their links), tokens,
 * webhooks pointing at a loopback receiver with deliveries; another user with the same; an admin
 * with a trust policy and users to manage. Requests may use it up (delete, revoke): `replenish()`
 * puts back what is missing before each request.
 */
export interface Account {
  id: string;
  email: string;
  password: string;
  token: string;
}

export interface Pools {
  ownerPackages: { id: string; status: string; direction: string }[];
  otherPackages: string[];
  ownerFiles: { id: string; package_id: string }[];
  otherFiles: string[];
  ownerLinks: { id: string; package_id: string }[];
  otherLinks: string[];
  ownerTokens: string[];
  otherTokens: string[];
  ownerWebhooks: string[];
  otherWebhooks: string[];
  ownerDeliveries: { id: string; webhook_id: string }[];
  otherDeliveries: string[];
  ownerUploads: { id: string; package_id: string; via: string }[];
  otherUploads: string[];
  trustPolicies: string[];
  /** Users an admin may change freely (never the fuzzer's own accounts). */
  victims: string[];
  /** Link secrets known to work (active package, link not revoked), owner's. */
  liveSecrets: { secret: string; package_id: string; direction: string }[];
  /** Every link secret ever seen (dead ones too). */
  allSecrets: string[];
  otherSecrets: string[];
}

const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const b64 = (s: string) => Buffer.from(s).toString("base64");

export class World {
  owner!: Account;
  other!: Account;
  admin!: Account;
  receiver!: Receiver;
  pools!: Pools;
  /** Secrets of magic links seen in answers, by owner. */
  readonly secrets = new Map<string, "owner" | "other">();
  private readonly identityTokenHashes = new Set<string>();
  private n = 0;

  constructor(readonly t: TestServer) {}

  async seed(): Promise<void> {
    this.receiver = await startReceiver();
    const mk = async (role: "user" | "admin") => {
      const u = await this.t.createUser({ role });
      this.identityTokenHashes.add(sha256(u.token));
      return { id: u.user.id, email: u.user.email, password: u.password, token: u.token };
    };
    this.owner = await mk("user");
    this.other = await mk("user");
    this.admin = await mk("admin");
    await this.replenish(true);
  }

  async close(): Promise<void> {
    await this.receiver?.close();
  }

  private name(): string {
    return `seed-${++this.n}.txt`;
  }

  private async api(token: string | undefined, method: string, p: string, init: { json?: unknown; headers?: Record<string, string>; body?: Buffer } = {}) {
    const res = await this.t.fetch(p, {
      method,
      ...(token ? { token } : {}),
      ...(init.json !== undefined ? { json: init.json } : {}),
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.body ? { body: new Uint8Array(init.body) } : {}),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`seeding: ${method} ${p} answered ${res.status} ${text.slice(0, 300)}`);
    return { res, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  /**
   * The seeding's own test pings must not be refused by the ping limit (10 a minute per user) that
   * the fuzzed requests used up: its counters go before each seeding ping. (The limit itself is
   * tested in webhook-limits.test.ts.)
   */
  private async pingCountersCleared(): Promise<void> {
    await this.t.running.services.db("rate_limits").del();
  }

  /** Remembers the magic links an answer carries. */
  noteSecrets(text: string, who: "owner" | "other"): void {
    for (const m of text.matchAll(/\/l\/([A-Za-z0-9_-]{43})/g)) this.secrets.set(m[1]!, who);
  }

  private async share(a: Account, who: "owner" | "other", direction: "outbound" | "inbound", extra: Record<string, unknown> = {}) {
    const pkg = await createPackage(this.t, a.token, { direction, ...(direction === "inbound" ? { title: "Send me" } : {}), ...extra });
    if (direction === "outbound") {
      await addFile(this.t, a.token, pkg.id, this.name(), crypto.randomBytes(300));
      await addFile(this.t, a.token, pkg.id, this.name(), "hello");
    }
    const secret = await finalize(this.t, a.token, pkg.id);
    this.secrets.set(secret, who);
    return { id: pkg.id, secret };
  }

  private async tusUpload(a: Account | undefined, base: string) {
    const { res } = await this.api(a?.token, "POST", base, {
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": `filename ${b64(this.name())}` },
    });
    const location = res.headers.get("location")!;
    const url = new URL(location, this.t.url);
    await this.api(a?.token, "PATCH", url.pathname.replace(/^\/api\/v1/, ""), {
      headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: Buffer.from("abc"),
    });
  }

  /** Puts back what requests used up; `all` seeds everything once. */
  /**
   * A fuzzed PUT /admin/policy may leave rules that refuse what the seeding creates (a quota of 0,
   * required encryption): the policy goes back to none first. (The rules are tested in
   * policy.test.ts and quota.test.ts.)
   */
  private async clearPolicy(): Promise<void> {
    const row = (await this.t.running.services.db("instance_policy").first()) as { rules: string; roles: string } | undefined;
    if (!row) return;
    const ruled = Object.values(JSON.parse(row.rules) as Record<string, unknown>).some((v) => v !== null && v !== false);
    const roles = Object.values(JSON.parse(row.roles) as Record<string, object>).some((o) => Object.keys(o).length > 0);
    if (ruled || roles) await this.api(this.admin.token, "PUT", "/admin/policy", { json: {} });
  }

  async replenish(all = false): Promise<void> {
    if (!all) await this.clearPolicy();
    let p = all ? undefined : await this.refresh();
    const o = this.owner;
    const has = (status: string, direction: string) => p?.ownerPackages.some((x) => x.status === status && x.direction === direction);
    const draftWithFiles = () => p?.ownerPackages.some((x) => x.status === "draft" && p!.ownerFiles.some((f) => f.package_id === x.id));
    let changed = all;
    if (all || !draftWithFiles() || !p?.ownerUploads.some((u) => u.via === "owner")) {
      const draft = await createPackage(this.t, o.token, {
        direction: "outbound",
        recipient_email: undefined,
        recipients: [{ email: "r1@example.com" }, { email: "r2@example.com", name: "R2" }],
      } as never);
      await addFile(this.t, o.token, draft.id, this.name(), "draft bytes");
      await this.tusUpload(o, `/packages/${draft.id}/uploads`);
      changed = true;
    }
    if (all || !has("draft", "inbound")) {
      await createPackage(this.t, o.token, { direction: "inbound", title: "Inbound draft" });
      changed = true;
    }
    if (all || !p?.liveSecrets.some((s) => s.direction === "outbound")) {
      await this.share(o, "owner", "outbound");
      await this.share(o, "owner", "outbound", { password: "correct horse", max_downloads: 2 });
      changed = true;
    }
    if (all || !p?.liveSecrets.some((s) => s.direction === "inbound") || !p?.ownerUploads.some((u) => u.via === "link")) {
      const s = await this.share(o, "owner", "inbound");
      await this.tusUpload(undefined, `/links/${s.secret}/uploads`);
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(Buffer.from("from the recipient"))]), this.name());
      const up = await fetch(`${this.t.api}/links/${s.secret}/files`, { method: "POST", body: form });
      if (up.status !== 201) throw new Error(`seeding: link upload ${up.status}`);
      changed = true;
    }
    if (all || !has("expired", "outbound")) {
      // An expired package: finalized, then its expiry moved into the past by hand.
      const s = await this.share(o, "owner", "outbound");
      await this.t.running.services
        .db("packages")
        .where({ id: s.id })
        .update({ status: "expired", expires_at: new Date(Date.now() - 3_600_000).toISOString() });
      changed = true;
    }
    if (all || (p?.ownerTokens.length ?? 0) < 2) {
      await this.api(o.token, "POST", "/me/tokens", { json: { name: "spare" } });
      await this.api(o.token, "POST", "/me/tokens", { json: { name: "read only", scopes: ["packages:read"] } });
      changed = true;
    }
    if (all || !p?.ownerWebhooks.length || !p.ownerDeliveries.length) {
      const { body } = await this.api(o.token, "POST", "/webhooks", { json: { url: this.receiver.url, events: ["package.created", "package.downloaded"] } });
      await this.pingCountersCleared();
      await this.api(o.token, "POST", `/webhooks/${body.id as string}/test`);
      changed = true;
    }
    if (all || !p?.otherPackages.length || !p.otherWebhooks.length || !p.otherDeliveries.length || !p.otherFiles.length || !p.otherUploads.length || !p.otherTokens.length) {
      const oth = this.other;
      await this.share(oth, "other", "outbound");
      const d = await createPackage(this.t, oth.token, { direction: "outbound" });
      await this.tusUpload(oth, `/packages/${d.id}/uploads`);
      const { body } = await this.api(oth.token, "POST", "/webhooks", { json: { url: this.receiver.url, events: ["package.created"] } });
      await this.pingCountersCleared();
      await this.api(oth.token, "POST", `/webhooks/${body.id as string}/test`);
      await this.api(oth.token, "POST", "/me/tokens", { json: { name: "other's spare" } });
      changed = true;
    }
    if (all || !p?.trustPolicies.length) {
      await this.api(this.admin.token, "POST", "/admin/trust-policies", {
        json: {
          name: "ci",
          issuer: "https://token.actions.githubusercontent.com",
          audience: this.t.url,
          conditions: { repository_id: "123456" },
          user_email: o.email,
          scopes: ["packages:read"],
        },
      });
      changed = true;
    }
    if (all || !p?.victims.length) {
      await this.api(this.admin.token, "POST", "/admin/users", {
        json: { email: `victim-${crypto.randomBytes(4).toString("hex")}@example.com`, name: "Victim", password: "a long passphrase" },
      });
      changed = true;
    }
    if (changed) p = await this.refresh();
    this.pools = p!;
  }

  /** Reads the pools of ids from the database. */
  async refresh(): Promise<Pools> {
    const db = this.t.running.services.db;
    const { owner, other, admin } = this;
    const mine = [owner.id];
    const pk = (await db("packages").select("id", "owner_id", "status", "direction")) as { id: string; owner_id: string; status: string; direction: string }[];
    const ownerPk = new Set(pk.filter((x) => x.owner_id === owner.id).map((x) => x.id));
    const otherPk = new Set(pk.filter((x) => x.owner_id === other.id).map((x) => x.id));
    const files = (await db("files").select("id", "package_id")) as { id: string; package_id: string }[];
    const links = (await db("package_links").select("id", "package_id", "link_hash", "revoked_at")) as {
      id: string;
      package_id: string;
      link_hash: string;
      revoked_at: string | null;
    }[];
    const tokens = (await db("api_tokens").select("id", "user_id", "token_hash", "revoked_at")) as { id: string; user_id: string; token_hash: string; revoked_at: string | null }[];
    const hooks = (await db("webhooks").select("id", "owner_id")) as { id: string; owner_id: string }[];
    const deliveries = (await db("webhook_deliveries").select("id", "webhook_id")) as { id: string; webhook_id: string }[];
    const uploads = (await db("uploads").select("id", "package_id", "via", "file_id")) as { id: string; package_id: string; via: string; file_id: string | null }[];
    const users = (await db("users").select("id")) as { id: string }[];
    const policies = (await db("trust_policies").select("id")) as { id: string }[];
    const ownerHooks = new Set(hooks.filter((h) => h.owner_id === owner.id).map((h) => h.id));
    const otherHooks = new Set(hooks.filter((h) => h.owner_id === other.id).map((h) => h.id));
    const byHash = new Map(links.map((l) => [l.link_hash, l]));
    const status = new Map(pk.map((x) => [x.id, x]));
    const liveSecrets: Pools["liveSecrets"] = [];
    for (const [secret, who] of this.secrets) {
      const l = byHash.get(sha256(secret));
      const pkg = l && status.get(l.package_id);
      if (who === "owner" && l && !l.revoked_at && pkg?.status === "active") liveSecrets.push({ secret, package_id: l.package_id, direction: pkg.direction });
    }
    return {
      ownerPackages: pk.filter((x) => ownerPk.has(x.id)),
      otherPackages: [...otherPk],
      ownerFiles: files.filter((f) => ownerPk.has(f.package_id)),
      otherFiles: files.filter((f) => otherPk.has(f.package_id)).map((f) => f.id),
      ownerLinks: links.filter((l) => ownerPk.has(l.package_id)).map((l) => ({ id: l.id, package_id: l.package_id })),
      otherLinks: links.filter((l) => otherPk.has(l.package_id)).map((l) => l.id),
      ownerTokens: tokens.filter((x) => mine.includes(x.user_id) && !x.revoked_at && !this.identityTokenHashes.has(x.token_hash)).map((x) => x.id),
      otherTokens: tokens.filter((x) => x.user_id === other.id && !x.revoked_at && !this.identityTokenHashes.has(x.token_hash)).map((x) => x.id),
      ownerWebhooks: [...ownerHooks],
      otherWebhooks: [...otherHooks],
      ownerDeliveries: deliveries.filter((d) => ownerHooks.has(d.webhook_id)),
      otherDeliveries: deliveries.filter((d) => otherHooks.has(d.webhook_id)).map((d) => d.id),
      ownerUploads: uploads.filter((u) => ownerPk.has(u.package_id) && !u.file_id),
      otherUploads: uploads.filter((u) => otherPk.has(u.package_id)).map((u) => u.id),
      trustPolicies: policies.map((x) => x.id),
      victims: users.map((u) => u.id).filter((id) => id !== owner.id && id !== other.id && id !== admin.id),
      liveSecrets,
      allSecrets: [...this.secrets].filter(([, w]) => w === "owner").map(([s]) => s),
      otherSecrets: [...this.secrets].filter(([, w]) => w === "other").map(([s]) => s),
    };
  }
}

/** Tables a refused request may still write to, and why. */
export const MAY_CHANGE_ON_REFUSAL: Record<string, string> = {
  rate_limits: "counting failures (wrong passwords, refused tokens) is what a rate limit does",
  audit_event_seq: "the audit trail's counter moves with every audited refusal (below)",
};

/**
 * Rows a refused request may add to a table that is otherwise compared, and why: only these are
 * left out of the table's digest, every other row of it counts.
 */
export const ROWS_ADDED_ON_REFUSAL: Record<string, { why: string; matches: (row: Record<string, unknown>) => boolean }> = {
  audit_events: {
    why: "a valid CI identity refused by every trust policy (oidc.refused) and a wrong password (auth.sign_in_failed) are audited",
    matches: (r) => r.type === "oidc.refused" || r.type === "auth.sign_in_failed",
  },
};

/** Columns that change on any authenticated request, refused or not. */
const VOLATILE_COLUMNS: Record<string, string[]> = {
  api_tokens: ["last_used_at"],
  // A PATCH's multi-process lease on its upload is let go after its answer: it may land during the next request.
  uploads: ["locked_by", "lock_expires_at"],
};

/** Files whose bytes are not the stored data: the database itself, the temp area, the mail outbox. */
const NOT_DATA = [/^tmp(\/|$)/, /^outbox(\/|$)/, /^speedyfiles\.db/, /^secret\.key$/];

export interface Snapshot {
  tables: Record<string, string>;
  files: number;
  bytes: number;
  /** A digest of every stored file's path, size, modification time (ns) and inode: an overwrite of the same length changes it. */
  filesDigest: string;
}

/** Row counts and a digest of the rows of every table, and the data folder's file count, size and a digest of its files. */
export async function snapshot(t: TestServer): Promise<Snapshot> {
  const db = t.running.services.db;
  const names =
    t.kind === "sqlite"
      ? ((await db.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'knex_%'")) as { name: string }[]).map((r) => r.name)
      : ((await db.raw("select tablename as name from pg_tables where schemaname = current_schema() and tablename not like 'knex_%'")) as { rows: { name: string }[] }).rows.map(
          (r) => r.name,
        );
  const tables: Record<string, string> = {};
  for (const name of names.sort()) {
    if (name in MAY_CHANGE_ON_REFUSAL) continue;
    const allRows = (await db(name).select("*")) as Record<string, unknown>[];
    const mayAdd = ROWS_ADDED_ON_REFUSAL[name];
    const rows = mayAdd ? allRows.filter((r) => !mayAdd.matches(r)) : allRows;
    const drop = VOLATILE_COLUMNS[name] ?? [];
    const lines = rows
      .map((r) =>
        JSON.stringify(
          Object.entries(r).filter(([k]) => !drop.includes(k)),
          (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v instanceof Date ? v.toISOString() : v),
        ),
      )
      .sort();
    tables[name] = `${rows.length} rows, ${crypto.createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 16)}`;
  }
  let files = 0;
  let bytes = 0;
  const entries: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, e.name);
      const rel = path.relative(t.dataDir, full);
      if (NOT_DATA.some((re) => re.test(rel))) continue;
      if (e.isDirectory()) await walk(full);
      else {
        const st = await fs.stat(full, { bigint: true }).catch(() => undefined);
        files++;
        bytes += Number(st?.size ?? 0);
        entries.push(`${rel}\t${st?.size ?? "gone"}\t${st?.mtimeNs ?? ""}\t${st?.ino ?? ""}`);
      }
    }
  };
  await walk(t.dataDir);
  const filesDigest = crypto.createHash("sha256").update(entries.sort().join("\n")).digest("hex").slice(0, 16);
  return { tables, files, bytes, filesDigest };
}

export function diffSnapshots(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a.tables), ...Object.keys(b.tables)])) {
    if (a.tables[k] !== b.tables[k]) out.push(`table ${k}: ${a.tables[k] ?? "absent"} → ${b.tables[k] ?? "absent"}`);
  }
  if (a.files !== b.files || a.bytes !== b.bytes) out.push(`stored data: ${a.files} files, ${a.bytes} bytes → ${b.files} files, ${b.bytes} bytes`);
  else if (a.filesDigest !== b.filesDigest)
    out.push(`stored data: ${a.files} files of ${a.bytes} bytes, but a file was written, replaced or renamed (digest ${a.filesDigest} → ${b.filesDigest})`);
  return out;
}
