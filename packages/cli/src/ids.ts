import type { SpeedyFiles } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "./exit-codes.js";
import { clean } from "./output.js";
import type { Context } from "./run.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX = /^[0-9a-f][0-9a-f-]*$/i;
/** As git: fewer characters than this match too much to mean anything. */
export const MIN_PREFIX = 4;
/** What `sf packages list` and `sf tokens list` show on a terminal. */
export const SHORT_ID = 8;

export type IdKind = "package" | "token" | "webhook";

interface Candidate {
  id: string;
  /** One line about it, for the list shown when a prefix is ambiguous. */
  label: string;
}

/**
 * The ids of your packages or tokens that start with `prefix`.
 *
 * Packages are found by the server (GET /packages?id_prefix=, one request for up to 100 matches);
 * tokens, of which a person has few, from the list of them.
 */
export async function findByIdPrefix(sf: SpeedyFiles, kind: IdKind, prefix: string): Promise<Candidate[]> {
  const p = prefix.toLowerCase();
  if (kind === "webhook") {
    return (await sf.webhooks.list()).filter((h) => h.id.startsWith(p)).map((h) => ({ id: h.id, label: `${h.enabled ? "enabled " : "disabled"} ${clean(h.url)}` }));
  }
  if (kind === "token") {
    return (await sf.tokens.list()).filter((t) => t.id.startsWith(p)).map((t) => ({ id: t.id, label: `${clean(t.name)} (${t.prefix}…)` }));
  }
  const out: Candidate[] = [];
  for (const pkg of (await sf.packages.list({ id_prefix: p, per_page: 100 })).items) {
    out.push({ id: pkg.id, label: `${pkg.status.padEnd(7)} ${clean(pkg.title)}` });
  }
  return out;
}

/**
 * A full id from what the person typed: the id itself, or any unique prefix of it (at least 4
 * characters, as git takes commit hashes), so the 8 characters `sf packages list` shows are
 * enough. No match is "not found" (exit 4); several list the candidates (exit 2).
 */
export async function resolveId(ctx: Context, sf: SpeedyFiles, kind: IdKind, arg: string): Promise<string> {
  const typed = arg.trim();
  if (UUID.test(typed)) return typed.toLowerCase();
  if (!PREFIX.test(typed) || typed.length > 36) throw new UsageError(`"${arg}" is not a ${kind} id (or the start of one)`);
  if (typed.length < MIN_PREFIX) throw new UsageError(`${kind} id "${arg}" is too short: give at least ${MIN_PREFIX} characters`);
  const matches = await findByIdPrefix(sf, kind, typed);
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) throw new CliError(`no ${kind} id starts with "${typed}"`, ExitCode.NOT_FOUND);
  const shown = matches.slice(0, 10);
  (ctx.errorContext.notes ??= []).push(...shown.map((m) => `  ${m.id}  ${m.label}`), ...(matches.length > shown.length ? [`  … and ${matches.length - shown.length} more`] : []));
  throw new UsageError(`${kind} id "${typed}" is ambiguous, it could be any of ${matches.length} ${kind}s (give more characters):`);
}
