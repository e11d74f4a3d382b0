import type { Handler } from "../http/operations.js";
import * as users from "../services/users.js";
import * as tokens from "../services/tokens.js";

export const createSessionToken: Handler<"createSessionToken"> = async ({ s, body, client }) => ({
  status: 201,
  body: await tokens.createSessionToken(s, body, client),
});

export const getMe: Handler<"getMe"> = async ({ s, user }) => ({ status: 200, body: await users.getMe(s, user) });

export const listTokens: Handler<"listTokens"> = async ({ s, user }) => ({ status: 200, body: await tokens.listTokens(s, user) });

export const createToken: Handler<"createToken"> = async ({ s, user, body }) => ({ status: 201, body: await tokens.createToken(s, user, body) });

export const revokeToken: Handler<"revokeToken"> = async ({ s, user, params }) => {
  await tokens.revokeToken(s, user, params.id);
  return { status: 204 };
};
