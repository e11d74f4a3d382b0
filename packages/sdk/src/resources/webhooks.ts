import type { RequestOptions } from "../http.js";
import type { Webhook, WebhookCreated, WebhookCreateRequest, WebhookDelivery, WebhookDeliveryList, WebhookUpdateRequest } from "../types.js";
import type { Core } from "./core.js";

/**
 * `sf.webhooks`: SpeedyFiles POSTs signed events about your packages to your URL. Verify them on
 * the receiving side with `parseWebhookEvent` / `verifyWebhookSignature` (webhooks.ts).
 */
export function webhooksResource({ api, call, init }: Core) {
  return {
    /** Yours, newest first; `{ all: true }` (admins) everyone's. Secrets are never listed. */
    list: (query: { all?: boolean } = {}, o?: RequestOptions): Promise<Webhook[]> => call(api.GET("/webhooks", { params: { query }, ...init(o) })),
    /** Registers a URL; the answer's `secret` (whsec_…) is shown only here. */
    create: (body: WebhookCreateRequest, o?: RequestOptions): Promise<WebhookCreated> => call(api.POST("/webhooks", { body, ...init(o) })),
    get: (id: string, o?: RequestOptions): Promise<Webhook> => call(api.GET("/webhooks/{id}", { params: { path: { id } }, ...init(o) })),
    update: (id: string, body: WebhookUpdateRequest, o?: RequestOptions): Promise<Webhook> => call(api.PATCH("/webhooks/{id}", { params: { path: { id } }, body, ...init(o) })),
    delete: async (id: string, o?: RequestOptions): Promise<void> => {
      await call(api.DELETE("/webhooks/{id}", { params: { path: { id } }, ...init(o) }));
    },
    /** Queues a `ping` event; follow it with `deliveries`. */
    test: (id: string, o?: RequestOptions): Promise<WebhookDelivery> => call(api.POST("/webhooks/{id}/test", { params: { path: { id } }, ...init(o) })),
    /** The delivery log, newest first. */
    deliveries: (id: string, query: { page?: number; per_page?: number } = {}, o?: RequestOptions): Promise<WebhookDeliveryList> =>
      call(api.GET("/webhooks/{id}/deliveries", { params: { path: { id }, query }, ...init(o) })),
    /** Sends a delivery's event again, as a new delivery. */
    redeliver: (id: string, deliveryId: string, o?: RequestOptions): Promise<WebhookDelivery> =>
      call(api.POST("/webhooks/{id}/deliveries/{delivery_id}/redeliver", { params: { path: { id, delivery_id: deliveryId } }, ...init(o) })),
  };
}

export type WebhooksResource = ReturnType<typeof webhooksResource>;
