// Checked by `pnpm typecheck` (never run): the handler table must name every operationId of
// openapi.yaml exactly once, and each handler must answer what the spec says.
import type { HandlerTable } from "../src/http/operations.js";
import { handlers } from "../src/routes/index.js";

const { getMe: _missing, ...withoutGetMe } = handlers;
// @ts-expect-error a table without getMe is not a HandlerTable
export const incomplete: HandlerTable = withoutGetMe;

// @ts-expect-error an operationId the spec does not have
export const misspelled: HandlerTable = { ...handlers, getMee: handlers.getMe };

export const wrongAnswer: HandlerTable = {
  ...handlers,
  // @ts-expect-error getMe answers a User, and "root" is not a role
  getMe: async () => ({ status: 200, body: { id: "x", email: "a@b", name: "a", role: "root", disabled: false, created_at: "" } }),
};

export const wrongStatus: HandlerTable = {
  ...handlers,
  // @ts-expect-error createPackage answers 201, not 200
  createPackage: async (ctx) => ({ status: 200, body: (await handlers.createPackage(ctx)).body }),
};
