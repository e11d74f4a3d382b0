import { TUS_CLIENT_SCRIPT } from "../web/pages.js";
import { Router, type Request, type Response } from "express";
import type { Services } from "../services/context.js";
import * as packages from "../services/packages.js";
import * as files from "../services/files.js";
import * as policy from "../services/policy.js";
import { uploadLimitWords } from "../web/policy-limits.js";
import { packageListBody } from "../web/package-list-page.js";
import { newPackageBody } from "../web/new-package-page.js";
import { packageDetailBody } from "../web/package-page.js";
import { STATUSES } from "../web/package-parts.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { choice, email, formFields, text, uuidParam, wholeNumber } from "./web-forms.js";
import { ValidationFailed } from "../errors.js";
import { flashFor, requireSession, sessionOf, signedInForm, takeFlash } from "./web-session.js";

const NOTICES = {
  created: "Draft saved. Add files, then finalize it to send the link.",
  revoked: "The link was revoked.",
  deleted: "The package was deleted.",
  file_removed: "The file was removed.",
  link_revoked: "That recipient's link was revoked; the others still work.",
  extended: "The expiry was moved.",
};

const PER_PAGE = 20;

function queryString(req: Request, name: string): string {
  const v = req.query[name];
  return typeof v === "string" ? v : "";
}

async function sendDetail(s: Services, req: Request, res: Response, id: string, o: { error?: string; status?: number } = {}): Promise<void> {
  const session = sessionOf(req);
  const [pkg, events] = await Promise.all([packages.getPackage(s, session.principal, id), packages.listPackageEvents(s, session.principal, id)]);
  const recipients = (await packages.packageRecipients(s, session.principal, [pkg])).get(pkg.id);
  // The links of the finalize form that redirected here: shown this once.
  const finalized = o.error === undefined ? (await takeFlash(s, req, "package_finalized", id)).at(-1) : undefined;
  const limits = pkg.status === "draft" && pkg.direction === "outbound" ? await policy.myLimits(s, session.principal) : undefined;
  renderPage(
    req,
    res,
    {
      title: pkg.title,
      section: "packages",
      scripts: pkg.status === "draft" && pkg.direction === "outbound" ? [TUS_CLIENT_SCRIPT, "/assets/draft-upload.js"] : [],
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: packageDetailBody({
        pkg,
        events,
        csrfToken: session.csrfToken,
        maxFileBytes: limits?.maxFileBytes ?? s.config.maxFileBytes,
        uploadLimits: limits ? uploadLimitWords(limits) : undefined,
        finalized,
        maxTtlDays: s.config.maxTtlDays,
        recipients,
      }),
    },
    o.status,
  );
}

/** Runs a package action; a refusal of the service (409, 422, …) shows on the package's page. */
async function act(s: Services, req: Request, res: Response, id: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (isFormError(err)) return sendDetail(s, req, res, id, { error: err.message, status: err.status });
    throw err;
  }
}

