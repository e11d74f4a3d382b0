import { UsageError } from "./exit-codes.js";

/**
 * Which flag (or argument) of the running command fills which API field, so an error about the
 * field names what the person typed: `--to must be an email address`, not
 * `recipient_email must match format "email"`.
 */
export type FieldFlags = Record<string, string>;

// Loose on purpose: it catches what is plainly not an address (no @, spaces) before anything
// runs, and never refuses one the server would take; the server's check still follows.
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** Checks a flag the server would check anyway, before anything is read or created. */
export const check = {
  email(flag: string, value: string | undefined): void {
    if (value !== undefined && !EMAIL.test(value.trim())) throw new UsageError(`${flag} must be an email address (got "${value}")`);
  },
  length(flag: string, value: string | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (value.trim().length < min) throw new UsageError(min <= 1 ? `${flag} must not be empty` : `${flag} must be at least ${min} characters long`);
    if (value.length > max) throw new UsageError(`${flag} must be at most ${max} characters long (got ${value.length})`);
  },
  range(flag: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (value < min) throw new UsageError(`${flag} must be at least ${min}`);
    if (value > max) throw new UsageError(`${flag} must be at most ${max}`);
  },
};

/** An API validation message (ajv's or the server's) in the words of a sentence about a flag. */
export function humanize(field: string, message: string): string {
  const m = message.replace(new RegExp(`^(request/body/|/body/)?${field}\\s+`), "").trim();
  let r: RegExpExecArray | null;
  if (/^must match format "email"$/.test(m)) return "must be an email address";
  if ((r = /^must be <= (\d+)$/.exec(m))) return `must be at most ${r[1]}`;
  if ((r = /^must be >= (\d+)$/.exec(m))) return `must be at least ${r[1]}`;
  if ((r = /^must NOT have more than (\d+) characters$/.exec(m))) return `must be at most ${r[1]} characters long`;
  if ((r = /^must NOT have fewer than (\d+) characters$/.exec(m))) return r[1] === "1" ? "must not be empty" : `must be at least ${r[1]} characters long`;
  if (m === "must be integer") return "must be a whole number";
  return m;
}

/**
 * `--to must be an email address` for each error on a field the command got from a flag; other
 * fields keep their API name. Undefined when no error names a field.
 */
export function describeFieldErrors(errors: { path: string; message: string }[], flags: FieldFlags): string | undefined {
  const lines: string[] = [];
  for (const e of errors) {
    const field = e.path.replace(/^\/?(request\/)?body\/?/, "").split("/")[0] ?? "";
    if (!field) continue;
    const flag = flags[field];
    lines.push(flag ? `${flag} ${humanize(field, e.message)}` : `${field} ${humanize(field, e.message)}`);
  }
  return lines.length > 0 ? [...new Set(lines)].join("; ") : undefined;
}
