// Test support for integration tests: agent configuration from harness credentials, admin
// API clients, and polling. The real parts themselves come from tests/harness.

import "reflect-metadata";
import * as k8s from "@kubernetes/client-node";
import os from "node:os";
import type { ControlPlane } from "../harness/control_plane.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { localHost } from "../../src/config/local_host.ts";
import type { Config } from "../../src/config/types.ts";
import { type KubeClients, loadKubeConfig, makeClients } from "../../src/kube/client.ts";
import { freePort } from "../harness/ports.ts";

export function adminClients(cp: ControlPlane): KubeClients {
  return makeClients(loadKubeConfig({ kubeconfigPath: cp.adminKubeconfig }));
}

/**
 * Environment a node agent needs to join `cp` as `node` (what .dev-cluster/env exports), with
 * a free KUBELET_PORT so agents of parallel test runs never fight over 10250.
 */
export async function nodeEnv(cp: ControlPlane, node: string): Promise<Record<string, string>> {
  const creds = await cp.nodeCredentials(node);
  return {
    KUBECONFIG: creds.kubeconfig,
    APISERVER_CERT_LOCATION: creds.servingCert,
    APISERVER_KEY_LOCATION: creds.servingKey,
    APISERVER_CA_CERT_LOCATION: creds.caCert,
    KUBELET_PORT: String(freePort()),
  };
}

/** A validated Config for an agent joining `cp` as `node`, built by the real parser. */
export async function nodeConfig(
  cp: ControlPlane,
  node: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Config> {
  const cacheDir = await Deno.makeTempDir({ prefix: `vzk-cache-${node}-` });
  // Agents lock their VM bridge; test nodes that name none get their own, so agents in one
  // run (and test files run side by side) never take each other's.
  const bridge = args.some((a) => a.startsWith("--qemu-bridge"))
    ? []
    : [`--qemu-bridge=vzkt${Math.floor(Math.random() * 0xffff).toString(16)}`];
  const parsed = parseConfig(
    ["--nodename", node, "--cache-dir", cacheDir, ...bridge, ...args],
    { ...(await nodeEnv(cp, node)), HOME: os.homedir(), ...env },
    localHost(),
  );
  if (!parsed.ok) throw new Error(`test config: ${parsed.errors.join("; ")}`);
  return parsed.config;
}

/** Polls `fn` until it returns a value that is not undefined/false, or fails after `ms`. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 30_000,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const TOLERATE_AGENT: k8s.V1Toleration = {
  key: "virtual-kubelet.io/provider",
  operator: "Exists",
};

/** A pod bound directly to `node` (bypassing the scheduler unless `scheduled`). */
export function testPod(
  name: string,
  node: string,
  opts: {
    namespace?: string;
    containers?: k8s.V1Container[];
    grace?: number;
    scheduled?: boolean;
  } = {},
): k8s.V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: opts.namespace ?? "default" },
    spec: {
      ...(opts.scheduled
        ? { nodeSelector: { "kubernetes.io/hostname": node } }
        : { nodeName: node }),
      tolerations: [TOLERATE_AGENT],
      terminationGracePeriodSeconds: opts.grace ?? 30,
      containers: opts.containers ??
        [{
          name: "vm",
          image: "registry.example/macos:15",
          resources: { requests: { cpu: "1", memory: "2Gi" } },
        }],
    },
  };
}

export async function podEvents(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<k8s.CoreV1Event[]> {
  const list = await clients.core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items;
}

/**
 * DENO_DIR of this test run, for agents started as child processes with their own HOME, so
 * they reuse the module cache instead of downloading every npm package again.
 */
export function denoDirEnv(): Record<string, string> {
  const dir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;
  return { DENO_DIR: dir };
}
