// The world of the kubelet API tests: a real control plane, one agent (scripted runtime,
// InternalIP = NODE_IP, a free KUBELET_PORT) and helpers to run the real kubectl against it
// and to call the agent's HTTPS port directly with chosen credentials.

import "reflect-metadata";
import type { ControlPlane } from "../harness/control_plane.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { Config } from "../../src/config/types.ts";
import { type ScriptedOptions, ScriptedRuntime } from "./scripted_runtime.ts";
import { adminClients, eventually, nodeConfig, testPod } from "./world.ts";
import type * as k8s from "@kubernetes/client-node";
import { hostIPv4Addresses } from "../../src/config/serving_cert.ts";

/**
 * The address the agent reports as InternalIP: a real interface when there is one, because
 * the API server's node proxy (`kubectl get --raw /api/v1/nodes/N/proxy/...`) refuses
 * loopback addresses. The harness's serving certificates name the host's addresses.
 */
export const NODE_IP = hostIPv4Addresses()[0] ?? "127.0.0.1";

export const log = createLogger({
  level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error",
});

export interface KubeletWorld {
  cp: ControlPlane;
  agent: Agent;
  runtime: ScriptedRuntime;
  config: Config;
  node: string;
  /** https://127.0.0.1:PORT of the agent's kubelet API. */
  url: string;
  stop(): Promise<void>;
}

export async function startKubeletWorld(
  cp: ControlPlane,
  node: string,
  opts: {
    args?: string[];
    env?: Record<string, string>;
    runtime?: ScriptedOptions;
    /** status.declaredFeatures of the node (default: all the agent implements). */
    declaredFeatures?: readonly string[];
  } = {},
): Promise<KubeletWorld> {
  const runtime = new ScriptedRuntime({
    dockerReachable: false,
    startDelayMs: 50,
    ...opts.runtime,
  });
  const config = await nodeConfig(cp, node, opts.args ?? [], {
    VKUBELET_POD_IP: NODE_IP,
    ...opts.env,
  });
  const agent = await startAgent(config, {
    log,
    runtime: () => runtime,
    declaredFeatures: opts.declaredFeatures,
  });
  return {
    cp,
    agent,
    runtime,
    config,
    node,
    url: `https://127.0.0.1:${config.kubeletPort}`,
    stop: () => agent.stop(),
  };
}

/** Creates a pod bound to the world's node and waits until it runs. */
export async function runningPod(
  world: KubeletWorld,
  name: string,
  containers?: k8s.V1Container[],
): Promise<k8s.V1Pod> {
  const admin = adminClients(world.cp);
  await admin.core.createNamespacedPod({
    namespace: "default",
    body: testPod(name, world.node, { containers, grace: 1 }),
  });
  return await eventually(`${name} Running`, async () => {
    const p = await admin.core.readNamespacedPod({ name, namespace: "default" });
    return p.status?.phase === "Running" && world.runtime.hasPod("default", name) && p;
  });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs the real kubectl with the admin kubeconfig (or `kubeconfig`). */
export async function kubectl(
  cp: ControlPlane,
  args: string[],
  opts: {
    stdin?: string | Uint8Array;
    kubeconfig?: string;
    timeoutMs?: number;
    env?: Record<string, string>;
  } = {},
): Promise<Run> {
  const child = new Deno.Command(cp.kubectl, {
    args: ["--kubeconfig", opts.kubeconfig ?? cp.adminKubeconfig, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    bytes: out.stdout,
  };
}

export interface PortForward {
  /** Pod port -> local port kubectl listens on. */
  local: Record<number, number>;
  stop(): Promise<void>;
}

/** Runs `kubectl port-forward pod/NAME :P1 :P2 …` until stopped; resolves once it listens. */
export async function portForward(
  cp: ControlPlane,
  pod: string,
  ports: number[],
  env?: Record<string, string>,
): Promise<PortForward> {
  const child = new Deno.Command(cp.kubectl, {
    args: [
      "--kubeconfig",
      cp.adminKubeconfig,
      "port-forward",
      "--address",
      "127.0.0.1",
      `pod/${pod}`,
      ...ports.map((p) => `:${p}`),
    ],
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const local: Record<number, number> = {};
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  while (Object.keys(local).length < ports.length) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      child.kill();
      const err = await new Response(child.stderr).text();
      throw new Error(`kubectl port-forward did not start: ${seen}${err}`);
    }
    seen += value;
    for (const m of seen.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) {
      local[Number(m[2])] = Number(m[1]);
    }
  }
  // Keep draining kubectl's output so it never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  void child.stderr.pipeTo(new WritableStream()).catch(() => {});
  return {
    local,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}
