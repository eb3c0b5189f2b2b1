// DHCP lease files, read to learn which IP a guest's MAC got: dnsmasq's leases file (Linux,
// the QEMU backend's bridge) and macOS bootpd's /var/db/dhcpd_leases (NAT). Pure parsers.

import { sameMac } from "./mac.ts";

export interface Lease {
  mac: string;
  ip: string;
  hostname?: string;
  /** Expiry as a Date; undefined for infinite leases. */
  expires?: Date;
}

/** dnsmasq: `<expiry-epoch> <mac> <ip> <hostname|*> <client-id|*>` per line. */
export function parseDnsmasqLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !/^\d+$/.test(f[0])) continue;
    const epoch = Number(f[0]);
    leases.push({
      mac: f[1],
      ip: f[2],
      hostname: f[3] && f[3] !== "*" ? f[3] : undefined,
      expires: epoch === 0 ? undefined : new Date(epoch * 1000),
    });
  }
  return leases;
}

/**
 * macOS bootpd: blocks of `key=value` lines between `{` and `}`; `hw_address=1,<mac>`,
 * `ip_address=`, `name=`, `lease=0x<hex expiry>`.
 */
export function parseBootpdLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  let cur: Record<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "{") cur = {};
    else if (line === "}") {
      if (cur?.hw_address && cur.ip_address) {
        const mac = cur.hw_address.replace(/^\d+,/, "");
        const expiry = cur.lease ? parseInt(cur.lease, 16) : NaN;
        leases.push({
          mac,
          ip: cur.ip_address,
          hostname: cur.name,
          expires: Number.isNaN(expiry) ? undefined : new Date(expiry * 1000),
        });
      }
      cur = undefined;
    } else if (cur) {
      const eq = line.indexOf("=");
      if (eq > 0) cur[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return leases;
}

/** The newest unexpired lease for `mac` (newest = latest expiry), or undefined. */
export function leaseFor(leases: Lease[], mac: string, now = new Date()): Lease | undefined {
  const live = leases.filter((l) =>
    sameMac(l.mac, mac) && (l.expires === undefined || l.expires > now)
  );
  live.sort((a, b) => (b.expires?.getTime() ?? Infinity) - (a.expires?.getTime() ?? Infinity));
  return live[0];
}

/** `ip neigh` (Linux) or `arp -an` (macOS) output -> IPv4 address for `mac`. */
export function ipFromNeighbours(text: string, mac: string): string | undefined {
  for (const line of text.split("\n")) {
    const ip = /(\d+\.\d+\.\d+\.\d+)/.exec(line)?.[1];
    const hw = /(?:lladdr|at)\s+([0-9a-fA-F:]+)/.exec(line)?.[1];
    if (ip && hw && sameMac(hw, mac) && !/FAILED|incomplete/.test(line)) return ip;
  }
  return undefined;
}
