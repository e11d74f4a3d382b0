import { Router } from "express";
import type { Services } from "../services/context.js";
import { failureRateLimit } from "../http/rate-limit.js";
import { authenticatePassword } from "../services/users.js";
import { createToken } from "../services/tokens.js";

export function authRoutes(s: Services): Router {
  const r = Router();
  const perIp = failureRateLimit({
    limit: s.config.loginMaxFailuresPerIp,
    windowSeconds: s.config.loginWindowSeconds,
    isFailure: (res) => res.statusCode === 401,
    detail: "Too many failed login attempts from this address; try again later",
  });
  const perAccount = failureRateLimit({
    limit: s.config.loginMaxFailuresPerAccount,
    windowSeconds: s.config.loginWindowSeconds,
    key: (req) => `account:${String((req.body as { email?: unknown })?.email ?? "").trim().toLowerCase()}`,
    isFailure: (res) => res.statusCode === 401,
    detail: "Too many failed login attempts for this account; try again later",
  });

  r.post("/auth/token", perIp, perAccount, async (req, res) => {
    const body = req.body as { email: string; password: string; name: string; expires_in_days?: number };
    const user = await authenticatePassword(s, body.email, body.password);
    const token = await createToken(s, user.id, { name: body.name, expires_in_days: body.expires_in_days });
    res.status(201).json(token);
  });
  return r;
}
