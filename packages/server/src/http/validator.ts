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
