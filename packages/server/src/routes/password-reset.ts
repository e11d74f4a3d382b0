import type { Handler } from "../http/operations.js";
import * as reset from "../services/password-reset.js";

// Who may do what is the spec's `security` (none for the first two, `admin` for the third) and the
// service's rules; the rate limits are routes/middleware.ts's.

export const requestPasswordReset: Handler<"requestPasswordReset"> = async ({ s, body, client }) => ({
  status: 202,
  body: { detail: reset.requestPasswordReset(s, body.email, client) },
});

export const confirmPasswordReset: Handler<"confirmPasswordReset"> = async ({ s, body, client }) => {
  await reset.confirmPasswordReset(s, body.token, body.password, client);
  return { status: 204 };
};

export const forcePasswordReset: Handler<"forcePasswordReset"> = async ({ s, user, params, body, client }) => ({
  status: 202,
  body: { detail: await reset.forcePasswordReset(s, user, params.id, body ?? {}, client) },
});
