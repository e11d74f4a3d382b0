import type { ErrorRequestHandler, Request, Response } from "express";
import { ApiError } from "../errors.js";
import type { Services } from "../services/context.js";
import { layout, type LayoutOptions } from "../web/layout.js";
import { errorBody } from "../web/error-pages.js";
import { signInUrl } from "./web-session.js";

/** Sends a page of the web interface, with the signed-in user's header and CSRF token filled in. */
export function renderPage(req: Request, res: Response, o: Omit<LayoutOptions, "user" | "csrfToken">, status = 200): void {
  const session = req.webSession;
  res
    .status(status)
    .type("html")
    .send(layout({ ...o, user: session?.user, csrfToken: session?.csrfToken }));
}

/** Fixed messages shown after a redirect (`?notice=…`): the URL never carries text of its own. */
export function noticeOf(req: Request, notices: Record<string, string>): string | null {
  const key = req.query.notice;
  return typeof key === "string" && Object.hasOwn(notices, key) ? notices[key]! : null;
}

/** A service's refusal of a form's input (4xx other than 401/403/404): shown on the form again. */
export function isFormError(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status >= 400 && err.status < 500 && ![401, 403, 404].includes(err.status);
}

/**
 * Errors of the pages end here as pages, as the API's end as JSON: no session → the sign-in page
 * (which returns here after), 403/404/… → a page saying so with the service's sentence, anything
 * unexpected → logged and a plain 500 page.
 */
export function pageErrorHandler(s: Services): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = err as { status?: number; statusCode?: number; type?: string };
    let status = 500;
    let detail = "Internal server error.";
    let code: string | undefined;
    if (err instanceof ApiError) {
      code = err.code;
      if (err.status === 401) {
        res.redirect(303, signInUrl(req.method === "GET" ? req.originalUrl : null));
        return;
      }
      status = err.status;
      detail = err.message;
    } else if (e?.type === "entity.too.large") {
      status = 413;
      detail = "The form was too large.";
    } else if (typeof (e?.status ?? e?.statusCode) === "number" && (e.status ?? e.statusCode)! < 500) {
      status = (e.status ?? e.statusCode)!;
      detail = "The form could not be read.";
    } else {
      (req.log ?? s.logger).error({ err }, "page failed");
    }
    const page = errorBody(status, detail, code);
    renderPage(req, res, { title: page.title, body: page.body }, status);
  };
}
