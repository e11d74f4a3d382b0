import { describe, expect, it } from "vitest";
import { ApiError } from "../src/errors.js";
import {
  authorize,
  authorizeRecipient,
  can,
  decide,
  grantedScopes,
  newTokenScopes,
  packageListScope,
  SCOPES,
  tokenListScope,
  webhookListScope,
  type Principal,
  type PrincipalKind,
  type Scope,
} from "../src/policies/index.js";
import type { Role } from "../src/db/users.js";

const ALICE = "00000000-0000-4000-8000-00000000000a";
const BOB = "00000000-0000-4000-8000-00000000000b";
const ADMIN = "00000000-0000-4000-8000-0000000000ad";

function principal(userId: string, role: Role, opts: { kind?: PrincipalKind; only?: Scope[] } = {}): Principal {
  return { kind: opts.kind ?? "token", userId, role, scopes: grantedScopes(role, opts.only ?? null) };
}

/** The 403 code `fn` throws, or "allowed". */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return "allowed";
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(403);
    return (err as ApiError).code;
  }
}

const KINDS: PrincipalKind[] = ["token", "session", "federated"];

describe("scopes", () => {
  it("a credential holds what its role allows, a user never admin", () => {
    expect([...grantedScopes("user", null)]).toEqual(SCOPES.filter((s) => s !== "admin"));
    expect([...grantedScopes("admin", null)]).toEqual([...SCOPES]);
    expect([...grantedScopes("user", ["admin", "packages:read"])]).toEqual(["packages:read"]);
    // A demoted admin's limited token loses admin at once; unknown words grant nothing.
    expect([...grantedScopes("user", ["admin", "packages:write", "root"])]).toEqual(["packages:write"]);
  });

  it("a new token holds no more than the credential that made it", () => {
    expect(newTokenScopes(principal(ALICE, "user"))).toBeNull();
    expect(newTokenScopes(principal(ADMIN, "admin", { kind: "session" }))).toBeNull();
    expect(newTokenScopes(principal(ALICE, "user", { only: ["tokens:write", "packages:read"] }))).toEqual(["packages:read", "tokens:write"]);
    expect(newTokenScopes(principal(ADMIN, "admin", { only: ["tokens:write", "packages:read", "packages:write", "webhooks:read", "webhooks:write"] }))).toEqual([
      "packages:read",
      "packages:write",
      "webhooks:read",
      "webhooks:write",
      "tokens:write",
    ]);
  });
});

describe("packages policy", () => {
  const pkg = { owner_id: ALICE };

  it.each(KINDS)("the owner reads and changes their package, whatever the kind of credential (%s)", (kind) => {
    const alice = principal(ALICE, "user", { kind });
    for (const action of ["package.read", "package.update", "package.upload", "package.share", "package.delete"] as const) {
      expect(
        outcome(() => authorize(alice, action, pkg)),
        action,
      ).toBe("allowed");
    }
    expect(can(alice, "package.create")).toBe(true);
    expect(can(alice, "link.revoke", pkg)).toBe(true);
    expect(packageListScope(alice)).toEqual({ ownerId: ALICE });
  });

  it("another user, even an admin, gets package_forbidden", () => {
    for (const other of [principal(BOB, "user"), principal(ADMIN, "admin"), principal(ADMIN, "admin", { kind: "session" })]) {
      expect(outcome(() => authorize(other, "package.read", pkg))).toBe("package_forbidden");
      expect(outcome(() => authorize(other, "package.delete", pkg))).toBe("package_forbidden");
      expect(outcome(() => authorize(other, "link.revoke", pkg))).toBe("package_forbidden");
    }
  });

  it("a credential without the scope gets insufficient_scope, before ownership is judged", () => {
    const readOnly = principal(ALICE, "user", { only: ["packages:read"] });
    expect(outcome(() => authorize(readOnly, "package.read", pkg))).toBe("allowed");
    expect(outcome(() => authorize(readOnly, "package.update", pkg))).toBe("insufficient_scope");
    expect(outcome(() => authorize(readOnly, "package.create"))).toBe("insufficient_scope");
    expect(outcome(() => authorize(readOnly, "link.revoke", pkg))).toBe("insufficient_scope");
    const writeOnly = principal(BOB, "user", { only: ["packages:write"] });
    expect(outcome(() => authorize(writeOnly, "package.read", pkg))).toBe("insufficient_scope");
    expect(outcome(() => packageListScope(writeOnly))).toBe("insufficient_scope");
    expect(outcome(() => authorize(writeOnly, "package.upload", pkg))).toBe("package_forbidden");
  });

  it("answers with a decision too, for pages that show or hide", () => {
    expect(decide(principal(ALICE, "user"), "package.read", pkg)).toBe(true);
    expect(decide(principal(BOB, "user"), "package.read", pkg)).toMatchObject({ code: "package_forbidden", detail: expect.any(String) });
  });
});

