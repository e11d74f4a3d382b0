import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { Direction, Package, PackageEvent, PackageStatus } from "@speedyfiles/sdk";
import { CliError, ExitCode, ttlHints, UsageError } from "../exit-codes.js";
import { resolveId, SHORT_ID } from "../ids.js";
import { clean, formatBytes, formatDate, formatRelative, info, isTty, out, plural, printJson, printTable } from "../output.js";
import { canPrompt, confirm } from "../prompt.js";
import type { Context } from "../run.js";
import { mailStateOf, parsePositiveInt, type MailStatus } from "./shared.js";

const STATUSES = ["draft", "active", "expired", "revoked"] as const;
const DIRECTIONS = ["outbound", "inbound"] as const;

function oneOf<T extends string>(values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${values.join(", ")}`);
    return v as T;
  };
}

interface ListOpts {
  status?: PackageStatus;
  direction?: Direction;
  search?: string;
  all?: boolean;
  limit: number;
  json?: boolean;
}

const ID_HELP = `\n<id> is a package id or any unique start of one (at least 4 characters), e.g. the 8 that \`sf packages list\` shows.`;

export function registerPackages(program: Command, ctx: Context): void {
  const packages = program.command("packages").description("list, show, extend, resend, revoke and delete your packages; see who downloaded");

  packages
    .command("list")
    .description("list your packages, newest first")
    .option("--status <status>", `only this status: ${STATUSES.join(", ")}`, oneOf(STATUSES))
    .option("--direction <direction>", `only ${DIRECTIONS.join(" or ")}`, oneOf(DIRECTIONS))
    .option("-q, --search <text>", "only packages whose title or recipient matches")
    .option("--all", "every page, not just the first --limit")
    .option("--limit <n>", "how many (without --all)", parsePositiveInt, 30)
    .option("--json", "print one JSON array")
    .addHelpText("after", "\nOn a terminal ids are shortened to 8 characters (enough for every command that takes an id); piped, they are whole.")
    .action((opts: ListOpts) => list(ctx, opts));

  packages
    .command("show <id>")
    .description("show a package and its files")
    .option("--wide", "also each file's SHA-256 and id")
    .option("--json", "print JSON")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { json?: boolean; wide?: boolean }) => {
      const sf = await ctx.client();
      const pkg = await sf.packages.get(await resolveId(ctx, sf, "package", arg));
      if (opts.json) return printJson(ctx.io, pkg);
      const rows: [string, string][] = [
        ["id", pkg.id],
        ["title", pkg.title],
        ["direction", pkg.direction],
        ["status", pkg.status],
        ["recipient", pkg.recipient_name ? `${pkg.recipient_name} <${pkg.recipient_email}>` : pkg.recipient_email],
        ["files", `${pkg.file_count} (${formatBytes(pkg.total_size)})`],
        ["created", formatDate(pkg.created_at)],
        ["finalized", formatDate(pkg.finalized_at)],
        ["expires", pkg.expires_at ? `${formatDate(pkg.expires_at)} (${formatRelative(pkg.expires_at)})` : "-"],
        ["link", pkg.magic_link_state],
        ["downloads", String(pkg.download_count)],
      ];
      if (pkg.revoked_at) rows.push(["revoked", formatDate(pkg.revoked_at)]);
      if (pkg.max_downloads) rows.push(["limit", `each file ${pkg.max_downloads === 1 ? "once" : `${pkg.max_downloads} times`} per recipient`]);
      if (pkg.password_protected) rows.push(["password", "yes"]);
      if (pkg.encryption) {
        const how = pkg.encryption.scheme === "age-scrypt" ? "passphrase" : pkg.direction === "inbound" ? `to ${pkg.encryption.recipient}` : "key in the link";
        const opens = how === "key in the link" ? "only the full links sf send printed open them" : `\`sf download ${pkg.id.slice(0, 8)}\` opens them`;
        rows.push(["encrypted", `end to end (age, ${how}); the file names below are opaque: ${opens}`]);
      }
      if (pkg.message) rows.push(["message", pkg.message]);
      for (const [k, v] of rows) out(ctx.io, `${k.padEnd(10)} ${clean(v)}`);
      // An older server sends no links.
      const links = pkg.links ?? [];
      if (links.length > 0) {
        out(ctx.io, "");
        printTable(
          ctx.io,
          [{ header: "RECIPIENT", shrink: "end", min: 12 }, "LINK", "EMAIL", { header: "DOWNLOADS", align: "right" }, "FIRST DOWNLOAD", ...(opts.wide ? ["LINK ID"] : [])],
          links.map((l) => [
            l.recipient_name ? `${l.recipient_name} <${l.recipient_email}>` : l.recipient_email,
            l.used_up && l.state === "active" ? "used up" : l.state,
            mailColumn(l),
            String(l.download_count),
            formatDate(l.first_download_at),
            ...(opts.wide ? [l.id] : []),
          ]),
        );
      }
      if (pkg.files.length > 0) {
        out(ctx.io, "");
        const files = [...pkg.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        printTable(
          ctx.io,
          [{ header: "NAME", shrink: "middle", min: 12 }, { header: "SIZE", align: "right" }, ...(opts.wide ? ["SHA-256", "ID"] : [])],
          files.map((f) => [f.name, formatBytes(f.size), ...(opts.wide ? [f.sha256, f.id] : [])]),
        );
      }
    });

  packages
    .command("events <id>")
    .description("who downloaded or uploaded what, and when (newest first)")
    .option("--json", "print one JSON array")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const events = await sf.events(await resolveId(ctx, sf, "package", arg));
      if (opts.json) return printJson(ctx.io, events);
      if (events.length === 0) return info(ctx.io, "No downloads or uploads yet.");
      printTable(
        ctx.io,
        ["WHEN", "EVENT", { header: "FILE", shrink: "middle", min: 12 }, "FROM", { header: "CLIENT", shrink: "end" }, { header: "RECIPIENT", shrink: "end", min: 10 }],
        events.map((e) => [formatDate(e.created_at), eventName(e), e.file_name ?? "-", e.client_address ?? "-", e.user_agent ?? "-", e.recipient_email ?? "-"]),
      );
    });

  packages
    .command("revoke <id>")
    .description("revoke a package's links (or one recipient's): they stop working at once")
    .option("--recipient <email>", "only this recipient's link; the others keep working")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { recipient?: string }) => {
      const sf = await ctx.client();
      const id = await resolveId(ctx, sf, "package", arg);
      if (opts.recipient) {
        const pkg = await sf.packages.get(id);
        const link = (pkg.links ?? []).find((l) => l.recipient_email.toLowerCase() === opts.recipient!.trim().toLowerCase());
        if (!link) throw new CliError(`${clean(opts.recipient)} is not a recipient of ${id}`, ExitCode.NOT_FOUND);
        await sf.packages.revokeLink(id, link.id);
        const others = (pkg.links ?? []).some((l) => l.id !== link.id && l.state === "active");
        return info(
          ctx.io,
          others
            ? `Revoked ${clean(link.recipient_email)}'s link to ${clean(pkg.title)}; the other recipients' links still work.`
            : `Revoked ${clean(link.recipient_email)}'s link to ${clean(pkg.title)}; no other link was live, so the package is revoked.`,
        );
      }
      const pkg = await sf.packages.revoke(id);
      info(ctx.io, `Revoked ${pkg.id} (${clean(pkg.title)}): its links no longer work.`);
    });

  packages
    .command("extend <id>")
    .description("move a package's expiry: N days from now (brings an expired one back while its files are kept)")
    .requiredOption("--days <n>", "the links work for this many days from now", parsePositiveInt)
    .option("--json", "print the package as JSON")
    .addHelpText(
      "after",
      `${ID_HELP}
The server's SF_MAX_TTL_DAYS caps how far ahead; a package whose files were already deleted cannot come back.`,
    )
    .action(async (arg: string, opts: { days: number; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { ttl_days: "--days" };
      ctx.errorContext.policyHints = ttlHints("--days");
      const sf = await ctx.client();
      const pkg = await sf.packages.update(await resolveId(ctx, sf, "package", arg), { ttl_days: opts.days });
      if (opts.json) return printJson(ctx.io, pkg);
      info(ctx.io, `${clean(pkg.title)}: links work until ${formatDate(pkg.expires_at)} (${formatRelative(pkg.expires_at!)}).`);
    });

  packages
    .command("update <id>")
    .description("change a package's download limit")
    .requiredOption("--max-downloads <n|none>", "complete downloads allowed of each file per recipient (1-1000), or none", (v: string) => {
      // Not null: commander turns a parser's null into "" (the option's value when it has none).
      if (v === "none") return "none" as const;
      const n = parsePositiveInt(v);
      if (n > 1000) throw new InvalidArgumentError("expected at most 1000, or none");
      return n;
    })
    .option("--json", "print the package as JSON")
    .addHelpText(
      "after",
      `${ID_HELP}
Raising the limit brings back the links whose downloads were used up.`,
    )
    .action(async (arg: string, opts: { maxDownloads: number | "none"; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { max_downloads: "--max-downloads" };
      const sf = await ctx.client();
      const pkg = await sf.packages.update(await resolveId(ctx, sf, "package", arg), { max_downloads: opts.maxDownloads === "none" ? null : opts.maxDownloads });
      if (opts.json) return printJson(ctx.io, pkg);
      info(
        ctx.io,
        `${clean(pkg.title)}: ${pkg.max_downloads ? `each file at most ${pkg.max_downloads === 1 ? "once" : `${pkg.max_downloads} times`} per recipient` : "no download limit"}.`,
      );
    });

  packages
    .command("resend <id>")
    .description("email the recipients their links again (each gets a fresh link; the old one stops working)")
    .option("--json", "print the answer as JSON (with the new links)")
    .addHelpText(
      "after",
      `${ID_HELP}
Revoked recipients are skipped. At most 3 times per package per hour.`,
    )
    .action(async (arg: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const r = await sf.packages.resend(await resolveId(ctx, sf, "package", arg));
      if (opts.json) return printJson(ctx.io, r);
      for (const l of r.links) {
        const state = mailStateOf(l);
        info(
          ctx.io,
          state === "failed"
            ? `Not sent to ${clean(l.recipient_email)} (${clean(l.email_error ?? "unknown error")}): share the link yourself.`
            : `Email to ${clean(l.recipient_email)} ${state === "sent" ? "sent" : "queued"}.`,
        );
      }
      for (const l of r.links) out(ctx.io, r.links.length === 1 ? l.magic_link : `${l.recipient_email}\t${l.magic_link}`);
    });

  packages
    .command("delete <id>")
    .description("delete a package and its files from the server")
    .option("-y, --yes", "do not ask for confirmation (required when not on a terminal, and in CI)")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { yes?: boolean }) => {
      const sf = await ctx.client();
      if (!opts.yes && !canPrompt(ctx.io)) throw new UsageError("deleting needs --yes when not run on a terminal (or in CI)");
      const id = await resolveId(ctx, sf, "package", arg);
      if (!opts.yes) {
        const pkg = await sf.packages.get(id);
        const ok = await confirm(ctx.io, `Delete "${clean(pkg.title)}" (${plural(pkg.file_count, "file")}, ${formatBytes(pkg.total_size)}) for good?`);
        if (!ok) throw new CliError("not deleted", ExitCode.FAILURE);
      }
      await sf.packages.delete(id);
      info(ctx.io, `Deleted ${id}.`);
    });
}

