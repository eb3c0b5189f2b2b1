// IPv4 subnet arithmetic for the agent's own bridge network: the bridge's address, the
// DHCP range handed to guests, the netmask. Pure.

export interface SubnetPlan {
  cidr: string;
  prefix: number;
  netmask: string;
  /** Address of the bridge itself (first host address). */
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
}

const toInt = (ip: string) => ip.split(".").reduce((n, o) => (n * 256) + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

export function planSubnet(cidr: string): SubnetPlan {
  const [addr, p] = cidr.split("/");
  const prefix = Number(p);
  const size = 2 ** (32 - prefix);
  const base = toInt(addr) - (toInt(addr) % size);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  const firstDhcp = size > 32 ? base + 10 : base + 2;
  return {
    cidr: `${toIp(base)}/${prefix}`,
    prefix,
    netmask: toIp(mask),
    gateway: toIp(base + 1),
    dhcpStart: toIp(firstDhcp),
    dhcpEnd: toIp(base + size - 2),
  };
}
