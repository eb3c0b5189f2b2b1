// MAC handling and lease parsing: the quirks that decide whether a guest's IP is found.

import assert from "node:assert/strict";
import { formatMac, isLocalUnicast, parseMac, randomMac, sameMac } from "../../src/network/mac.ts";
import {
  ipFromNeighbours,
  leaseFor,
  parseBootpdLeases,
  parseDnsmasqLeases,
} from "../../src/network/leases.ts";

Deno.test("mac: octets compare, not strings (leading zeros dropped by bootpd)", () => {
  assert.ok(sameMac("1:2:5:0:3e:4", "01:02:05:00:3E:04"));
  assert.ok(!sameMac("1:2:5:0:3e:4", "01:02:05:00:3e:40"));
  assert.equal(parseMac("01:02:03"), undefined);
  assert.equal(parseMac("zz:02:03:04:05:06"), undefined);
  assert.equal(formatMac([2, 5, 0, 0x3e, 4, 0x30]), "02:05:00:3e:04:30");
});

Deno.test("mac: random addresses are locally administered unicast", () => {
  for (let i = 0; i < 200; i++) assert.ok(isLocalUnicast(randomMac()));
  assert.equal(randomMac(() => new Uint8Array([0xff, 1, 2, 3, 4, 5])), "fe:01:02:03:04:05");
  assert.ok(!isLocalUnicast("01:00:5e:00:00:01"));
});

Deno.test("leases: dnsmasq file, newest unexpired lease wins", () => {
  const now = new Date(1_700_000_000_000);
  const t = (s: number) => Math.floor(now.getTime() / 1000) + s;
  const text = [
    `${t(-10)} 02:00:00:00:00:01 10.1.0.5 old *`,
    `${t(600)} 02:00:00:00:00:01 10.1.0.7 guest 01:02:00:00:00:00:01`,
    `${t(300)} 02:00:00:00:00:01 10.1.0.6 * *`,
    `${t(600)} 02:00:00:00:00:02 10.1.0.9 other *`,
    `garbage line`,
  ].join("\n");
  const leases = parseDnsmasqLeases(text);
  assert.equal(leases.length, 4);
  assert.equal(leaseFor(leases, "2:0:0:0:0:1", now)?.ip, "10.1.0.7");
  assert.equal(leaseFor(leases, "02:00:00:00:00:03", now), undefined);
  assert.equal(leases[0].hostname, "old");
  assert.equal(leases[2].hostname, undefined);
});

Deno.test("leases: macOS bootpd blocks with zero-dropped MACs and hex expiry", () => {
  const now = new Date(0x60000000 * 1000);
  const text = `{
	name=mac-vm
	ip_address=192.168.64.3
	hw_address=1,2:5:0:3e:4:30
	identifier=1,2:5:0:3e:4:30
	lease=0x60001000
}
{
	name=older
	ip_address=192.168.64.2
	hw_address=1,2:5:0:3e:4:30
	lease=0x5fff0000
}
`;
  const leases = parseBootpdLeases(text);
  assert.equal(leases.length, 2);
  assert.equal(leaseFor(leases, "02:05:00:3e:04:30", now)?.ip, "192.168.64.3");
});

Deno.test("neighbours: ip neigh and arp -an output", () => {
  const ipNeigh = "10.1.0.7 dev vzk0 lladdr 02:00:00:00:00:01 REACHABLE\n" +
    "10.1.0.8 dev vzk0  FAILED";
  assert.equal(ipFromNeighbours(ipNeigh, "2:0:0:0:0:1"), "10.1.0.7");
  const arp = "? (192.168.64.3) at 2:5:0:3e:4:30 on bridge100 ifscope [bridge]";
  assert.equal(ipFromNeighbours(arp, "02:05:00:3e:04:30"), "192.168.64.3");
  assert.equal(ipFromNeighbours(arp, "02:05:00:3e:04:31"), undefined);
});

Deno.test("mac: stable per seed, locally administered unicast", async () => {
  const { stableMac } = await import("../../src/network/mac.ts");
  const a = await stableMac("0b4f6c9e-uid-1");
  assert.equal(a, await stableMac("0b4f6c9e-uid-1"));
  assert.notEqual(a, await stableMac("0b4f6c9e-uid-2"));
  assert.ok(isLocalUnicast(a));
});

Deno.test("leases: a real bootpd file (several guests, renewals, DUID identifiers)", () => {
  // As macOS writes /var/db/dhcpd_leases for VZNATNetworkDeviceAttachment guests.
  const text = [
    "{",
    "\tname=runner-a",
    "\tip_address=192.168.64.2",
    "\thw_address=1,a6:1e:8:a3:4f:1",
    "\tidentifier=1,a6:1e:8:a3:4f:1",
    "\tlease=0x65f0a1b0",
    "}",
    "{",
    "\tname=runner-a",
    "\tip_address=192.168.64.7",
    "\thw_address=1,a6:1e:8:a3:4f:1",
    "\tidentifier=ff,f1:f2:f3:f4:0:1:0:1:2c:d5:e6:f7:a6:1e:8:a3:4f:1",
    "\tlease=0x65f0b000",
    "}",
    "{",
    "\tip_address=192.168.64.3",
    "\thw_address=1,2:0:0:0:0:9",
    "\tidentifier=1,2:0:0:0:0:9",
    "\tlease=0x65f0c000",
    "}",
    "",
  ].join("\n");
  const leases = parseBootpdLeases(text);
  assert.equal(leases.length, 3);
  assert.equal(leases[2].hostname, undefined);
  const before = new Date(0x65f0a000 * 1000);
  // Both leases of the MAC are live: the newest (latest expiry) wins.
  assert.equal(leaseFor(leases, "a6:1e:08:a3:4f:01", before)?.ip, "192.168.64.7");
  // After both expired nothing is returned, not a stale address.
  assert.equal(leaseFor(leases, "a6:1e:08:a3:4f:01", new Date(0x65f0b001 * 1000)), undefined);
  assert.equal(leaseFor(leases, "02:00:00:00:00:09", before)?.ip, "192.168.64.3");
});