const EVENT_NAMES: Record<PackageEvent["type"], string> = {
  file_download: "download",
  archive_download: "download (zip)",
  upload: "upload",
  complete: "marked done",
};

function eventName(e: PackageEvent): string {
  return EVENT_NAMES[e.type] ?? e.type;
}

async function list(ctx: Context, opts: ListOpts): Promise<void> {
  const sf = await ctx.client();
  const filters = {
    ...(opts.status ? { status: opts.status } : {}),
    ...(opts.direction ? { direction: opts.direction } : {}),
    ...(opts.search ? { q: opts.search } : {}),
  };
  let items: Package[];
  let total: number;
  if (opts.all) {
    items = await sf.packages.iterate({ ...filters, per_page: 100 }).toArray();
    total = items.length;
  } else {
    const perPage = Math.min(opts.limit, 100);
    const page = await sf.packages.list({ ...filters, page: 1, per_page: perPage });
    items = page.items.slice(0, opts.limit);
    total = page.total;
  }
  if (opts.json) return printJson(ctx.io, items);
  if (items.length === 0) {
    info(ctx.io, "No packages.");
    return;
  }
  const short = isTty(ctx.io.stdout);
  printTable(
    ctx.io,
    [
      "ID",
      "STATUS",
      "DIR",
      { header: "TITLE", shrink: "middle", min: 10 },
      { header: "RECIPIENT", shrink: "end", min: 10 },
      { header: "FILES", align: "right" },
      { header: "SIZE", align: "right" },
      "EXPIRES",
    ],
    items.map((p) => [
      short ? p.id.slice(0, SHORT_ID) : p.id,
      p.status,
      p.direction === "outbound" ? "out" : "in",
      p.title,
      p.recipient_email,
      String(p.file_count),
      formatBytes(p.total_size),
      formatDate(p.expires_at),
    ]),
  );
  if (items.length < total) info(ctx.io, `Showing ${items.length} of ${total}; --all for every page.`);
}

/** A recipient's email in `packages show`: sent, queued (with the attempts that failed so far), failed, or "-" (not known). */
function mailColumn(l: MailStatus): string {
  const state = mailStateOf(l);
  if (state === null) return "-";
  const attempts = l.mail_attempts ?? 0;
  if (state === "queued" && attempts > 0) return `queued (${attempts} failed ${attempts === 1 ? "attempt" : "attempts"})`;
  if (state === "failed" && attempts > 0) return `failed (${attempts} ${attempts === 1 ? "attempt" : "attempts"})`;
  return state;
}
