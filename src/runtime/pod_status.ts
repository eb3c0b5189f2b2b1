// The PodStatus of one pod from the states of its containers: phase by the kubelet's rules,
// conditions whose reason and message always match their status, and container statuses
// for init and regular containers. Pure: the coordinator keeps the states, this describes them.

import type * as k8s from "@kubernetes/client-node";
import { type ContainerState, containerStatus } from "./container_state.ts";
import { resizeStatus } from "./resize.ts";
import { podRestartPolicy } from "./restart.ts";

export interface PodView {
  pod: k8s.V1Pod;
  /** When the runtime took the pod on: its startTime until the API has one. */
  acceptedAt: Date;
  podIP?: string;
  hostIP?: string;
  /** States of spec.initContainers, in order (native sidecars included). */
  init: ContainerState[];
  /** States of spec.containers, in order; the first is the VM. */
  containers: ContainerState[];
  /** The pod's network exists (its VM has been created): PodReadyToStartContainers. */
  sandboxReady: boolean;
  /** Set when the runtime ended the pod itself (e.g. DeadlineExceeded). */
  failed?: { reason: string; message: string };
}

const isSidecar = (pod: k8s.V1Pod, name: string) =>
  pod.spec?.initContainers?.find((c) => c.name === name)?.restartPolicy === "Always";

/** An init container has done its part: exited 0 (or, a native sidecar, started). */
function initDone(pod: k8s.V1Pod, s: ContainerState): boolean {
  if (isSidecar(pod, s.name)) return s.stage === "running" && s.started;
  return s.stage === "terminated" && s.terminated?.exitCode === 0;
}

/** The kubelet's getPhase, over our container states. */
export function podPhase(v: PodView): string {
  if (v.failed) return "Failed";
  const policy = podRestartPolicy(v.pod);
  let pendingInit = 0;
  let failedInit = 0;
  for (const s of v.init) {
    if (isSidecar(v.pod, s.name)) {
      if (!(s.stage === "running" && s.started)) pendingInit++;
      continue;
    }
    if (s.stage === "terminated") {
      if (s.terminated?.exitCode !== 0) failedInit++;
    } else if (s.stage === "waiting" && s.last) {
      if (s.last.exitCode !== 0) failedInit++;
    } else pendingInit++;
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const s of v.containers) {
    if (s.stage === "running") running++;
    else if (s.stage === "terminated") {
      stopped++;
      if (s.terminated?.exitCode === 0) succeeded++;
    } else if (s.last) stopped++;
    else waiting++;
  }
  if (failedInit > 0 && policy === "Never") return "Failed";
  const anyStarted = v.containers.some((s) => s.stage !== "waiting" || s.last);
  if ((pendingInit > 0 && !anyStarted) || waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped > 0) {
    if (policy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    if (policy === "Never") return "Failed";
    return "Running";
  }
  return "Pending";
}

const names = (states: ContainerState[]) => `[${states.map((s) => s.name).join(" ")}]`;

function condition(
  type: string,
  ok: boolean,
  whyNot?: { reason: string; message: string },
): k8s.V1PodCondition {
  return ok || !whyNot
    ? { type, status: ok ? "True" : "False" }
    : { type, status: "False", reason: whyNot.reason, message: whyNot.message };
}

/** Readiness gates of the spec that the pod's current conditions do not satisfy. */
function unmetGates(pod: k8s.V1Pod): string[] {
  return (pod.spec?.readinessGates ?? []).map((g) => g.conditionType).filter((t) =>
    pod.status?.conditions?.find((c) => c.type === t)?.status !== "True"
  );
}

export function podConditions(v: PodView, phase: string): k8s.V1PodCondition[] {
  const terminal = phase === "Succeeded" || phase === "Failed";
  const incompleteInit = v.init.filter((s) => !initDone(v.pod, s));
  const sidecars = v.init.filter((s) => isSidecar(v.pod, s.name));
  const unready = [...sidecars, ...v.containers].filter((s) => !s.ready);
  const completed = { reason: "PodCompleted", message: "" };
  const notInitialized = {
    reason: "ContainersNotInitialized",
    message: `containers with incomplete status: ${names(incompleteInit)}`,
  };
  // Containers count as ready only once the pod is initialized: a restarted init container
  // holds the pod back even if the others still run.
  const notReady = terminal ? completed : unready.length
    ? {
      reason: "ContainersNotReady",
      message: `containers with unready status: ${names(unready)}`,
    }
    : notInitialized;
  const gates = unmetGates(v.pod);
  const ready = unready.length === 0 && incompleteInit.length === 0 && !terminal;
  return [
    condition("PodReadyToStartContainers", v.sandboxReady && !terminal),
    condition(
      "Initialized",
      incompleteInit.length === 0,
      terminal && incompleteInit.length === 0 ? completed : notInitialized,
    ),
    condition("ContainersReady", ready, notReady),
    condition(
      "Ready",
      ready && gates.length === 0,
      ready
        ? {
          reason: "ReadinessGatesNotReady",
          message: `corresponding condition of pod readiness gate ${JSON.stringify(gates[0])} ` +
            "does not exist or is not True",
        }
        : notReady,
    ),
  ];
}

export function buildPodStatus(v: PodView): k8s.V1PodStatus {
  const phase = podPhase(v);
  const resize = resizeStatus(v.pod, {
    initContainerStatuses: v.init.length ? v.init.map(containerStatus) : undefined,
    containerStatuses: v.containers.map(containerStatus),
  }, phase === "Succeeded" || phase === "Failed");
  return {
    phase,
    reason: v.failed?.reason,
    message: v.failed?.message,
    hostIP: v.hostIP,
    hostIPs: v.hostIP ? [{ ip: v.hostIP }] : undefined,
    podIP: v.podIP,
    podIPs: v.podIP ? [{ ip: v.podIP }] : undefined,
    startTime: v.pod.status?.startTime ?? v.acceptedAt,
    conditions: [...podConditions(v, phase), ...resize.conditions],
    initContainerStatuses: resize.initContainerStatuses,
    containerStatuses: resize.containerStatuses,
  };
}