Deno.test("tcpdump: the guest's IPv4 from ARP and IPv4 frames it sent", async () => {
  const { ipFromTcpdumpLine, tcpdumpArgs, usableGuestIPv4 } = await import(
    "../../src/network/tcpdump.ts"
  );
  const mac = "02:05:00:3e:04:30";
  const lines = {
    dhcpDiscover: "14:05:00.000001 02:05:00:3e:04:30 > ff:ff:ff:ff:ff:ff, ethertype IPv4 " +
      "(0x0800), length 342: 0.0.0.0.68 > 255.255.255.255.67: BOOTP/DHCP, Request from " +
      "02:05:00:3e:04:30, length 300",
    arpProbe: "14:05:00.100000 02:05:00:3e:04:30 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), " +
      "length 42: Request who-has 10.20.0.57 tell 0.0.0.0, length 28",
    linkLocal: "14:05:00.200000 02:05:00:3e:04:30 > 01:00:5e:00:00:fb, ethertype IPv4 (0x0800), " +
      "length 120: 169.254.12.34.5353 > 224.0.0.251.5353: 0 [2q] PTR (QM)? _ssh._tcp.local.",
    arpRequest: "14:05:01.000000 02:05:00:3e:04:30 > ff:ff:ff:ff:ff:ff, ethertype ARP " +
      "(0x0806), length 42: Request who-has 10.20.0.1 tell 10.20.0.57, length 28",
    arpReply: "14:05:01.100000 2:5:0:3e:4:30 > 3c:22:fb:aa:bb:cc, ethertype ARP (0x0806), " +
      "length 42: Reply 10.20.0.58 is-at 02:05:00:3e:04:30, length 28",
    announce: "14:05:01.150000 02:05:00:3e:04:30 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), " +
      "length 42: Announcement 10.20.0.59, length 28",
    tcp: "14:05:01.200000 02:05:00:3e:04:30 > 3c:22:fb:aa:bb:cc, ethertype IPv4 (0x0800), " +
      "length 74: 10.20.0.60.52811 > 17.253.144.10.443: Flags [S], seq 1, win 65535, length 0",
    icmp: "02:05:00:3e:04:30 > 3c:22:fb:aa:bb:cc, ethertype IPv4 (0x0800), length 98: " +
      "10.20.0.61 > 10.20.0.1: ICMP echo request, id 1, seq 0, length 64",
    vlan: "14:05:01.300000 02:05:00:3e:04:30 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), " +
      "length 46: vlan 10, p 0, ethertype ARP (0x0806), Request who-has 10.30.0.1 tell " +
      "10.30.0.62, length 28",
    ipv6: "14:05:01.400000 02:05:00:3e:04:30 > 33:33:00:00:00:16, ethertype IPv6 (0x86dd), " +
      "length 90: :: > ff02::16: HBH ICMP6, multicast listener report v2, length 28",
    otherMac: "14:05:01.500000 02:05:00:3e:04:31 > 3c:22:fb:aa:bb:cc, ethertype IPv4 (0x0800), " +
      "length 74: 10.20.0.99.52811 > 17.253.144.10.443: Flags [S], length 0",
    garbage: "tcpdump: verbose output suppressed, use -v[v]... for full protocol decode",
  };
  const got = Object.fromEntries(
    Object.entries(lines).map(([k, l]) => [k, ipFromTcpdumpLine(l, mac)]),
  );
  assert.deepEqual(got, {
    dhcpDiscover: undefined,
    arpProbe: undefined,
    linkLocal: undefined,
    arpRequest: "10.20.0.57",
    arpReply: "10.20.0.58",
    announce: "10.20.0.59",
    tcp: "10.20.0.60",
    icmp: "10.20.0.61",
    vlan: "10.30.0.62",
    ipv6: undefined,
    otherMac: undefined,
    garbage: undefined,
  });
  assert.deepEqual(tcpdumpArgs("en0", mac), ["-l", "-n", "-e", "-i", "en0", "ether", "src", mac]);
  assert.ok(usableGuestIPv4("10.0.0.1"));
  for (
    const bad of ["0.0.0.0", "169.254.1.1", "224.0.0.251", "255.255.255.255", "1.2.3", "300.1.1.1"]
  ) {
    assert.ok(!usableGuestIPv4(bad), bad);
  }
});

Deno.test("neighbours: a real macOS arp -an table (incomplete entries, zero-dropped octets)", () => {
  const arp = [
    "? (192.168.1.1) at 3c:22:fb:aa:bb:cc on en0 ifscope [ethernet]",
    "? (192.168.64.1) at be:d0:74:1:2:64 on bridge100 ifscope permanent [bridge]",
    "? (192.168.64.4) at (incomplete) on bridge100 ifscope [bridge]",
    "? (192.168.64.5) at a6:1e:8:a3:4f:1 on bridge100 ifscope [bridge]",
    "? (224.0.0.251) at 1:0:5e:0:0:fb on en0 ifscope permanent [ethernet]",
  ].join("\n");
  assert.equal(ipFromNeighbours(arp, "a6:1e:08:a3:4f:01"), "192.168.64.5");
  assert.equal(ipFromNeighbours(arp, "be:d0:74:01:02:64"), "192.168.64.1");
  assert.equal(ipFromNeighbours(arp, "a6:1e:08:a3:4f:02"), undefined);
});
