// The node conditions this agent owns (Ready, MemoryPressure, DiskPressure, PIDPressure,
// NetworkUnavailable) computed from measurements. Pure: lastTransitionTime moves only when
// a condition's status changes; heartbeat times move on every report.

import type * as k8s from "@kubernetes/client-node";
import type { Pressure } from "../host/facts.ts";
import type { RuntimeStatus } from "../runtime/types.ts";

export const OWNED_CONDITIONS = [
  "Ready",
  "MemoryPressure",
  "DiskPressure",
  "PIDPressure",
  "NetworkUnavailable",
] as const;

/** Thresholds, the kubelet's default hard eviction signals. */
export const THRESHOLDS = {
  memoryAvailableBytes: 100 * 2 ** 20,
  diskAvailableFraction: 0.10,
  pidAvailableFraction: 0.10,
};

export interface ConditionInput {
  pressure: Pressure;
  runtime: RuntimeStatus;
  cacheDir: string;
  hasAddress: boolean;
}

type Cond = Pick<k8s.V1NodeCondition, "type" | "status" | "reason" | "message">;

const mib = (n: number) => `${Math.round(n / 2 ** 20)}Mi`;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)}Gi`;

export function observedConditions(input: ConditionInput): Cond[] {
  const { pressure: p, runtime } = input;
  const memLow = p.memoryAvailableBytes < THRESHOLDS.memoryAvailableBytes;
  const diskFraction = p.disk.capacityBytes > 0 ? p.disk.availableBytes / p.disk.capacityBytes : 1;
  const diskLow = diskFraction < THRESHOLDS.diskAvailableFraction;
  const pidLow = p.pids !== undefined &&
    (p.pids.max - p.pids.running) / p.pids.max < THRESHOLDS.pidAvailableFraction;
  const diskText = `${gib(p.disk.availableBytes)} of ${gib(p.disk.capacityBytes)} free in ` +
    `${input.cacheDir}`;
  return [
    {
      // Without a usable VM backend the agent still works (lease, status, pod API), so the
      // node stays Ready (NotReady would evict every pod) and the message says what is wrong.
      type: "Ready",
      status: "True",
      reason: "KubeletReady",
      message: runtime.ready
        ? `kubelet is posting ready status; ${runtime.message}`
        : `kubelet is posting ready status; no VM can start: ${runtime.message}`,
    },
    memLow
      ? {
        type: "MemoryPressure",
        status: "True",
        reason: "KubeletHasInsufficientMemory",
        message: `${mib(p.memoryAvailableBytes)} of memory available, below ` +
          `${mib(THRESHOLDS.memoryAvailableBytes)}`,
      }
      : {
        type: "MemoryPressure",
        status: "False",
        reason: "KubeletHasSufficientMemory",
        message: `kubelet has sufficient memory available (${mib(p.memoryAvailableBytes)})`,
      },
    diskLow
      ? {
        type: "DiskPressure",
        status: "True",
        reason: "KubeletHasDiskPressure",
        message: `${diskText}, below ${THRESHOLDS.diskAvailableFraction * 100}%`,
      }
      : {
        type: "DiskPressure",
        status: "False",
        reason: "KubeletHasNoDiskPressure",
        message: `kubelet has no disk pressure (${diskText})`,
      },
    pidLow
      ? {
        type: "PIDPressure",
        status: "True",
        reason: "KubeletHasInsufficientPID",
        message: `${p.pids!.running} of ${p.pids!.max} process IDs in use`,
      }
      : {
        type: "PIDPressure",
        status: "False",
        reason: "KubeletHasSufficientPID",
        message: p.pids
          ? `kubelet has sufficient PID available (${p.pids.running} of ${p.pids.max} in use)`
          : "kubelet has sufficient PID available",
      },
    runtime.networkProblem
      ? {
        type: "NetworkUnavailable",
        status: "True",
        reason: "VMNetworkDown",
        message: runtime.networkProblem,
      }
      : input.hasAddress
      ? {
        type: "NetworkUnavailable",
        status: "False",
        reason: "HostNetworkReady",
        message: "the host has a network address; VMs reach it through the backend's network",
      }
      : {
        type: "NetworkUnavailable",
        status: "True",
        reason: "NoHostAddress",
        message: "the host has no IPv4 address; set VKUBELET_POD_IP or connect the host",
      },
  ];
}

/** Merges observations into the previous conditions, keeping transition times stable. */
export function nextConditions(
  previous: k8s.V1NodeCondition[] | undefined,
  observed: Cond[],
  now: Date,
): k8s.V1NodeCondition[] {
  return observed.map((c) => {
    const prev = previous?.find((p) => p.type === c.type);
    const transition = prev && prev.status === c.status && prev.lastTransitionTime
      ? new Date(prev.lastTransitionTime)
      : now;
    return { ...c, lastHeartbeatTime: now, lastTransitionTime: transition };
  });
}

/** Whether two condition lists differ in anything but heartbeat times. */
export function conditionsDiffer(
  a: k8s.V1NodeCondition[] | undefined,
  b: Cond[],
): boolean {
  return b.some((c) => {
    const p = a?.find((x) => x.type === c.type);
    return !p || p.status !== c.status || p.reason !== c.reason || p.message !== c.message;
  });
}
