// DHCP for the qemu backend's bridge: one dnsmasq the agent owns, serving leases from the
// bridge's subnet and writing them to a leases file that guest IP discovery reads.
// DNS is off (--port=0): guests get the host's resolvers from DHCP only if NAT is on.

import type { SubnetPlan } from "./subnet.ts";
import { leaseFor, parseDnsmasqLeases } from "./leases.ts";

export interface Dnsmasq {
  leasesFile: string;
  stop(): Promise<void>;
}

async function killStale(pidFile: string): Promise<void> {
  try {
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    if (pid > 1) {
      const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
      if (cmdline.includes("dnsmasq") && cmdline.includes(pidFile)) Deno.kill(pid, "SIGTERM");
    }
  } catch { /* no stale dnsmasq */ }
}

export async function startDnsmasq(
  opts: { bridge: string; plan: SubnetPlan; dir: string },
): Promise<Dnsmasq> {
  await Deno.mkdir(opts.dir, { recursive: true });
  const leasesFile = `${opts.dir}/dnsmasq.leases`;
  const pidFile = `${opts.dir}/dnsmasq.pid`;
  await killStale(pidFile);
  const { plan } = opts;
  const child = new Deno.Command("dnsmasq", {
    args: [
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      `--interface=${opts.bridge}`,
      "--bind-interfaces",
      "--except-interface=lo",
      "--port=0",
      `--dhcp-range=${plan.dhcpStart},${plan.dhcpEnd},${plan.netmask},12h`,
      `--dhcp-option=option:router,${plan.gateway}`,
      `--dhcp-leasefile=${leasesFile}`,
      `--pid-file=${pidFile}`,
      "--dhcp-authoritative",
      `--log-facility=${opts.dir}/dnsmasq.log`,
      "--log-dhcp",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  // dnsmasq fails fast (address in use, bad interface); give it a moment to do so.
  const early = await Promise.race([
    child.status,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 300)),
  ]);
  if (early) {
    throw new Error(`dnsmasq on ${opts.bridge}: exited ${early.code}: ${(await stderr).trim()}`);
  }
  return {
    leasesFile,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await stderr.catch(() => "");
    },
  };
}

/**
 * Tells dnsmasq to forget the lease of `mac` (dhcp_release sends it a DHCPRELEASE), so a
 * deleted VM leaves no lease behind. Best effort: returns why it could not.
 */
export async function releaseLease(
  opts: { bridge: string; leasesFile: string; mac: string },
): Promise<string | undefined> {
  const text = await Deno.readTextFile(opts.leasesFile).catch(() => "");
  const lease = leaseFor(parseDnsmasqLeases(text), opts.mac);
  if (!lease) return undefined;
  try {
    const out = await new Deno.Command("dhcp_release", {
      args: [opts.bridge, lease.ip, lease.mac],
      stdout: "null",
      stderr: "piped",
    }).output();
    return out.success ? undefined : new TextDecoder().decode(out.stderr).trim();
  } catch (err) {
    return `dhcp_release: ${(err as Error).message} (install dnsmasq-utils)`;
  }
}
