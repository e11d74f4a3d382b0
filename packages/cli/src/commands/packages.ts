import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { Direction, Package, PackageStatus } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { clean, formatBytes, formatDate, info, out, printJson, printTable } from "../output.js";
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

export function registerPackages(program: Command, ctx: Context): void {
  const packages = program.command("packages").description("list, show, revoke and delete your packages");

  packages
    .command("list")
    .description("list your packages, newest first")
    .option("--status <status>", `only this status: ${STATUSES.join(", ")}`, oneOf(STATUSES))
    .option("--direction <direction>", `only ${DIRECTIONS.join(" or ")}`, oneOf(DIRECTIONS))
    .option("-q, --search <text>", "only packages whose title or recipient matches")
    .option("--all", "every page, not just the first --limit")
    .option("--limit <n>", "how many (without --all)", parsePositiveInt, 30)
    .option("--json", "print one JSON array")
    .action((opts: ListOpts) => list(ctx, opts));

  packages
    .command("show <id>")
    .description("show a package and its files")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const pkg = await sf.packages.get(id);
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
        ["expires", formatDate(pkg.expires_at)],
        ["link", pkg.magic_link_state],
      ];
      if (pkg.revoked_at) rows.push(["revoked", formatDate(pkg.revoked_at)]);
      if (pkg.message) rows.push(["message", pkg.message]);
      for (const [k, v] of rows) out(ctx.io, `${k.padEnd(10)} ${clean(v)}`);
      if (pkg.files.length > 0) {
        out(ctx.io, "");
        printTable(
          ctx.io,
          ["NAME", "SIZE", "SHA-256", "ID"],
          pkg.files.map((f) => [f.name, formatBytes(f.size), f.sha256, f.id]),
        );
      }
    });

  packages
    .command("revoke <id>")
    .description("revoke a package's link: it stops working at once")
    .action(async (id: string) => {
      const sf = await ctx.client();
      const pkg = await sf.packages.revoke(id);
      info(ctx.io, `Revoked ${pkg.id} (${clean(pkg.title)}): its link no longer works.`);
    });

  packages
    .command("delete <id>")
    .description("delete a package and its files from the server")
    .option("-y, --yes", "do not ask for confirmation (required when not on a terminal)")
    .action(async (id: string, opts: { yes?: boolean }) => {
      const sf = await ctx.client();
      if (!opts.yes) {
        if (!canPrompt(ctx.io)) throw new UsageError("deleting needs --yes when not run on a terminal");
        const pkg = await sf.packages.get(id);
        const ok = await confirm(ctx.io, `Delete "${clean(pkg.title)}" (${pkg.file_count} files, ${formatBytes(pkg.total_size)}) for good?`);
        if (!ok) throw new CliError("not deleted", ExitCode.FAILURE);
      }
      await sf.packages.delete(id);
      info(ctx.io, `Deleted ${id}.`);
    });
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
    items = [];
    for await (const p of sf.packages.iterate({ ...filters, per_page: 100 })) items.push(p);
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
  printTable(
    ctx.io,
    ["ID", "STATUS", "DIR", "TITLE", "RECIPIENT", "FILES", "SIZE", "EXPIRES"],
    items.map((p) => [p.id, p.status, p.direction === "outbound" ? "out" : "in", p.title, p.recipient_email, String(p.file_count), formatBytes(p.total_size), formatDate(p.expires_at)]),
  );
  if (items.length < total) info(ctx.io, `Showing ${items.length} of ${total}; --all for every page.`);
}
