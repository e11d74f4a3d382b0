/**
 * A listening address written as `port`, `host:port` or `[ipv6]:port`. A bare port binds loopback
 * (127.0.0.1): what listens there may answer without a token, so reaching it from other machines
 * is a choice written out (`0.0.0.0:9464`). Returns what is wrong, as the end of a sentence, when
 * it cannot be read.
 */
export function parseListenAddress(raw: string): { host: string; port: number } | string {
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) return "must be a port or host:port, such as 9464 or 0.0.0.0:9464";
  const host = m[1] === undefined ? "127.0.0.1" : m[1].replace(/^\[(.*)\]$/, "$1");
  return { host, port };
}