/** Packages: the list, New package, one package and what can be done to it. */
export function packagePages(s: Services): Router {
  const r = Router();

  r.get("/packages", requireSession, async (req, res) => {
    const statusQ = queryString(req, "status");
    const directionQ = queryString(req, "direction");
    const status = (STATUSES as readonly string[]).includes(statusQ) ? (statusQ as (typeof STATUSES)[number]) : undefined;
    const direction = directionQ === "outbound" || directionQ === "inbound" ? directionQ : undefined;
    const q = queryString(req, "q").slice(0, 200);
    const pageRaw = queryString(req, "page");
    const page = /^\d{1,6}$/.test(pageRaw) && Number(pageRaw) >= 1 ? Number(pageRaw) : 1;
    const list = await packages.listPackages(s, sessionOf(req).principal, { page, perPage: PER_PAGE, status, direction, q: q.trim() || undefined });
    const recipients = await packages.packageRecipients(s, sessionOf(req).principal, list.items);
    renderPage(req, res, {
      title: "Packages",
      section: "packages",
      notice: noticeOf(req, NOTICES),
      body: packageListBody({ list, status, direction, q, recipients }),
    });
  });

  r.get("/packages/new", requireSession, async (req, res) => {
    const limits = await policy.myLimits(s, sessionOf(req).principal);
    renderPage(req, res, {
      title: "New package",
      section: "packages",
      scripts: [TUS_CLIENT_SCRIPT, "/assets/new-package.js"],
      body: newPackageBody({ csrfToken: sessionOf(req).csrfToken, limits }),
    });
  });

  // Without JavaScript the form lands here and saves a draft; with it, new-package.js uses the API.
  r.post("/packages/new", ...signedInForm(s), async (req, res) => {
    const f = formFields(req);
    const form = {
      title: f("title"),
      recipient_email: f("recipient_email"),
      recipient_name: f("recipient_name"),
      message: f("message"),
      ttl_days: f("ttl_days"),
      direction: f("direction"),
      max_downloads: f("max_downloads"),
      notify_on_download: f("notify_on_download") !== "",
    };
    try {
      const recipientName = text(form.recipient_name, "Recipient name", 200, { optional: true });
      const message = text(form.message, "Message", 5000, { optional: true });
      const direction = choice(form.direction, "Direction", ["outbound", "inbound"] as const);
      const emails = form.recipient_email.split(",").filter((x) => x.trim() !== "");
      if (emails.length > 50) throw new ValidationFailed("At most 50 recipients.", "/body/recipients");
      const recipients = (emails.length === 0 ? [""] : emails).map((e) => email(e, "Recipient email"));
      if (recipients.length > 1 && recipientName) throw new ValidationFailed("A recipient name goes with one recipient; leave it empty for several.", "/body/recipient_name");
      const outbound = direction === "outbound";
      const maxDownloads = outbound ? wholeNumber(form.max_downloads, "Downloads allowed", 1, 1000, { optional: true }) : undefined;
      const password = outbound ? f("password") : "";
      if (password !== "" && !packages.LINK_PASSWORD.test(password)) {
        throw new ValidationFailed(
          "The password must be 8 to 128 characters: letters, digits, spaces and symbols on a US keyboard (no accents or other scripts, no space first or last), so every browser and sf can send it.",
          "/body/password",
        );
      }
      const created = await packages.createPackage(s, sessionOf(req).principal, {
        title: text(form.title, "Title", 200),
        ...(recipients.length === 1 ? { recipient_email: recipients[0]! } : { recipients: recipients.map((e) => ({ email: e })) }),
        direction,
        ttl_days: wholeNumber(form.ttl_days, "Days", 1, s.config.maxTtlDays)!,
        ...(recipientName ? { recipient_name: recipientName } : {}),
        ...(message ? { message } : {}),
        ...(maxDownloads !== undefined ? { max_downloads: maxDownloads } : {}),
        ...(password !== "" ? { password } : {}),
        ...(outbound ? { notify_on_download: form.notify_on_download } : {}),
      });
      res.redirect(303, `/packages/${created.id}?notice=created`);
    } catch (err) {
      if (!isFormError(err)) throw err;
      renderPage(
        req,
        res,
        {
          title: "New package",
          section: "packages",
          scripts: [TUS_CLIENT_SCRIPT, "/assets/new-package.js"],
          error: err.message,
          body: newPackageBody({ csrfToken: sessionOf(req).csrfToken, limits: await policy.myLimits(s, sessionOf(req).principal), form }),
        },
        err.status,
      );
    }
  });

  r.get("/packages/:id", requireSession, (req, res) => sendDetail(s, req, res, uuidParam(req, "id")));

  r.post("/packages/:id/finalize", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    await act(s, req, res, id, async () => {
      const fin = await packages.finalizePackage(s, sessionOf(req).principal, id);
      // The links go to this session's next page of this package only (sealed, shown once),
      // never into a URL; a reload of that page finalizes nothing and shows them no more.
      await flashFor(s, req, "package_finalized", fin, id);
      res.redirect(303, `/packages/${id}`);
    });
  });

  r.post("/packages/:id/revoke", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    await act(s, req, res, id, async () => {
      await packages.revokePackage(s, sessionOf(req).principal, id);
      res.redirect(303, `/packages/${id}?notice=revoked`);
    });
  });

  r.post("/packages/:id/links/:linkId/revoke", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    const linkId = uuidParam(req, "linkId");
    await act(s, req, res, id, async () => {
      await packages.revokePackageLink(s, sessionOf(req).principal, id, linkId);
      res.redirect(303, `/packages/${id}?notice=link_revoked`);
    });
  });

  r.post("/packages/:id/extend", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    await act(s, req, res, id, async () => {
      const days = wholeNumber(formFields(req)("days"), "Days", 1, s.config.maxTtlDays)!;
      await packages.updatePackage(s, sessionOf(req).principal, id, { ttl_days: days });
      res.redirect(303, `/packages/${id}?notice=extended`);
    });
  });

  r.post("/packages/:id/delete", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    await act(s, req, res, id, async () => {
      await packages.deletePackage(s, sessionOf(req).principal, id);
      res.redirect(303, "/packages?notice=deleted");
    });
  });

  r.post("/packages/:id/files/:fileId/delete", ...signedInForm(s), async (req, res) => {
    const id = uuidParam(req, "id");
    const fileId = uuidParam(req, "fileId");
    await act(s, req, res, id, async () => {
      await files.deleteFile(s, sessionOf(req).principal, id, fileId);
      res.redirect(303, `/packages/${id}?notice=file_removed`);
    });
  });

  return r;
}
