import crypto from "node:crypto";
import type { components } from "../../generated/api.js";
import { ValidationFailed } from "../../errors.js";
import { insertPackage, type PackageRow } from "../../db/packages.js";
import { insertLink } from "../../db/links.js";
import { hashPassword } from "../../security/passwords.js";
import { cleanOptionalText, cleanText } from "../text.js";
import { encryptionOfRequest } from "../encryption.js";
import { toPackageView } from "../views.js";
import { emit } from "../../events/emit.js";
import { nowIso, type Principal, type Services } from "../context.js";
import { authorize } from "../../policies/index.js";
import { checkProtection, checkRecipients, checkTtlDays } from "../../policies/instance-rules.js";
import { rulesForRole } from "../policy.js";
import type { PackageDetail } from "./detail.js";

type Schemas = components["schemas"];

/** The recipients of a create request: `recipients`, or the one-recipient shorthand `recipient_email`. */
function recipientsOf(input: Schemas["PackageCreateRequest"]): { email: string; name: string | null }[] {
  if (input.recipients !== undefined && (input.recipient_email !== undefined || input.recipient_name !== undefined)) {
    throw new ValidationFailed("Give either recipient_email (and recipient_name) or recipients, not both", "/body/recipients");
  }
  if (input.recipients === undefined) {
    if (input.recipient_email === undefined) throw new ValidationFailed("recipient_email or recipients is required", "/body/recipient_email");
    return [{ email: input.recipient_email.trim(), name: cleanOptionalText(input.recipient_name, "/body/recipient_name") }];
  }
  const seen = new Set<string>();
  return input.recipients.map((r, i) => {
    const email = r.email.trim();
    if (seen.has(email.toLowerCase())) throw new ValidationFailed(`${email} is listed twice`, `/body/recipients/${i}/email`);
    seen.add(email.toLowerCase());
    return { email, name: cleanOptionalText(r.name, `/body/recipients/${i}/name`) };
  });
}

/** A link password: printable ASCII, 8–128, no space first or last (`X-Link-Password` is a header: bytes, trimmed). */
export const LINK_PASSWORD = /^[!-~][ -~]{6,126}[!-~]$/;

/** `POST /packages`: a draft, with one (not yet live) link row per recipient. */
export async function createPackage(s: Services, user: Principal, input: Schemas["PackageCreateRequest"]): Promise<PackageDetail> {
  authorize(user, "package.create");
  const rules = await rulesForRole(s, user.role);
  // The policy's max_ttl_days first: below SF_MAX_TTL_DAYS, it is the limit that refuses.
  checkTtlDays(rules, input.ttl_days);
  if (input.ttl_days > s.config.maxTtlDays) {
    throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
  }
  const title = cleanText(input.title, "/body/title");
  if (title === "") throw new ValidationFailed("title must not be blank", "/body/title");
  const recipients = recipientsOf(input);
  if (input.direction === "inbound") {
    // An upload request keeps one link: its recipient's uploads and "done" are the package's.
    if (recipients.length !== 1) throw new ValidationFailed("An inbound package has exactly one recipient", "/body/recipients");
    if (input.max_downloads !== undefined) throw new ValidationFailed("max_downloads applies to outbound packages only", "/body/max_downloads");
    if (input.password !== undefined) throw new ValidationFailed("password applies to outbound packages only", "/body/password");
  }
  if (input.password !== undefined && !LINK_PASSWORD.test(input.password)) {
    throw new ValidationFailed(
      "password must be 8 to 128 printable ASCII characters (letters, digits, spaces, symbols; no space first or last): recipients send it in an HTTP header, which carries no other characters",
      "/body/password",
    );
  }
  const encryption = encryptionOfRequest(input, input.direction);
  checkRecipients(
    rules,
    recipients.map((r) => r.email),
    (i) => (input.recipients === undefined ? "/body/recipient_email" : `/body/recipients/${i}/email`),
  );
  checkProtection(rules, { direction: input.direction, hasPassword: input.password !== undefined, encrypted: encryption.encryption_scheme !== null });
  const first = recipients[0]!;
  const now = nowIso(s.clock);
  const row: PackageRow = {
    id: crypto.randomUUID(),
    owner_id: user.userId,
    title,
    recipient_email: first.email,
    recipient_name: first.name,
    direction: input.direction,
    status: "draft",
    ttl_days: input.ttl_days,
    message: cleanOptionalText(input.message, "/body/message", { multiline: true }),
    link_hash: null,
    created_at: now,
    finalized_at: null,
    expires_at: null,
    revoked_at: null,
    completed_at: null,
    completed_file_count: 0,
    purged_at: null,
    max_downloads: input.max_downloads ?? null,
    password_hash: input.password === undefined ? null : await hashPassword(input.password),
    notify_on_download: input.notify_on_download ?? true,
    ...encryption,
  };
  await s.db.transaction(async (trx) => {
    await insertPackage(trx, row);
    for (const [position, r] of recipients.entries()) {
      // Until finalize a link's hash is random bytes: no secret hashes to it, so it opens nothing.
      await insertLink(trx, {
        id: crypto.randomUUID(),
        package_id: row.id,
        recipient_email: r.email,
        recipient_name: r.name,
        link_hash: crypto.randomBytes(32).toString("hex"),
        position,
        created_at: now,
        revoked_at: null,
        download_count: 0,
        first_download_at: null,
        limit_notified_at: null,
        receipt_sent_at: null,
      });
    }
    await emit(trx, s, { type: "package.created", pkg: row }, user);
  });
  return { ...toPackageView({ ...row, file_count: 0, total_size: 0, download_count: 0 }, s.clock()), files: [], links: [] };
}
