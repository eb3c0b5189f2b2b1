// Agent start to node Ready, and the agent's resident memory after a minute idle, against a
// real control plane. Baselines: the same Deno loading the same Kubernetes client and making
// one API call (start), and that process idling for the same minute (memory).

import { startControlPlane } from "../tests/harness/control_plane.ts";
import { adminClients, nodeEnv } from "../tests/support/world.ts";
import { median, rssBytes, START_FLAGS } from "./common.ts";
import type { BenchResult } from "./common.ts";
import { removeBridge } from "../src/network/linux_bridge.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const BASELINE = new URL("./baseline_client.ts", import.meta.url).pathname;
const RUNS = 3;
const IDLE_MS = 60_000;
/** The agent's own bridge and subnet, removed at the end (an agent keeps its bridge). */
const BRIDGE = "vzkbnode";
const SUBNET = "10.245.0.0/24";

function spawn(args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...(args.includes("-A") ? [] : ["-A"]), ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function stop(child: Deno.ChildProcess) {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

export async function benchNodeStart(): Promise<BenchResult[]> {
  const cp = await startControlPlane();
  const admin = adminClients(cp);
  const cache = await Deno.makeTempDir({ prefix: "vzk-bench-" });
  try {
    const env = {
      ...(await nodeEnv(cp, "bench-node")),
      PATH: Deno.env.get("PATH") ?? "",
      HOME: cache,
      DOCKER_HOST: `unix://${cache}/none.sock`,
    };
    // Warm Deno's module cache so neither side pays for downloads or type checks.
    await spawn([BASELINE], env).status;

    const baselineMs: number[] = [];
    const agentMs: number[] = [];
    let idleAgent: Deno.ChildProcess | undefined;
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const b = await spawn([BASELINE], env).status;
      if (!b.success) throw new Error("baseline client failed");
      baselineMs.push(performance.now() - t0);

      await admin.core.deleteNode({ name: "bench-node" }).catch(() => {});
      t0 = performance.now();
      const agent = spawn(
        [
          ...START_FLAGS,
          MAIN,
          "--nodename",
          "bench-node",
          "--cache-dir",
          cache,
          `--qemu-bridge=${BRIDGE}`,
          `--qemu-subnet=${SUBNET}`,
        ],
        env,
      );
      for (;;) {
        const n = await admin.core.readNode({ name: "bench-node" }).catch(() => undefined);
        if (n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) break;
        if (performance.now() - t0 > 120_000) throw new Error("agent did not become Ready");
        await new Promise((r) => setTimeout(r, 50));
      }
      agentMs.push(performance.now() - t0);
      if (i < RUNS - 1) await stop(agent);
      else idleAgent = agent;
    }

    // Memory: the last agent and a baseline process idle for the same minute, side by side.
    const idleBaseline = spawn([BASELINE, "--idle"], env);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const agentRss = await rssBytes(idleAgent!.pid);
    const baseRss = await rssBytes(idleBaseline.pid);
    await stop(idleAgent!);
    await stop(idleBaseline);

    const mb = (b: number) => b / 2 ** 20;
    return [
      {
        name: "agent start to node Ready",
        value: median(agentMs) / 1000,
        unit: "s",
        baseline: median(baselineMs) / 1000,
        baselineWhat: "deno start + client-node load + one API call",
        target: "none set (reported)",
        met: true,
      },
      {
        name: "agent RSS after 1 min idle",
        value: mb(agentRss),
        unit: "MB",
        baseline: mb(baseRss),
        baselineWhat: "deno with client-node loaded, idle",
        target: "< 120 MB",
        met: mb(agentRss) < 120,
      },
    ];
  } finally {
    await cp.stop();
    await removeBridge(BRIDGE).catch(() => {});
    await Deno.remove(cache, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  for (const r of await benchNodeStart()) console.log(JSON.stringify(r));
}
