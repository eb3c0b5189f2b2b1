// Facts about the host machine that the node object reports and the runtime sizes VMs by:
// CPUs, memory, disk, addresses, OS and kernel. Shared by src/node and src/runtime.

import os from "node:os";
import fs from "node:fs";

export interface HostFacts {
  hostname: string;
  os: "darwin" | "linux";
  /** Kubernetes architecture name: amd64, arm64, ... */
  arch: string;
  kernelVersion: string;
  osImage: string;
  cpus: number;
  memoryBytes: number;
  /** Primary IPv4 address of the host, if any. */
  primaryIPv4?: string;
}

export interface DiskUsage {
  capacityBytes: number;
  availableBytes: number;
}

export interface Pressure {
  memoryAvailableBytes: number;
  memoryTotalBytes: number;
  disk: DiskUsage;
  /** Processes running / the system's process limit; undefined when unknown. */
  pids?: { running: number; max: number };
}

const ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };

export async function hostFacts(): Promise<HostFacts> {
  const platform = os.platform();
  return {
    hostname: os.hostname(),
    os: platform === "darwin" ? "darwin" : "linux",
    arch: ARCH[os.arch()] ?? os.arch(),
    kernelVersion: os.release(),
    osImage: await osImage(platform),
    cpus: os.cpus().length || navigator.hardwareConcurrency,
    memoryBytes: os.totalmem(),
    primaryIPv4: await primaryIPv4(),
  };
}

async function osImage(platform: string): Promise<string> {
  if (platform === "darwin") {
    const name = await run("sw_vers", ["-productName"]);
    const version = await run("sw_vers", ["-productVersion"]);
    return `${name ?? "macOS"} ${version ?? os.release()}`.trim();
  }
  try {
    const text = await Deno.readTextFile("/etc/os-release");
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
    if (m) return m[1];
  } catch { /* fall through */ }
  return `${os.type()} ${os.release()}`;
}

async function run(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The IPv4 address the host would use to reach other machines: the source address of a
 * UDP socket "connected" to a public address (no packet is sent), else the first
 * non-internal interface address.
 */
export async function primaryIPv4(): Promise<string | undefined> {
  try {
    const dgram = await import("node:dgram");
    const sock = dgram.createSocket("udp4");
    const addr = await new Promise<string | undefined>((resolve) => {
      sock.on("error", () => resolve(undefined));
      sock.connect(53, "192.0.2.1", () => resolve(sock.address().address));
    });
    sock.close();
    if (addr && addr !== "0.0.0.0") return addr;
  } catch { /* fall through */ }
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === "IPv4" && !a.internal) return a.address;
    }
  }
  return undefined;
}

export function diskUsage(path: string): DiskUsage {
  fs.mkdirSync(path, { recursive: true });
  const s = fs.statfsSync(path);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
}

export function pressure(cacheDir: string): Pressure {
  const mem = Deno.systemMemoryInfo();
  return {
    memoryAvailableBytes: mem.available,
    memoryTotalBytes: mem.total,
    disk: diskUsage(cacheDir),
    pids: pidUsage(),
  };
}

function pidUsage(): { running: number; max: number } | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const max = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim());
    let running = 0;
    for (const e of Deno.readDirSync("/proc")) if (/^\d+$/.test(e.name)) running++;
    return { running, max };
  } catch {
    return undefined;
  }
}
