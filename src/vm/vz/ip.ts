// A vz guest's IPv4 address. NAT: the lease macOS's bootpd wrote to /var/db/dhcpd_leases for
// the guest's MAC (newest unexpired), else the ARP table. Bridged: the address the guest's MAC
// sends from, seen by tcpdump on the bridged interface, else the ARP table. The sources are
// injectable; the parsers are src/network's.

import { ipFromNeighbours, leaseFor, parseBootpdLeases } from "../../network/leases.ts";
import { ipFromTcpdumpLine, tcpdumpArgs } from "../../network/tcpdump.ts";
import type { VzNetworkChoice } from "./description.ts";

export interface GuestIpSources {
  /** The bootpd leases file's text ("" when there is none yet). */
  leases(): Promise<string>;
  /** The ARP table (`arp -an`). */
  neighbours(): Promise<string>;
  /** Captured lines of frames sent by `mac` on `iface`; ends when aborted. */
  capture(iface: string, mac: string, signal: AbortSignal): AsyncIterable<string>;
}

export const BOOTPD_LEASES = "/var/db/dhcpd_leases";

async function textOf(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output()
    .catch(() => undefined);
  return out ? new TextDecoder().decode(out.stdout) : "";
}

async function* tcpdumpLines(iface: string, mac: string, signal: AbortSignal) {
  const child = new Deno.Command("tcpdump", {
    args: tcpdumpArgs(iface, mac),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  const errText = new Response(child.stderr).text();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for await (const chunk of child.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      yield* lines;
    }
  } finally {
    try {
      child.kill();
    } catch { /* exited */ }
  }
  const status = await child.status;
  if (!signal.aborted && !status.success) {
    // Usually: no access to /dev/bpf* (run as root, or install a ChmodBPF launch daemon).
    throw new Error(`tcpdump on ${iface} exited ${status.code}: ${(await errText).trim()}`);
  }
}

export function macosIpSources(leasesFile = BOOTPD_LEASES): GuestIpSources {
  return {
    leases: () => Deno.readTextFile(leasesFile).catch(() => ""),
    neighbours: () => textOf("arp", ["-an"]),
    capture: tcpdumpLines,
  };
}

export interface DiscoverOptions {
  mac: string;
  network: VzNetworkChoice;
  sources: GuestIpSources;
  signal: AbortSignal;
  /** Why there will be no address (the VM ended), or undefined while there may be one. */
  dead: () => string | undefined;
  pollMs?: number;
  /** Told once when packet capture is not possible (ARP alone is used then). */
  onCaptureFailed?: (why: string) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      r();
    }, { once: true });
  });

export async function discoverGuestIp(o: DiscoverOptions): Promise<string> {
  const stop = new AbortController();
  const signal = AbortSignal.any([o.signal, stop.signal]);
  let seen: string | undefined;
  if (o.network.mode === "bridged") {
    const iface = o.network.interface;
    (async () => {
      for await (const line of o.sources.capture(iface, o.mac, signal)) {
        seen ??= ipFromTcpdumpLine(line, o.mac);
        if (seen) break;
      }
    })().catch((err) => o.onCaptureFailed?.(err instanceof Error ? err.message : String(err)));
  }
  try {
    while (!o.signal.aborted) {
      if (o.network.mode === "nat" && !seen) {
        seen = leaseFor(parseBootpdLeases(await o.sources.leases()), o.mac)?.ip;
      }
      seen ??= ipFromNeighbours(await o.sources.neighbours(), o.mac);
      if (seen) return seen;
      const why = o.dead();
      if (why) throw new Error(`no IP address: ${why}`);
      await sleep(o.pollMs ?? 500, signal);
    }
    throw o.signal.reason ?? new Error("aborted");
  } finally {
    stop.abort();
  }
}
