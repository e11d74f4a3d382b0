import { Router, type Request, type Response } from "express";
import { ValidationFailed } from "../errors.js";
import type { Services } from "../services/context.js";
import * as webhooks from "../services/webhooks.js";
import { SUBSCRIBABLE, webhookDetailBody, webhookListBody, type WebhookListData } from "../web/webhook-pages.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { formFields, formValues, text, uuidParam } from "./web-forms.js";
import { flashFor, requireSession, sessionOf, signedInForm, takeFlash } from "./web-session.js";

const NOTICES = {
  test_sent: "A ping is on its way; its delivery appears below.",
  redelivered: "The event is being sent again, as a new delivery.",
  enabled: "The webhook is enabled; deliveries that were waiting go out now.",
  disabled: "The webhook is disabled; events wait until it is enabled again.",
  deleted: "The webhook was deleted.",
};

const PER_PAGE = 20;

async function sendList(s: Services, req: Request, res: Response, o: Pick<WebhookListData, "form"> & { error?: string; status?: number } = {}) {
  const session = sessionOf(req);
  // A webhook created by the form that redirected here: its signing secret, shown this once.
  const created = o.form ? [] : await takeFlash(s, req, "webhook_created");
  const hooks = await webhooks.listWebhooks(s, session.principal, {});
  renderPage(
    req,
    res,
    {
      title: "Webhooks",
      section: "webhooks",
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: webhookListBody({ hooks, csrfToken: session.csrfToken, created, form: o.form }),
    },
    o.status,
  );
}

/** Webhooks: list and create (the signing secret shown once), one webhook with its delivery log. */
export function webhookPages(s: Services): Router {
  const r = Router();

  r.get("/webhooks", requireSession, (req, res) => sendList(s, req, res));

  r.post("/webhooks", ...signedInForm(s), async (req, res) => {
    const f = formFields(req);
    const form = { url: f("url"), description: f("description"), events: formValues(req, "events") };
    try {
      const known = SUBSCRIBABLE.map(([t]) => t);
      const events = known.filter((t) => form.events.includes(t));
      if (events.length === 0 || events.length !== new Set(form.events).size) throw new ValidationFailed("Choose at least one event.", "/body/events");
      const description = text(form.description, "Description", 200, { optional: true });
      const created = await webhooks.createWebhook(s, sessionOf(req).principal, {
        url: text(form.url, "URL", 2000),
        events,
        ...(description ? { description } : {}),
      });
      await flashFor(s, req, "webhook_created", created);
      res.redirect(303, "/webhooks");
    } catch (err) {
      if (isFormError(err)) return sendList(s, req, res, { form, error: err.message, status: err.status });
      throw err;
    }
  });

  r.get("/webhooks/:id", requireSession, async (req, res) => {
    const id = uuidParam(req, "id");
    const session = sessionOf(req);
    const pageRaw = typeof req.query.page === "string" ? req.query.page : "";
    const page = /^\d{1,6}$/.test(pageRaw) && Number(pageRaw) >= 1 ? Number(pageRaw) : 1;
    const hook = await webhooks.getWebhook(s, session.principal, id);
    const deliveries = await webhooks.listWebhookDeliveries(s, session.principal, id, { page, perPage: PER_PAGE });
    renderPage(req, res, {
      title: "Webhook",
      section: "webhooks",
      notice: noticeOf(req, NOTICES),
      body: webhookDetailBody({ hook, deliveries, csrfToken: session.csrfToken }),
    });
  });

  const action = (path: string, run: (req: Request, id: string) => Promise<unknown>, notice: keyof typeof NOTICES) =>
    r.post(`/webhooks/:id/${path}`, ...signedInForm(s), async (req, res) => {
      const id = uuidParam(req, "id");
      await run(req, id);
      res.redirect(303, notice === "deleted" ? "/webhooks?notice=deleted" : `/webhooks/${id}?notice=${notice}`);
    });
  action("test", (req, id) => webhooks.testWebhook(s, sessionOf(req).principal, id), "test_sent");
  action("enable", (req, id) => webhooks.updateWebhook(s, sessionOf(req).principal, id, { enabled: true }), "enabled");
  action("disable", (req, id) => webhooks.updateWebhook(s, sessionOf(req).principal, id, { enabled: false }), "disabled");
  action("delete", (req, id) => webhooks.deleteWebhook(s, sessionOf(req).principal, id), "deleted");
  action("deliveries/:deliveryId/redeliver", (req, id) => webhooks.redeliverWebhookDelivery(s, sessionOf(req).principal, id, uuidParam(req, "deliveryId")), "redelivered");

  return r;
}
