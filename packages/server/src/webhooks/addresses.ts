import net from "node:net";

/**
 * IPv4 networks a webhook must never reach unless the operator's allow-list (SF_WEBHOOK_ALLOW_HOSTS)
 * names them: the server's own loopback, private and carrier-grade NAT ranges, link-local (where
 * cloud metadata services answer), and every range that is not a public unicast address.
 */
const BLOCKED4 = new net.BlockList();
for (const [net4, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata (169.254.169.254)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  BLOCKED4.addSubnet(net4, prefix, "ipv4");
}

/**
 * IPv6: only global unicast (2000::/3) is public. Everything outside it is refused, which covers
 * loopback, unspecified, link-local, unique local (fc00::/7, where AWS's metadata service answers
 * on fd00:ec2::254), multicast, and the forms that embed an IPv4 address and may reach any of
 * them: IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::/96,
 * 64:ff9b:1::/48). Inside 2000::/3 these are refused too: 6to4 (2002::/16) and Teredo (2001::/32)
 * embed an IPv4 address, the rest are not routable. IPv4-mapped addresses (::ffff:a.b.c.d) are the
 * IPv4 address itself and are judged as that.
 */
const GLOBAL6 = new net.BlockList();
GLOBAL6.addSubnet("2000::", 3, "ipv6");
const BLOCKED6 = new net.BlockList();
for (const [net6, prefix] of [
  ["2001::", 23], // IETF protocol assignments (Teredo and friends)
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4: embeds an IPv4 address
  ["3fff::", 20], // documentation
] as const) {
  BLOCKED6.addSubnet(net6, prefix, "ipv6");
}
const MAPPED = new net.BlockList();
MAPPED.addSubnet("::ffff:0:0", 96, "ipv6");

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:7f00:1` → `127.0.0.1`). */
function mappedIpv4(address: string): string {
  const tail = address.slice(address.lastIndexOf(":") + 1);
  if (net.isIPv4(tail)) return tail;
  // The last two groups: `::ffff:7f00:1` → 7f00, 0001.
  const groups = address.split(":").slice(-2);
  const n = groups.map((g) => Number.parseInt(g || "0", 16));
  return [n[0]! >> 8, n[0]! & 255, n[1]! >> 8, n[1]! & 255].join(".");
}

const bare = (address: string) => (address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address);

/** Whether `address` (an IP literal) is one a webhook must not reach by default. Not an IP at all: true. */
export function isForbiddenAddress(address: string): boolean {
  const a = bare(address);
  const family = net.isIP(a);
  if (family === 0) return true;
  if (family === 4) return BLOCKED4.check(a, "ipv4");
  if (MAPPED.check(a, "ipv6")) return isForbiddenAddress(mappedIpv4(a));
  return !GLOBAL6.check(a, "ipv6") || BLOCKED6.check(a, "ipv6");
}

/** Host names that mean "this machine" whatever DNS says. */
export function isLocalHostName(host: string): boolean {
  const h = normalHostName(host);
  return h === "localhost" || h.endsWith(".localhost") || h === "localhost.localdomain";
}

const normalHostName = (host: string) => host.toLowerCase().replace(/\.$/, "");

/** SF_WEBHOOK_ALLOW_HOSTS, parsed: host names (lowercase, no trailing dot) and networks. */
export interface AllowHosts {
  names: string[];
  networks: { address: string; prefix: number; family: "ipv4" | "ipv6" }[];
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses a comma-separated list of host names, IP addresses and CIDRs (IPv4 and IPv6); `problems` names each entry that is none. */
export function parseAllowHosts(raw: string): { hosts: AllowHosts; problems: string[] } {
  const hosts: AllowHosts = { names: [], networks: [] };
  const problems: string[] = [];
  for (const entry of raw
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [ip, prefixRaw, ...rest] = bare(entry).split("/");
    const family = net.isIP(ip ?? "");
    if (family !== 0 && rest.length === 0) {
      const max = family === 4 ? 32 : 128;
      const prefix = prefixRaw === undefined ? max : /^\d{1,3}$/.test(prefixRaw) ? Number(prefixRaw) : -1;
      if (prefix < 0 || prefix > max) problems.push(`"${entry}" has a prefix length that is not 0–${max}`);
      else hosts.networks.push({ address: ip!, prefix, family: family === 4 ? "ipv4" : "ipv6" });
    } else if (HOST_NAME.test(normalHostName(entry))) {
      hosts.names.push(normalHostName(entry));
    } else {
      problems.push(`"${entry}" is not a host name, an IP address or a CIDR`);
    }
  }
  return { hosts, problems };
}

/** The operator's allow-list: what a webhook may reach although it is private. */
export class AllowList {
  private readonly names: Set<string>;
  private readonly networks = new net.BlockList();

  constructor(hosts: AllowHosts) {
    this.names = new Set(hosts.names);
    for (const n of hosts.networks) this.networks.addSubnet(n.address, n.prefix, n.family);
  }

  /** A host name the list names (then whatever it resolves to may be reached). */
  allowsName(host: string): boolean {
    return this.names.has(normalHostName(bare(host)));
  }

  /**
   * An IP address inside one of the list's networks. IPv4-mapped IPv6 addresses match the IPv4
   * entries (they are the same address); the other IPv6 forms of an IPv4 address do not.
   */
  allowsAddress(address: string): boolean {
    const a = bare(address);
    const family = net.isIP(a);
    if (family === 0) return false;
    return this.networks.check(a, family === 4 ? "ipv4" : "ipv6");
  }
}

const built = new WeakMap<AllowHosts, AllowList>();

/** The allow-list of a parsed configuration, built once. */
export function allowListFor(hosts: AllowHosts): AllowList {
  let list = built.get(hosts);
  if (!list) {
    list = new AllowList(hosts);
    built.set(hosts, list);
  }
  return list;
}

/** An allow-list from its SF_WEBHOOK_ALLOW_HOSTS spelling (tests and tools); throws on a bad entry. */
export function allowListOf(raw: string): AllowList {
  const { hosts, problems } = parseAllowHosts(raw);
  if (problems.length > 0) throw new Error(problems.join("; "));
  return new AllowList(hosts);
}
