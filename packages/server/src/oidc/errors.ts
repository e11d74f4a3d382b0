import { ApiError } from "../errors.js";

export type OidcTokenCode =
  | "oidc_token_invalid"
  | "oidc_token_expired"
  | "oidc_token_not_yet_valid"
  | "oidc_algorithm_refused"
  | "oidc_key_unknown"
  | "oidc_issuer_unknown"
  | "oidc_audience_mismatch";

/** 401: the ID token itself is not acceptable (the code names the check that failed). */
export class OidcTokenRefused extends ApiError {
  constructor(code: OidcTokenCode, detail: string) {
    super(401, code, detail, { headers: { "WWW-Authenticate": 'Bearer realm="speedyfiles"' } });
  }
}

/** 403: a valid ID token that no trust policy allows. The detail never says what would pass. */
export class OidcNotAllowed extends ApiError {
  constructor(code: "oidc_no_matching_policy" | "oidc_event_refused", detail: string) {
    super(403, code, detail);
  }
}

/** 503: the issuer's discovery document or keys could not be fetched. */
export class IssuerUnreachable extends ApiError {
  constructor(detail = "The issuer's signing keys could not be fetched; try again later") {
    super(503, "oidc_issuer_unreachable", detail, { headers: { "Retry-After": "30" } });
  }
}
