// MAC addresses: generating a locally administered unicast one per VM, and comparing
// addresses written by tools that drop leading zeros (macOS bootpd and arp write
// "2:5:0:3e:4:30"): compare parsed octets, never strings.

/** Six octets, or undefined when `text` is not a MAC address. */
export function parseMac(text: string): number[] | undefined {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6) return undefined;
  const octets = parts.map((p) => (/^[0-9a-fA-F]{1,2}$/.test(p) ? parseInt(p, 16) : NaN));
  return octets.some((o) => Number.isNaN(o)) ? undefined : octets;
}

export function sameMac(a: string, b: string): boolean {
  const x = parseMac(a);
  const y = parseMac(b);
  return !!x && !!y && x.every((o, i) => o === y[i]);
}

/** Canonical lowercase, zero-padded form ("02:05:00:3e:04:30"). */
export function formatMac(octets: number[]): string {
  return octets.map((o) => o.toString(16).padStart(2, "0")).join(":");
}

/**
 * A random locally administered (bit 1 of the first octet set) unicast (bit 0 clear) MAC.
 * `random` is injectable for tests.
 */
export function randomMac(
  random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): string {
  const b = [...random(6)];
  b[0] = (b[0] & 0xfc) | 0x02;
  return formatMac(b);
}

export function isLocalUnicast(mac: string): boolean {
  const o = parseMac(mac);
  return !!o && (o[0] & 0x01) === 0 && (o[0] & 0x02) === 2;
}

/**
 * A locally administered unicast MAC derived from `seed` (a pod UID): the same pod gets the
 * same MAC on every VM restart, so DHCP hands it the same address and the pod's IP is stable.
 */
export async function stableMac(seed: string): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seed)),
  );
  return randomMac(() => hash.slice(0, 6));
}
