// The world of a VM pod test, in one call: a real control plane and registry, the test guest
// pushed to it, optionally a real dockerd with the busybox test image, and the agent with the
// real runtime and the qemu backend on a bridge of its own. Plus the helpers such tests use:
// kubectl, pod reads, waiting for Ready, restarting the agent, and tearing it all down.

import type * as k8s from "@kubernetes/client-node";
import { type ControlPlane, startControlPlane } from "../harness/control_plane.ts";
import { type Registry, startRegistry } from "../harness/registry.ts";
import { type DockerEngine, pushBusyboxImage, startDocker } from "../harness/docker.ts";
import { type TestGuest, testGuest } from "../harness/guest.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { selectRuntime } from "../../src/runtime/select.ts";
import { clusterAccess } from "../../src/kube/objects.ts";
import { removeBridge } from "../../src/network/linux_bridge.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { Config } from "../../src/config/types.ts";
import type { VolumeTiming } from "../../src/volumes/pod_volumes.ts";
import type { KubeClients } from "../../src/kube/client.ts";
import { adminClients, eventually, nodeConfig } from "./world.ts";
import { pushTestGuest } from "./guest_image.ts";

export interface VmWorld {
  cp: ControlPlane;
  registry: Registry;
  docker?: DockerEngine;
  guest: TestGuest;
  /** The test guest's reference in the registry. */
  image: string;
  /** The busybox container image's reference (with docker). */
  busybox?: string;
  config: Config;
  admin: KubeClients;
  agent(): Agent;
  read(name: string): Promise<k8s.V1Pod>;
  create(pod: k8s.V1Pod): Promise<void>;
  /** Deletes the pod and waits until its object is gone. */
  remove(name: string, ms?: number): Promise<void>;
  waitReady(name: string, ms?: number): Promise<k8s.V1Pod>;
  /** Waits until the agent itself (not a status an earlier agent wrote) has the pod Ready. */
  waitAgentReady(name: string, ms?: number): Promise<void>;
  /** VM work directories and QEMU processes of this world's agent that are still there. */
  leftoverVms(): Promise<string[]>;
  kubectl(
    args: string[],
    stdin?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Stops the agent (leaving VMs and containers running) and starts a new one. */
  restartAgent(): Promise<void>;
  stop(): Promise<void>;
}

export const isReady = (p: k8s.V1Pod) =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const rand = (n: number) => Math.floor(Math.random() * n);

export async function startVmWorld(opts: {
  node: string;
  docker?: boolean;
  args?: string[];
  /** Crash-loop back-off of the agent (the kubelet's when unset). */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How often the agent refreshes volumes (a minute when unset). */
  volumeTiming?: VolumeTiming;
}): Promise<VmWorld> {
  const guest = await testGuest();
  const cp = await startControlPlane();
  const dir = await Deno.makeTempDir({ prefix: `vzk-world-${opts.node}-` });
  const registry = await startRegistry({ dir: `${dir}/registry` });
  const bridge = `vzkw${rand(0xffff).toString(16)}`;
  let docker: DockerEngine | undefined;
  let agent: Agent | undefined;
  let cacheDir: string | undefined;
  const stop = async () => {
    await agent?.stop().catch(() => {});
    agent = undefined;
    // VMs outlive the agent by design; a world leaves none behind, even when a test failed.
    if (cacheDir) {
      for (const pid of qemuPidsUnder(cacheDir)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
    }
    await docker?.stop().catch(() => {});
    await registry.stop();
    await cp.stop();
    await removeBridge(bridge).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const image = await pushTestGuest(guest, registry.host);
    let busybox: string | undefined;
    const args = [
      "--max-vms=2",
      `--qemu-bridge=${bridge}`,
      `--qemu-subnet=10.254.${rand(250) + 1}.0/24`,
      "--qemu-nat=false",
      "--ssh-readiness-timeout=120",
      ...(opts.args ?? []),
    ];
    const env: Record<string, string> = {
      VZ_SSH_USER: guest.rootUser,
      VZ_SSH_PRIVATE_KEY_PATH: guest.privateKeyPath,
    };
    if (opts.docker) {
      docker = await startDocker({ dir: `${dir}/docker` });
      busybox = await pushBusyboxImage(docker, registry.host, dir);
      env.DOCKER_HOST = docker.host;
      args.push(`--docker-network=${docker.network}`);
    }
    const config = await nodeConfig(cp, opts.node, args, env);
    cacheDir = config.cacheDir;
    const start = () =>
      startAgent(config, {
        log,
        runtime: ({ clients, events, host }) =>
          selectRuntime(config, {
            events,
            host,
            log,
            ...clusterAccess(clients),
            restartBackoff: opts.restartBackoff,
            volumeTiming: opts.volumeTiming,
          }),
      });
    agent = await start();
    const admin = adminClients(cp);
    const read = (name: string) => admin.core.readNamespacedPod({ name, namespace: "default" });
    const kubectl = async (args: string[], stdin?: string) => {
      const child = new Deno.Command(cp.kubectl, {
        args: ["--kubeconfig", cp.adminKubeconfig, ...args],
        stdin: stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      if (stdin !== undefined) {
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(stdin));
        await w.close();
      }
      const out = await child.output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    return {
      cp,
      registry,
      docker,
      guest,
      image,
      busybox,
      config,
      admin,
      agent: () => agent!,
      read,
      create: async (pod) =>
        void await admin.core.createNamespacedPod({ namespace: "default", body: pod }),
      async remove(name, ms = 60_000) {
        await admin.core.deleteNamespacedPod({ name, namespace: "default" }).catch(() => {});
        await eventually(`${name} gone`, () => read(name).then(() => false, () => true), ms);
      },
      waitReady: (name, ms = 180_000) =>
        eventually(`${name} Ready`, async () => {
          const p = await read(name);
          return isReady(p) && p;
        }, ms),
      async waitAgentReady(name, ms = 120_000) {
        await eventually(`${name} Ready in the agent`, async () => {
          const pod = await read(name);
          const status = agent?.runtime.podStatus(pod);
          return status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        }, ms);
      },
      leftoverVms() {
        const dirs = [...Deno.readDirSync(`${config.cacheDir}/vms`)]
          .filter((d) => d.isDirectory && !d.name.startsWith(".")).map((d) => `dir ${d.name}`);
        const pids = qemuPidsUnder(config.cacheDir).map((p) => `qemu ${p}`);
        return Promise.resolve([...dirs, ...pids]);
      },
      kubectl,
      async restartAgent() {
        await agent?.stop();
        agent = undefined;
        agent = await start();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** QEMU processes whose command line names a file under `dir` (this world's VMs). */
function qemuPidsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (cmd.startsWith("qemu-system") || cmd.includes("/qemu-system")) {
        if (cmd.includes(dir) && !/\) Z /.test(stat)) pids.push(Number(e.name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
