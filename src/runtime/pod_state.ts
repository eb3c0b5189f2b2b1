// What the runtime knows about one pod, and the PodStatus it reports from that. Pure: the
// orchestration in vm_runtime.ts changes the state, this module only describes it.

import type * as k8s from "@kubernetes/client-node";

export type Stage = "waiting" | "running" | "terminated";

export interface PodState {
  pod: k8s.V1Pod;
  /** When the runtime took the pod on: its startTime until the API has one. */
  acceptedAt: Date;
  stage: Stage;
  /** Kubernetes-style reason while waiting (ContainerCreating, WaitingForVMSlot, ...). */
  waitingReason?: string;
  waitingMessage?: string;
  ready: boolean;
  podIP?: string;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  terminatedReason?: string;
  terminatedMessage?: string;
  restartCount: number;
  imageID?: string;
  containerID?: string;
}

export function newPodState(pod: k8s.V1Pod): PodState {
  return {
    pod,
    acceptedAt: new Date(),
    stage: "waiting",
    waitingReason: "ContainerCreating",
    ready: false,
    restartCount: 0,
  };
}

function phaseOf(s: PodState): string {
  if (s.stage === "waiting") return "Pending";
  if (s.stage === "running") return "Running";
  return s.exitCode === 0 ? "Succeeded" : "Failed";
}

function vmContainerState(s: PodState): k8s.V1ContainerState {
  if (s.stage === "running") return { running: { startedAt: s.startedAt } };
  if (s.stage === "terminated") {
    return {
      terminated: {
        exitCode: s.exitCode ?? 1,
        reason: s.terminatedReason ?? "Error",
        message: s.terminatedMessage,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        containerID: s.containerID,
      },
    };
  }
  return { waiting: { reason: s.waitingReason, message: s.waitingMessage } };
}

export function podStatusFor(s: PodState, hostIP?: string): k8s.V1PodStatus {
  const ready = s.stage === "running" && s.ready ? "True" : "False";
  const notReady = ready === "False"
    ? {
      reason: s.stage === "waiting" ? "ContainersNotReady" : "PodNotReady",
      message: s.waitingMessage ?? s.terminatedMessage ??
        (s.stage === "running" ? "the VM is booting; SSH does not answer yet" : undefined),
    }
    : {};
  const containers = s.pod.spec?.containers ?? [];
  const vm = containers[0];
  return {
    phase: phaseOf(s),
    hostIP,
    hostIPs: hostIP ? [{ ip: hostIP }] : undefined,
    podIP: s.podIP,
    podIPs: s.podIP ? [{ ip: s.podIP }] : undefined,
    startTime: s.pod.status?.startTime ?? s.acceptedAt,
    conditions: [
      { type: "PodReadyToStartContainers", status: s.stage === "waiting" ? "False" : "True" },
      { type: "Initialized", status: "True" },
      { type: "ContainersReady", status: ready, ...notReady },
      { type: "Ready", status: ready, ...notReady },
    ],
    containerStatuses: vm
      ? [{
        name: vm.name,
        image: vm.image ?? "",
        imageID: s.imageID ?? "",
        containerID: s.containerID,
        ready: ready === "True",
        started: s.stage === "running",
        restartCount: s.restartCount,
        state: vmContainerState(s),
      }]
      : [],
  };
}
