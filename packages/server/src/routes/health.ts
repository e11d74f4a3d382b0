import { Router } from "express";
import type { Services } from "../services/context.js";
import { checkHealth } from "../services/health.js";

export function healthRoutes(s: Services): Router {
  const r = Router();
  r.get("/health", async (_req, res) => {
    const h = await checkHealth(s);
    res.status(h.status === "ok" ? 200 : 503).json(h);
  });
  return r;
}
