import { Router } from "express";
import type { Services } from "../services/context.js";
import { principal } from "../http/auth.js";
import { pageParams, queryString } from "../http/query.js";
import {
  createPackage,
  deletePackage,
  finalizePackage,
  listPackages,
  ownedPackage,
  packageDetail,
  revokePackage,
  type CreatePackageInput,
} from "../services/packages.js";
import type { Direction, PackageStatus } from "../db/packages.js";
import { packageEvents } from "../services/links.js";

export function packageRoutes(s: Services): Router {
  const r = Router();

  r.get("/packages", async (req, res) => {
    const status = queryString(req, "status") as PackageStatus | undefined;
    const direction = queryString(req, "direction") as Direction | undefined;
    const q = queryString(req, "q");
    res.json(
      await listPackages(s, principal(req).userId, {
        ...pageParams(req),
        ...(status ? { status } : {}),
        ...(direction ? { direction } : {}),
        ...(q ? { q } : {}),
      }),
    );
  });

  r.post("/packages", async (req, res) => {
    res.status(201).json(await createPackage(s, principal(req).userId, req.body as CreatePackageInput));
  });

  r.get("/packages/:id", async (req, res) => {
    res.json(await packageDetail(s, await ownedPackage(s, principal(req).userId, req.params.id)));
  });

  r.delete("/packages/:id", async (req, res) => {
    await deletePackage(s, principal(req).userId, req.params.id);
    res.status(204).end();
  });

  r.post("/packages/:id/finalize", async (req, res) => {
    res.json(await finalizePackage(s, principal(req).userId, req.params.id));
  });

  r.get("/packages/:id/events", async (req, res) => {
    res.json(await packageEvents(s, principal(req).userId, req.params.id));
  });

  r.post("/packages/:id/revoke", async (req, res) => {
    res.json(await revokePackage(s, principal(req).userId, req.params.id));
  });

  return r;
}
