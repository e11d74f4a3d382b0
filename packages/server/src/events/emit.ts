import type { Knex } from "knex";
import type { Services } from "../services/context.js";
import type { Principal } from "../services/context.js";
import { recordAudit } from "./audit.js";
import { recordDomainEvent } from "./audit-trail.js";
import { queueMail } from "./mail.js";
import { queueWebhooks } from "./webhooks.js";
import type { DomainEvent, Emitted } from "./types.js";

export type { DomainEvent, Emitted, MintedLink, PackageRef, LinkRef } from "./types.js";

/**
 * The one way services report what happened: called with the transaction `trx` of the change,
 * so the audit lines (the package's and the instance's, naming `actor`: who did it, absent for
 * a recipient or the sweeper), the webhook deliveries and the queued mail exist exactly when the
 * change does. After the commit this process's mail worker is woken, so mail usually leaves within
 * milliseconds; nothing is sent inside the transaction (a slow SMTP server holds no request).
 */
export async function emit(trx: Knex, s: Services, e: DomainEvent, actor: Principal | null = null): Promise<Emitted> {
  const now = s.clock();
  await recordAudit(trx, e, now.toISOString());
  await recordDomainEvent(trx, s, e, actor);
  const webhookDeliveryIds = await queueWebhooks(trx, e, now);
  if ((await queueMail(trx, s, e, now)) > 0) afterCommit(trx, () => s.mailWakeup.wake());
  return { webhookDeliveryIds };
}

/** Runs `fn` once `trx` committed (at once when it is not a transaction); never after a rollback. */
function afterCommit(trx: Knex, fn: () => void): void {
  const t = trx as unknown as Partial<Knex.Transaction>;
  if (!t.isTransaction || !t.executionPromise) {
    fn();
    return;
  }
  t.executionPromise.then(fn, () => undefined);
}