describe("links policy (the recipient side)", () => {
  it("an outbound link downloads; an upload link does not", () => {
    expect(outcome(() => authorizeRecipient("download", { direction: "outbound" }))).toBe("allowed");
    expect(outcome(() => authorizeRecipient("download", { direction: "inbound" }))).toBe("link_download_forbidden");
  });
});

describe("webhooks policy", () => {
  const hook = { owner_id: ALICE };

  it.each(KINDS)("the owner reads and changes their webhook (%s)", (kind) => {
    const alice = principal(ALICE, "user", { kind });
    expect(outcome(() => authorize(alice, "webhook.read", hook))).toBe("allowed");
    expect(outcome(() => authorize(alice, "webhook.write", hook))).toBe("allowed");
    expect(outcome(() => authorize(alice, "webhook.create"))).toBe("allowed");
    expect(webhookListScope(alice, false)).toEqual({ ownerId: ALICE });
  });

  it("another user gets webhook_forbidden; an admin manages every webhook", () => {
    expect(outcome(() => authorize(principal(BOB, "user"), "webhook.read", hook))).toBe("webhook_forbidden");
    expect(outcome(() => authorize(principal(BOB, "user"), "webhook.write", hook))).toBe("webhook_forbidden");
    expect(outcome(() => authorize(principal(ADMIN, "admin"), "webhook.write", hook))).toBe("allowed");
    expect(outcome(() => authorize(principal(ADMIN, "admin", { kind: "session" }), "webhook.read", hook))).toBe("allowed");
  });

  it("every user's list needs admin: admin_required for a user, insufficient_scope for an admin's limited token", () => {
    expect(outcome(() => webhookListScope(principal(BOB, "user"), true))).toBe("admin_required");
    expect(webhookListScope(principal(ADMIN, "admin"), true)).toEqual({ ownerId: undefined });
    const limitedAdmin = principal(ADMIN, "admin", { only: ["webhooks:read", "webhooks:write"] });
    expect(outcome(() => webhookListScope(limitedAdmin, true))).toBe("insufficient_scope");
    // Without the admin scope, an admin's token is a user's for other people's webhooks.
    expect(outcome(() => authorize(limitedAdmin, "webhook.read", hook))).toBe("webhook_forbidden");
  });

  it("a credential without the scope gets insufficient_scope", () => {
    const readOnly = principal(ALICE, "user", { only: ["webhooks:read"] });
    expect(outcome(() => authorize(readOnly, "webhook.read", hook))).toBe("allowed");
    expect(outcome(() => authorize(readOnly, "webhook.write", hook))).toBe("insufficient_scope");
    expect(outcome(() => authorize(readOnly, "webhook.create"))).toBe("insufficient_scope");
    expect(outcome(() => webhookListScope(principal(ALICE, "user", { only: ["packages:read"] }), false))).toBe("insufficient_scope");
  });
});

describe("users policy", () => {
  it.each(KINDS)("an admin manages users (%s); a user gets admin_required", (kind) => {
    const admin = principal(ADMIN, "admin", { kind });
    const user = principal(ALICE, "user", { kind });
    for (const action of ["user.list", "user.create"] as const) {
      expect(
        outcome(() => authorize(admin, action)),
        action,
      ).toBe("allowed");
      expect(
        outcome(() => authorize(user, action)),
        action,
      ).toBe("admin_required");
    }
    expect(outcome(() => authorize(admin, "user.update", { id: BOB }))).toBe("allowed");
    expect(outcome(() => authorize(user, "user.update", { id: ALICE }))).toBe("admin_required");
  });

  it("an admin's token without the admin scope gets insufficient_scope", () => {
    const limited = principal(ADMIN, "admin", { only: ["packages:read"] });
    expect(outcome(() => authorize(limited, "user.list"))).toBe("insufficient_scope");
    expect(outcome(() => authorize(limited, "user.update", { id: BOB }))).toBe("insufficient_scope");
  });
});

describe("tokens policy", () => {
  it.each(KINDS)("a caller manages their own tokens (%s)", (kind) => {
    const alice = principal(ALICE, "user", { kind });
    expect(outcome(() => authorize(alice, "token.create"))).toBe("allowed");
    expect(tokenListScope(alice)).toEqual({ userId: ALICE });
  });

  it("a credential without tokens:write gets insufficient_scope", () => {
    const limited = principal(ALICE, "user", { only: ["packages:read", "packages:write"] });
    expect(outcome(() => authorize(limited, "token.create"))).toBe("insufficient_scope");
    expect(outcome(() => tokenListScope(limited))).toBe("insufficient_scope");
  });
});
