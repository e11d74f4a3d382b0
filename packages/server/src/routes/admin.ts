import type { Handler } from "../http/operations.js";
import * as users from "../services/users.js";
import { pageOf } from "./pagination.js";

// Admin operations need the `admin` scope (openapi.yaml's `security`): the router checks it.

export const listUsers: Handler<"listUsers"> = async ({ s, query }) => ({
  status: 200,
  body: await users.listUsers(s, { ...pageOf(query), q: query.q }),
});

export const createUser: Handler<"createUser"> = async ({ s, user, body }) => ({ status: 201, body: await users.createUser(s, body, user) });

export const updateUser: Handler<"updateUser"> = async ({ s, user, params, body }) => ({
  status: 200,
  body: await users.updateUser(s, user, params.id, body),
});
