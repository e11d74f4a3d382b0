import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { Direction, Package, PackageEvent, PackageStatus } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { resolveId, SHORT_ID } from "../ids.js";
import { clean, formatBytes, formatDate, formatRelative, info, isTty, out, printJson, printTable } from "../output.js";
import { canPrompt, confirm } from "../prompt.js";
import type { Context } from "../run.js";
import { parsePositiveInt } from "./shared.js";

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
  const packages = program.command("packages").description("list, show, revoke and delete your packages; see who downloaded");

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
      if (pkg.message) rows.push(["message", pkg.message]);
      for (const [k, v] of rows) out(ctx.io, `${k.padEnd(10)} ${clean(v)}`);
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
        ["WHEN", "EVENT", { header: "FILE", shrink: "middle", min: 12 }, "FROM", { header: "CLIENT", shrink: "end" }],
        events.map((e) => [formatDate(e.created_at), eventName(e), e.file_name ?? "-", e.client_address ?? "-", e.user_agent ?? "-"]),
      );
    });

  packages
    .command("revoke <id>")
    .description("revoke a package's link: it stops working at once")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string) => {
      const sf = await ctx.client();
      const pkg = await sf.packages.revoke(await resolveId(ctx, sf, "package", arg));
      info(ctx.io, `Revoked ${pkg.id} (${clean(pkg.title)}): its link no longer works.`);
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
        const ok = await confirm(ctx.io, `Delete "${clean(pkg.title)}" (${pkg.file_count} files, ${formatBytes(pkg.total_size)}) for good?`);
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
    ["ID", "STATUS", "DIR", { header: "TITLE", shrink: "middle", min: 10 }, { header: "RECIPIENT", shrink: "end", min: 10 }, { header: "FILES", align: "right" }, { header: "SIZE", align: "right" }, "EXPIRES"],
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
