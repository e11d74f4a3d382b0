import type { Knex } from "knex";
import { findPackage } from "../db/packages.js";
import { emitEvent } from "../webhooks/outbox.js";
import { toPackageView } from "../services/views.js";
import type { DomainEvent } from "./types.js";

/**
 * The webhook outbox (webhooks/outbox.ts): the `package.*` events and the ping. The package is
 * read inside the transaction (after the change, or before it for a deletion), and only when a
 * webhook listens. Returns the deliveries written.
 */
export async function queueWebhooks(trx: Knex, e: DomainEvent, now: Date): Promise<string[]> {
  if (e.type === "webhook.ping") {
    const { deliveryIds } = await emitEvent(trx, now, {
      ownerId: e.hook.owner_id,
      packageId: null,
      type: "ping",
      data: { webhook: { id: e.hook.id, url: e.hook.url } },
      only: e.hook,
    });
    return deliveryIds;
  }
  if (e.type === "package.links_resent" || e.type === "link.revoked" || e.type === "link.first_download" || e.type === "link.used_up" || e.type === "webhook.disabled") return [];
  // A password reset is about an account, not a package: no webhook hears of it.
  if (e.type === "password_reset.mail") return [];
  const file = e.type === "package.downloaded" || e.type === "package.uploaded" ? e.file : undefined;
  const link = e.type === "package.downloaded" ? { id: e.link.id, recipient_email: e.link.recipient_email } : undefined;
  const { deliveryIds } = await emitEvent(trx, now, {
    ownerId: e.pkg.owner_id,
    packageId: e.pkg.id,
    type: e.type,
    data: async () => {
      const p = await findPackage(trx, e.pkg.id);
      return { ...(p ? { package: toPackageView(p, now) } : {}), ...(file ? { file } : {}), ...(link ? { link } : {}) };
    },
  });
  return deliveryIds;
}
