import { HiddenSecret } from "./util/hidden-secret.js";
import { redactUrl } from "./util/redact-url.js";

/** Single sign-on for the web interface through a company's OpenID provider (SF_SSO_*). */
export interface SsoConfig {
  /** The provider's issuer identifier, exactly as its discovery document names it. */
  issuer: string;
  clientId: string;
  /** Null: a public client (PKCE alone, `token_endpoint_auth_method: none`). */
  clientSecret: HiddenSecret | null;
  /** Asked for at each sign-in; always holds `openid`. */
  scopes: string[];
  /** The claim that carries the user's email. */
  emailClaim: string;
  /** The claim that lists the user's groups; null: groups are not read. */
  groupsClaim: string | null;
  /** Members of any of these groups are admins, others are users, set at each sign-in (empty: roles are left alone). */
  adminGroups: string[];
  /** An unknown email gets an account at its first sign-in; false: only accounts made beforehand may sign in. */
  createUsers: boolean;
  /** The sign-in page's button. */
  buttonLabel: string;
  /** `provider`: signing out of an SSO session also goes to the provider's end_session_endpoint. */
  signOut: "local" | "provider";
  /** `${SF_PUBLIC_URL}/login/sso/callback`: the redirect URI registered at the provider. */
  redirectUri: string;
  /** Where the provider sends the browser after its own sign-out: `${SF_PUBLIC_URL}/login`. */
  postLogoutRedirectUri: string;
}

interface Readers {
  str(name: string): string | null;
  bool(name: string, def: boolean): boolean;
}

const DEFAULT_SCOPES = "openid email profile";
// RFC 6749 §3.3: a scope token is printable ASCII without space, `"` and `\`.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
// A claim name is a JSON member name; we take printable names of a sane length.
const CLAIM_NAME = /^[\x21-\x7e]{1,200}$/;

/** An `http://` issuer is accepted on this machine only (a provider started for tests or a lab), or when asked for. */
function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Reads the SF_SSO_* settings (null when SF_SSO_ISSUER is unset) and SF_PASSWORD_LOGIN. Problems
 * go into `problems`; the client secret never appears in one.
 */
export function readSsoConfig(r: Readers, publicUrl: string, problems: string[]): { sso: SsoConfig | null; passwordLogin: boolean } {
  const passwordLogin = r.bool("SF_PASSWORD_LOGIN", true);
  const issuer = r.str("SF_SSO_ISSUER");
  if (issuer === null) {
    const stray = [
      "SF_SSO_CLIENT_ID",
      "SF_SSO_CLIENT_SECRET",
      "SF_SSO_SCOPES",
      "SF_SSO_EMAIL_CLAIM",
      "SF_SSO_GROUPS_CLAIM",
      "SF_SSO_ADMIN_GROUPS",
      "SF_SSO_CREATE_USERS",
      "SF_SSO_BUTTON_LABEL",
      "SF_SSO_SIGN_OUT",
    ].filter((n) => r.str(n) !== null);
    if (stray.length > 0) problems.push(`${stray.join(", ")} ${stray.length === 1 ? "is" : "are"} set but SF_SSO_ISSUER is not: single sign-on needs the provider's issuer URL`);
    if (!passwordLogin) problems.push("SF_PASSWORD_LOGIN=false needs single sign-on (SF_SSO_ISSUER, SF_SSO_CLIENT_ID): without either, nobody could sign in to the web interface");
    return { sso: null, passwordLogin };
  }

  checkIssuer(issuer, r.bool("SF_SSO_ALLOW_INSECURE_ISSUER", false), problems);
  const clientId = r.str("SF_SSO_CLIENT_ID");
  if (clientId === null) problems.push("SF_SSO_CLIENT_ID is required with SF_SSO_ISSUER (the client id the provider gave SpeedyFiles)");
  const secret = r.str("SF_SSO_CLIENT_SECRET");

  const scopesRaw = r.str("SF_SSO_SCOPES") ?? DEFAULT_SCOPES;
  const scopes = [...new Set(scopesRaw.split(/[\s,]+/).filter((x) => x !== ""))];
  if (!scopes.includes("openid")) problems.push(`SF_SSO_SCOPES must include openid (got "${scopesRaw}")`);
  if (scopes.some((x) => !SCOPE_TOKEN.test(x))) problems.push(`SF_SSO_SCOPES must be scope names separated by spaces (got "${scopesRaw}")`);

  const emailClaim = r.str("SF_SSO_EMAIL_CLAIM") ?? "email";
  if (!CLAIM_NAME.test(emailClaim)) problems.push(`SF_SSO_EMAIL_CLAIM must be a claim name (got "${emailClaim}")`);
  const groupsClaim = r.str("SF_SSO_GROUPS_CLAIM");
  if (groupsClaim !== null && !CLAIM_NAME.test(groupsClaim)) problems.push(`SF_SSO_GROUPS_CLAIM must be a claim name (got "${groupsClaim}")`);
  const adminGroups = (r.str("SF_SSO_ADMIN_GROUPS") ?? "")
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "");
  if (adminGroups.length > 0 && groupsClaim === null) problems.push("SF_SSO_ADMIN_GROUPS needs SF_SSO_GROUPS_CLAIM: the claim that lists a user's groups");

  const buttonLabel = r.str("SF_SSO_BUTTON_LABEL") ?? "Sign in with single sign-on";
  if (buttonLabel.length > 100) problems.push("SF_SSO_BUTTON_LABEL must be at most 100 characters");
  const signOut = (r.str("SF_SSO_SIGN_OUT") ?? "local").toLowerCase();
  if (signOut !== "local" && signOut !== "provider") problems.push(`SF_SSO_SIGN_OUT must be local or provider (got "${signOut}")`);

  return {
    passwordLogin,
    sso: {
      issuer,
      clientId: clientId ?? "",
      clientSecret: secret === null ? null : new HiddenSecret(secret),
      scopes,
      emailClaim,
      groupsClaim,
      adminGroups,
      createUsers: r.bool("SF_SSO_CREATE_USERS", true),
      buttonLabel,
      signOut: signOut === "provider" ? "provider" : "local",
      redirectUri: `${publicUrl}/login/sso/callback`,
      postLogoutRedirectUri: `${publicUrl}/login`,
    },
  };
}

function checkIssuer(issuer: string, allowInsecure: boolean, problems: string[]): void {
  let u: URL;
  try {
    u = new URL(issuer);
  } catch {
    problems.push(`SF_SSO_ISSUER must be an https:// URL (got "${redactUrl(issuer)}")`);
    return;
  }
  if (u.username !== "" || u.password !== "") {
    problems.push(`SF_SSO_ISSUER must not hold a user name or password (got "${redactUrl(issuer)}"): the client's credentials go in SF_SSO_CLIENT_ID and SF_SSO_CLIENT_SECRET`);
  } else if (u.search !== "" || u.hash !== "") {
    // OpenID Connect Discovery: an issuer identifier has no query or fragment.
    problems.push(`SF_SSO_ISSUER must not have a query or fragment (got "${issuer}")`);
  } else if (u.protocol === "http:") {
    if (!isLoopback(u.hostname) && !allowInsecure) {
      problems.push(
        `SF_SSO_ISSUER must be an https:// URL (got "${issuer}"); an http:// issuer is accepted on this machine (localhost, 127.0.0.1, ::1) or with SF_SSO_ALLOW_INSECURE_ISSUER=true, for labs only`,
      );
    }
  } else if (u.protocol !== "https:") {
    problems.push(`SF_SSO_ISSUER must be an https:// URL (got "${redactUrl(issuer)}")`);
  }
}
