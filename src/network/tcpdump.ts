// Guest IPs from packet captures, for bridged guests whose DHCP server is not ours: the IPv4
// address a MAC sends from, read from `tcpdump -l -n -e` lines (link-level headers on, so each
// line starts with the source MAC). Pure: the caller runs tcpdump and feeds lines in.

import { sameMac } from "./mac.ts";

/** tcpdump's arguments to watch `iface` for frames sent by `mac`. */
export function tcpdumpArgs(iface: string, mac: string): string[] {
  return ["-l", "-n", "-e", "-i", iface, "ether", "src", mac];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** An address a guest would really use: not unspecified, link-local, multicast or broadcast. */
export function usableGuestIPv4(ip: string): boolean {
  const m = IPV4.exec(ip);
  if (!m) return false;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return false;
  if (o[0] === 0 || o[0] === 127 || o[0] >= 224) return false;
  if (o[0] === 169 && o[1] === 254) return false; // self-assigned before DHCP answered
  return true;
}

/** "192.168.1.57.52811" (address.port) or "192.168.1.57" -> "192.168.1.57". */
function hostPart(token: string): string {
  return token.replace(/:$/, "").split(".").slice(0, 4).join(".");
}

/** The sender's IPv4 of one `tcpdump -n -e` line, if it was sent by `mac`. */
export function ipFromTcpdumpLine(line: string, mac: string): string | undefined {
  // [timestamp] <src mac> > <dst mac>, ethertype ..., length N: <payload>
  const head = /^(?:\d[\d:.]*\s+)?([0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5})\s+>\s+/.exec(line);
  if (!head || !sameMac(head[1], mac)) return undefined;
  const payload = line.slice(line.search(/length \d+: /)).replace(/^length \d+: /, "");
  let ip: string | undefined;
  if (/ethertype ARP/.test(line)) {
    ip = /Reply (\S+) is-at/.exec(payload)?.[1] ??
      /Request who-has \S+ tell (\S+?),/.exec(payload)?.[1] ??
      /Announcement (\S+?),/.exec(payload)?.[1];
  } else if (/ethertype IPv4/.test(line)) {
    const src = /^(\d+\.\d+\.\d+\.\d+(?:\.\d+)?) > /.exec(payload)?.[1];
    ip = src && hostPart(src);
  }
  return ip && usableGuestIPv4(ip) ? ip : undefined;
}
