import type { Knex } from "knex";
import { findPackage } from "../db/packages.js";
import { emitEvent, type WebhookEventType } from "../webhooks/outbox.js";
import type { Services } from "./context.js";
import { toPackageView, type FileView } from "./views.js";

/**
 * Puts a `package.*` webhook event for the package's owner into the outbox, in the transaction
 * `trx` of the change it reports. The package is read inside that transaction (after the change,
 * or before it for a deletion), and only when a webhook listens.
 */
export async function emitPackageEvent(
  trx: Knex,
  s: Services,
  type: Exclude<WebhookEventType, "ping">,
  pkg: { id: string; owner_id: string },
  file?: FileView,
  link?: { id: string; recipient_email: string },
): Promise<void> {
  await emitEvent(trx, s.clock(), {
    ownerId: pkg.owner_id,
    packageId: pkg.id,
    type,
    data: async () => {
      const p = await findPackage(trx, pkg.id);
      return { ...(p ? { package: toPackageView(p, s.clock()) } : {}), ...(file ? { file } : {}), ...(link ? { link } : {}) };
    },
  });
}
