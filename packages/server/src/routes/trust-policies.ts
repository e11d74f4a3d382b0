import type { Handler } from "../http/operations.js";
import * as trust from "../services/trust-policies.js";
import { exchangeOidcToken as exchange } from "../services/oidc-exchange.js";

// Keyless CI: the exchange (no caller: the ID token is the credential) and the admin's trust
// policies (the `admin` scope is checked by the router).

export const exchangeOidcToken: Handler<"exchangeOidcToken"> = async ({ s, body, client }) => ({
  status: 201,
  body: await exchange(s, body, client),
});

export const listTrustPolicies: Handler<"listTrustPolicies"> = async ({ s }) => ({ status: 200, body: await trust.listTrustPolicies(s) });

export const createTrustPolicy: Handler<"createTrustPolicy"> = async ({ s, user, body, client }) => ({
  status: 201,
  body: await trust.createTrustPolicy(s, user, body, client),
});

export const getTrustPolicy: Handler<"getTrustPolicy"> = async ({ s, params }) => ({ status: 200, body: await trust.getTrustPolicy(s, params.id) });

export const updateTrustPolicy: Handler<"updateTrustPolicy"> = async ({ s, user, params, body, client }) => ({
  status: 200,
  body: await trust.updateTrustPolicy(s, user, params.id, body, client),
});

export const deleteTrustPolicy: Handler<"deleteTrustPolicy"> = async ({ s, user, params, client }) => {
  await trust.deleteTrustPolicy(s, user, params.id, client);
  return { status: 204 };
};
