// The nodes the kubelet API benchmark measures, all joined to one control plane (Kubernetes
// 1.37, ExtendWebSocketsToKubelet on): the agent as it registers (declaring the feature, so
// kube-apiserver passes kubectl's WebSocket streams straight to it: "proxied"), the agent
// declaring nothing (kube-apiserver translates them to SPDY, the only path before 1.36:
// "translated"), and a real kubelet (real_kubelet/, which declares nothing either). Each has one
// running pod; the agents run as their own processes so their memory is theirs alone.

import type { ControlPlane } from "../tests/harness/control_plane.ts";
import { NODE_IP } from "../tests/support/kubelet_api_world.ts";
import { adminClients, eventually, nodeEnv, testPod } from "../tests/support/world.ts";
import { START_FLAGS } from "./common.ts";
import { REAL_KUBELET_VERSION, startRealKubelet } from "./real_kubelet/kubelet.ts";

const AGENT = new URL("./kubelet_api_agent.ts", import.meta.url).pathname;
let targets = 0;

export interface Target {
  /** Short name in the report. */
  name: string;
  node: string;
  pod: string;
  /** The pod port an HTTP download is forwarded from. */
  httpPort: number;
  /** The node-side processes (CPU summed; RSS of the first). */
  pids(): Promise<number[]>;
  /** The agent's kubelet API port (direct exec), when it is an agent. */
  kubeletPort?: number;
  stop(): Promise<void>;
}

/** An agent process joined as `node`, its pod `pod` running; port 80 of the pod is `httpPort`. */
export async function startAgentTarget(
  cp: ControlPlane,
  name: string,
  node: string,
  dir: string,
  httpPort: number,
  declareNothing: boolean,
): Promise<Target> {
  const env: Record<string, string> = {
    ...(await nodeEnv(cp, node)),
    VKUBELET_POD_IP: NODE_IP,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: dir,
    DOCKER_HOST: `unix://${dir}/none.sock`,
    BENCH_PORT_MAP: JSON.stringify({ 80: httpPort }),
    BENCH_DECLARE_NOTHING: declareNothing ? "1" : "0",
    VZK_LOG_LEVEL: "warn",
  };
  await Deno.mkdir(dir, { recursive: true });
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...START_FLAGS.filter((f) => f !== "-A"),
      AGENT,
      "--nodename",
      node,
      "--cache-dir",
      dir,
      // Each agent locks its VM bridge (the scripted runtime never makes one): one name each.
      `--qemu-bridge=vzkb${targets++}`,
    ],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      agent.kill("SIGTERM");
    } catch { /* gone */ }
    await agent.status;
  };
  try {
    const lines = agent.stdout.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`agent ${node} ended before it was ready`);
      if (value.includes("ready")) break;
    }
    void (async () => {
      while (!(await lines.read()).done) { /* drain */ }
    })();
    const pod = `bench-${name}`;
    const admin = adminClients(cp);
    await admin.core.createNamespacedPod({ namespace: "default", body: testPod(pod, node) });
    await eventually(
      `${pod} Running`,
      async () =>
        (await admin.core.readNamespacedPod({ name: pod, namespace: "default" })).status
          ?.phase === "Running",
      60_000,
    );
    return {
      name,
      node,
      pod,
      httpPort: 80,
      pids: () => Promise.resolve([agent.pid]),
      kubeletPort: Number(env.KUBELET_PORT),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** PIDs whose command line contains `needle`. */
async function pidsNaming(needle: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes(needle)) out.push(Number(e.name));
  }
  return out;
}

/** The real kubelet as a target; its pod uses the host network, so it forwards `httpPort`. */
export async function startKubeletTarget(
  cp: ControlPlane,
  dir: string,
  shared: string,
  httpPort: number,
): Promise<Target> {
  const node = "bench-real-kubelet";
  const kubelet = await startRealKubelet(cp, node, NODE_IP, shared, dir, "bench-kubelet");
  return {
    name: `kubelet ${REAL_KUBELET_VERSION}`,
    node,
    pod: kubelet.pod,
    httpPort,
    // kubelet first (RSS), then containerd and the pod's shim, which carry the bytes too.
    pids: async () => [
      ...(await pidsNaming(`${dir}/kubelet.yaml`)),
      ...(await pidsNaming(`${dir}/containerd/containerd.toml`)),
      ...(await pidsNaming(`${dir}/containerd/containerd.sock`)).filter((p) => p !== Deno.pid),
    ],
    stop: () => kubelet.stop(),
  };
}
