import type { Request } from "express";

/** Reads an integer query parameter that the OpenAPI validator has already range-checked. */
export function queryInt(req: Request, name: string, fallback: number): number {
  const v = (req.query as Record<string, unknown>)[name];
  const n = typeof v === "number" ? v : typeof v === "string" && v !== "" ? Number(v) : NaN;
  return Number.isInteger(n) ? n : fallback;
}

export function queryString(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function pageParams(req: Request): { page: number; perPage: number } {
  return { page: queryInt(req, "page", 1), perPage: queryInt(req, "per_page", 20) };
}
