// What the runtime knows about one container of a pod, and the V1ContainerStatus it reports
// from that. The transitions are the only way the lifecycle changes a container's state, so
// restartCount, lastState and the timestamps follow one set of rules for every driver.

import type * as k8s from "@kubernetes/client-node";

export interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt?: Date;
  finishedAt: Date;
  containerID?: string;
}

export interface ContainerState {
  name: string;
  image: string;
  imageID?: string;
  containerID?: string;
  stage: "waiting" | "running" | "terminated";
  waitingReason?: string;
  waitingMessage?: string;
  /** Start of the current run (running) or of the run that ended (terminated). */
  startedAt?: Date;
  /** The run is up and its postStart hook (and startup probe) done. */
  started: boolean;
  ready: boolean;
  /** The current state while terminated. */
  terminated?: Terminated;
  /** The run before the current one, as `lastState.terminated`. */
  last?: Terminated;
  restartCount: number;
}

export function newContainerState(c: k8s.V1Container, waitingReason = "ContainerCreating") {
  const s: ContainerState = {
    name: c.name,
    image: c.image ?? "",
    stage: "waiting",
    waitingReason,
    started: false,
    ready: false,
    restartCount: 0,
  };
  return s;
}

/** The container waits (again); a terminated run stays visible as lastState. */
export function toWaiting(s: ContainerState, reason: string, message?: string): void {
  if (s.stage === "terminated" && s.terminated) {
    s.last = s.terminated;
    s.terminated = undefined;
  }
  s.stage = "waiting";
  s.waitingReason = reason;
  s.waitingMessage = message;
  s.started = false;
  s.ready = false;
}

/** A new run is up (not yet started: hooks and probes have not passed). */
export function toRunning(s: ContainerState, containerID: string, startedAt: Date): void {
  if (s.terminated) {
    s.last = s.terminated;
    s.terminated = undefined;
  }
  s.stage = "running";
  s.containerID = containerID;
  s.startedAt = startedAt;
  s.waitingReason = s.waitingMessage = undefined;
  s.started = false;
  s.ready = false;
}

/** The current run ended (or a start failed: then startedAt is the attempt's). */
export function toTerminated(s: ContainerState, t: Omit<Terminated, "startedAt" | "containerID">) {
  s.terminated = {
    ...t,
    startedAt: s.stage === "running" ? s.startedAt : undefined,
    containerID: s.stage === "running" ? s.containerID : undefined,
  };
  s.stage = "terminated";
  s.waitingReason = s.waitingMessage = undefined;
  s.started = false;
  s.ready = false;
}

/** One more restart is under way: counted once, when the lifecycle starts the next run. */
export function countRestart(s: ContainerState): void {
  s.restartCount++;
}

const terminatedStatus = (t: Terminated): k8s.V1ContainerStateTerminated => ({
  exitCode: t.exitCode,
  reason: t.reason,
  message: t.message,
  startedAt: t.startedAt,
  finishedAt: t.finishedAt,
  containerID: t.containerID,
});

export function containerStatus(s: ContainerState): k8s.V1ContainerStatus {
  const state: k8s.V1ContainerState = s.stage === "running"
    ? { running: { startedAt: s.startedAt } }
    : s.stage === "terminated" && s.terminated
    ? { terminated: terminatedStatus(s.terminated) }
    : { waiting: { reason: s.waitingReason, message: s.waitingMessage } };
  return {
    name: s.name,
    image: s.image,
    imageID: s.imageID ?? "",
    containerID: s.containerID,
    ready: s.ready,
    started: s.stage === "running" && s.started,
    restartCount: s.restartCount,
    state,
    lastState: s.last ? { terminated: terminatedStatus(s.last) } : {},
  };
}
