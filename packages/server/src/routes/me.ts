import { Router } from "express";
import type { Services } from "../services/context.js";
import { principal } from "../http/auth.js";
import { NotFound } from "../errors.js";
import { findUserById, toUser } from "../db/users.js";
import { createToken, listTokens, revokeToken } from "../services/tokens.js";

export function meRoutes(s: Services): Router {
  const r = Router();

  r.get("/me", async (req, res) => {
    const row = await findUserById(s.db, principal(req).userId);
    if (!row) throw new NotFound("User not found");
    res.json(toUser(row));
  });

  r.get("/me/tokens", async (req, res) => {
    res.json(await listTokens(s, principal(req).userId));
  });

  r.post("/me/tokens", async (req, res) => {
    const body = req.body as { name: string; expires_in_days?: number };
    res.status(201).json(await createToken(s, principal(req).userId, body));
  });

  r.delete("/me/tokens/:id", async (req, res) => {
    await revokeToken(s, principal(req).userId, req.params.id);
    res.status(204).end();
  });

  return r;
}
