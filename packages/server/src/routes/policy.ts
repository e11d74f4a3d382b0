import type { Handler } from "../http/operations.js";
import * as policy from "../services/policy.js";

// The instance's policy (the `admin` scope is checked by the router) and each user's own rules.

export const getMyPolicy: Handler<"getMyPolicy"> = async ({ s, user }) => ({ status: 200, body: await policy.getMyPolicy(s, user) });

export const getPolicy: Handler<"getPolicy"> = async ({ s }) => ({ status: 200, body: await policy.getPolicy(s) });

export const putPolicy: Handler<"putPolicy"> = async ({ s, user, body, client }) => ({
  status: 200,
  body: await policy.putPolicy(s, user, body, client),
});
