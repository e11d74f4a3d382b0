import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { WEBHOOK_EVENT_TYPES, type WebhookDelivery, type WebhookEventType } from "@speedyfiles/sdk";
import { check } from "../flags.js";
import { resolveId, SHORT_ID } from "../ids.js";
import { clean, formatDate, info, isTty, out, printJson, printTable } from "../output.js";
import type { Context } from "../run.js";
import { parsePositiveInt } from "./shared.js";

/** What `--event` takes: every type but `ping`, which only `sf webhooks test` sends. */
const EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES.filter((t) => t !== "ping");

const ID_HELP = "\n<id> is a webhook id or any unique start of one (at least 4 characters).";

function eventType(v: string, previous: WebhookEventType[] = []): WebhookEventType[] {
  if (!(EVENTS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${EVENTS.join(", ")}`);
  return [...previous, v as WebhookEventType];
}

function deliveryLine(d: WebhookDelivery): string[] {
  const result = d.state === "succeeded" ? `${d.last_status_code}` : (d.last_error ?? (d.state === "pending" ? "queued" : "-"));
  return [
    d.id,
    d.event_type,
    d.state,
    String(d.attempts),
    result,
    d.last_duration_ms === null ? "-" : `${d.last_duration_ms} ms`,
    formatDate(d.created_at),
    d.state === "pending" ? formatDate(d.next_attempt_at) : "-",
  ];
}

export function registerWebhooks(program: Command, ctx: Context): void {
  const webhooks = program
    .command("webhooks")
    .description("have SpeedyFiles POST signed events about your packages to your URL")
    .addHelpText("after", `\nEvents: ${EVENTS.join(", ")}, ping.\nVerify them in your receiver with the SDK's parseWebhookEvent(rawBody, signatureHeader, secret).`);

  webhooks
    .command("list")
    .description("list your webhooks (never their secret)")
    .option("--all", "every user's (admins only)")
    .option("--json", "print one JSON array")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const sf = await ctx.client();
      const list = await sf.webhooks.list(opts.all ? { all: true } : {});
      if (opts.json) return printJson(ctx.io, list);
      const short = isTty(ctx.io.stdout);
      printTable(
        ctx.io,
        ["ID", { header: "URL", shrink: "middle", min: 16 }, "EVENTS", "STATE", "CREATED"],
        list.map((h) => [
          short ? h.id.slice(0, SHORT_ID) : h.id,
          h.url,
          h.events.length === EVENTS.length ? "all" : h.events.map((e) => e.replace(/^package\./, "")).join(","),
          h.enabled ? (h.failing_since ? `failing since ${formatDate(h.failing_since)}` : "enabled") : "disabled",
          formatDate(h.created_at),
        ]),
      );
    });

  webhooks
    .command("create <url>")
    .description("register a URL; prints the signing secret once on stdout")
    .option("-e, --event <type>", "an event to send (repeat; default: every package event)", eventType)
    .option("--description <text>", "a note for yourself")
    .option("--json", "print the webhook as JSON (includes the secret)")
    .action(async (url: string, opts: { event?: WebhookEventType[]; description?: string; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { url: "<url>", events: "--event", description: "--description" };
      check.length("<url>", url, 1, 2000);
      check.length("--description", opts.description, 1, 200);
      const sf = await ctx.client();
      const hook = await sf.webhooks.create({
        url,
        events: [...new Set(opts.event ?? EVENTS)],
        ...(opts.description ? { description: opts.description } : {}),
      });
      if (opts.json) return printJson(ctx.io, hook);
      out(ctx.io, hook.secret);
      info(ctx.io, `Created webhook ${hook.id} for ${hook.events.length === EVENTS.length ? "every package event" : hook.events.join(", ")}.`);
      info(ctx.io, "The signing secret above is shown only this once: give it to your receiver now.");
      info(ctx.io, `Try it: sf webhooks test ${hook.id.slice(0, SHORT_ID)}${ctx.hintFlags()}`);
    });

  webhooks
    .command("show <id>")
    .description("show a webhook")
    .option("--json", "print JSON")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const h = await sf.webhooks.get(await resolveId(ctx, sf, "webhook", arg));
      if (opts.json) return printJson(ctx.io, h);
      const rows: [string, string][] = [
        ["id", h.id],
        ["url", h.url],
        ["events", h.events.join(", ")],
        ["state", h.enabled ? "enabled" : `disabled${h.disabled_reason ? ` (${h.disabled_reason})` : ""}`],
        ["failing", h.failing_since ? `since ${formatDate(h.failing_since)}` : "no"],
        ...(h.circuit_open_until ? [["paused", `until ${formatDate(h.circuit_open_until)} (the receiver kept failing)`] as [string, string]] : []),
        ["created", formatDate(h.created_at)],
      ];
      if (h.description) rows.push(["note", h.description]);
      for (const [k, v] of rows) out(ctx.io, `${k.padEnd(8)} ${clean(v)}`);
    });

  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    webhooks
      .command(`${verb} <id>`)
      .description(enabled ? "send to it again (what waited goes out)" : "stop sending to it for now")
      .addHelpText("after", ID_HELP)
      .action(async (arg: string) => {
        const sf = await ctx.client();
        const h = await sf.webhooks.update(await resolveId(ctx, sf, "webhook", arg), { enabled });
        info(ctx.io, `Webhook ${h.id} is ${h.enabled ? "enabled" : "disabled"}.`);
      });
  }

  webhooks
    .command("delete <id>")
    .description("remove a webhook and its delivery log")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string) => {
      const sf = await ctx.client();
      const id = await resolveId(ctx, sf, "webhook", arg);
      await sf.webhooks.delete(id);
      info(ctx.io, `Deleted webhook ${id}.`);
    });

  webhooks
    .command("test <id>")
    .description("send a ping event now")
    .option("--json", "print the queued delivery as JSON")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const id = await resolveId(ctx, sf, "webhook", arg);
      const d = await sf.webhooks.test(id);
      if (opts.json) return printJson(ctx.io, d);
      out(ctx.io, d.id);
      info(ctx.io, `Queued a ping (delivery ${d.id}). See how it went: sf webhooks deliveries ${id.slice(0, SHORT_ID)}${ctx.hintFlags()}`);
    });

  webhooks
    .command("deliveries <id>")
    .description("the delivery log, newest first: event, state, attempts, result, duration, next retry")
    .option("--limit <n>", "how many", parsePositiveInt, 30)
    .option("--json", "print one JSON array (with response excerpts)")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { limit: number; json?: boolean }) => {
      check.range("--limit", opts.limit, 1, 100);
      const sf = await ctx.client();
      const { items } = await sf.webhooks.deliveries(await resolveId(ctx, sf, "webhook", arg), { per_page: opts.limit });
      if (opts.json) return printJson(ctx.io, items);
      printTable(ctx.io, ["DELIVERY", "EVENT", "STATE", "TRIES", { header: "RESULT", shrink: "end", min: 10 }, "TIME", "CREATED", "NEXT TRY"], items.map(deliveryLine));
    });

  webhooks
    .command("redeliver <id> <delivery-id>")
    .description("send a delivery's event again, as a new delivery")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, deliveryId: string) => {
      const sf = await ctx.client();
      const d = await sf.webhooks.redeliver(await resolveId(ctx, sf, "webhook", arg), deliveryId.trim());
      out(ctx.io, d.id);
      info(ctx.io, `Queued the ${d.event_type} event again (delivery ${d.id}).`);
    });
}
