// The qemu backend's network on Linux: a bridge the agent owns, one tap per VM attached to
// it, and (optionally) NAT from the bridge's subnet to the uplink. Everything through the
// `ip` and `iptables` commands, idempotent, so a restarted agent can take over what an
// earlier one left.

import type { SubnetPlan } from "./subnet.ts";

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: r.success, out: (dec.decode(r.stdout) + dec.decode(r.stderr)).trim() };
}

async function must(cmd: string, args: string[], what: string): Promise<string> {
  const r = await run(cmd, args);
  if (!r.ok) throw new Error(`${what}: ${cmd} ${args.join(" ")}: ${r.out}`);
  return r.out;
}

export async function linkExists(name: string): Promise<boolean> {
  return (await run("ip", ["link", "show", "dev", name])).ok;
}

const ipToInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);

/** Whether a.b.c.d/p and `plan`'s subnet share addresses (one holds the other). */
function overlaps(addr: string, prefix: number, plan: SubnetPlan): boolean {
  const shorter = Math.min(prefix, plan.prefix);
  const size = 2 ** (32 - shorter);
  const net = (ip: string) => Math.floor(ipToInt(ip) / size);
  return net(addr) === net(plan.gateway);
}

/**
 * Another interface with an IPv4 address in `plan`'s subnet ("vzk0 (10.251.0.1/24)"), or
 * undefined. Its route would compete with the bridge's, and guests would be unreachable.
 */
export async function subnetHolder(bridge: string, plan: SubnetPlan): Promise<string | undefined> {
  const r = await run("ip", ["-4", "-o", "addr", "show"]);
  if (!r.ok) return undefined;
  for (const m of r.out.matchAll(/^\d+:\s+([^\s@]+)\S*\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/gm)) {
    const [, link, addr, prefix] = m;
    if (link !== bridge && overlaps(addr, Number(prefix), plan)) {
      return `${link} (${addr}/${prefix})`;
    }
  }
  return undefined;
}

export async function ensureBridge(name: string, plan: SubnetPlan): Promise<void> {
  const holder = await subnetHolder(name, plan);
  if (holder) {
    throw new Error(
      `bridge ${name}: subnet ${plan.cidr} is already on ${holder}, so guests on ${name} ` +
        `would be unreachable: give this agent another --qemu-subnet (VZK_QEMU_SUBNET), or ` +
        `remove that interface if it is a leftover (ip link del ${holder.split(" ")[0]})`,
    );
  }
  if (!(await linkExists(name))) {
    await must("ip", ["link", "add", "name", name, "type", "bridge"], `bridge ${name}`);
  }
  const addrs = await must("ip", ["-4", "addr", "show", "dev", name], `bridge ${name}`);
  if (!addrs.includes(` ${plan.gateway}/`)) {
    await must(
      "ip",
      ["addr", "add", `${plan.gateway}/${plan.prefix}`, "dev", name],
      `bridge ${name} address`,
    );
  }
  await must("ip", ["link", "set", name, "up"], `bridge ${name}`);
}

export async function removeBridge(name: string): Promise<void> {
  if (await linkExists(name)) await must("ip", ["link", "del", name], `bridge ${name}`);
}

/** Tap names are derived from the VM id so leftovers can be recognised: `vzt` + 8 hex. */
export async function tapName(vmId: string): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(vmId)),
  );
  return "vzt" + [...hash.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function createTap(tap: string, bridge: string): Promise<void> {
  if (!(await linkExists(tap))) {
    await must("ip", ["tuntap", "add", "dev", tap, "mode", "tap"], `tap ${tap}`);
  }
  await must("ip", ["link", "set", tap, "master", bridge], `tap ${tap}`);
  await must("ip", ["link", "set", tap, "up"], `tap ${tap}`);
}

export async function removeTap(tap: string): Promise<void> {
  if (await linkExists(tap)) await must("ip", ["link", "del", tap], `tap ${tap}`);
}

/** Taps (by our naming) enslaved to `bridge`. */
export async function tapsOn(bridge: string): Promise<string[]> {
  const r = await run("ip", ["-o", "link", "show", "master", bridge]);
  if (!r.ok) return [];
  return [...r.out.matchAll(/^\d+:\s+(vzt[0-9a-f]{8})[@:]/gm)].map((m) => m[1]);
}

/**
 * NAT for the bridge's subnet: IP forwarding on and one MASQUERADE rule. Returns why it
 * could not be set up (the caller warns and goes on: guests then reach only the host).
 */
export async function ensureNat(plan: SubnetPlan): Promise<string | undefined> {
  const rule = ["POSTROUTING", "-s", plan.cidr, "!", "-d", plan.cidr, "-j", "MASQUERADE"];
  try {
    await Deno.writeTextFile("/proc/sys/net/ipv4/ip_forward", "1");
  } catch (err) {
    return `cannot enable IP forwarding: ${(err as Error).message}`;
  }
  const check = await run("iptables", ["-t", "nat", "-C", ...rule]).catch(() => undefined);
  if (check?.ok) return undefined;
  const add = await run("iptables", ["-t", "nat", "-A", ...rule]).catch((e) => ({
    ok: false,
    out: String(e),
  }));
  return add.ok ? undefined : `iptables MASQUERADE: ${add.out}`;
}
