import express, { type Request, type Response } from "express";
import * as OpenApiValidator from "express-openapi-validator";
import { loadSpec } from "../spec.js";

/**
 * Request validation against openapi.yaml (and response validation when asked, as the tests do).
 * `fileUploader: false` keeps multer (which buffers) out: uploads are streamed by busboy in the
 * route, and a placeholder body stands in for the multipart fields during validation.
 */
export function openApiValidator(opts: { validateResponses: boolean }) {
  return OpenApiValidator.middleware({
    apiSpec: structuredClone(loadSpec()) as never,
    // Bodies are never coerced ({"ttl_days": "14"} is a 422); the library still coerces query and path parameters.
    validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false },
    validateResponses: opts.validateResponses ? { removeAdditional: false } : false,
    validateSecurity: false,
    validateFormats: true,
    fileUploader: false,
    ignoreUndocumented: false,
  });
}

/**
 * Loads openapi.yaml through the validator once, so a spec the validator cannot use stops the
 * server at start (the validator itself only finds out at the first request, and would answer
 * every request 500).
 */
export async function checkSpec(): Promise<void> {
  const [load] = openApiValidator({ validateResponses: false }) as unknown as ((req: Request, res: Response, next: (err?: unknown) => void) => void)[];
  await new Promise<void>((resolve, reject) => {
    load!({ app: express() } as unknown as Request, {} as Response, (err?: unknown) =>
      err ? reject(new Error(`openapi.yaml is not a spec the validator can use: ${(err as Error).message}`)) : resolve(),
    );
  });
}
