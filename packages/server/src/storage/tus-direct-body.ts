import { AsyncLocalStorage } from "node:async_hooks";
import type { Readable } from "node:stream";

/**
 * The request body of the tus request being handled, as the Node stream it arrives as. srvx hands
 * @tus/server the body as a web stream, which @tus/server turns back into a Node stream: at
 * 400 MB/s that round trip cost a sixth of the CPU in garbage collection alone. With the body
 * here (http/tus.ts sets it, and gives @tus/server an empty one), `write` reads the socket directly.
 */
export const directBody = new AsyncLocalStorage<{ body: Readable }>();
