import type { Request } from "express";
import { NotFound, ValidationFailed } from "../errors.js";

/**
 * Reading the pages' forms. The API's input is checked by openapi.yaml before a handler runs;
 * a page calls the same services without that validator, so its routes check the same limits
 * here (lengths, numbers, choices) and answer a sentence for the form.
 */

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A path parameter that must be a UUID; anything else is the 404 page (never a database error). */
export function uuidParam(req: Request, name: string): string {
  const v = req.params[name];
  if (typeof v !== "string" || !UUID.test(v)) throw new NotFound("not_found", "There is nothing at this address.");
  return v.toLowerCase();
}

/** A form's fields, each a string ("" when absent or repeated). */
export function formFields(req: Request): (name: string) => string {
  const body = (req.body ?? {}) as Record<string, unknown>;
  return (name) => (typeof body[name] === "string" ? (body[name] as string) : "");
}

/** All values of a repeated field (checkboxes). */
export function formValues(req: Request, name: string): string[] {
  const v = ((req.body ?? {}) as Record<string, unknown>)[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : [];
}

/** Text of at most `max` characters; required unless `optional` (then undefined when blank). */
export function text(value: string, label: string, max: number, opts: { optional: true }): string | undefined;
export function text(value: string, label: string, max: number, opts?: { optional?: false }): string;
export function text(value: string, label: string, max: number, opts: { optional?: boolean } = {}): string | undefined {
  if (value.trim() === "") {
    if (opts.optional) return undefined;
    throw new ValidationFailed(`${label} is required.`, `/body/${label.toLowerCase()}`);
  }
  if (value.length > max) throw new ValidationFailed(`${label} must be at most ${max} characters.`, `/body/${label.toLowerCase()}`);
  return value;
}

/** A whole number within bounds; undefined when blank and optional. */
export function wholeNumber(value: string, label: string, min: number, max: number, opts: { optional?: boolean } = {}): number | undefined {
  if (value.trim() === "" && opts.optional) return undefined;
  if (!/^\d{1,9}$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new ValidationFailed(`${label} must be a whole number from ${min} to ${max}.`, `/body/${label.toLowerCase()}`);
  }
  return Number(value);
}

/** One of a fixed set of values. */
export function choice<T extends string>(value: string, label: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ValidationFailed(`Choose a ${label.toLowerCase()}.`, `/body/${label.toLowerCase()}`);
  return value as T;
}

// ajv-formats' "fast" email, which the API's validator uses for `format: email`.
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** An email address (the same check as the API's `format: email`). */
export function email(value: string, label: string): string {
  const v = text(value, label, 254).trim();
  if (!EMAIL.test(v)) throw new ValidationFailed(`${label} must be an email address.`, `/body/${label.toLowerCase()}`);
  return v;
}
