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
