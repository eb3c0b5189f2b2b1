// Admission: decides, before anything runs, whether this node can run a pod at all.
// Pure functions; every problem names the field and the fix, so the pod's status message
// tells its author exactly what to change.

import type * as k8s from "@kubernetes/client-node";
import { parseQuantity } from "../kube/quantity.ts";
import type { VmLimits } from "./types.ts";

export interface AdmissionContext {
  limits: VmLimits;
  /** Whether the Docker engine for sidecars answers; undefined when not checked. */
  dockerReachable: boolean;
  dockerHost: string;
}

const GiB = 2 ** 30;
const gib = (bytes: number) => `${+(bytes / GiB).toFixed(2)}Gi`;

/** The VM container's CPU count: requests, else limits; undefined when unset. */
export function vmCpuQuantity(c: k8s.V1Container): string | undefined {
  return c.resources?.requests?.cpu ?? c.resources?.limits?.cpu;
}

export function vmMemoryQuantity(c: k8s.V1Container): string | undefined {
  return c.resources?.requests?.memory ?? c.resources?.limits?.memory;
}

export function admitPod(pod: k8s.V1Pod, ctx: AdmissionContext): string[] {
  const problems: string[] = [];
  const containers = pod.spec?.containers ?? [];
  const vm = containers[0];
  if (!vm) return ["spec.containers: the pod has no containers; the first container is the VM"];
  const field = `spec.containers[0] (${vm.name})`;

  if (!vm.image?.trim()) {
    problems.push(`${field}.image: the VM container has no image; set it to a VM image reference`);
  }

  const cpuText = vmCpuQuantity(vm);
  if (cpuText !== undefined) {
    const cpus = parseQuantity(cpuText);
    if (cpus === undefined || !Number.isInteger(cpus) || cpus < 1) {
      problems.push(
        `${field}.resources.requests.cpu: "${cpuText}" is not a whole number of CPUs; ` +
          `a VM gets whole virtual CPUs: use e.g. "2"`,
      );
    } else if (cpus < ctx.limits.minCpus || cpus > ctx.limits.maxCpus) {
      problems.push(
        `${field}.resources.requests.cpu: ${cpus} CPUs is outside what this node can give a VM ` +
          `(${ctx.limits.minCpus} to ${ctx.limits.maxCpus})`,
      );
    }
  }

  const memText = vmMemoryQuantity(vm);
  if (memText !== undefined) {
    const bytes = parseQuantity(memText);
    if (bytes === undefined || bytes <= 0) {
      problems.push(
        `${field}.resources.requests.memory: "${memText}" is not a valid memory quantity; ` +
          `use e.g. "8Gi"`,
      );
    } else if (bytes < ctx.limits.minMemoryBytes || bytes > ctx.limits.maxMemoryBytes) {
      problems.push(
        `${field}.resources.requests.memory: ${memText} is outside what this node can give a VM ` +
          `(${gib(ctx.limits.minMemoryBytes)} to ${gib(ctx.limits.maxMemoryBytes)})`,
      );
    }
  }

  const sidecars = [...containers.slice(1), ...(pod.spec?.initContainers ?? [])];
  if (sidecars.length > 0 && !ctx.dockerReachable) {
    const names = sidecars.map((c) => c.name).join(", ");
    problems.push(
      `spec.containers: sidecar containers (${names}) need Docker, which does not answer at ` +
        `${ctx.dockerHost}; start Docker or set DOCKER_HOST`,
    );
  }
  for (const [i, c] of containers.slice(1).entries()) {
    if (!c.image?.trim()) {
      problems.push(`spec.containers[${i + 1}] (${c.name}).image: no image; set a container image`);
    }
  }
  return problems;
}
