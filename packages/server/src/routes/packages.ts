import type { Handler } from "../http/operations.js";
import * as packages from "../services/packages.js";
import * as eventFeed from "../services/event-feed.js";
import { pageOf } from "./pagination.js";

export const listPackages: Handler<"listPackages"> = async ({ s, user, query }) => ({
  status: 200,
  body: await packages.listPackages(s, user, {
    page: query.page,
    perPage: pageOf(query).perPage,
    cursor: query.cursor,
    status: query.status,
    direction: query.direction,
    q: query.q,
    idPrefix: query.id_prefix,
  }),
});

export const createPackage: Handler<"createPackage"> = async ({ s, user, body }) => ({
  status: 201,
  body: await packages.createPackage(s, user, body),
});

export const getPackage: Handler<"getPackage"> = async ({ s, user, params }) => ({
  status: 200,
  body: await packages.getPackage(s, user, params.id),
});

export const deletePackage: Handler<"deletePackage"> = async ({ s, user, params }) => {
  await packages.deletePackage(s, user, params.id);
  return { status: 204 };
};

export const finalizePackage: Handler<"finalizePackage"> = async ({ s, user, params, body }) => ({
  status: 200,
  body: await packages.finalizePackage(s, user, params.id, body ?? {}),
});

export const revokePackage: Handler<"revokePackage"> = async ({ s, user, params }) => ({
  status: 200,
  body: await packages.revokePackage(s, user, params.id),
});

export const listPackageEvents: Handler<"listPackageEvents"> = async ({ s, user, params, query, res }) => {
  // A waiting request ends as soon as its client goes away (the response closes before it was sent).
  const gone = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) gone.abort();
  };
  res.on("close", onClose);
  try {
    const feed = await eventFeed.listPackageEvents(s, user, params.id, { after: query.after, wait: query.wait, signal: gone.signal });
    res.setHeader("SpeedyFiles-Next-Cursor", feed.next_cursor);
    return { status: 200, body: feed.events };
  } finally {
    res.off("close", onClose);
  }
};

export const updatePackage: Handler<"updatePackage"> = async ({ s, user, params, body }) => ({
  status: 200,
  body: await packages.updatePackage(s, user, params.id, body),
});

export const resendPackage: Handler<"resendPackage"> = async ({ s, user, params }) => ({
  status: 200,
  body: await packages.resendPackage(s, user, params.id),
});

export const revokePackageLink: Handler<"revokePackageLink"> = async ({ s, user, params }) => ({
  status: 200,
  body: await packages.revokePackageLink(s, user, params.id, params.link_id),
});
