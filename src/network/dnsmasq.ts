// DHCP for the qemu backend's bridge: one dnsmasq the agent owns and supervises, serving
// leases from the bridge's subnet and writing them to a leases file that guest IP discovery
// reads.
// DNS is off (--port=0): guests get the host's resolvers from DHCP only if NAT is on.

import type { SubnetPlan } from "./subnet.ts";
import { leaseFor, parseDnsmasqLeases } from "./leases.ts";
import { Backoff } from "../util/backoff.ts";
import type { Logger } from "../telemetry/log.ts";

export interface Dnsmasq {
  leasesFile: string;
  /** Why guests get no addresses now (dnsmasq is down and being restarted); else undefined. */
  problem(): string | undefined;
  /** dnsmasq's process id (tests). */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface DnsmasqOptions {
  bridge: string;
  plan: SubnetPlan;
  dir: string;
  log: Logger;
  /** Its log is rotated (one old copy kept) once it passes this size. */
  maxLogBytes?: number;
  /** How often the log's size is looked at. */
  logCheckMs?: number;
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

async function spawnDnsmasq(opts: DnsmasqOptions, leasesFile: string, pidFile: string) {
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
      // No ping before an offer: the agent owns this subnet, and dnsmasq's ping check held every
      // guest's first offer back by about 3 s (measured: DHCP 3.5 s -> 0.2 s).
      "--no-ping",
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
  stderr.catch(() => {});
  return child;
}

/**
 * dnsmasq for the bridge, supervised: when it dies it is started again with back-off (and
 * `problem()` says so meanwhile, for the node's NetworkUnavailable condition and for pods
 * waiting for an address); its log is rotated before it grows without bound.
 */
export async function startDnsmasq(opts: DnsmasqOptions): Promise<Dnsmasq> {
  await Deno.mkdir(opts.dir, { recursive: true });
  const leasesFile = `${opts.dir}/dnsmasq.leases`;
  const pidFile = `${opts.dir}/dnsmasq.pid`;
  const logFile = `${opts.dir}/dnsmasq.log`;
  await killStale(pidFile);
  let child = await spawnDnsmasq(opts, leasesFile, pidFile);
  let problem: string | undefined;
  let stopped = false;
  const retry = new Backoff({ initialMs: 500, maxMs: 30_000 });

  const watch = (c: Deno.ChildProcess) => {
    c.status.then(async (status) => {
      if (stopped) return;
      problem = `dnsmasq (DHCP for the VMs on ${opts.bridge}) exited ${status.code}; restarting it`;
      opts.log.error("dnsmasq exited; restarting it", { bridge: opts.bridge, code: status.code });
      while (!stopped) {
        await new Promise((r) => setTimeout(r, retry.next()));
        if (stopped) return;
        try {
          child = await spawnDnsmasq(opts, leasesFile, pidFile);
          retry.reset();
          problem = undefined;
          opts.log.info("dnsmasq restarted", { bridge: opts.bridge, pid: child.pid });
          watch(child);
          return;
        } catch (err) {
          problem = `dnsmasq on ${opts.bridge} cannot start: ${(err as Error).message}`;
          opts.log.error("dnsmasq cannot start", { error: (err as Error).message });
        }
      }
    });
  };
  watch(child);

  const maxLog = opts.maxLogBytes ?? 16 * 2 ** 20;
  const rotation = setInterval(async () => {
    const size = (await Deno.stat(logFile).catch(() => undefined))?.size ?? 0;
    if (size <= maxLog) return;
    await Deno.rename(logFile, `${logFile}.1`).catch(() => {});
    try {
      child.kill("SIGUSR2"); // dnsmasq reopens its log file
    } catch { /* restarting */ }
  }, opts.logCheckMs ?? 60_000);

  return {
    leasesFile,
    problem: () => problem,
    get pid() {
      return child.pid;
    },
    async stop() {
      stopped = true;
      clearInterval(rotation);
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
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
