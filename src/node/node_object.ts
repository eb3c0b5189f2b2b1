// The Node object this agent registers: labels, taints, capacity, addresses, daemon
// endpoint, node info and declared features. Pure functions of configuration and measured facts.

import type * as k8s from "@kubernetes/client-node";
import type { Config } from "../config/types.ts";
import type { DiskUsage, HostFacts } from "../host/facts.ts";
import type { RuntimeStatus } from "../runtime/types.ts";
import { VERSION } from "../version.ts";
import { DECLARED_FEATURES } from "./declared_features.ts";

/** Label that NodeRestriction forbids a node from setting on itself. */
export const ROLE_LABEL = "kubernetes.io/role";

export interface NodeInput {
  config: Config;
  host: HostFacts;
  disk: DiskUsage;
  runtime: RuntimeStatus;
  /** Default: DECLARED_FEATURES, everything the agent implements. */
  declaredFeatures?: readonly string[];
}

export function nodeLabels(input: NodeInput): Record<string, string> {
  return {
    type: "virtual-kubelet",
    [ROLE_LABEL]: "agent",
    "kubernetes.io/hostname": input.config.nodeName,
    "kubernetes.io/os": input.host.os,
    "kubernetes.io/arch": input.host.arch,
    "beta.kubernetes.io/os": input.host.os,
    "beta.kubernetes.io/arch": input.host.arch,
    "node.kubernetes.io/exclude-from-external-load-balancers": "true",
  };
}

export function nodeTaints(config: Config): k8s.V1Taint[] {
  if (config.disableTaint) return [];
  return [{ key: config.taint.key, value: config.taint.value, effect: config.taint.effect }];
}

export function nodeAddresses(input: NodeInput): k8s.V1NodeAddress[] {
  const ip = input.config.podIp ?? input.host.primaryIPv4;
  const addresses: k8s.V1NodeAddress[] = [];
  if (ip) addresses.push({ type: "InternalIP", address: ip });
  addresses.push({ type: "Hostname", address: input.config.nodeName });
  return addresses;
}

export function nodeResources(input: NodeInput): Record<string, string> {
  return {
    cpu: String(input.host.cpus),
    memory: `${Math.floor(input.host.memoryBytes / 1024)}Ki`,
    "ephemeral-storage": `${Math.floor(input.disk.capacityBytes / 1024)}Ki`,
    pods: String(input.runtime.maxPods),
  };
}

/** Everything of the status except conditions. */
export function nodeStatusFields(input: NodeInput): k8s.V1NodeStatus {
  const resources = nodeResources(input);
  return {
    capacity: resources,
    allocatable: { ...resources },
    addresses: nodeAddresses(input),
    daemonEndpoints: { kubeletEndpoint: { Port: input.config.kubeletPort } },
    declaredFeatures: [...(input.declaredFeatures ?? DECLARED_FEATURES)],
    nodeInfo: {
      machineID: "",
      systemUUID: "",
      bootID: "",
      kernelVersion: input.host.kernelVersion,
      osImage: input.host.osImage,
      containerRuntimeVersion: input.runtime.version,
      kubeletVersion: `v${VERSION}-macos-vz`,
      kubeProxyVersion: "",
      operatingSystem: input.host.os,
      architecture: input.host.arch,
    },
  };
}

export function buildNode(input: NodeInput, omitLabels: string[] = []): k8s.V1Node {
  const labels = nodeLabels(input);
  for (const l of omitLabels) delete labels[l];
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: input.config.nodeName, labels },
    spec: {
      taints: nodeTaints(input.config),
      ...(input.config.providerId ? { providerID: input.config.providerId } : {}),
    },
    status: nodeStatusFields(input),
  };
}
