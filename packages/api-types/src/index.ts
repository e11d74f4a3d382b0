/**
 * The SpeedyFiles API as TypeScript types, generated from `openapi.yaml` by openapi-typescript.
 * One copy for the whole workspace: the server types its handlers with `operations`, the SDK its
 * client with `paths` (as @octokit/openapi-types serves octokit).
 */
export type { paths, components, operations, webhooks } from "./generated/api.js";
