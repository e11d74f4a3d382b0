import { Router } from "express";
import type { Services } from "../services/context.js";
import { principal, requireAdmin } from "../http/auth.js";
import { pageParams, queryString } from "../http/query.js";
import { createUser, listUsers, updateUser, type CreateUserInput, type UpdateUserInput } from "../services/users.js";

export function adminRoutes(s: Services): Router {
  const r = Router();
  r.use("/admin", requireAdmin);

  r.get("/admin/users", async (req, res) => {
    const q = queryString(req, "q");
    res.json(await listUsers(s, { ...pageParams(req), ...(q ? { q } : {}) }));
  });

  r.post("/admin/users", async (req, res) => {
    res.status(201).json(await createUser(s, req.body as CreateUserInput));
  });

  r.patch("/admin/users/:id", async (req, res) => {
    res.json(await updateUser(s, principal(req).userId, req.params.id, req.body as UpdateUserInput));
  });

  return r;
}
