// From a pod to what the VM needs: CPU count and memory from the VM container's requests
// (whole CPUs; defaults when unset), and the VM's identity. Pure.

import type * as k8s from "@kubernetes/client-node";
import { parseQuantity } from "../kube/quantity.ts";
import { vmCpuQuantity, vmMemoryQuantity } from "./admission.ts";

export const DEFAULT_CPUS = 2;
export const DEFAULT_MEMORY_BYTES = 4 * 2 ** 30;

export interface VmResources {
  cpus: number;
  memoryBytes: number;
}

export function vmResources(pod: k8s.V1Pod, defaults: Partial<VmResources> = {}): VmResources {
  const vm = pod.spec?.containers?.[0];
  const cpu = vm ? parseQuantity(vmCpuQuantity(vm)) : undefined;
  const mem = vm ? parseQuantity(vmMemoryQuantity(vm)) : undefined;
  return {
    cpus: cpu ?? defaults.cpus ?? DEFAULT_CPUS,
    memoryBytes: mem ?? defaults.memoryBytes ?? DEFAULT_MEMORY_BYTES,
  };
}

export const podKey = (pod: k8s.V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;
