// Probe overhead: a VM pod with an exec readiness probe every second, for a minute, beside the
// same pod without a probe for the same minute (same run, same machine). Reported: the agent's
// CPU seconds over the minute (the agent runs in this process; its CPU is this process's) and
// the guest's CPU seconds (the guest's /proc/stat, sampled by the runtime's stats).

import { startVmWorld, type VmWorld } from "../tests/support/vm_world.ts";
import { testPod } from "../tests/support/world.ts";
import type { BenchResult } from "./common.ts";

const NODE = "bench-probe";
const WINDOW_MS = Number(Deno.env.get("BENCH_PROBE_SECONDS") ?? 60) * 1000;

/** CPU seconds (user + system) this process has used. */
function processCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ
}

async function guestCpuSeconds(w: VmWorld, name: string): Promise<number> {
  const stats = await w.agent().runtime.stats();
  const c = stats.find((p) => p.name === name)?.containers.find((c) => c.name === "vm");
  return (c?.cpuUsageCoreNanoSeconds ?? 0) / 1e9;
}

async function measure(w: VmWorld, name: string, probe: boolean) {
  const p = testPod(name, NODE, {
    grace: 5,
    containers: [{
      name: "vm",
      image: w.image,
      resources: { requests: { cpu: "1", memory: "256Mi" } },
      readinessProbe: probe ? { exec: { command: ["true"] }, periodSeconds: 1 } : undefined,
    }],
  });
  await w.create(p);
  await w.waitReady(name);
  await new Promise((r) => setTimeout(r, 5_000)); // past the boot's own CPU
  const agent0 = processCpuSeconds();
  const guest0 = await guestCpuSeconds(w, name);
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const agent = processCpuSeconds() - agent0;
  const guest = (await guestCpuSeconds(w, name)) - guest0;
  await w.remove(name);
  return { agent, guest };
}

export async function benchProbeOverhead(): Promise<BenchResult[]> {
  const w = await startVmWorld({ node: NODE });
  try {
    const plain = await measure(w, "no-probe", false);
    const probed = await measure(w, "probe", true);
    const seconds = WINDOW_MS / 1000;
    return [
      {
        name: `agent CPU with an exec probe every second (${seconds} s)`,
        value: probed.agent,
        unit: "CPU s",
        baseline: plain.agent,
        baselineWhat: "the same pod without a probe, same window",
        target: "reported",
        met: true,
      },
      {
        name: `guest CPU with an exec probe every second (${seconds} s)`,
        value: probed.guest,
        unit: "CPU s",
        baseline: plain.guest,
        baselineWhat: "the same pod without a probe, same window",
        target: "reported",
        met: true,
      },
    ];
  } finally {
    await w.stop();
  }
}

if (import.meta.main) {
  for (const r of await benchProbeOverhead()) console.log(JSON.stringify(r));
}
