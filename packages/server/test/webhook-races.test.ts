import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { emitEvent } from "../src/webhooks/outbox.js";

// An event fanned out to a webhook its owner is deleting at that moment: the deletion comes first
// or the delivery does, and the change that caused the event never fails (on PostgreSQL the
// delivery's row used to name a webhook deleted meanwhile: a foreign-key error, and the change
// that emitted the event, such as a package deletion, answered 500).
describe.each(DATABASES)("an event while its webhook is being deleted (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("the event waits for the deletion and gets no delivery for the deleted webhook; the other webhook gets its own", async () => {
    const owner = await t.createUser();
    const make = async () => {
      const res = await t.fetch("/webhooks", { method: "POST", token: owner.token, json: { url: "http://127.0.0.1:9/hook", events: ["package.created"] } });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const [gone, kept] = [await make(), await make()];
    const db = t.running.services.db;
    const ownerId = ((await db("webhooks").where({ id: gone }).first("owner_id")) as { owner_id: string }).owner_id;

    // The deletion is under way (its transaction not yet committed) when the event is emitted.
    const deleting = await db.transaction();
    await deleting("webhooks").where({ id: gone }).del();
    const emitting = db.transaction((trx) => emitEvent(trx, new Date(), { ownerId, packageId: null, type: "package.created", data: { note: "race" } as never }));
    await new Promise((r) => setTimeout(r, 300));
    await deleting.commit();

    const { deliveryIds } = await emitting;
    const delivered = await db("webhook_deliveries").whereIn("id", deliveryIds).select("webhook_id");
    expect(delivered.map((d: { webhook_id: string }) => d.webhook_id)).toEqual([kept]);
  });
});
