// Runs s3rver (npm, pinned) with one bucket, and prints one line per answered request,
// `S3REQ <method> <url> <status>`, which its own log does not show readably. Used by
// s3.ts beside it; arguments: <directory> <bucket> [port].
import S3rver from "s3rver";

const [directory, bucket, wantedPort = "0"] = process.argv.slice(2);
const server = new S3rver({ address: "127.0.0.1", port: Number(wantedPort), directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
// First of all middleware: sees every request and the status it finally got (errors included).
server.middleware.unshift(async (ctx, next) => {
  try {
    await next();
  } finally {
    process.stdout.write(`S3REQ ${ctx.method} ${ctx.originalUrl} ${ctx.status}\n`);
  }
});
const { address, port } = await server.run();
process.stdout.write(`S3rver listening on ${address}:${port}\n`);
