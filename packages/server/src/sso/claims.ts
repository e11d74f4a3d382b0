/**
 * What a sign-in through the OpenID provider tells us about the person, read from the ID token's
 * claims (and the UserInfo answer when the ID token lacks one we need). Pure: no network, no state.
 */

/** The claims of an ID token and UserInfo answer, merged. */
export type Claims = Record<string, unknown>;

export interface SsoIdentity {
  /** Lower case, as accounts are matched. */
  email: string;
  /** A display name, when the provider gives one. */
  name: string | null;
  /** The groups claim's values; null when no groups claim is configured. */
  groups: string[] | null;
}

/** Why the claims cannot sign anyone in. */
export type IdentityProblem = "email_missing" | "email_unverified";

const EMAIL = /^[^\s@]+@[^\s@]+$/;

/**
 * A claim by its name: the member of that name, or else, for a name with dots
 * (`realm_access.roles`), the path through nested objects. Names with dots are tried as they are
 * first: Auth0's namespaced claims are URLs (`https://example.com/groups`).
 */
export function claimValue(claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes(".")) return undefined;
  let cur: unknown = claims;
  for (const part of name.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A group list as providers send it: an array of names (others ignored), or one name. */
function groupsOf(value: unknown): string[] {
  if (typeof value === "string") return value === "" ? [] : [value];
  if (!Array.isArray(value)) return [];
  return value.filter((g): g is string => typeof g === "string" && g !== "");
}

function nameOf(claims: Claims): string | null {
  const str = (k: string) => (typeof claims[k] === "string" ? (claims[k] as string).trim() : "");
  const full = str("name") || [str("given_name"), str("family_name")].filter((x) => x !== "").join(" ") || str("preferred_username");
  return full === "" ? null : full.slice(0, 200);
}

/**
 * The identity in the claims, or the problem with them. `email_verified: false` is refused when
 * the provider sends it (as a boolean or, as some do, the string "false"): an address nobody
 * proved to own must not reach the account that has it here.
 */
export function readIdentity(claims: Claims, o: { emailClaim: string; groupsClaim: string | null }): SsoIdentity | { problem: IdentityProblem } {
  const raw = claimValue(claims, o.emailClaim);
  const email = typeof raw === "string" ? raw.trim().toLowerCase() : "";
  if (email === "" || email.length > 254 || !EMAIL.test(email)) return { problem: "email_missing" };
  const verified = claims.email_verified;
  if (verified === false || verified === "false") return { problem: "email_unverified" };
  return { email, name: nameOf(claims), groups: o.groupsClaim === null ? null : groupsOf(claimValue(claims, o.groupsClaim)) };
}

/** Whether a claim the sign-in reads is missing (then UserInfo is asked as well). */
export function lacksClaims(claims: Claims, names: (string | null)[]): boolean {
  return names.some((n) => n !== null && claimValue(claims, n) === undefined);
}

/** Whether any of the user's groups is one of the admin groups (names compared exactly). */
export function inAdminGroup(groups: string[], adminGroups: string[]): boolean {
  return groups.some((g) => adminGroups.includes(g));
}
