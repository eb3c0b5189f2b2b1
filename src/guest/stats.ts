// CPU and memory of a guest, read over SSH, for /stats/summary and /metrics/resource.
// Linux guests: /proc/stat (jiffies at USER_HZ 100) and /proc/meminfo. macOS guests come
// with the vz backend. Pure parsers plus one sampling function.

import type { SshSession } from "./ssh.ts";

export interface GuestSample {
  /** Cumulative CPU time of all guest CPUs, in nanoseconds. */
  cpuNanoSeconds: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  time: Date;
}

const JIFFY_NS = 10_000_000; // USER_HZ = 100 on every Linux architecture we run

/** The aggregate "cpu" line of /proc/stat: busy time (all but idle and iowait). */
export function parseProcStat(text: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, _idle, _iowait, irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) * JIFFY_NS;
}

/** MemTotal and MemTotal - MemAvailable from /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { total: number; used: number } | undefined {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb("MemTotal");
  const available = kb("MemAvailable") ?? kb("MemFree");
  if (total === undefined || available === undefined) return undefined;
  return { total, used: total - available };
}

/** CPU use between two samples, in billionths of a core. */
export function nanoCores(prev: GuestSample | undefined, cur: GuestSample): number | undefined {
  if (!prev) return undefined;
  const dt = cur.time.getTime() - prev.time.getTime();
  if (dt <= 0) return undefined;
  return Math.max(0, Math.round(((cur.cpuNanoSeconds - prev.cpuNanoSeconds) / (dt * 1e6)) * 1e9));
}

export async function sampleLinuxGuest(ssh: SshSession): Promise<GuestSample | undefined> {
  let out = "";
  const dec = new TextDecoder();
  const code = await ssh.exec(["cat", "/proc/stat", "/proc/meminfo"], {
    stdout: (d) => void (out += dec.decode(d, { stream: true })),
  });
  if (code !== 0) return undefined;
  const cpu = parseProcStat(out);
  const mem = parseMeminfo(out);
  if (cpu === undefined || !mem) return undefined;
  return {
    cpuNanoSeconds: cpu,
    memoryUsedBytes: mem.used,
    memoryTotalBytes: mem.total,
    time: new Date(),
  };
}
