import { Unauthorized } from "../errors.js";
import type { Handler } from "../http/operations.js";

/**
 * Placeholder until the server's OIDC exchange (trust policies) lands: the operation is in the
 * contract so the SDK and CLI can be built against it; this server refuses every ID token.
 */
export const exchangeOidcToken: Handler<"exchangeOidcToken"> = async () => {
  throw new Unauthorized("token_invalid", "This server does not accept OIDC ID tokens yet");
};
