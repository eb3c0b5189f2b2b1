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

export async function ensureBridge(name: string, plan: SubnetPlan): Promise<void> {
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
