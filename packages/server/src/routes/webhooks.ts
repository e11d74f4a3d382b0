import type { Handler } from "../http/operations.js";
import * as webhooks from "../services/webhooks.js";
import { pageOf } from "./pagination.js";

export const listWebhooks: Handler<"listWebhooks"> = async ({ s, user, query }) => ({
  status: 200,
  body: await webhooks.listWebhooks(s, user, { all: query.all }),
});

export const createWebhook: Handler<"createWebhook"> = async ({ s, user, body }) => ({
  status: 201,
  body: await webhooks.createWebhook(s, user, body),
});

export const getWebhook: Handler<"getWebhook"> = async ({ s, user, params }) => ({ status: 200, body: await webhooks.getWebhook(s, user, params.id) });

export const updateWebhook: Handler<"updateWebhook"> = async ({ s, user, params, body }) => ({
  status: 200,
  body: await webhooks.updateWebhook(s, user, params.id, body),
});

export const deleteWebhook: Handler<"deleteWebhook"> = async ({ s, user, params }) => {
  await webhooks.deleteWebhook(s, user, params.id);
  return { status: 204 };
};

export const testWebhook: Handler<"testWebhook"> = async ({ s, user, params }) => ({ status: 202, body: await webhooks.testWebhook(s, user, params.id) });

export const listWebhookDeliveries: Handler<"listWebhookDeliveries"> = async ({ s, user, params, query }) => ({
  status: 200,
  body: await webhooks.listWebhookDeliveries(s, user, params.id, pageOf(query)),
});

export const redeliverWebhookDelivery: Handler<"redeliverWebhookDelivery"> = async ({ s, user, params }) => ({
  status: 202,
  body: await webhooks.redeliverWebhookDelivery(s, user, params.id, params.delivery_id),
});
